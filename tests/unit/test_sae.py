"""TopK sparse autoencoders: the trainer learns a planted dictionary, AuxK revives dead
latents, the sparse backward matches dense autograd, splicing into a language model
measures what it should, and the SAELens-format files round-trip and refuse bad input."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from alignlab.errors import AlignlabError
from alignlab.interpretability import (SAETrainConfig, TopKSAE, load_sae, reconstruction_metrics, save_sae,
                                       spliced_loss, train_sae)
from alignlab.interpretability._sae import _GatherPreacts
from alignlab.interpretability._sae_metrics import edit_block_output
from alignlab.models._capture import find_blocks

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: a second thread only spin-waits

DATA_SEED = 12345  # never the config's seed: the init's randn would draw the planted atoms themselves


def planted(n: int, d_in: int, m: int, k_true: int, noise: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """x = Σ of k_true of m random unit atoms with coefficients in [0.5, 1.5] + noise,
    then an affine map (scale 7, offset 3) so the input scale and b_dec have work to do."""
    g = torch.Generator().manual_seed(DATA_SEED)
    atoms = torch.randn(m, d_in, generator=g)
    atoms /= atoms.norm(dim=1, keepdim=True)
    chosen = torch.rand(n, m, generator=g).argsort(1)[:, :k_true]  # (n, k_true)
    coef = torch.rand(n, k_true, generator=g) + 0.5
    X = torch.zeros(n, m).scatter_(1, chosen, coef) @ atoms + noise * torch.randn(n, d_in, generator=g)
    return 7 * X + 3, atoms


def atoms_found(sae: TopKSAE, atoms: torch.Tensor, cos: float = 0.9) -> float:
    """Share of true atoms with a decoder row at cosine > ``cos``."""
    return float(((atoms @ sae.W_dec.detach().T).max(1).values > cos).float().mean())


@pytest.fixture(scope="module")
def dictionary():
    return planted(8192, 64, 96, 4)


def test_planted_dictionary_is_recovered_and_controls_fail(dictionary):
    X, atoms = dictionary
    good = SAETrainConfig(expansion=4, k=4, lr=1e-2, batch_size=256, epochs=6, seed=0)
    sae, history = train_sae(X, good, threads=1)
    metrics = reconstruction_metrics(sae, X)
    assert metrics["explained_variance"] > 0.9
    assert atoms_found(sae, atoms) > 0.9
    assert history["summary"]["steps"] == 6 * 32 and history["summary"]["tokens"] == 6 * 8192
    # k=1 on 4-sparse data cannot reconstruct; two steps cannot find the atoms
    one, _ = train_sae(X, good.model_copy(update={"k": 1}), threads=1)
    assert reconstruction_metrics(one, X)["explained_variance"] < 0.7
    brief, _ = train_sae(X, good.model_copy(update={"epochs": 1, "batch_size": 4096}), threads=1)
    assert atoms_found(brief, atoms) < 0.3 and reconstruction_metrics(brief, X)["explained_variance"] < 0.7


def test_auxk_revives_dead_latents():
    """Half the latents start with encoder columns 100x too small: they never make the
    top-k, so without AuxK they get no gradient and stay dead; AuxK trains them on the
    residual until they compete (64 live latents cannot cover 128 atoms alone)."""
    X, _ = planted(8192, 64, 128, 4)
    config = SAETrainConfig(expansion=2, k=4, lr=3e-3, batch_size=256, epochs=6, seed=0, dead_tokens=1024)
    bad = TopKSAE(64, 128, 4)
    bad.reset_parameters(torch.Generator().manual_seed(0))
    with torch.no_grad():
        bad.input_scale.fill_((64 / X.pow(2).sum(1).mean()).sqrt())
        bad.b_dec.copy_((X * bad.input_scale).mean(0))
        bad.W_enc[:, 64:] *= 0.01
    untouched = {k: v.clone() for k, v in bad.state_dict().items()}
    without, h0 = train_sae(X, config.model_copy(update={"aux_coef": 0.0}), init=bad, threads=1)
    with_aux, h1 = train_sae(X, config, init=bad, threads=1)
    dead0, dead1 = (reconstruction_metrics(s, X)["dead_fraction"] for s in (without, with_aux))
    assert dead0 >= 0.45 and h0["summary"]["dead_fraction"] >= 0.45
    assert dead1 < 0.1 and h1["summary"]["dead_fraction"] < 0.1
    assert max(h1["aux_loss"]) > 0 and max(h0["aux_loss"]) == 0
    assert reconstruction_metrics(with_aux, X)["explained_variance"] > reconstruction_metrics(without, X)[
        "explained_variance"] + 0.1
    assert all(torch.equal(v, untouched[k]) for k, v in bad.state_dict().items())  # init copied, not trained


def test_unit_norm_l0_and_determinism():
    X, _ = planted(2048, 32, 48, 3)
    X = X.half()  # stored activations are fp16; the SAE computes in fp32
    config = SAETrainConfig(expansion=4, k=3, lr=3e-3, batch_size=256, epochs=2, seed=7)
    seen = []
    a, history = train_sae(X, config, on_step=lambda step, record: seen.append((step, record["tokens"])), threads=1)
    b, _ = train_sae(X, config, threads=1)
    c, _ = train_sae(X, config.model_copy(update={"seed": 8}), threads=1)
    assert a.W_enc.dtype == torch.float32
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name
    assert not torch.equal(a.W_dec, c.W_dec)
    assert torch.allclose(a.W_dec.norm(dim=1), torch.ones(a.d_sae), atol=1e-5)
    codes = a.encode(X[:512])
    assert (codes >= 0).all() and int((codes > 0).sum(1).max()) <= config.k
    assert reconstruction_metrics(a, X)["l0"] <= config.k
    assert len(history["loss"]) == history["summary"]["steps"] == 16 and seen[-1] == (16, 2 * 2048)
    assert history["summary"]["lr"] == 3e-3 and history["summary"]["dead_tokens"] == 2048 * 2 // 4


def test_input_scale_convention():
    """Trained on activations 1000x larger, the SAE is the same up to its input scale, and
    it takes and returns raw units."""
    X, _ = planted(2048, 32, 48, 3)
    config = SAETrainConfig(expansion=2, k=3, lr=3e-3, batch_size=512, epochs=1, seed=0)
    small, _ = train_sae(X, config, threads=1)
    big, _ = train_sae(X * 1000, config, threads=1)
    assert float((X * small.input_scale).pow(2).sum(1).mean()) == pytest.approx(32, rel=0.05)
    assert float(small.input_scale / big.input_scale) == pytest.approx(1000, rel=1e-3)
    recon_small, codes_small = small(X[:256])
    recon_big, codes_big = big(X[:256] * 1000)
    assert torch.allclose(recon_big / 1000, recon_small, rtol=1e-3, atol=1e-3)
    assert torch.allclose(codes_big, codes_small, rtol=1e-3, atol=1e-3)  # codes are in normalised units


def test_sparse_backward_matches_dense_autograd():
    g = torch.Generator().manual_seed(0)
    xc, W, b = (torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
                for shape in ((6, 5), (5, 9), (9,)))

    def sparse(xc, W, b):
        pre = (xc @ W + b).detach()
        return _GatherPreacts.apply(pre, xc, W, b, pre.topk(3, dim=-1).indices)

    assert torch.autograd.gradcheck(sparse, (xc, W, b))
    # a whole SAE step: our sparse paths against the textbook dense computation
    sae = TopKSAE(8, 24, 4, dtype=torch.float64)
    x = torch.randn(16, 8, generator=g, dtype=torch.float64)
    values, idx, _ = sae.topk_normalised(x)
    sae.decode_normalised(values, idx).pow(2).sum().backward()
    sparse_grads = {n: p.grad.clone() for n, p in sae.named_parameters()}
    sae.zero_grad()
    pre = (x - sae.b_dec) @ sae.W_enc + sae.b_enc
    codes = torch.zeros_like(pre).scatter(-1, pre.detach().topk(4, dim=-1).indices, 1.0) * pre.relu()
    (codes @ sae.W_dec + sae.b_dec).pow(2).sum().backward()
    for n, p in sae.named_parameters():
        assert torch.allclose(sparse_grads[n], p.grad, atol=1e-10), n


def test_decoder_gradient_projection_and_renorm():
    sae = TopKSAE(8, 16, 2)
    sae.W_dec.grad = torch.randn(16, 8)
    sae.remove_gradient_parallel_to_decoder_directions_()
    assert (sae.W_dec.grad * sae.W_dec).sum(1).abs().max() < 1e-5
    with torch.no_grad():
        sae.W_dec.mul_(3)
    sae.set_decoder_norm_to_unit_norm_()
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(16))


def test_reconstruction_metrics_pooled_and_batch_independent(dictionary):
    X, _ = dictionary
    X = X[:1000]
    sae = TopKSAE(64, 128, 8)
    one = reconstruction_metrics(sae, X, batch_size=4096)
    many = reconstruction_metrics(sae, X, batch_size=7)
    for key in one:
        assert one[key] == pytest.approx(many[key], rel=1e-5), key
    with torch.no_grad():
        recon, codes = sae(X)
    assert one["explained_variance"] == pytest.approx(
        float(1 - (X - recon).pow(2).sum() / (X - X.mean(0)).pow(2).sum()), rel=1e-4)
    assert one["l0"] == pytest.approx(float((codes > 0).sum(1).float().mean()))
    assert one["dead_fraction"] == pytest.approx(float(((codes > 0).sum(0) == 0).float().mean()))


# -- splicing into a language model --------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm():
    import transformers

    config = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=100,
                                      initializer_range=0.2)  # big enough that ablating a layer matters
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 100, (5, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0  # right padding
    mask[2, :3] = 0  # left padding
    return model, ids, mask


def identity_sae(d: int) -> TopKSAE:
    """Reconstructs exactly: codes ReLU(x), ReLU(−x) on latents ±e_i, so x̂ = x (k = d_sae)."""
    sae = TopKSAE(d, 2 * d, 2 * d)
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
    return sae


def test_spliced_loss_identity_and_zero_sae(tiny_lm):
    model, ids, mask = tiny_lm
    out = spliced_loss(model, identity_sae(32), 0, ids, mask, batch_size=2)
    assert abs(out["ce_zero_ablated"] - out["ce_clean"]) > 1e-2  # (a random LM: ablating may even help)
    assert out["ce_spliced"] == pytest.approx(out["ce_clean"], abs=1e-6)
    assert out["ce_loss_recovered"] == pytest.approx(1.0, abs=1e-4)
    assert out["ce_loss_recovered_mean"] == pytest.approx(1.0, abs=1e-3)
    assert abs(out["kl_div"]) < 1e-6
    zero = TopKSAE(32, 64, 4)
    with torch.no_grad():
        for p in zero.parameters():
            p.zero_()
    out = spliced_loss(model, zero, 1, ids, mask)
    assert out["ce_loss_recovered"] == pytest.approx(0.0, abs=1e-6) and out["ce_loss_recovered_zero"] == out[
        "ce_loss_recovered"]
    assert out["kl_div"] > 0
    valid = int((mask[:, :-1].bool() & mask[:, 1:].bool()).sum())
    assert out["n_positions"] == valid and out["n_replaced"] == int(mask.sum()) - 5  # first token of each row kept
    assert spliced_loss(model, zero, 1, ids, mask, skip_first=False)["n_replaced"] == int(mask.sum())


def test_spliced_hook_removed_after_call_and_exception(tiny_lm):
    model, ids, mask = tiny_lm
    block = find_blocks(model)[0]
    model(input_ids=ids[:1])  # transformers may add hooks of its own on a first pass
    before = len(block._forward_hooks)
    spliced_loss(model, identity_sae(32), 0, ids[:2])
    assert len(block._forward_hooks) == before

    class Broken(TopKSAE):
        def encode_topk(self, x):
            assert len(block._forward_hooks) == before + 1  # raised inside the hook
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        spliced_loss(model, Broken(32, 64, 4), 0, ids[:2])
    assert len(block._forward_hooks) == before


def test_edit_block_output_handles_tuple_outputs():
    class TupleBlock(torch.nn.Module):
        def forward(self, x):
            return x * 2, "extra"

    block = TupleBlock()
    with edit_block_output(block, lambda h: h + 1):
        hidden, extra = block(torch.ones(2))
    assert torch.equal(hidden, torch.full((2,), 3.0)) and extra == "extra"
    assert torch.equal(block(torch.ones(2))[0], torch.full((2,), 2.0)) and not block._forward_hooks


# -- SAELens-format files --------------------------------------------------------------------


@pytest.fixture
def trained():
    X, _ = planted(1024, 16, 24, 2)
    sae, _ = train_sae(X, SAETrainConfig(expansion=2, k=2, lr=3e-3, batch_size=256, epochs=1, seed=0), threads=1)
    return sae, X


def test_save_load_round_trip_in_saelens_format(trained, tmp_path):
    sae, X = trained
    meta = {"model_name": "tiny", "hook_name": "blocks.0.hook_resid_post", "context_size": 12}
    save_sae(sae, tmp_path / "sae", meta)
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    assert {k: cfg[k] for k in ("architecture", "d_in", "d_sae", "k", "dtype", "normalize_activations")} == {
        "architecture": "topk", "d_in": 16, "d_sae": 32, "k": 2, "dtype": "float32", "normalize_activations": "none"}
    assert cfg["metadata"]["hook_name"] == meta["hook_name"] and cfg["metadata"]["sae_lens_version"] >= "6"
    # SAELens's forward on the saved tensors, with no scaling step, gives our raw outputs
    w = load_file(tmp_path / "sae" / "sae_weights.safetensors")
    assert set(w) == {"W_enc", "b_enc", "W_dec", "b_dec"} and w["W_enc"].shape == (16, 32)
    pre = (X - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    codes = torch.zeros_like(pre).scatter(-1, pre.topk(2, dim=-1).indices, pre.topk(2, dim=-1).values.relu())
    recon, ours = sae(X)
    assert torch.allclose(codes @ w["W_dec"] + w["b_dec"], recon, rtol=1e-4, atol=1e-4)
    assert torch.allclose(codes, ours, rtol=1e-4, atol=1e-5)
    loaded, got = load_sae(tmp_path / "sae")
    assert got["hook_name"] == meta["hook_name"] and "alignlab_input_scale" not in got
    assert float(loaded.input_scale) == float(sae.input_scale)
    back, back_codes = loaded(X)
    assert torch.allclose(back, recon, rtol=1e-5, atol=1e-5) and torch.allclose(back_codes, ours, rtol=1e-5, atol=1e-6)
    assert torch.allclose(loaded.W_dec.norm(dim=1), torch.ones(32), atol=1e-5)


def test_load_folds_saelens_options(trained, tmp_path):
    """A SAELens TopK SAE saved with rescale_acts_by_decoder_norm and without b_dec
    applied to the input loads as an equivalent SAE."""
    sae, X = trained
    save_sae(sae, tmp_path / "s", {})
    w = load_file(tmp_path / "s" / "sae_weights.safetensors")
    w["W_dec"] = w["W_dec"] * torch.linspace(0.5, 2, 32)[:, None]  # rows not unit norm
    w["b_enc"] = w["b_enc"] - w["b_dec"] @ w["W_enc"]  # the same function without applying b_dec
    save_file(w, tmp_path / "s" / "sae_weights.safetensors")
    cfg = json.loads((tmp_path / "s" / "cfg.json").read_text())
    cfg.update(rescale_acts_by_decoder_norm=True, apply_b_dec_to_input=False)
    del cfg["metadata"]["alignlab_input_scale"]
    (tmp_path / "s" / "cfg.json").write_text(json.dumps(cfg))
    norm = w["W_dec"].norm(dim=1)
    pre = (X @ w["W_enc"] + w["b_enc"]) * norm
    top = pre.topk(2, dim=-1)
    codes = torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
    expected = (codes / norm) @ w["W_dec"] + w["b_dec"]
    loaded, _ = load_sae(tmp_path / "s")
    assert torch.allclose(loaded(X)[0], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("damage", ["no_weights", "no_cfg", "garbled_weights", "garbled_cfg", "nan", "shape",
                                    "architecture"])
def test_load_refuses_malformed_folders(trained, tmp_path, damage):
    sae, _ = trained
    folder = save_sae(sae, tmp_path / "sae", {})
    weights, cfg_path = folder / "sae_weights.safetensors", folder / "cfg.json"
    if damage == "no_weights":
        weights.unlink()
    elif damage == "no_cfg":
        cfg_path.unlink()
    elif damage == "garbled_weights":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "garbled_cfg":
        cfg_path.write_text("{not json")
    elif damage in ("nan", "shape"):
        w = load_file(weights)
        if damage == "nan":
            w["W_dec"][3, 1] = float("nan")
        else:
            w["b_enc"] = torch.zeros(31)
        save_file(w, weights)
    else:
        cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()), "architecture": "jumprelu"}))
    name = "cfg.json" if damage in ("no_cfg", "garbled_cfg", "architecture") else "sae_weights.safetensors"
    with pytest.raises(AlignlabError, match=name) as err:
        load_sae(folder)
    assert "\n" not in str(err.value) and "save_sae" in str(err.value)
    if damage == "nan":
        assert "NaN" in str(err.value)
    with pytest.raises(AlignlabError, match="no such SAE folder"):
        load_sae(tmp_path / "nowhere")


def test_train_config_is_frozen_strict_and_round_trips_yaml():
    config = SAETrainConfig(k=16, lr=1e-3, dead_tokens=1000)
    assert SAETrainConfig.model_validate(yaml.safe_load(yaml.safe_dump(config.model_dump()))) == config
    with pytest.raises(Exception, match="extra"):
        SAETrainConfig(k_aux_typo=3)
    with pytest.raises(Exception, match="frozen"):
        config.k = 3
    with pytest.raises(ValueError, match="exceeds d_sae"):
        train_sae(torch.randn(64, 4), SAETrainConfig(expansion=1, k=8))
