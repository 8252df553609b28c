"""Graded tasks: binary statements whose examples carry ``meta["difficulty"]``, a number
defined by the item's construction, never by any model's labels (what easy-to-hard
splits use; Hase et al. 2024).

- ``arithmetic_digits``: "Is the following equation correct? 482 + 317 = 799." — one true
  and one near-miss false answer per problem (grouped), difficulty = digits per operand
  (1-4), generated from a fixed seed.
- ``logical_deduction_objects``, ``shuffled_objects``: BIG-bench puzzles (``logical_deduction``,
  ``tracking_shuffled_objects``) turned into statements — the puzzle plus one answer
  option, true if it is the target; per puzzle the target and one other option (grouped,
  so each group is one true and one false statement); difficulty = number of objects
  (3, 5, 7), the same number of puzzles drawn at each.

Why not BIG-bench's own ``arithmetic`` task: its wrong options are random numbers of
other sizes and the words "banana" and "house", so a false statement is told apart by
the answer's length, not by arithmetic. Ours are off by 1, 2 or 10 (the same number of
digits wherever one exists).

The fact tasks (``capitals``, …; ``_facts``) carry ``meta["popularity"]`` instead: a
subject's population, from which the easy-to-hard testbed takes −log(popularity).
"""

from __future__ import annotations

import random

from alignlab.data._registry import register_task
from alignlab.data._task import Example, Task, Template

_YES_NO = (" No", " Yes")
DIGITS = (1, 2, 3, 4)
PROBLEMS_PER_LEVEL = 125
"""Arithmetic problems per digit count (each gives two statements): 1,000 statements."""
PUZZLES_PER_LEVEL = 120
"""Puzzles per object count (each gives two statements): 720 statements."""
_OBJECTS = {"three_objects": 3, "five_objects": 5, "seven_objects": 7}


def _operands(rng: random.Random, digits: int) -> tuple[int, int]:
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10 ** digits - 1), rng.randint(low, 10 ** digits - 1)


def _near_miss(rng: random.Random, answer: int) -> int:
    """A false answer off by 1, 2 or 10, non-negative, with the true answer's digit count
    where one such exists (so the answer's length does not tell)."""
    deltas = [-10, -2, -1, 1, 2, 10]
    rng.shuffle(deltas)
    candidates = [answer + d for d in deltas if answer + d >= 0]
    same_length = [c for c in candidates if len(str(c)) == len(str(answer))]
    return (same_length or candidates)[0]


@register_task("arithmetic_digits", "Graded: 'a + b = c.' / 'a - b = c.' true or near-miss false, "
               "difficulty = digits per operand (1-4).", "alignlab")
def arithmetic_digits() -> Task:
    """``PROBLEMS_PER_LEVEL`` distinct problems per digit count, each addition or
    subtraction at random (subtraction never negative), from ``random.Random(0)``."""
    rng = random.Random(0)
    examples = []
    for digits in DIGITS:
        seen: set[tuple[int, str, int]] = set()
        for _ in range(100 * PROBLEMS_PER_LEVEL):  # 1 digit has 155 distinct problems: rejection ends
            if len(seen) == PROBLEMS_PER_LEVEL:
                break
            a, b = _operands(rng, digits)
            op = rng.choice("+-")
            if op == "-" and a < b:
                a, b = b, a
            if (a, op, b) in seen:
                continue
            seen.add((a, op, b))
            answer = a + b if op == "+" else a - b
            wrong = _near_miss(rng, answer)
            for shown, label in ((answer, 1), (wrong, 0)):
                examples.append(Example(text=f"{a} {op} {b} = {shown}.", label=label, group=f"{a}{op}{b}",
                                        meta={"difficulty": digits, "digits": digits, "answer": answer}))
    return Task("arithmetic_digits", tuple(examples),
                Template(format="Is the following equation correct? {text}\nAnswer:", choices=_YES_NO),
                description="Addition and subtraction statements, true (1) or off by 1, 2 or 10 (0); "
                            "meta difficulty = digits per operand.",
                source="alignlab:generated (random.Random(0))")


def _bigbench_rows(relpath: str) -> list[dict]:
    from alignlab.data._builtin import bigbench_json

    return bigbench_json(relpath)["examples"]


def _puzzles(name: str, folder: str, per_level: int) -> Task:
    """Statements from a BIG-bench multiple-choice puzzle task with three, five and seven
    object subtasks: ``per_level`` puzzles of each (drawn with a fixed seed), each as the
    target option and one other, both in the puzzle's group."""
    rng = random.Random(0)
    examples = []
    for sub, n_objects in _OBJECTS.items():
        rows = _bigbench_rows(f"{folder}/{sub}/task.json")
        for i in sorted(rng.sample(range(len(rows)), min(per_level, len(rows)))):
            scores = rows[i]["target_scores"]
            true = [o for o, s in scores.items() if s == 1]
            false = sorted(o for o, s in scores.items() if s != 1)
            if len(true) != 1 or not false:
                continue  # (none in the shipped files: every puzzle has one target)
            puzzle = rows[i]["input"].rstrip()  # shuffled_objects' end mid-sentence: "Alice has the "
            for option, label in ((true[0], 1), (rng.choice(false), 0)):
                examples.append(Example(text=f"{puzzle} {option}", label=label, group=f"{sub}/{i}",
                                        meta={"difficulty": n_objects, "objects": n_objects}))
    return Task(name, tuple(examples),
                Template(format="{text}\nIs the last sentence true? Answer:", choices=_YES_NO),
                description=f"BIG-bench {folder} puzzles as true/false statements; meta difficulty = objects.",
                source=f"bigbench:{folder}/{{three,five,seven}}_objects")


@register_task("logical_deduction_objects", "Graded: BIG-bench logical_deduction puzzle + one option, true or "
               "false; difficulty = objects (3, 5, 7).", "bigbench")
def logical_deduction_objects() -> Task:
    return _puzzles("logical_deduction_objects", "logical_deduction", PUZZLES_PER_LEVEL)


@register_task("shuffled_objects", "Graded: BIG-bench tracking_shuffled_objects + one option, true or false; "
               "difficulty = objects (3, 5, 7).", "bigbench")
def shuffled_objects() -> Task:
    return _puzzles("shuffled_objects", "tracking_shuffled_objects", PUZZLES_PER_LEVEL)
