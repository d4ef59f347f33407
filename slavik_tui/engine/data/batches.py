"""The batches the trainer sees, over every cached dataset of a model.

Each dataset's first 90% trains, its last 10% (at least one window) validates. `get_batch` is
a pure function of (split, batch_size, step, seed): the data position needs no saving, which
is what makes resume exact. Validation batches and reward prompts are fixed, evenly spaced
windows of the validation split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from slavik_tui.engine.data.datasets import (
    TOKEN_DTYPE,
    DatasetEntry,
    load_manifest,
    open_cache,
)
from slavik_tui.errors import UserError
from slavik_tui.spec.folder import ModelFolder

if TYPE_CHECKING:  # torch is imported lazily, only where batches are built
    import torch

    from slavik_tui.engine.tokenizer import Tokenizer


@dataclass
class _Part:
    """One dataset's memmap and its split: train = [0, split), val = [split, n)."""

    name: str
    tokens: np.ndarray
    split: int

    @property
    def n(self) -> int:
        return int(self.tokens.shape[0])


class TokenData:
    """Training and validation windows over every cached dataset of a model."""

    def __init__(
        self,
        model_dir: str | os.PathLike,
        context: int,
        val_fraction: float = 0.1,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.folder = ModelFolder(self.model_dir)
        if not isinstance(context, (int, np.integer)) or isinstance(context, bool) or context < 1:
            raise UserError(f"--context must be a positive whole number, got {context!r}")
        if not 0.0 < val_fraction < 1.0:
            raise UserError(
                f"validation fraction {val_fraction!r} must be between 0 and 1 (e.g. 0.1)"
            )
        self.context = int(context)
        self._tokenizer: Tokenizer | None = None  # loaded on first use (validation stats)
        self.datasets = load_manifest(self.model_dir)
        if not self.datasets:
            raise UserError(
                f"model {self.model_dir.name} has no training data; add a text file with "
                "--data FILE"
            )
        window = context + 1
        self._parts: list[_Part] = []
        for entry in self.datasets:
            self._parts.append(self._part(entry, window, val_fraction))
        self.train_tokens = sum(p.split for p in self._parts)
        self.val_tokens = sum(p.n - p.split for p in self._parts)
        # window starts available per part and split (a window is context+1 tokens)
        self._starts = {
            "train": np.array([p.split - window + 1 for p in self._parts], dtype=np.int64),
            "val": np.array([p.n - p.split - window + 1 for p in self._parts], dtype=np.int64),
        }
        self._lo = {
            "train": np.zeros(len(self._parts), dtype=np.int64),
            "val": np.array([p.split for p in self._parts], dtype=np.int64),
        }
        sizes = {
            "train": [p.split for p in self._parts],
            "val": [p.n - p.split for p in self._parts],
        }
        self._weights = {k: np.asarray(v, dtype=np.float64) / sum(v) for k, v in sizes.items()}
        self._val_bpt: float | None = None

    def _part(self, entry: DatasetEntry, window: int, val_fraction: float) -> _Part:
        """One dataset's cache, memory-mapped (never through a link), and its split."""
        name = Path(entry.path).name
        bin_path = self.folder.cache(entry.sha256)
        f = open_cache(self.folder, entry.sha256)
        if f is None:
            raise UserError(f"the token cache of {name} ({bin_path}) is missing; add the file "
                            f"again with --data {entry.path}")
        with f:  # a memmap keeps its own handle on the file
            size = os.fstat(f.fileno()).st_size
            if size % 2 or size // 2 != entry.tokens:
                raise UserError(f"the token cache of {name} ({bin_path}) is damaged; delete it "
                                f"(rm {bin_path}) and add the file again with --data {entry.path}")
            n = size // 2
            if n < 2 * window:
                raise UserError(
                    f"{name} has {n} tokens, fewer than two context windows (train + "
                    f"validation need 2×(context+1) = {2 * window}); add more text or use a "
                    "smaller --context"
                )
            tokens = np.memmap(f, dtype=TOKEN_DTYPE, mode="r", shape=(n,))
        n_val = max(int(np.ceil(n * val_fraction)), window)
        n_val = min(n_val, n - window)  # train keeps at least one window too
        return _Part(name, tokens, n - n_val)

    # ---- random training / validation windows -----------------------------------------------
    def _check_split(self, split: str) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")

    def _gather(self, part_idx: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """(B, context+1) uint16 windows; starts are absolute offsets in each part."""
        window = self.context + 1
        out = np.empty((len(starts), window), dtype=TOKEN_DTYPE)
        ar = np.arange(window, dtype=np.int64)
        for k in np.unique(part_idx):
            rows = np.nonzero(part_idx == k)[0]
            out[rows] = self._parts[k].tokens[starts[rows, None] + ar]
        return out

    @staticmethod
    def _to_xy(windows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        t = torch.from_numpy(windows.astype(np.int64))
        return t[:, :-1].contiguous(), t[:, 1:].contiguous()

    def get_batch(
        self, split: str, batch_size: int, step: int, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x, y of shape (batch_size, context), int64; y is x shifted left by one token.

        Pure: a fresh generator seeded from (seed, step, split) picks, for each row, a dataset
        (weighted by its tokens in the split) and a uniformly random window start.
        """
        self._check_split(split)
        mask = (1 << 64) - 1
        split_id = 0 if split == "train" else 1
        rng = np.random.default_rng([int(seed) & mask, int(step) & mask, split_id])
        k = len(self._parts)
        part_idx = (
            np.zeros(batch_size, dtype=np.int64)
            if k == 1
            else rng.choice(k, size=batch_size, p=self._weights[split])
        )
        starts = self._lo[split][part_idx] + rng.integers(0, self._starts[split][part_idx])
        return self._to_xy(self._gather(part_idx, starts))

    def split_tokens(self, split: str) -> list[np.ndarray]:
        """Each dataset's token ids in `split`, in file order (read-only memmap views)."""
        self._check_split(split)
        return [p.tokens[: p.split] if split == "train" else p.tokens[p.split :]
                for p in self._parts]

    def _val_positions(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """`count` window starts evenly spaced through all val splits: (part_idx, starts)."""
        starts_per = self._starts["val"]
        cum = np.concatenate([[0], np.cumsum(starts_per)])
        flat = np.linspace(0, cum[-1] - 1, num=count).round().astype(np.int64)
        part_idx = np.searchsorted(cum, flat, side="right") - 1
        return part_idx, self._lo["val"][part_idx] + (flat - cum[part_idx])

    def val_batches(self, n: int, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """`n` fixed batches of validation windows, evenly spaced through the val split."""
        part_idx, starts = self._val_positions(n * batch_size)
        windows = self._gather(part_idx, starts)
        return [
            self._to_xy(windows[i * batch_size : (i + 1) * batch_size]) for i in range(n)
        ]

    # ---- validation statistics --------------------------------------------------------------
    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            from slavik_tui.engine.tokenizer import Tokenizer

            self._tokenizer = Tokenizer.load(self.folder.tokenizer)
        return self._tokenizer

    @property
    def val_bytes_per_token(self) -> float:
        """UTF-8 bytes of the validation text per validation token (EOT counts 0 bytes).

        Exact: the byte lengths of the tokens add up to the decoded text's length. Turns a
        loss in nats per token into bits per byte: bpb = loss / ln 2 / val_bytes_per_token.
        """
        if self._val_bpt is None:
            tok = self.tokenizer
            lengths = np.array(
                [len(tok.token_bytes(i)) for i in range(tok.vocab_size)], dtype=np.int64
            )
            lengths[tok.eot_id] = 0
            total = 0
            for p in self._parts:
                for lo in range(p.split, p.n, 1 << 20):
                    ids = np.asarray(p.tokens[lo : min(p.n, lo + (1 << 20))])
                    if ids.size and int(ids.max()) >= lengths.size:
                        raise UserError(
                            f"the token cache of {p.name} does not match this model's "
                            "tokenizer; delete the model's data/ folder and datasets.json and "
                            "add the files again with --data"
                        )
                    total += int(lengths[ids].sum())
            self._val_bpt = total / self.val_tokens
        return self._val_bpt

    def reward_prompts(self, n: int = 4, length: int = 16) -> list[list[int]]:
        """`n` fixed prompts of `length` tokens from evenly spaced places in the val split.

        Each prompt starts at the beginning of a line when one is near (else of a word), so
        the model is asked to continue text rather than to finish a half-written word.
        """
        length = max(1, min(length, self.context))
        tok = self.tokenizer
        part_idx, starts = self._val_positions(n)
        prompts: list[list[int]] = []
        for k, start in zip(part_idx.tolist(), starts.tolist()):
            p = self._parts[k]
            last = p.n - length  # the last start that leaves room for the whole prompt
            ahead = np.asarray(p.tokens[start : min(p.n, start + 256)]).tolist()
            pieces = [tok.token_bytes(t) if t != tok.eot_id else b"\n" for t in ahead]
            line = next((j + 1 for j, b in enumerate(pieces) if b.endswith(b"\n")), None)
            if line is not None:  # skip blank lines too: start at the line's first text
                while line < len(pieces) and not pieces[line].strip():
                    line += 1
            word = next((j for j, b in enumerate(pieces) if b[:1].isspace()), None)
            offset = line if line is not None and line < len(pieces) else word or 0
            start = min(start + offset, last)
            prompts.append(np.asarray(p.tokens[start : start + length]).astype(np.int64).tolist())
        return prompts

