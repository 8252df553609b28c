"""The compute dtype rule: capability -> dtype, the override, explicit values, bad input,
and the cached matmul probe (re-probed when corrupt or from another machine)."""

from __future__ import annotations

import json

import pytest
import torch

import alignlab.models._dtype as dt
from alignlab.errors import AlignlabError
from alignlab.models import auto_dtype, load_model, resolve_dtype


@pytest.fixture(autouse=True)
def fresh_rule(monkeypatch):
    """Each test sees its own CPU: the rule's per-process caches are cleared around it."""
    monkeypatch.delenv("ALIGNLAB_DTYPE", raising=False)
    dt._auto_dtype.cache_clear()
    dt._check_runnable.cache_clear()
    yield
    dt._auto_dtype.cache_clear()
    dt._check_runnable.cache_clear()


def _cpu(monkeypatch, flags, probe=None):
    monkeypatch.setattr(dt, "cpu_flags", lambda: flags)
    if probe is not None:
        monkeypatch.setattr(dt, "probe_matmul", lambda refresh=False: probe)


@pytest.mark.parametrize("flags,expected", [
    ({"avx2", "fma"}, "float32"),                                    # AVX2-only EPYC: emulated bf16
    ({"avx2", "avx512f", "avx512bw"}, "float32"),                    # AVX512 without BF16 (Skylake)
    ({"avx2", "avx512f", "avx512_bf16"}, "bfloat16"),                # Cooper Lake / Zen 4
    ({"avx2", "avx512f", "amx_bf16", "amx_tile"}, "bfloat16"),       # Sapphire Rapids
])
def test_cpu_flags_decide(monkeypatch, flags, expected):
    _cpu(monkeypatch, flags, probe={"float32_gflops": 1.0, "bfloat16_gflops": 1e9})  # never consulted
    choice = auto_dtype("cpu")
    assert choice.dtype == expected and choice.probe is None
    assert resolve_dtype("auto", "cpu") == expected


@pytest.mark.parametrize("rates,expected", [((70.0, 1.2), "float32"), ((200.0, 700.0), "bfloat16"),
                                            ((200.0, 250.0), "float32")])  # not clearly faster: exact wins
def test_probe_decides_where_flags_are_unreadable(monkeypatch, rates, expected):
    _cpu(monkeypatch, None, probe={"float32_gflops": rates[0], "bfloat16_gflops": rates[1]})
    choice = auto_dtype("cpu")
    assert choice.dtype == expected and choice.probe["float32_gflops"] == rates[0]


def test_override_and_explicit_values(monkeypatch):
    _cpu(monkeypatch, {"avx2"})
    assert resolve_dtype("auto", "cpu") == "float32"
    monkeypatch.setenv("ALIGNLAB_DTYPE", "bfloat16")
    assert resolve_dtype("auto", "cpu") == "bfloat16"          # the override beats the rule
    assert resolve_dtype("float32", "cpu") == "float32"        # an explicit value beats the override
    assert load_model("tiny-llama", device="cpu").dtype == "bfloat16"
    monkeypatch.setenv("ALIGNLAB_DTYPE", "auto")
    assert resolve_dtype(None, "cpu") == "float32"
    monkeypatch.setenv("ALIGNLAB_DTYPE", " ")                   # empty counts as unset
    assert load_model("tiny-llama", device="cpu").dtype == "float32"


def test_bad_dtypes_are_one_line_errors(monkeypatch):
    monkeypatch.setenv("ALIGNLAB_DTYPE", "half-ish")
    with pytest.raises(AlignlabError, match="ALIGNLAB_DTYPE='half-ish'.*choose auto"):
        load_model("tiny-llama")
    monkeypatch.delenv("ALIGNLAB_DTYPE")
    with pytest.raises(AlignlabError, match="unknown dtype 'fp8'"):
        load_model("tiny-llama", dtype="fp8")


def test_a_dtype_the_device_cannot_run_is_refused_before_loading(monkeypatch):
    real_ones = torch.ones

    def broken(*args, dtype=None, **kwargs):
        if dtype == torch.float16:
            raise RuntimeError('"addmm_impl_cpu_" not implemented for \'Half\'')
        return real_ones(*args, dtype=dtype, **kwargs)

    monkeypatch.setattr(torch, "ones", broken)
    with pytest.raises(AlignlabError, match="cpu cannot run float16.*use dtype auto or float32"):
        load_model("tiny-llama", dtype="float16", device="cpu")


