"""slavik_tui.runs.watch without an app: the follower's polls, the poll loop of a model folder
(curve, rows, snapshots as a trainer takes and lets go of the lock) and what a watcher makes
of them (progress, ETA inputs, the notices a user gets)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from slavik_tui.charts.feed import append_rows
from slavik_tui.runs.watch import (
    Curve,
    LiveRun,
    RunFollower,
    RunProgress,
    RunSnapshot,
    RunWatcher,
    Rows,
    is_resumable,
)
from slavik_tui.store.history import History
from slavik_tui.store.lock import ModelLock


class FakeChart:
    """Records `append` calls as a chart's series would hold them."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, list[float]]] = {}

    def append(self, key, steps, times, values) -> None:
        d = self.data.setdefault(key, {"x": [], "y": []})
        d["x"] += np.atleast_1d(np.asarray(steps, dtype=float)).tolist()
        d["y"] += np.atleast_1d(np.asarray(values, dtype=float)).tolist()


def _write(path: Path, run_steps=range(1, 11), eval_every=5, nan_at=(), run_id=None,
           history=None, pid=1, target=None) -> tuple[History, int]:
    """Steps (loss 5 - 0.1·step, tok/s 500) and an eval every `eval_every` steps (reward
    0.1·step) of one run; a new run unless `run_id`."""
    h = history or History(path)
    rid = run_id or h.start_run("pretrain", {"batch_size": 4, "model": {"context": 32}},
                                target_step=target or max(run_steps), pid=pid)
    for s in run_steps:
        loss = float("nan") if s in nan_at else 5.0 - 0.1 * s
        h.log_step(rid, s, 1000.0 + s, loss, 1e-3, 1.0, 500.0)
        if s % eval_every == 0:
            h.log_eval(rid, s, 1000.0 + s, 4.0 - 0.1 * s, 1.5, 0.1 * s, 0.25)
    return h, rid


# ---- RunFollower ---------------------------------------------------------------------------
def test_follower_tolerates_missing_file_then_polls_only_new_rows(tmp_path: Path):
    path = tmp_path / "history.sqlite"
    follower = RunFollower(path)
    assert follower.poll() == ([], [])
    steps, evals = follower.load_all()
    assert len(steps["step"]) == 0 and len(evals["step"]) == 0

    h, rid = _write(path, run_steps=range(1, 6))  # the trainer creates the file
    s_rows, e_rows = follower.poll()
    assert [r[2] for r in s_rows] == [1, 2, 3, 4, 5]
    assert [r[2] for r in e_rows] == [5]
    assert follower.poll() == ([], [])

    _write(path, run_steps=range(6, 11), run_id=rid, history=h, nan_at=(7,))
    s_rows, e_rows = follower.poll()
    assert [r[2] for r in s_rows] == [6, 7, 8, 9, 10]
    assert s_rows[1][4] is None  # NaN comes back as None
    chart = FakeChart()
    append_rows(chart, s_rows, e_rows)
    assert chart.data["loss"]["x"] == [6, 8, 9, 10]
    assert chart.data["val_loss"]["x"] == [10]
    assert chart.data["reward"]["y"] == [1.0]
    follower.close()
    h.close()


def test_load_all_positions_after_existing_rows(tmp_path: Path):
    path = tmp_path / "history.sqlite"
    h, rid = _write(path)
    follower = RunFollower(path)
    steps, _ = follower.load_all()
    assert steps["step"].tolist() == list(range(1, 11))
    assert follower.poll() == ([], [])
    h.log_step(rid, 11, 2000.0, 3.0, 1e-3, 1.0, 500.0)
    s_rows, e_rows = follower.poll()
    assert [r[2] for r in s_rows] == [11] and e_rows == []
    follower.close()
    h.close()


def test_follower_of_one_run_ignores_others(tmp_path: Path):
    path = tmp_path / "history.sqlite"
    h, first = _write(path, run_steps=range(1, 6))
    h.end_run(first, "stopped")
    _, second = _write(path, run_steps=range(6, 9), history=h)
    follower = RunFollower(path, run_id=first)
    steps, _ = follower.load_all()
    assert steps["step"].tolist() == [1, 2, 3, 4, 5]
    h.log_step(second, 9, 3000.0, 2.0, 1e-3, 1.0, 500.0)
    assert follower.poll() == ([], [])
    follower.close()
    h.close()




