"""Tiny random-weight models built from a config: the unit-test subjects.

They exercise the same code paths as real models (decoder with RoPE and GQA, Gemma's
sliding-window attention, a BERT encoder) in milliseconds, with no download. The
tokenizer is byte-level (256 byte tokens + specials), so any text tokenizes.
"""

from __future__ import annotations

from typing import Any

TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "tiny-llama": dict(
        model_type="llama", hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
    ),
    "tiny-gemma3": dict(
        model_type="gemma3_text", hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=1, head_dim=8, max_position_embeddings=256,
        sliding_window=8,
    ),
    "tiny-bert": dict(
        model_type="bert", hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, max_position_embeddings=256,
    ),
}
_SPECIALS = ("<pad>", "<bos>", "<eos>")


def byte_tokenizer():
    """A byte-level fast tokenizer: ids 0-255 are bytes, then <pad>, <bos>, <eos>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    for s in _SPECIALS:
        vocab[s] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>"
    )


def build_tiny(name: str, seed: int = 0):
    """(model, tokenizer, config dict) for a tiny random model; same seed, same weights."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    spec = dict(TINY_CONFIGS[name])
    tokenizer = byte_tokenizer()
    model_type = spec.pop("model_type")
    config = AutoConfig.for_model(
        model_type, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **spec,
    )
    gen = torch.random.fork_rng()
    with gen:
        torch.manual_seed(seed)
        cls = AutoModel if model_type == "bert" else AutoModelForCausalLM
        model = cls.from_config(config)
    model.eval()
    return model, tokenizer, {"model_type": model_type, **spec, "seed": seed}
