"""Every config type round-trips through YAML and rejects unknown fields."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from alignlab.data import Template
from alignlab.demo import DemoConfig
from alignlab.generalization import FinetuneConfig, HeadConfig, W2SConfig, W2SSweepConfig
from alignlab.store import ActivationKey

CONFIGS = [
    DemoConfig(),
    W2SConfig(),
    W2SConfig(method="conf_filter", method_params={"keep": 0.3}, seeds=(3, 4)),
    W2SConfig(train="finetune", finetune=FinetuneConfig(lora=True, lr=1e-4), head=HeadConfig(C=0.1)),
    W2SSweepConfig(),
    W2SSweepConfig(tasks=("fever",), pairs=(("tiny-llama", "tiny-gemma3"),), mid={}, base=W2SConfig(seeds=(0,))),
    DemoConfig(models=("tiny-llama",), task="fever", n_examples=50, pooling="last"),
    Template(format="Q: {text}", choices=(" No", " Yes")),
    ActivationKey(model_digest="m", task_fingerprint="t", rows="all", template="{text}",
                  layers=(0, 3), pooling="mean", dtype="bfloat16", max_length=128),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_yaml_roundtrip(config):
    text = yaml.safe_dump(config.model_dump(mode="json"))
    assert type(config).model_validate(yaml.safe_load(text)) == config


@pytest.mark.parametrize("cls", [DemoConfig, W2SConfig, W2SSweepConfig, HeadConfig, FinetuneConfig, Template])
def test_extra_fields_forbidden(cls):
    with pytest.raises(ValidationError, match="extra"):
        cls.model_validate({"no_such_field": 1})


def test_invalid_values_name_the_field():
    with pytest.raises(ValidationError, match="pooling"):
        DemoConfig(pooling="max")


@pytest.mark.parametrize(("cls", "field", "value", "says"), [
    (W2SConfig, "task", "sarcsm", "unknown task 'sarcsm'; built-in tasks: anachronisms"),
    (W2SConfig, "task", "nowhere/x.jsonl", "task file 'nowhere/x.jsonl' does not exist"),
    (W2SConfig, "method", "confilter", "unknown transfer method 'confilter'; known: aux_conf"),
    (W2SConfig, "weak", "gemma-3", "unknown model 'gemma-3'. Known names: smollm2-135m, gemma3-270m"),
    (W2SConfig, "strong", "./no/such/folder", "no such folder: "),
    (DemoConfig, "models", ["smollm2-135m", "smolm2"], "unknown model 'smolm2'"),
])
def test_names_resolved_at_validation_with_the_choices(cls, field, value, says):
    """A typo in a name fails when the config is built (before any model loads), and the
    message lists what is valid."""
    with pytest.raises(ValidationError, match=field) as err:
        cls.model_validate({field: value})
    assert says in str(err.value)


@pytest.mark.parametrize(("fields", "says"), [
    ({"seeds": []}, "give at least one seed"),
    ({"seeds": [0, 0]}, "repeats a seed"),
    ({"method": "bootstrap"}, "set mid"),
    ({"method": "conf_filter", "method_params": {"kep": 0.5}}, "has no parameter(s) ['kep']"),
])
def test_w2s_option_combinations_checked_before_work(fields, says):
    with pytest.raises(ValidationError) as err:
        W2SConfig.model_validate(fields)
    assert says in str(err.value)
    W2SConfig.model_validate({**fields, "seeds": [0, 1], "mid": "smollm2-135m", "method_params": {}})


def test_an_existing_relative_folder_is_a_model_not_a_hub_id(tmp_path, monkeypatch):
    (tmp_path / "mymodels" / "foo").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert W2SConfig(weak="mymodels/foo").weak == "mymodels/foo"
    with pytest.raises(ValidationError, match="no such folder: .*mymodels/bar"):
        W2SConfig(weak="mymodels/bar")
