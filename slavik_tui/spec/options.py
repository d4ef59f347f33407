"""What a user may ask of a training run: options, their defaults and their validation.

Pure Python (no torch), so the app's training form validates with the trainer's own rules and
words without importing torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from slavik_tui.errors import UserError

DEFAULT_ITERS = 1000


@dataclass
class TrainOptions:
    """What a user may set. None means "continue the saved plan, else the default"."""

    iters: int | None = None  # new steps to run; None resumes an unfinished plan
    batch_size: int | None = None  # default 8
    grad_accum: int | None = None  # default 1
    lr: float | None = None  # peak learning rate, default 6e-4
    min_lr_ratio: float | None = None  # cosine floor as a share of lr, default 0.1
    warmup: int | None = None  # default min(100, iters // 10)
    weight_decay: float | None = None  # default 0.1 (2-D weights only)
    grad_clip: float | None = None  # default 1.0 (0 disables)
    eval_every: int | None = None  # default 50
    save_every: int | None = None  # default 100
    eval_batches: int | None = None  # default 8
    seed: int | None = None  # default 1337
    device: str = "auto"
    dtype: str = "auto"  # auto | fp32 | bf16
    compile: bool = False
    reward: str = "corpus_words"
    data: list[str] = field(default_factory=list)  # datasets to add before training
    encoding: str | None = None
    column: str | None = None
    log_every: int = 10

    def validate(self) -> None:
        positive_ints = {
            "--iters": self.iters,
            "--batch-size": self.batch_size,
            "--grad-accum": self.grad_accum,
            "--eval-every": self.eval_every,
            "--save-every": self.save_every,
            "--eval-batches": self.eval_batches,
        }
        for flag, value in positive_ints.items():
            if value is not None and value <= 0:
                raise UserError(f"{flag} must be a positive whole number, got {value}")
        if self.lr is not None and not (0 < self.lr < 10):
            raise UserError(f"--lr must be a positive number like 6e-4, got {self.lr}")
        if self.warmup is not None and self.warmup < 0:
            raise UserError(f"--warmup must be 0 or more, got {self.warmup}")
        if self.grad_clip is not None and self.grad_clip < 0:
            raise UserError(f"--grad-clip must be 0 (off) or positive, got {self.grad_clip}")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise UserError(f"--weight-decay must be 0 or positive, got {self.weight_decay}")
        if self.min_lr_ratio is not None and not (0 <= self.min_lr_ratio <= 1):
            raise UserError("--min-lr-ratio must be between 0 and 1")
        if self.dtype not in ("auto", "fp32", "bf16"):
            raise UserError(f"--dtype must be auto, fp32 or bf16, got {self.dtype!r}")
        if self.seed is not None and self.seed < 0:
            raise UserError(f"--seed must be 0 or positive, got {self.seed}")
        check_device_name(self.device)


PLAN_DEFAULTS = {
    "batch_size": 8,
    "grad_accum": 1,
    "lr": 6e-4,
    "min_lr_ratio": 0.1,
    "weight_decay": 0.1,
    "grad_clip": 1.0,
    "eval_every": 50,
    "save_every": 100,
    "eval_batches": 8,
    "seed": 1337,
}


_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(name: str) -> None:
    """A device name the trainer understands (whether it exists is checked when training)."""
    if not _DEVICE.match(name):
        raise UserError(f"unknown --device {name!r}; use auto, cpu, cuda, cuda:N or mps")
