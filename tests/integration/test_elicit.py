"""Truth probes on a real model: smollm2-135m on capitals contrast pairs.

Uses the real ALIGNLAB_HOME, so after the first run the activations and zero-shot
log-probabilities come from the cache (the first run extracts 984 short texts)."""

from __future__ import annotations

import json

import pytest

from alignlab.interpretability._elicit import ElicitConfig, run_elicit

pytestmark = pytest.mark.integration


def test_smollm2_capitals_supervised_probe_beats_chance_and_zero_shot(tmp_path):
    config = ElicitConfig(model="smollm2-135m", task="capitals", methods=("logistic", "crc", "zeroshot"),
                          n_items=600, layer_stride=3)
    out = run_elicit(config, runs_root=tmp_path)
    res = json.loads((out.run_dir / "result.json").read_text())
    logistic = res["methods"]["logistic"]["best"]
    crc = res["methods"]["crc"]["best"]
    zeroshot = res["methods"]["zeroshot"]["test"]
    print(f"smollm2 capitals: logistic @L{logistic['layer']} {logistic['test']}, "
          f"CRC @L{crc['layer']} {crc['test']} (max(acc,1-acc) {crc['test_best_sign']:.3f}), zero-shot {zeroshot}")
    assert res["n_test"] == logistic["test"]["n"] > 80
    # Measured 0.71-0.77 on this split (the issue hoped for 0.85; see docs/results/elicit.md):
    # clearly above chance, and above the model's own zero-shot answer.
    assert logistic["test"]["value"] > 0.65 and logistic["test"]["lo"] > 0.5
    assert logistic["test"]["value"] > zeroshot["value"]
    assert out.plot.exists()
