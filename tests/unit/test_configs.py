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
    W2SSweepConfig(tasks=("x.jsonl",), pairs=(("a", "b"),), mid={}, base=W2SConfig(seeds=(0,))),
    DemoConfig(models=("tiny-llama",), task="x.jsonl", n_examples=50, pooling="last"),
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
