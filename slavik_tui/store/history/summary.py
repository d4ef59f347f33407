"""Per-run summaries (`RunInfo`): what a run did, worked out from its rows.

A summary counts every row a run wrote, superseded or not (it says what the run did); the
model's curve (`steps_arrays()` with no run) hides superseded rows, so after a resume each step
appears once.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from slavik_tui.store.history.schema import np


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def _json_num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass
class RunInfo:
    """One run, summarised. Metric fields are None when the run has no such rows, NaN when
    the value itself was NaN (a diverged loss)."""

    id: int
    kind: str
    status: str
    reason: str | None
    pid: int | None
    started_at: float
    ended_at: float | None
    start_step: int | None
    target_step: int | None
    last_step: int | None
    n_steps: int
    final_loss: float | None
    final_val_loss: float | None
    best_val_loss: float | None
    best_reward: float | None
    tok_s: float | None  # median tokens/s over the run's steps
    config: dict = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        out = {k: _json_num(v) for k, v in asdict(self).items()}
        out["started_at"] = _iso(self.started_at)
        out["ended_at"] = _iso(self.ended_at)
        return out


NO_STEPS = {"last_step": None, "n_steps": 0, "final_loss": None, "tok_s": None}
NO_EVALS = {"final_val_loss": None, "best_val_loss": None, "best_reward": None}


def step_stats(cols: dict[str, Any], run_ids: list[int]) -> dict[int, dict]:
    """n_steps, last_step, final_loss, median tok_s per run, from id-ordered arrays."""
    out: dict[int, dict] = {}
    rid = cols["run_id"]
    if not len(rid):
        return out
    order = np.argsort(rid, kind="stable")  # groups runs, keeps id order inside each
    sorted_rid = rid[order]
    wanted = set(run_ids)
    starts = np.flatnonzero(np.r_[True, sorted_rid[1:] != sorted_rid[:-1]])
    ends = np.r_[starts[1:], len(sorted_rid)]
    for a, b in zip(starts.tolist(), ends.tolist()):
        run = int(sorted_rid[a])
        if run not in wanted:
            continue
        idx = order[a:b]
        steps = cols["step"][idx]
        last = int(steps.max())
        final = idx[np.flatnonzero(steps == last)[-1]]
        tok = cols["tok_s"][idx]
        tok = tok[~np.isnan(tok)]
        out[run] = {
            "last_step": last,
            "n_steps": int(b - a),
            "final_loss": float(cols["loss"][final]),
            "tok_s": float(np.median(tok)) if len(tok) else None,
        }
    return out


def eval_stats(rows: list[tuple]) -> dict[int, dict]:
    """final/best val loss and best reward per run, from (run_id, step, id, val_loss, reward)
    rows ordered by run_id, step, id."""
    out: dict[int, dict] = {}
    if not rows:
        return out
    arr = np.array(
        [(r, s, float("nan") if v is None else v, float("nan") if w is None else w)
         for r, s, _i, v, w in rows],
        dtype=[("run", "<i8"), ("step", "<i8"), ("val", "<f8"), ("rew", "<f8")],
    )
    runs = arr["run"]
    starts = np.flatnonzero(np.r_[True, runs[1:] != runs[:-1]])
    ends = np.r_[starts[1:], len(runs)]
    for a, b in zip(starts.tolist(), ends.tolist()):
        val, rew = arr["val"][a:b], arr["rew"][a:b]
        finite_val = val[~np.isnan(val)]
        finite_rew = rew[~np.isnan(rew)]
        out[int(runs[a])] = {
            "final_val_loss": float(val[-1]),
            "best_val_loss": float(finite_val.min()) if len(finite_val) else None,
            "best_reward": float(finite_rew.max()) if len(finite_rew) else None,
        }
    return out
