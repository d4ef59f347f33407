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
from slavik_tui.spec.folder import RECORD, STATE, WEIGHTS
from slavik_tui.spec.options import PLAN_DEFAULTS

PLAN_STEPS = ("start_step", "target_step", "warmup")  # the plan's keys beside PLAN_DEFAULTS

NEW = ".new"


class StateUnusable(UserError):
    """trainer_state.pt is missing, damaged or not this checkpoint's: the weights may still
    be continued with a fresh optimizer (`train --reset-optimizer`)."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ---- the commit record --------------------------------------------------------------------
def read_record(model_dir: Path) -> dict | None:
    """The commit record; None when there is none; UserError when it is damaged. The advice
    works: the trainer rebuilds a damaged record from the weights (see `rebuilt_start`)."""
    path = Path(model_dir) / RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        record = None
    step = record.get("step") if isinstance(record, dict) else None
    if isinstance(step, int) and not isinstance(step, bool) and (step == 0 or (
            step > 0 and all(isinstance(record.get(k), str) for k in ("sha256", "state_sha256")))):
        return record
    raise UserError(
        f"{path} is damaged; run `slavik-tui train {Path(model_dir).name}` to rebuild it from "
        "the weights (every file is kept), or restore the model folder from a backup"
    )


def trusted_record(model_dir: Path) -> dict | None:
    """The record when it is intact and points at a trained checkpoint (step > 0), else None
    (missing, damaged, or step 0: the weights on disk, if any, are all there is)."""
    try:
        record = read_record(model_dir)
    except UserError:
        return None
    return record if record and record["step"] > 0 else None


def saved_step(model_dir: Path) -> int:
    """The step of the last committed checkpoint (0 when the model was never trained)."""
    record = read_record(model_dir)
    return record["step"] if record else 0


def recover(model_dir: Path) -> None:
    """Finish or undo a save that a crash interrupted. Only the lock holder may call this."""
    model_dir = Path(model_dir)
    record = trusted_record(model_dir)
    for name, key in ((WEIGHTS, "sha256"), (STATE, "state_sha256")):
        pending = model_dir / (name + NEW)
        if not os.path.lexists(pending):
            continue
        if (record and pending.is_file() and not pending.is_symlink()
                and record.get(key) == sha256_file(pending)):
            os.replace(pending, model_dir / name)  # committed: roll forward
        else:
            pending.unlink()  # never committed (or planted): the old file is the checkpoint
    fsync_dir(model_dir)


def save_checkpoint(model_dir: Path, weights: bytes, state: bytes, step: int) -> dict:
    """Save serialised weights and trainer state as one checkpoint (see module docstring).
    A failure before the commit point (a full disk) removes the uncommitted `.new` files, so
    the space is free again and the previous checkpoint stays the checkpoint."""
    model_dir = Path(model_dir)
    pending = [model_dir / (WEIGHTS + NEW), model_dir / (STATE + NEW)]
    record = {
        "step": int(step),
        "sha256": sha256_bytes(weights),
        "state_sha256": sha256_bytes(state),
        "saved_at": now_iso(),
    }
    try:
        write_file_synced(pending[0], weights)
        write_file_synced(pending[1], state)
        fsync_dir(model_dir)
        atomic_write_json(model_dir / RECORD, record)  # the commit point
    except BaseException:
        for path in pending:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        raise
    os.replace(pending[0], model_dir / WEIGHTS)
    os.replace(pending[1], model_dir / STATE)
    fsync_dir(model_dir)
    return record


def _committed_file(model_dir: Path, name: str, key: str, record: dict) -> bytes:
    """Bytes of `name` that match the commit record (the `.new` file mid-switch)."""
    for attempt in range(3):
        for candidate in (model_dir / name, model_dir / (name + NEW)):
            try:
                data = candidate.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                continue
            if sha256_bytes(data) == record.get(key):
                return data
        time.sleep(0.2 * (attempt + 1))  # a trainer may be between commit and rename
    path = model_dir / name
    if name == STATE:
        problem = "is missing" if not path.exists() else f"does not match its checksum in {RECORD}"
        raise StateUnusable(
            f"{path} {problem}; continue from the weights with a fresh optimizer: "
            f"`slavik-tui train {model_dir.name} --reset-optimizer`, or restore it from a backup"
        )
    if not path.exists():
        raise UserError(
            f"{path} is missing; restore it from a backup, or train from scratch with "
            f"`slavik-tui train {model_dir.name}`"
        )
    raise UserError(
        f"{path} does not match its checksum in {RECORD} (truncated or modified weights); "
        f"restore it from a backup, or move it aside (`mv {path} {path}.broken`) and train "
        f"from scratch with `slavik-tui train {model_dir.name}`"
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


def _parse_weights(path: Path, data: bytes) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise UserError(
            f"{path} is not a valid safetensors file ({str(exc)[:120]}); restore it from a "
            f"backup, or move it aside (`mv {path} {path}.broken`) and train from scratch with "
            f"`slavik-tui train {path.parent.name}`"
        ) from None


def weights_on_disk(model_dir: Path) -> bool:
    """model.safetensors exists (as any kind of entry: a planted link counts, and is refused
    when read)."""
    return os.path.lexists(Path(model_dir) / WEIGHTS)


def _read_regular(path: Path) -> bytes:
    if path.is_symlink() or not path.is_file():
        raise UserError(f"{path} is not a regular file; replace it with the real file or "
                        "restore the model folder from a backup")
    return path.read_bytes()


def load_weights(model_dir: Path) -> dict:
    """The committed fp32 state dict, verified against its checksum. Without a usable commit
    record (missing, damaged, step 0) the weights on disk are used as they are, once they
    parse: a lost checkpoint.json must not make trained weights unusable."""
    model_dir = Path(model_dir)
    record = trusted_record(model_dir)
    if record is not None:
        return _parse_weights(model_dir / WEIGHTS,
                              _committed_file(model_dir, WEIGHTS, "sha256", record))
    if not weights_on_disk(model_dir):
        raise UserError(
            f"model '{model_dir.name}' has no trained weights yet; "
            f"train it first: slavik-tui train {model_dir.name}"
        )
    path = model_dir / WEIGHTS
    return _parse_weights(path, _read_regular(path))


def _check_state(path: Path, state, step: int | None) -> dict:
    """The fields the trainer reads from a state file, checked (it may be edited or foreign)."""
    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    plan = state.get("plan") if isinstance(state, dict) else None
    ok = (isinstance(state.get("step") if isinstance(state, dict) else None, int)
          and isinstance(plan, dict) and isinstance(state.get("rng"), dict)
          and isinstance(state.get("optimizer"), dict)
          and all(k in plan for k in PLAN_STEPS)
          and all(number(plan[k]) for k in (*PLAN_DEFAULTS, *PLAN_STEPS) if k in plan))
    if not ok or (step is not None and state["step"] != step):
        what = "is not a trainer state" if not ok else (
            f"is from step {state['step']}, the weights from step {step}")
        raise StateUnusable(
            f"{path} {what}; continue from the weights with a fresh optimizer: "
            f"`slavik-tui train {path.parent.name} --reset-optimizer`, or restore it from a backup"
        )
    return state


def _unpickle_state(path: Path, data: bytes) -> object:
    import torch

    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged pickle raises many types
        raise StateUnusable(
            f"{path} cannot be read ({type(exc).__name__}); continue from the weights with a "
            f"fresh optimizer: `slavik-tui train {path.parent.name} --reset-optimizer`, or "
            "restore it from a backup"
        ) from None


def load_trainer_state(model_dir: Path) -> dict | None:
    """The committed trainer state, or None for a model that was never trained; raises
    StateUnusable when the state is missing or damaged."""
    model_dir = Path(model_dir)
    record = trusted_record(model_dir)
    if record is None:
        return None
    path = model_dir / STATE
    data = _committed_file(model_dir, STATE, "state_sha256", record)
    return _check_state(path, _unpickle_state(path, data), record["step"])


def rebuild_record(model_dir: Path) -> tuple[dict, dict | None, int, str]:
    """For the lock holder, when weights exist without a usable record: (weights, state or
    None, step, a line saying what was done). The weights must parse; the step comes from an
    intact trainer_state.pt (then checkpoint.json is written again from both files), else from
    the weights' own metadata (0 when they carry none) with a fresh optimizer."""
    model_dir = Path(model_dir)
    path = model_dir / WEIGHTS
    data = _read_regular(path)
    weights = _parse_weights(path, data)
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    meta_step = str(header.get("__metadata__", {}).get("step", ""))
    step = int(meta_step) if meta_step.isdigit() else None
    state, state_data, why = None, None, "trainer_state.pt is missing"
    state_path = model_dir / STATE
    if os.path.lexists(state_path):
        try:
            state_data = _read_regular(state_path)
            state = _check_state(state_path, _unpickle_state(state_path, state_data), step)
        except UserError as exc:
            state, why = None, str(exc).split(";")[0]
    if state is not None and state["step"] > 0:
        step = state["step"]
        atomic_write_json(model_dir / RECORD, {
            "step": step, "sha256": sha256_bytes(data), "state_sha256": sha256_bytes(state_data),
            "saved_at": now_iso(), "rebuilt": True,
        })
        return weights, state, step, (f"{RECORD} was missing or damaged: rebuilt from {WEIGHTS} "
                                      f"and {STATE} (step {step})")
    known = f"step {step}" if step else "an unknown step (counted as 0)"
    return weights, None, step or 0, (
        f"{RECORD} was missing or damaged and {why}: continuing from {WEIGHTS} at {known} "
        "with a fresh optimizer")


def load_model(model_dir: Path, device: str = "cpu"):
    """(GPT, Tokenizer, ModelConfig) of a trained model, ready for generation. `device` is a
    user's `--device` (auto, cpu, cuda, cuda:N, mps): a bad or absent one is one line."""
    from slavik_tui.engine.device import pick_device
    from slavik_tui.spec.config import ModelConfig
    from slavik_tui.engine.model import GPT
    from slavik_tui.engine.tokenizer import Tokenizer

    torch_device = pick_device(device)
    model_dir = Path(model_dir)
    cfg = ModelConfig.load(model_dir / "config.json")
    tokenizer = Tokenizer.load(model_dir / "tokenizer.json")
    state = load_weights(model_dir)
    model = GPT(cfg)
    apply_weights(model, state, model_dir)
    model.to(torch_device).eval()
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
