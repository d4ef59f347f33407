"""Model architecture config: validation, exact parameter count and sizes.

Pure Python (no torch), so the UI can show the parameter count and sizes live while a user
types into the "new model" form, without paying for `import torch`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path

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
        if not self.ffn_hidden:
            self.ffn_hidden = swiglu_hidden(self.d_model) if self.d_model > 0 else 0
        self.validate()

    # ---- validation ---------------------------------------------------------------------
    def validate(self) -> None:
        """Raise UserError with a message that names the field and how to fix it."""
        positives = {
            "vocab_size": ("--vocab-size", self.vocab_size),
            "context": ("--context", self.context),
            "d_model": ("--d-model", self.d_model),
            "n_layers": ("--layers", self.n_layers),
            "n_heads": ("--heads", self.n_heads),
            "ffn_hidden": ("ffn_hidden", self.ffn_hidden),
        }
        for _name, (flag, value) in positives.items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise UserError(f"{flag} must be a positive whole number, got {value!r}")
        if self.vocab_size < MIN_VOCAB:
            raise UserError(
                f"--vocab-size {self.vocab_size} is too small: byte-level BPE needs at least "
                f"256 byte tokens plus merges; use {MIN_VOCAB} or more (default 8000)"
            )
        if self.vocab_size > MAX_VOCAB:
            raise UserError(
                f"--vocab-size {self.vocab_size} is too large: token caches store uint16; "
                f"use {MAX_VOCAB} or less"
            )
        if self.d_model % self.n_heads:
            raise UserError(
                f"d_model {self.d_model} is not divisible by {self.n_heads} heads; "
                f"pick --d-model a multiple of {self.n_heads} or another --heads"
            )
        if (self.d_model // self.n_heads) % 2:
            raise UserError(
                f"head size {self.d_model // self.n_heads} (d_model {self.d_model} / "
                f"{self.n_heads} heads) must be even for rotary embeddings; change --heads"
            )
        if self.rope_theta <= 0 or self.norm_eps <= 0:
            raise UserError("rope_theta and norm_eps must be positive")

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
        """Build from config.json, ignoring unknown keys and filling missing ones with
        defaults, so older and newer model folders keep loading."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "ModelConfig":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{path} is missing; the model folder is incomplete") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path} is not valid JSON ({exc}); restore it or re-create the model") from None
        if not isinstance(data, dict):
            raise UserError(f"{path} is not a JSON object; restore it or re-create the model")
        return cls.from_dict(data.get("model", data))
