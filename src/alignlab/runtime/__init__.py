"""Runtime: specs, the spec registry and the executors that run them.

    from alignlab.runtime import load_spec, run_spec
    result = run_spec(load_spec("spec.yaml"), executor="local", workers=2, timeout_s=600)

Importing this package loads neither torch nor Ray; a kind's config class and run
function load when a spec of that kind is read, Ray when the ray executor starts.
"""

from alignlab.runtime._executors import EXECUTORS, Executor, InlineExecutor, make_executor
from alignlab.runtime._registry import SPECS, SpecEntry, get_spec_entry, register_spec
from alignlab.runtime._spec import Job, Spec, SpecError, load_spec, load_specs, parse_spec
from alignlab.runtime._sweep import SweepResult, aggregate, run_spec, run_specs

__all__ = [
    "EXECUTORS", "SPECS", "Executor", "InlineExecutor", "Job", "Spec", "SpecEntry", "SpecError", "SweepResult", "aggregate",
    "get_spec_entry", "load_spec", "load_specs", "make_executor", "parse_spec", "register_spec", "run_spec",
    "run_specs",
]
