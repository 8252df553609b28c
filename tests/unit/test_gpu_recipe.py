"""The GPU recipe (docs/gpu.md) names a spec that validates: every one of its runs
resolves to a fine-tuning config, and the file is the block the document shows."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_recipe_spec_validates_and_matches_its_document():
    from alignlab.runtime import load_specs

    doc = (ROOT / "docs" / "gpu.md").read_text()
    shown = yaml.safe_load(re.search(r"```yaml\n(.*?)```", doc, re.S).group(1))
    path = ROOT / "docs" / "gpu" / "w2s_finetune.yaml"
    assert yaml.safe_load(path.read_text()) == shown
    assert "docs/gpu/w2s_finetune.yaml" in doc
    (spec,) = load_specs(path)
    configs = [c for _, c in spec.configs()]
    assert len(configs) == 2 * 3 * 3
    assert all(c.train == "finetune" and len(c.seeds) == 5 and not c.finetune.lora for c in configs)
