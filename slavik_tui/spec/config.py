"""Model architecture config: validation, exact parameter count and sizes.

Pure Python (no torch), so the UI can show the parameter count and sizes live while a user
types into the "new model" form, without paying for `import torch`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

from slavik_tui.errors import UserError

FORMAT_VERSION = 1
MIN_VOCAB = 300  # 256 byte tokens + EOT + a few merges
MAX_VOCAB = 65535  # token caches are uint16
MB = 1_000_000  # sizes are shown in MB (10^6 bytes), like `ls -lh --si` and file managers


def swiglu_hidden(d_model: int) -> int:
    """Llama's SwiGLU width: 2/3 of 4·d (same FLOPs as a GELU MLP), rounded up to 32."""
    hidden = (8 * d_model) // 3
    return ((hidden + 31) // 32) * 32


@dataclass
class ModelConfig:
    """A Llama-style decoder. Every field is a plain number, so config.json stays readable."""

    vocab_size: int = 8000  # byte-level BPE vocab, `<|endoftext|>` included
    context: int = 256  # the longest sequence the model sees (RoPE positions)
    d_model: int = 256  # width of the residual stream
    n_layers: int = 6
    n_heads: int = 8  # d_model / n_heads is the head size; must divide evenly
    ffn_hidden: int = 0  # SwiGLU width; 0 means "Llama's default for d_model"
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True  # LM head shares the token embedding (saves vocab·d params)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        self._fill_ffn()
        self.validate()

    def _fill_ffn(self) -> None:
        # 0 (the default) means "Llama's width for d_model"; a bad d_model is reported later
        if _is_whole(self.ffn_hidden) and self.ffn_hidden == 0 and _is_whole(self.d_model) \
                and self.d_model > 0:
            self.ffn_hidden = swiglu_hidden(self.d_model)

    # ---- validation ---------------------------------------------------------------------
    def validate(self, names: Mapping[str, str] | None = None) -> None:
        """UserError, with `field` set, for the first value a model cannot have. `names` says
        how to call a field in the message (the CLI passes its flags, the form its labels);
        by default the message uses the field's own name, as config.json spells it."""
        name = _namer(names)
        for key in _WHOLE:
            value = getattr(self, key)
            if not _is_whole(value) or value <= 0:
                raise UserError(f"{name(key)} must be a positive whole number, got {value!r}",
                                field=key)
        if self.vocab_size < MIN_VOCAB:
            raise UserError(
                f"{name('vocab_size')} {self.vocab_size} is too small: byte-level BPE needs at "
                f"least 256 byte tokens plus merges; use {MIN_VOCAB} or more (default 8000)",
                field="vocab_size",
            )
        if self.vocab_size > MAX_VOCAB:
            raise UserError(
                f"{name('vocab_size')} {self.vocab_size} is too large: token caches store "
                f"uint16; use {MAX_VOCAB} or less", field="vocab_size",
            )
        if self.d_model % self.n_heads:
            raise UserError(
                f"d_model {self.d_model} is not divisible by {self.n_heads} heads; pick "
                f"{name('d_model')} a multiple of {self.n_heads} or another {name('n_heads')}",
                field="n_heads",
            )
        if (self.d_model // self.n_heads) % 2:
            raise UserError(
                f"head size {self.d_model // self.n_heads} (d_model {self.d_model} / "
                f"{self.n_heads} heads) must be even for rotary embeddings; change "
                f"{name('n_heads')}", field="n_heads",
            )
        for key in ("rope_theta", "norm_eps"):
            value = getattr(self, key)
            if not (_is_number(value) and math.isfinite(value) and value > 0):
                raise UserError(f"{name(key)} must be a positive number, got {value!r}",
                                field=key)
        if not isinstance(self.tie_embeddings, bool):
            raise UserError(f"{name('tie_embeddings')} must be true or false, got "
                            f"{self.tie_embeddings!r}", field="tie_embeddings")

    @classmethod
    def checked(cls, names: Mapping[str, str] | None = None, **values: Any) -> "ModelConfig":
        """Build from user input, the errors naming fields as `names` says (e.g. CLI flags)."""
        # Not via __init__: it validates with the default names before we could pass ours.
        cfg = cls.__new__(cls)
        for f in fields(cls):
            setattr(cfg, f.name, values.get(f.name, f.default))
        cfg._fill_ffn()
        cfg.validate(names)
        return cfg

    # ---- derived numbers ----------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def param_breakdown(self) -> dict[str, int]:
        """Exact parameter count by part (matches `sum(p.numel())` of the torch model)."""
        d, v, h, n = self.d_model, self.vocab_size, self.ffn_hidden, self.n_layers
        attention = 4 * d * d  # q, k, v, o projections, no biases
        mlp = 3 * d * h  # gate, up, down
        norms = 2 * d  # two RMSNorm weights per block
        return {
            "embedding": v * d,
            "blocks": n * (attention + mlp + norms),
            "final_norm": d,
            "lm_head": 0 if self.tie_embeddings else v * d,
        }

    def param_formula(self) -> str:
        """The count worked out, for the details pane: V·d + L·(4d² + 3d·h + 2d) + d."""
        d, v, h, n = self.d_model, self.vocab_size, self.ffn_hidden, self.n_layers
        head = "" if self.tie_embeddings else f" + {v}·{d}"
        return (
            f"{v}·{d} + {n}·(4·{d}² + 3·{d}·{h} + 2·{d}) + {d}{head} = {self.n_params:,}"
        )

    @property
    def n_params(self) -> int:
        return sum(self.param_breakdown().values())

    def sizes_mb(self) -> dict[str, float]:
        """Weights in fp32 and bf16, and a full checkpoint (fp32 weights + 2 AdamW moments)."""
        p = self.n_params
        return {
            "fp32": p * 4 / MB,
            "bf16": p * 2 / MB,
            "checkpoint": p * 4 * 3 / MB,
        }

    # ---- (de)serialisation --------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Build from config.json's "model" object, ignoring unknown keys and filling missing
        ones with defaults, so older and newer model folders keep loading. Every value is
        checked, type included; the UserError names the field (the caller adds the file)."""
        if not isinstance(data, dict):
            raise UserError(f"the model settings must be a JSON object, got {data!r:.60}")
        return cls(**{k: v for k, v in data.items() if k in _FIELD_NAMES})

    @classmethod
    def load(cls, path: Path) -> "ModelConfig":
        """config.json → ModelConfig; every error is one line naming the file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path} is missing; the model folder is incomplete") from None
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path} is not valid JSON ({exc}); restore it or re-create the "
                            "model") from None
        if not isinstance(data, dict):
            raise UserError(f"{path} is not a JSON object; restore it or re-create the model")
        try:
            return cls.from_dict(data.get("model", data))
        except UserError as exc:
            raise in_file(exc, path) from None


def in_file(exc: UserError, path: Path | str) -> UserError:
    """`exc` about a value read from `path`: the message names the file and the fix."""
    return UserError(f"{path}: {exc}; correct the file or restore it from a copy of the model "
                     "folder", field=exc.field)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _namer(names: Mapping[str, str] | None) -> Callable[[str], str]:
    return lambda key: (names or {}).get(key, key)


_WHOLE = ("vocab_size", "context", "d_model", "n_layers", "n_heads", "ffn_hidden",
          "format_version")
_FIELD_NAMES = frozenset(f.name for f in fields(ModelConfig))
# The `new` command's flags for the fields a user picks (the CLI builds its parser from this).
NEW_FLAGS = {"d_model": "--d-model", "n_layers": "--layers", "n_heads": "--heads",
             "vocab_size": "--vocab-size", "context": "--context"}
