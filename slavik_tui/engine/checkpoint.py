"""Checkpoints that are always whole on disk.

A checkpoint is two files plus a small commit record:

    model.safetensors   fp32 weights (safetensors: no pickle, loads anywhere)
    trainer_state.pt    optimizer, schedule, RNG states, step — plain tensors and numbers,
                        loaded with `torch.load(weights_only=True)`
    checkpoint.json     {"step", "sha256", "state_sha256", "saved_at"}: the commit record

Saving is a tiny journal, so that a crash at any instant leaves one consistent checkpoint:
1. write `model.safetensors.new` and `trainer_state.pt.new` (fsync'd);
2. atomically replace `checkpoint.json` (this is the commit point);
3. rename the `.new` files over the old ones and fsync the folder.
The trainer (the one process that holds the model's lock) calls `recover()` before it
touches anything: a commit record whose `.new` files are still there is rolled forward,
`.new` files without a commit are stale and deleted. Readers never rename; while a trainer is
between steps 2 and 3 they read the `.new` file the record points to.

The sha256 in the record also catches a truncated or edited `model.safetensors`.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import time
from pathlib import Path

from slavik_tui.atomic import (  # noqa: F401 - re-exported for callers and tests
    atomic_write_bytes,
    atomic_write_json,
    fsync_dir,
    sha256_bytes,
    sha256_file,
    write_file_synced,
)
from slavik_tui.errors import UserError

WEIGHTS = "model.safetensors"
STATE = "trainer_state.pt"
RECORD = "checkpoint.json"
NEW = ".new"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ---- the commit record --------------------------------------------------------------------
def read_record(model_dir: Path) -> dict | None:
    path = Path(model_dir) / RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(
            f"{path} is damaged; delete it and the model's weights and retrain, "
            "or restore the folder from a backup"
        ) from None
    if not isinstance(record, dict) or not isinstance(record.get("step"), int):
        raise UserError(f"{path} is damaged; restore the model folder from a backup")
    return record


def saved_step(model_dir: Path) -> int:
    """The step of the last committed checkpoint (0 when the model was never trained)."""
    record = read_record(model_dir)
    return record["step"] if record else 0


def recover(model_dir: Path) -> None:
    """Finish or undo a save that a crash interrupted. Only the lock holder may call this."""
    model_dir = Path(model_dir)
    record = read_record(model_dir)
    for name, key in ((WEIGHTS, "sha256"), (STATE, "state_sha256")):
        pending = model_dir / (name + NEW)
        if not pending.exists():
            continue
        if record and record.get(key) == sha256_file(pending):
            os.replace(pending, model_dir / name)  # committed: roll forward
        else:
            pending.unlink()  # never committed: the old file is the checkpoint
    fsync_dir(model_dir)


def save_checkpoint(model_dir: Path, weights: bytes, state: bytes, step: int) -> dict:
    """Save serialised weights and trainer state as one checkpoint (see module docstring)."""
    model_dir = Path(model_dir)
    write_file_synced(model_dir / (WEIGHTS + NEW), weights)
    write_file_synced(model_dir / (STATE + NEW), state)
    fsync_dir(model_dir)
    record = {
        "step": int(step),
        "sha256": sha256_bytes(weights),
        "state_sha256": sha256_bytes(state),
        "saved_at": now_iso(),
    }
    atomic_write_json(model_dir / RECORD, record)  # the commit point
    os.replace(model_dir / (WEIGHTS + NEW), model_dir / WEIGHTS)
    os.replace(model_dir / (STATE + NEW), model_dir / STATE)
    fsync_dir(model_dir)
    return record


def _committed_file(model_dir: Path, name: str, key: str, record: dict) -> bytes:
    """Bytes of `name` that match the commit record (the `.new` file mid-switch)."""
    what = "weights" if name == WEIGHTS else "trainer state"
    for attempt in range(3):
        for candidate in (model_dir / name, model_dir / (name + NEW)):
            try:
                data = candidate.read_bytes()
            except FileNotFoundError:
                continue
            if sha256_bytes(data) == record.get(key):
                return data
        time.sleep(0.2 * (attempt + 1))  # a trainer may be between commit and rename
    if not (model_dir / name).exists():
        raise UserError(
            f"{model_dir / name} is missing; restore it from a backup or retrain the model"
        )
    raise UserError(
        f"{model_dir / name} does not match its checksum in {RECORD} (truncated or modified "
        f"{what}); restore it from a backup or retrain with `slavik-tui train {model_dir.name}`"
    )


# ---- torch side ---------------------------------------------------------------------------
def serialize_weights(state_dict: dict, metadata: dict[str, str] | None = None) -> bytes:
    import torch
    from safetensors.torch import save

    tensors, seen = {}, set()
    for key, value in state_dict.items():
        if value.data_ptr() in seen:  # a tied weight (LM head = embedding) is stored once
            continue
        seen.add(value.data_ptr())
        tensors[key] = value.detach().to("cpu", torch.float32).contiguous()
    return save(tensors, metadata=metadata or {"format": "pt"})


def serialize_state(state: dict) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def load_weights(model_dir: Path) -> dict:
    """The committed fp32 state dict, verified against its checksum."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    model_dir = Path(model_dir)
    record = read_record(model_dir)
    if record is None or record["step"] <= 0:
        raise UserError(
            f"model '{model_dir.name}' has no trained weights yet; "
            f"train it first: slavik-tui train {model_dir.name}"
        )
    data = _committed_file(model_dir, WEIGHTS, "sha256", record)
    try:
        return load(data)
    except (SafetensorError, ValueError) as exc:
        raise UserError(
            f"{model_dir / WEIGHTS} is not a valid safetensors file ({exc}); "
            "restore it from a backup or retrain the model"
        ) from None