# ---- RunWatcher: the poll loop ------------------------------------------------------------
def _model(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    folder.mkdir()
    return folder


def test_watcher_yields_the_curve_then_a_snapshot_then_new_rows(tmp_path: Path):
    folder = _model(tmp_path)
    h, rid = _write(folder / "history.sqlite", target=20)
    h.end_run(rid, "stopped", "told to")
    (folder / "checkpoint.json").write_text(json.dumps({"step": 10}), encoding="utf-8")
    watcher = RunWatcher(folder, poll_seconds=0.01)
    events = watcher.events()
    curve = next(events)
    assert isinstance(curve, Curve) and curve.steps["step"].tolist() == list(range(1, 11))
    snap = next(events)  # the first poll reads the state: nobody holds the lock
    assert isinstance(snap, RunSnapshot)
    assert (snap.run.id, snap.run.status, snap.live_pid, snap.checkpoint_step) == (
        rid, "stopped", None, 10)
    assert snap.resumable  # stopped at 10 of 20, checkpoint at 10
    _write(folder / "history.sqlite", run_steps=range(11, 13), run_id=rid, history=h)
    rows = next(events)  # no new holder: only the rows come
    assert isinstance(rows, Rows) and [r[2] for r in rows.steps] == [11, 12]
    events.close()
    watcher.close()
    h.close()


def test_watcher_follows_a_trainer_taking_and_leaving_the_lock(tmp_path: Path):
    folder = _model(tmp_path)
    h, first = _write(folder / "history.sqlite")
    h.end_run(first, "finished")
    watcher = RunWatcher(folder, poll_seconds=0.01)
    events = watcher.events()
    next(events), next(events)  # curve, the first snapshot
    lock = ModelLock(folder).acquire()  # this process plays the trainer
    try:
        snap = next(events)
        assert snap.live_pid == os.getpid() and snap.run.id == first  # run not recorded yet
        again = next(events)  # so the loop reads the state again until it is
        assert isinstance(again, RunSnapshot) and again.live_pid == os.getpid()
        _, second = _write(folder / "history.sqlite", run_steps=[11], history=h,
                           pid=os.getpid())
        event = next(events)
        while isinstance(event, Rows):
            event = next(events)
        assert event.run.id == second and event.run.status == "running"
        assert not event.resumable  # a live trainer is never "resumable"
    finally:
        lock.release()
    h.end_run(second, "stopped")
    event = next(events)
    while not isinstance(event, RunSnapshot):
        event = next(events)
    assert event.live_pid is None and event.run.status == "stopped"
    events.close()
    watcher.close()
    h.close()


def test_watcher_stops_when_cancelled_and_a_kick_ends_the_wait(tmp_path: Path):
    folder = _model(tmp_path)
    watcher = RunWatcher(folder, poll_seconds=60)  # a wait nobody would sit through
    stop = threading.Event()
    seen: list[object] = []

    def loop() -> None:
        for event in watcher.events(stop.is_set):
            seen.append(event)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [type(e) for e in seen] == [Curve, RunSnapshot]  # a model never trained
        assert seen[1].run is None and seen[1].checkpoint_step == 0
        stop.set()
        watcher.kick()
        thread.join(timeout=5)
        assert not thread.is_alive()
    finally:
        stop.set()
        watcher.kick()
        thread.join(timeout=5)
        watcher.close()


def test_a_damaged_checkpoint_record_reads_as_step_zero(tmp_path: Path):
    folder = _model(tmp_path)
    (folder / "checkpoint.json").write_text("{not json", encoding="utf-8")
    watcher = RunWatcher(folder)
    assert watcher.snapshot(None).checkpoint_step == 0
    watcher.close()


def test_is_resumable():
    class Run:
        def __init__(self, status, target):
            self.status, self.target_step = status, target

    assert is_resumable(Run("stopped", 100), 50)
    assert is_resumable(Run("failed", 100), 50) and is_resumable(Run("running", 100), 50)
    assert not is_resumable(Run("finished", 100), 100)
    assert not is_resumable(Run("stopped", 100), 100)  # the checkpoint reached the target
    assert not is_resumable(Run("stopped", None), 0)
    assert not is_resumable(Run("stopped", 100), 50, live_pid=123)
    assert not is_resumable(None, 0)


# ---- RunProgress and LiveRun: what a watcher has seen -----------------------------------------
def test_progress_from_the_curve_uses_the_newest_run_only(tmp_path: Path):
    path = tmp_path / "history.sqlite"
    h, first = _write(path, run_steps=range(1, 11))
    h.end_run(first, "stopped")
    _write(path, run_steps=range(11, 16), history=h)
    follower = RunFollower(path)
    p = RunProgress()
    p.add_curve(*follower.load_all())
    assert p.run_id == first + 1 and p.step == 15
    assert [s for s, _t in p.recent] == [11, 12, 13, 14, 15]  # the ETA's window: this run
    assert p.loss == pytest.approx(3.5) and p.tok_s == 500.0
    assert p.val_loss == pytest.approx(2.5) and p.reward == pytest.approx(1.5)  # step 15
    assert p.seconds_per_step() == pytest.approx(1.0)  # 1 s a step (t = 1000 + step)
    p.target_step = 25
    assert p.eta() == pytest.approx(10.0)
    _write(path, run_steps=range(16, 21), run_id=first + 1, history=h)
    p.add_rows(*follower.poll())
    assert p.step == 20 and p.reward == pytest.approx(2.0) and p.eta() == pytest.approx(5.0)
    follower.close()
    h.close()


def _runs(path: Path) -> list:
    with History(path, readonly=True) as reader:
        return reader.runs()


PID = os.getpid()  # a run's pid must be alive, or the readers show it as failed


def test_live_run_tells_when_a_trainer_is_found_and_when_its_run_ends(tmp_path: Path):
    path = tmp_path / "history.sqlite"
    h, rid = _write(path, pid=os.getpid(), target=20)
    live = LiveRun("m")
    [running] = _runs(path)
    notices = live.update(RunSnapshot(running, PID, 0, False))
    assert [n.text for n in notices] == [
        f"run {rid} of 'm' is training in the background (pid {PID}); following it — "
        "ctrl+t stops it"]
    assert live.progress.status == "running" and live.busy
    assert live.progress.tokens_per_step == 4 * 32  # batch 4 × context 32, for the ETA
    live.stopping = True
    live.update(RunSnapshot(running, PID, 0, False))
    assert live.progress.status == "stopping"
    h.end_run(rid, "stopped")
    [stopped] = _runs(path)
    notices = live.update(RunSnapshot(stopped, None, 10, True))
    assert [n.text for n in notices] == [
        f"run {rid} of 'm' stopped at step 10, checkpoint saved; ctrl+r resumes it"]
    assert not live.stopping and not live.busy and live.resumable
    assert live.update(RunSnapshot(stopped, None, 10, True)) == []  # told once


def test_live_run_on_a_failed_run_a_gone_trainer_and_a_failed_start(tmp_path: Path):
    path = tmp_path / "history.sqlite"
    h, rid = _write(path, pid=os.getpid())
    live = LiveRun("m")
    [running] = _runs(path)
    assert live.update(RunSnapshot(running, None, 0, True)) == []  # nobody holds its lock
    assert live.progress.status == "gone" and f"pid {PID}" in live.progress.reason
    live = LiveRun("m")
    live.update(RunSnapshot(running, PID, 0, False))
    h.end_run(rid, "failed", "loss became nan at step 7")
    [failed] = _runs(path)
    [notice] = live.update(RunSnapshot(failed, None, 0, True))
    assert notice.severity == "error" and notice.text.endswith("loss became nan at step 7")
    # a Start that failed: the progress shows the newest run again
    live.starting = True
    live.progress.status = "starting"
    live.start_failed()
    assert not live.starting and live.progress.status == "failed"
    # a trainer took the lock but has not recorded its run yet
    live.update(RunSnapshot(failed, 5151, 0, False))
    assert live.progress.status == "starting"
    h.close()


def test_live_run_knows_when_the_curve_is_read(tmp_path: Path):
    live = LiveRun("m")
    follower = RunFollower(tmp_path / "history.sqlite")  # never trained
    live.curve(Curve(*follower.load_all()))
    assert live.curve_known and not live.has_curve
    live.rows(Rows([(1, 1, 1, 1000.0, 4.0, 1e-3, 1.0, 500.0)], []))
    assert live.has_curve and live.progress.step == 1
    follower.close()
