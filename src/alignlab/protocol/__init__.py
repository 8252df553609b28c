"""The experiment protocol every testbed speaks (see ``docs/architecture.md``):

    Testbed.open(config, seed, problem) ─► Problem files (no labels); secret kept here
    Variant.solve(problem, seed)        ─► Submission, in a worker process
    Testbed.score(config, secret, sub)  ─► Scores (typed metrics, primary, baseline)

Components are registered in one ``Registry`` idiom and referred to as ``{name, params}``
(``Ref``). ``kind: trial`` specs run one variant on one problem (``run_trial``).
"""

from alignlab._lazy import lazy_exports
from alignlab.protocol._registry import Entry, Ref, Registry
from alignlab.protocol._types import Metric, Problem, Scores, Submission, Testbed, Variant

# The trial and the sandbox, resolved on first use (PEP 562): what a campaign or the
# evaluator service runs a variant with.
_WHERE = {"TrialConfig": "_trial", "run_trial": "_trial", "solve_isolated": "_trial",
          "hidden_paths": "_sandbox", "label_sources": "_sandbox"}
__getattr__ = lazy_exports(__name__, globals(), _WHERE)

__all__ = ["Entry", "Metric", "Problem", "Ref", "Registry", "Scores", "Submission", "Testbed", "Variant",
           *sorted(_WHERE)]
