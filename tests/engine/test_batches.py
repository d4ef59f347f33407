"""TokenData: train/val splits, batches as a pure function of (seed, step), validation
batches, bytes per token and reward prompts."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from datafiles import corpus, make_corpus, model_dir, tok, user_error, write  # noqa: F401
from slavik_tui.engine.data import TokenData, add_datasets
from slavik_tui.engine.tokenizer import EOT

# ---- TokenData --------------------------------------------------------------------------------
@pytest.fixture
def loaded(model_dir, tmp_path, tok, corpus):
    """A model with two datasets of different sizes."""
    a = write(tmp_path / "a.txt", corpus)
    b = write(tmp_path / "b.txt", make_corpus(3_000, seed=99))
    entries = add_datasets(model_dir, [a, b], tok)
    return model_dir, entries


def _find(haystack: np.ndarray, needle: np.ndarray) -> list[int]:
    windows = np.lib.stride_tricks.sliding_window_view(haystack, needle.size)
    return np.nonzero((windows == needle).all(axis=1))[0].tolist()


def test_no_data(model_dir) -> None:
    user_error(lambda: TokenData(model_dir, context=16), "no training data", "--data")


def test_too_short(model_dir, tmp_path, tok) -> None:
    src = write(tmp_path / "tiny.txt", "Короткий текст.")
    [entry] = add_datasets(model_dir, [src], tok)
    msg = user_error(
        lambda: TokenData(model_dir, context=64), "tiny.txt", f"has {entry.tokens} tokens",
        "fewer than two context windows", "--context",
    )
    assert "130" in msg  # 2 × (64 + 1)
    TokenData(model_dir, context=entry.tokens // 2 - 1)  # exactly two windows is enough


def test_damaged_cache_and_the_advice_works(loaded, tmp_path, tok) -> None:
    model_dir, entries = loaded
    bin_path = model_dir / "data" / f"{entries[0].sha256}.bin"
    good = bin_path.read_bytes()
    bin_path.write_bytes(good[:-2])
    msg = user_error(lambda: TokenData(model_dir, context=16), "a.txt", "damaged", "--data")
    os.unlink(re.search(r"\(rm ([^)]+)\)", msg).group(1))  # do as it says
    add_datasets(model_dir, [tmp_path / "a.txt"], tok)
    TokenData(model_dir, context=16)
    assert bin_path.read_bytes() == good


def test_missing_cache_and_the_advice_works(loaded, tmp_path, tok) -> None:
    model_dir, entries = loaded
    bin_path = model_dir / "data" / f"{entries[1].sha256}.bin"
    good = bin_path.read_bytes()
    bin_path.unlink()
    user_error(lambda: TokenData(model_dir, context=16), "b.txt", "missing", "--data")
    add_datasets(model_dir, [tmp_path / "b.txt"], tok)  # as it says
    TokenData(model_dir, context=16)
    assert bin_path.read_bytes() == good


def test_splits(loaded) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=32)
    total = sum(e.tokens for e in entries)
    assert data.train_tokens + data.val_tokens == total
    assert 0.08 < data.val_tokens / total < 0.12
    assert data.datasets == entries


def test_get_batch_shapes_and_shift(loaded) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=32)
    x, y = data.get_batch("train", 6, step=0, seed=1)
    assert x.shape == y.shape == (6, 32)
    assert str(x.dtype) == str(y.dtype) == "torch.int64"
    x_np, _ = data.get_batch("train", 6, step=0, seed=np.int64(1))
    assert (x_np == x).all()
    assert (x[:, 1:] == y[:, :-1]).all()
    caches = [np.fromfile(model_dir / "data" / f"{e.sha256}.bin", dtype=np.uint16) for e in entries]
    for row_x, row_y in zip(x.numpy(), y.numpy()):
        window = np.concatenate([row_x, row_y[-1:]]).astype(np.uint16)
        hits = [(i, pos) for i, c in enumerate(caches) for pos in _find(c, window)]
        assert hits  # a real window of one cache ...
        # ... inside its train split (first 90%)
        assert any(pos + 33 <= int(caches[i].size * 0.9) + 1 for i, pos in hits)


def test_get_batch_is_pure(loaded) -> None:
    model_dir, _ = loaded
    a = TokenData(model_dir, context=16)
    b = TokenData(model_dir, context=16)
    x1, y1 = a.get_batch("train", 8, step=5, seed=42)
    a.get_batch("train", 8, step=6, seed=42)  # no hidden state between calls
    x2, y2 = b.get_batch("train", 8, step=5, seed=42)
    assert (x1 == x2).all() and (y1 == y2).all()
    assert not (a.get_batch("train", 8, step=6, seed=42)[0] == x1).all()
    assert not (a.get_batch("train", 8, step=5, seed=43)[0] == x1).all()
    assert not (a.get_batch("val", 8, step=5, seed=42)[0] == x1).all()
    with pytest.raises(ValueError):
        a.get_batch("test", 8, step=0, seed=0)


def test_get_batch_samples_both_datasets(loaded) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=8)
    small = np.fromfile(model_dir / "data" / f"{entries[1].sha256}.bin", dtype=np.uint16)
    x, y = data.get_batch("train", 400, step=0, seed=0)
    from_small = 0
    for row_x, row_y in zip(x.numpy(), y.numpy()):
        if _find(small, np.concatenate([row_x, row_y[-1:]]).astype(np.uint16)):
            from_small += 1
    share = entries[1].tokens / (entries[0].tokens + entries[1].tokens)
    assert 0.5 * share * 400 < from_small < 1.5 * share * 400 + 20


def test_val_batches(loaded) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=16)
    batches = data.val_batches(3, 4)
    again = TokenData(model_dir, context=16).val_batches(3, 4)
    assert len(batches) == 3
    for (x, y), (x2, y2) in zip(batches, again):
        assert x.shape == y.shape == (4, 16) and (x == x2).all() and (y == y2).all()
        assert (x[:, 1:] == y[:, :-1]).all()
    caches = [np.fromfile(model_dir / "data" / f"{e.sha256}.bin", dtype=np.uint16) for e in entries]
    starts = []
    for x, y in batches:
        for row_x, row_y in zip(x.numpy(), y.numpy()):
            window = np.concatenate([row_x, row_y[-1:]]).astype(np.uint16)
            val_hits = [
                pos for c in caches for pos in _find(c, window) if pos >= c.size - data.val_tokens
            ]
            assert val_hits
            starts.append(val_hits[0])
    assert len(set(starts)) > 6  # spread out, not one window repeated


def test_val_bytes_per_token(loaded, tok) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=16)
    assert 1.0 < data.val_bytes_per_token < 8.0
    # exact: the val tokens decode to this many UTF-8 bytes (EOT counted as none)
    total = 0
    for e in entries:
        c = np.fromfile(model_dir / "data" / f"{e.sha256}.bin", dtype=np.uint16)
        val = c[c.size - max(int(np.ceil(c.size * 0.1)), 17) :]
        total += len(tok.decode(val[val != tok.eot_id]).encode("utf-8"))
    assert data.val_bytes_per_token == pytest.approx(total / data.val_tokens)


def test_reward_prompts(loaded, tok) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=32)
    prompts = data.reward_prompts(4, 16)
    assert prompts == TokenData(model_dir, context=32).reward_prompts(4, 16)
    assert len(prompts) == 4 and all(len(p) == 16 for p in prompts)
    assert len({tuple(p) for p in prompts}) == 4
    caches = [np.fromfile(model_dir / "data" / f"{e.sha256}.bin", dtype=np.uint16) for e in entries]
    for p in prompts:
        assert all(isinstance(t, int) for t in p)
        needle = np.array(p, dtype=np.uint16)
        hits = [(c, pos) for c in caches for pos in _find(c, needle) if pos >= int(c.size * 0.89)]
        assert hits  # taken from a validation split
        c, pos = hits[0]
        text = tok.decode(p)
        # starts at a line (after a line break or EOT) or at a word, never mid-word
        before = tok.decode(c[pos - 1 : pos])
        assert not text[0].isspace() or text[0] == " "
        assert before.endswith(("\n", EOT)) or text.startswith(" ")