def load_trainer_state(model_dir: Path) -> dict | None:
    """The committed trainer state, or None for a model that was never trained."""
    import torch

    model_dir = Path(model_dir)
    record = read_record(model_dir)
    if record is None or record["step"] <= 0:
        return None
    data = _committed_file(model_dir, STATE, "state_sha256", record)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged pickle raises many types
        raise UserError(
            f"{model_dir / STATE} cannot be read ({type(exc).__name__}); delete it to restart "
            "the optimizer from scratch, or restore it from a backup"
        ) from None


def load_model(model_dir: Path, device: str = "cpu"):
    """(GPT, Tokenizer, ModelConfig) of a trained model, ready for generation."""
    from slavik_tui.spec.config import ModelConfig
    from slavik_tui.engine.model import GPT
    from slavik_tui.engine.tokenizer import Tokenizer

    model_dir = Path(model_dir)
    cfg = ModelConfig.load(model_dir / "config.json")
    tokenizer = Tokenizer.load(model_dir / "tokenizer.json")
    state = load_weights(model_dir)
    model = GPT(cfg)
    apply_weights(model, state, model_dir)
    model.to(device).eval()
    return model, tokenizer, cfg


def apply_weights(model, state: dict, model_dir: Path) -> None:
    """Load `state` into `model`; weights tied to another (stored once) may be absent."""
    own = model.state_dict()
    ptrs: dict[int, int] = {}
    for value in own.values():
        ptrs[value.data_ptr()] = ptrs.get(value.data_ptr(), 0) + 1
    tied = {k for k, v in own.items() if ptrs[v.data_ptr()] > 1}
    problem = None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        problem = str(exc).strip().splitlines()[-1].strip()[:160]
    else:
        lost = [k for k in missing if k not in tied]
        if lost or unexpected:
            problem = f"missing {lost[:3]}, unexpected {list(unexpected)[:3]}"
    if problem:
        raise UserError(
            f"{Path(model_dir) / WEIGHTS} does not fit the model in config.json ({problem}); "
            "restore the matching config.json and weights"
        )
