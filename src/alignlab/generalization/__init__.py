"""Stage 1 — generalization: weak-to-strong (and, later, easy-to-hard).

The protocol (``w2s_seed``/``w2s_seeds``) runs any learner: heads on frozen cached
activations (``HeadLearner``, the fast CPU default) or the fine-tuned model itself
(``FinetuneLearner``, full or LoRA). Transfer methods (xent, aux_conf, conf_filter,
bootstrap, and our own knn_smooth) say what the student learns from; the evaluator
holds the labels. ``run_w2s`` records a run, ``run_w2s_sweep`` a grid of them with figures; the CLI
is ``alignlab w2s`` and ``alignlab w2s sweep``.
"""

from alignlab.generalization._evaluator import W2SEvaluator, W2SSplit
from alignlab.generalization._finetune import FinetuneConfig, FinetuneLearner
from alignlab.generalization._head import HeadConfig, HeadLearner, LinearHead, fit_head
from alignlab.generalization._pgr import pgr
from alignlab.generalization._plots import MAX_UNDEFINED, pgr_is_meaningful, plot_pgr, plot_sizes
from alignlab.generalization._protocol import w2s_seed, w2s_seeds
from alignlab.generalization._run import W2SConfig, run_w2s
from alignlab.generalization._sweep import W2SSweepConfig, run_w2s_sweep, sweep_w2s
from alignlab.generalization.methods import METHODS, make_method

__all__ = ["MAX_UNDEFINED", "METHODS", "pgr_is_meaningful", "plot_pgr", "plot_sizes", "FinetuneConfig", "FinetuneLearner", "HeadConfig", "HeadLearner", "LinearHead", "W2SConfig", "W2SEvaluator", "W2SSplit", "fit_head", "make_method",
           "W2SSweepConfig", "pgr", "run_w2s", "run_w2s_sweep", "sweep_w2s", "w2s_seed", "w2s_seeds"]
