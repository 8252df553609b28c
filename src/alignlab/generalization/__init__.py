"""Stage 1 — generalization: weak-to-strong (and, later, easy-to-hard).

Work in progress toward issue 3: the protocol on frozen activations, PGR, the label
holding evaluator, the xent / aux_conf / conf_filter / bootstrap methods and our own
knn_smooth, ``run_w2s`` and the ``alignlab w2s`` command. Not yet: the fine-tuning
mode, weak-label early stopping, sweep, results doc, benchmark.
"""

from alignlab.generalization._evaluator import W2SEvaluator, W2SSplit
from alignlab.generalization._head import LinearHead, fit_head
from alignlab.generalization._pgr import pgr
from alignlab.generalization._protocol import w2s_seed, w2s_seeds
from alignlab.generalization._run import W2SConfig, run_w2s, sweep_w2s
from alignlab.generalization.methods import METHODS, make_method

__all__ = ["METHODS", "LinearHead", "W2SConfig", "W2SEvaluator", "W2SSplit", "fit_head", "make_method",
           "pgr", "run_w2s", "sweep_w2s", "w2s_seed", "w2s_seeds"]
