"""Where a run starts: which weights, which trainer state, which step.

The rule: **a model that has weights is never re-initialised.**
- intact checkpoint (record, weights, state): continue it exactly;
- no usable `checkpoint.json` (missing, damaged, step 0) but `model.safetensors` exists: the
  weights must load; the record is rebuilt from them and an intact `trainer_state.pt`, else
  training continues from the weights with a fresh optimizer (and says so);
- intact weights, `trainer_state.pt` missing or damaged: refused with the advice
  `--reset-optimizer`, which continues from the weights with fresh AdamW moments;
- weights that fail their checksum or do not parse: refused (restore them, or move them aside);
- no weights at all (a new model, or weights moved aside on that advice): a fresh model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.spec.folder import WEIGHTS


@dataclass
class StartPoint:
    step: int
    weights: dict | None  # None: initialise a new model
    state: dict | None  # the saved trainer state (plan, optimizer, RNG); None: a new plan
    fresh_optimizer: bool  # start AdamW's moments afresh even when `state` has them
    notes: list[str] = field(default_factory=list)  # lines to report before the run


def start_point(model_dir: Path, reset_optimizer: bool = False) -> StartPoint:
    """Decide the start (see the module docstring). Only the lock holder may call this: it
    finishes an interrupted save and may rewrite checkpoint.json."""
    model_dir = Path(model_dir)
    ckpt.recover(model_dir)
    record = ckpt.trusted_record(model_dir)
    if record is None:
        if not ckpt.weights_on_disk(model_dir):
            return StartPoint(0, None, None, False)
        weights, state, step, note = ckpt.rebuild_record(model_dir)
        return StartPoint(step, weights, state, state is None or reset_optimizer, [note])
    step = record["step"]
    if not ckpt.weights_on_disk(model_dir):
        return StartPoint(0, None, None, False, [
            f"{model_dir / WEIGHTS} is missing: training '{model_dir.name}' from scratch"])
    weights = ckpt.load_weights(model_dir)
    try:
        state = ckpt.load_trainer_state(model_dir)
    except ckpt.StateUnusable as exc:
        if not reset_optimizer:
            raise
        problem = str(exc).split(";")[0]
        return StartPoint(step, weights, None, True, [
            f"{problem}: continuing from the weights at step {step} with a fresh optimizer"])
    notes = ["--reset-optimizer: AdamW's moments start afresh"] if reset_optimizer else []
    return StartPoint(step, weights, state, reset_optimizer, notes)