def test_probe_is_cached_and_a_corrupt_or_foreign_file_is_reprobed(tmp_home, monkeypatch):
    calls = []
    monkeypatch.setattr(dt, "matmul_gflops", lambda dtype, **kw: calls.append(dtype) or {"float32": 70.0,
                                                                                          "bfloat16": 1.2}[dtype])
    first = dt.probe_matmul()
    assert calls == ["float32", "bfloat16"] and first["bfloat16_gflops"] == 1.2
    assert dt.probe_matmul() == first and len(calls) == 2        # read back, not re-measured
    path = tmp_home / "home" / "machine" / "dtype-probe.json"
    for bad in ("{not json", json.dumps({**first, "float32_gflops": "NaN"}), json.dumps({**first, "key": {}})):
        path.write_text(bad)
        assert dt.probe_matmul()["float32_gflops"] == 70.0
    assert len(calls) == 8                                        # each bad file measured again
    assert json.loads(path.read_text())["key"] == first["key"]   # and replaced by a good one


def test_matmul_rate_is_measured():
    assert dt.matmul_gflops("float32", seconds=0.05, m=64, k=64, n=64) > 0


def test_cuda_rule(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert auto_dtype("cuda").dtype == "bfloat16"
    dt._auto_dtype.cache_clear()
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert auto_dtype("cuda").dtype == "float32"
    with pytest.raises(AlignlabError, match="cuda cannot run bfloat16"):
        resolve_dtype("bfloat16", "cuda")


def test_run_records_say_which_dtype(tmp_home):
    from alignlab.store import write_run

    record = write_run("trivial", {"x": 1}, {"ok": True}, root=tmp_home / "runs")
    env = json.loads((record.path / "env.json").read_text())
    assert env["compute_dtype"] == resolve_dtype("auto") and env["cpu_capability"]
    assert env["dtype_reason"]


def test_doctor_says_what_is_used_and_what_to_fix(tmp_home, monkeypatch):
    from typer.testing import CliRunner

    from alignlab.cli import app

    monkeypatch.setenv("ALIGNLAB_THREADS", "two")
    out = CliRunner().invoke(app, ["doctor", "--json", "--no-measure"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["machine"]["compute_dtype"] == resolve_dtype("auto") and report["machine"]["cpu_capability"]
    assert {m["name"] for m in report["models"]} >= {"smollm2-135m", "gemma3-270m"}
    # An empty ALIGNLAB_HOME: nothing prepared, and each model says how to fix it.
    assert all(not m["prepared"] and "fix" in m for m in report["models"] if m["name"] != "minilm-l6")
    assert any("ALIGNLAB_THREADS='two'" in item for item in report["todo"])
    assert report["weights_check"]["full"] is True  # the default re-hashes prepared weights
    out = CliRunner().invoke(app, ["doctor", "--json", "--no-measure", "--no-verify"])
    assert out.exit_code == 0 and json.loads(out.output)["weights_check"]["full"] is False
    monkeypatch.setenv("ALIGNLAB_DTYPE", "half-ish")
    out = CliRunner().invoke(app, ["doctor"])  # one screen, measured rates included
    assert out.exit_code == 0, out.output
    assert "matmul now" in out.output and "ALIGNLAB_DTYPE='half-ish'" in out.output and "re-hashed" in out.output


def test_results_documents_say_which_dtype(tmp_home):
    from alignlab.report import dtype_note, dtype_of
    from alignlab.store import write_run

    new = write_run("trivial", {"x": 2}, {"ok": True}, root=tmp_home / "runs").path
    old = tmp_home / "runs" / "trivial-old"
    old.mkdir()
    (old / "env.json").write_text(json.dumps({"device": "cpu"}))  # written before dtypes were recorded
    assert dtype_of({}).startswith("bfloat16 (before the dtype was recorded")
    note = dtype_note([new, old, new])
    assert f"{resolve_dtype('auto')} on cpu" in note and ": 2 runs" in note and "before the dtype" in note
