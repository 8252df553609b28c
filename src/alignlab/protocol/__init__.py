"""The experiment protocol every testbed speaks (see ``docs/architecture.md``):

    Testbed.open(config, seed, problem) ─► Problem files (no labels); secret kept here
    Variant.solve(problem, seed)        ─► Submission, in a worker process
    Testbed.score(config, secret, sub)  ─► Scores (typed metrics, primary, baseline)

Components are registered in one ``Registry`` idiom and referred to as ``{name, params}``
(``Ref``). ``kind: trial`` specs run one variant on one problem (``run_trial``).
"""

from alignlab.protocol._registry import Entry, Ref, Registry
from alignlab.protocol._types import Metric, Problem, Scores, Submission, Testbed, Variant

__all__ = ["Entry", "Metric", "Problem", "Ref", "Registry", "Scores", "Submission", "Testbed", "Variant"]
