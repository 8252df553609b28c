"""Stage 1 — generalization: weak-to-strong (and, later, easy-to-hard).

The protocol (``w2s_seed``/``w2s_seeds``) runs any learner: heads on frozen cached
activations (``HeadLearner``, the fast CPU default) or the fine-tuned model itself
(``FinetuneLearner``, full or LoRA). Transfer methods (xent, aux_conf, conf_filter,
bootstrap, and our own knn_smooth) say what the student learns from; the evaluator
holds the labels. ``run_w2s`` records a run, ``run_w2s_sweep`` a grid of them with figures; the CLI
is ``alignlab w2s`` and ``alignlab w2s sweep``.
"""

from alignlab._lazy import lazy_exports

# Names resolved on first use (PEP 562), as in ``alignlab.models``: validating a config
# that names a transfer method (``generalization.methods``) must not import torch, which
# ``_finetune`` and ``_head`` need (seconds, on every warm command).
_WHERE = {
    "W2SEvaluator": "_evaluator", "W2SSplit": "_evaluator",
    "FinetuneConfig": "_finetune", "FinetuneLearner": "_finetune",
    "HeadConfig": "_head", "HeadLearner": "_head", "LinearHead": "_head", "fit_head": "_head",
    "pgr": "_pgr", "seed_mean_diff": "_pgr", "seed_mean_pgr": "_pgr",
    "CS": "_select", "FOLDS": "_select", "FRACTIONS": "_select", "choose": "_select", "feature_bank": "_select",
    "fit_choice": "_select",
    "MAX_UNDEFINED": "_plots", "pgr_is_meaningful": "_plots", "plot_pgr": "_plots", "plot_sizes": "_plots",
    "w2s_seed": "_protocol", "w2s_seeds": "_protocol",
    "W2SConfig": "_run", "run_w2s": "_run",
    "W2SSweepConfig": "_sweep", "run_w2s_sweep": "_sweep", "sweep_w2s": "_sweep",
    "METHODS": "methods", "make_method": "methods",
}


__getattr__ = lazy_exports(__name__, globals(), _WHERE)


__all__ = sorted(_WHERE)
