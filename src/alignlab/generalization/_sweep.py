"""A weak-to-strong sweep: tasks x (weak, strong) pairs x methods, each a recorded run,
summarised in a sweep record with its table and figures."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alignlab.generalization._run import W2SConfig, run_w2s
from alignlab.names import MethodName, ModelRef, TaskName
from alignlab.store import RunRecord


class W2SSweepConfig(BaseModel):
    """A grid of weak-to-strong experiments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: tuple[TaskName, ...] = ("sarcasm", "fever", "strategyqa", "sports_understanding")
    """Built-in binary tasks or .jsonl/.csv paths."""
    pairs: tuple[tuple[ModelRef, ModelRef], ...] = (("minilm-l6", "smollm2-135m"), ("minilm-l6", "gemma3-270m"),
                                          ("smollm2-135m", "gemma3-270m"))
    """(weak, strong) model pairs."""
    methods: tuple[MethodName, ...] = ("xent", "aux_conf", "conf_filter", "bootstrap", "knn_smooth")
    """Transfer methods; ``bootstrap`` runs only for pairs with a mid model."""
    mid: dict[str, str] = Field(default_factory=lambda: {"minilm-l6->gemma3-270m": "smollm2-135m"})
    """Intermediate model per pair, keyed ``weak->strong``."""
    base: W2SConfig = W2SConfig()
    """Every other setting (seeds, n_examples, layer, training mode...)."""

    @field_validator("mid")
    @classmethod
    def _keys_are_pairs(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key.count("->") != 1:
                raise ValueError(f"mid key {key!r} must read 'weak->strong'")
        return value


def sweep_w2s(
    tasks: list[str], pairs: list[tuple[str, str]], methods: list[str], base: W2SConfig = W2SConfig(),
    mid: dict[tuple[str, str], str] | None = None, runs_root=None,
) -> list[RunRecord]:
    """Every task x (weak, strong) pair x method, other settings from ``base``; finished
    runs are reused, so an interrupted sweep resumes where it stopped. ``bootstrap``
    runs only for pairs that have a mid model in ``mid``."""
    from alignlab.generalization.methods import make_method

    for name in methods:
        make_method(name)  # fail fast on a bad name, before hours of work
    records = []
    for task in tasks:
        for weak, strong in pairs:
            for method in methods:
                between = (mid or {}).get((weak, strong))
                if method == "bootstrap" and between is None:
                    continue
                config = base.model_copy(update=dict(weak=weak, strong=strong, task=task, method=method,
                                                     mid=between if method == "bootstrap" else None))
                records.append(run_w2s(config, runs_root))
    return records


def run_w2s_sweep(config: W2SSweepConfig = W2SSweepConfig(), runs_root=None) -> RunRecord:
    """Run (or reuse) every experiment of the grid; record the sweep with a summary
    table and two figures (``pgr.png``, ``sizes.png``) in its folder."""
    from alignlab.generalization._plots import pgr_is_meaningful, plot_pgr, plot_sizes
    from alignlab.store import run_path, write_run

    mid = {tuple(k.split("->")): v for k, v in config.mid.items()}
    records = sweep_w2s(list(config.tasks), [tuple(p) for p in config.pairs], list(config.methods),
                        config.base, mid, runs_root)
    folder = run_path("w2s-sweep", config.model_dump(mode="json"), runs_root)
    plot_pgr(records, folder / "pgr.png", list(config.methods))
    plot_sizes(records, folder / "sizes.png", method="xent" if "xent" in config.methods else config.methods[0])
    rows = [{"run": r.id, "task": r.result["task"], "weak": r.config["weak"], "strong": r.config["strong"],
             "method": r.config["method"], "n_test": r.result["runs"][0]["n_test"],
             "seeds": len(r.result["seeds"]), **{role: r.result["summary"][role] for role in ("weak", "student", "ceiling")},
             "pgr": r.result["summary"]["pgr"] if pgr_is_meaningful(r.result["summary"]) else None,
             "pgr_undefined_seeds": r.result["summary"]["pgr_undefined_seeds"]} for r in records]
    return write_run("w2s-sweep", config.model_dump(mode="json"),
                     {"rows": rows, "figures": ["pgr.png", "sizes.png"]}, root=runs_root)
