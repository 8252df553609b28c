"""torch_threads: the count in force inside the block, restored after (also on error);
$ALIGNLAB_THREADS as the default; an empty variable is unset, a bad one a clear error."""

from __future__ import annotations

import pytest
import torch

from alignlab.errors import AlignlabError
from alignlab.threads import torch_threads


def test_thread_count_is_set_for_the_block_and_restored(monkeypatch):
    monkeypatch.delenv("ALIGNLAB_THREADS", raising=False)
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads() as n:  # nothing asked: unchanged
        assert n == before


def test_env_variable_default_empty_and_bad_values(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("ALIGNLAB_THREADS", "1")
    with torch_threads() as n:
        assert n == 1 == torch.get_num_threads()
    with torch_threads(2) as n:  # an explicit count wins
        assert n == 2
    monkeypatch.setenv("ALIGNLAB_THREADS", "")
    with torch_threads() as n:
        assert n == before
    for bad in ("two", "0", "-1", "1.5"):
        monkeypatch.setenv("ALIGNLAB_THREADS", bad)
        with pytest.raises(AlignlabError, match="ALIGNLAB_THREADS"), torch_threads():
            pass
    assert torch.get_num_threads() == before
