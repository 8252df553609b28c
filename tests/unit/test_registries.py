"""Every pluggable kind is one ``Registry``: duplicates raise, unknown names list the known
ones, a proposer can read each factory's parameter schema, and the wrappers callers use
(``make_method``, ``make_detector``, ``make_executor``, ``load_task``) keep their contract."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from alignlab.errors import AlignlabError, UnknownNameError
from alignlab.protocol import Registry


def _registries() -> dict[str, Registry]:
    import alignlab.data._builtin  # noqa: F401  (registers the built-in tasks)
    from alignlab.adversarial.detectors import DETECTORS
    from alignlab.data import TASKS
    from alignlab.generalization.methods import METHODS
    from alignlab.interpretability._elicit import PROBES
    from alignlab.report._html import layouts
    from alignlab.runtime._executors import EXECUTORS

    return {"method": METHODS, "detector": DETECTORS, "probe": PROBES, "task": TASKS, "executor": EXECUTORS,
            "layout": layouts()}


@pytest.mark.parametrize("kind", ["method", "detector", "probe", "task", "executor", "layout"])
def test_every_pluggable_kind_is_a_registry_and_refuses_duplicates(kind):
    reg = _registries()[kind]
    assert isinstance(reg, Registry) and len(reg.names()) >= 2
    name = reg.names()[0]
    with pytest.raises(ValueError, match=f"duplicate .*{name!r}"):
        reg.register(name, reg[name])
    with pytest.raises(UnknownNameError, match=f"known: {name}"):
        reg.get("no-such-name")


def test_the_old_registering_helpers_refuse_duplicates_too():
    import alignlab.data._builtin  # noqa: F401
    from alignlab.adversarial.detectors import register_detector
    from alignlab.data import register_task
    from alignlab.generalization.methods import make_method, register_method

    make_method("xent")  # the built-in methods are discovered first
    for register in (register_method("xent"), register_detector("defection_probe"),
                     register_task("sarcasm", "again", "evals")):
        with pytest.raises(ValueError, match="duplicate"):
            register(lambda: None)


def test_schema_of_methods_and_detectors_for_a_proposer():
    from alignlab.adversarial.detectors import DETECTORS
    from alignlab.generalization.methods import METHODS

    assert METHODS.schema("aux_conf")["properties"]["alpha_max"] == {"default": 0.75, "title": "Alpha Max",
                                                                     "type": "number"}
    assert METHODS.schema("xent")["properties"] == {}
    assert DETECTORS.schema("activation_anomaly")["properties"]["method"]["enum"] == ["mahalanobis", "pca"]
    for reg in (METHODS, DETECTORS):
        for name in reg.names():
            assert reg.schema(name)["type"] == "object"


def test_make_method_records_name_params_and_ref():
    from alignlab.generalization.methods import make_method

    method = make_method("conf_filter", keep=0.3)
    assert (method.name, method.params, method.keep) == ("conf_filter", {"keep": 0.3}, 0.3)
    assert method.ref.name == "conf_filter" and method.ref.params == {"keep": 0.3}
    with pytest.raises(AlignlabError, match=r"has no parameter\(s\) \['kep'\]"):
        make_method("conf_filter", kep=0.3)
    with pytest.raises(AlignlabError, match="keep: Input should be a valid number"):
        make_method("conf_filter", keep="most")


def test_make_detector_validates_and_records():
    from alignlab.adversarial.detectors import make_detector

    det = make_detector("activation_anomaly", method="pca", n_components=2)
    assert det.get_params() == {"layer_fraction": 0.5, "method": "pca", "n_components": 2}
    assert det.ref.params == {"method": "pca", "n_components": 2}
    with pytest.raises(AlignlabError, match="method: Input should be 'mahalanobis' or 'pca'"):
        make_detector("activation_anomaly", method="knn")


def test_a_registry_reads_like_a_mapping_for_a_test_that_adds_a_component(monkeypatch):
    reg = Registry("widget")
    reg.register("box", dict)
    assert reg["box"] is dict and reg.get("bag", None) is None
    with pytest.raises(UnknownNameError, match="unknown widget 'bag'"):
        reg["bag"]
    with monkeypatch.context() as m:
        m.setitem(reg, "bag", list)
        assert reg.names() == ["bag", "box"] and reg.create("bag") == []
        with pytest.raises(ValueError, match="duplicate widget name 'box'"):
            reg["box"] = list  # assignment is registration: no silent replacement
    assert reg.names() == ["box"]


def test_elicit_probes_take_their_hyperparameters_from_the_config():
    from alignlab.interpretability._elicit import ElicitConfig, _make_probe

    config = ElicitConfig.model_construct(**{**ElicitConfig().model_dump(), "C": 2.0, "scale": "std",
                                             "ccs_restarts": 3, "ccs_epochs": 50, "ccs_lr": 0.05, "seed": 9})
    assert _make_probe("logistic", config).get_params() == {"C": 2.0, "scale": "std", "max_iter": 1000, "tol": 1e-6}
    assert _make_probe("mass_mean", config).get_params() == {"scale": "std"}
    assert _make_probe("crc", config).get_params() == {"scale": "std"}
    assert _make_probe("ccs", config).get_params() == {"n_restarts": 3, "n_epochs": 50, "lr": 0.05,
                                                       "weight_decay": 0.01, "scale": "std", "random_state": 9}


def test_agreement_probes_keep_their_hyperparameters():
    """The pipeline's agreement stage builds probes from the same registry with the values it
    always used (logistic C=0.1, CCS lr=1e-2, everything else the estimators' defaults)."""
    from alignlab.pipeline._agreement import PROBES, _probe

    config = SimpleNamespace(ccs_restarts=7, ccs_epochs=321)
    params = {name: _probe(name, config, seed=5).get_params() for name in PROBES}
    assert params == {"logistic": {"C": 0.1, "scale": "norm", "max_iter": 1000, "tol": 1e-6},
                      "mass_mean": {"scale": "norm"}, "crc": {"scale": "norm"},
                      "ccs": {"n_restarts": 7, "n_epochs": 321, "lr": 1e-2, "weight_decay": 0.01, "scale": "norm",
                              "random_state": 5}}


def test_make_executor_filters_options_and_names_the_valid_ones():
    from alignlab.runtime._executors import EXECUTORS, make_executor

    local = make_executor("local", workers=2, timeout_s=5, memory_gb=None, address="ignored", num_cpus=None)
    assert (local.workers, local.timeout_s) == (2, 5) and local.ref.params == {"workers": 2, "timeout_s": 5,
                                                                               "memory_gb": None}
    assert make_executor("inline", workers=3).name == "inline"
    assert set(EXECUTORS.schema("ray")["properties"]) == {"address", "num_cpus", "timeout_s", "memory_gb"}
    with pytest.raises(UnknownNameError, match="unknown executor 'slurm'; valid executors: inline, local, ray"):
        make_executor("slurm")


def test_tasks_list_and_load_through_the_registry():
    from alignlab.data import TASKS, list_tasks, load_task

    entries = list_tasks()
    assert [e.name for e in entries] == TASKS.names() and {e.package for e in entries} >= {"evals", "bigbench"}
    assert TASKS.schema("anachronisms")["properties"] == {}  # a loader takes no parameters
    assert TASKS.get("sarcasm").description.startswith("News headlines")
    with pytest.raises(UnknownNameError, match="unknown task 'sarcsm'. Built-in tasks: anachronisms"):
        load_task("sarcsm")
