"""store/history/: the SQLite metrics history (schema, writer, readers, exports)."""

from __future__ import annotations

import csv
import itertools
import math
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from slavik_tui.errors import UserError
from slavik_tui.store.history import schema as schema_mod
from slavik_tui.store.history import (
    CSV_COLUMNS, EVAL_FIELDS, SCHEMA_VERSION, STEP_FIELDS, History, export_compare_csv,
)

REPO = Path(__file__).resolve().parents[2]
GARBAGE = random.Random(8)  # garbage bytes, the same on every run
NAN = float("nan")


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny blocks, so every test crosses packed blocks and the unpacked tail."""
    monkeypatch.setattr(schema_mod, "BLOCK_ROWS", 4)


@pytest.fixture
def hpath(tmp_path: Path) -> Path:
    d = tmp_path / "slavik"
    d.mkdir()
    return d / "history.sqlite"


@pytest.fixture
def hist(hpath: Path):
    with History(hpath) as h:
        yield h


def db_rows(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def same(a: object, b: object) -> bool:
    """Equality where NaN equals NaN and None."""
    def norm(x: object) -> object:
        return None if isinstance(x, float) and math.isnan(x) else x
    return norm(a) == norm(b)


# ---- schema -------------------------------------------------------------------------------
def test_schema_created(hist: History, hpath: Path) -> None:
    names = {n for (n,) in db_rows(hpath, "SELECT name FROM sqlite_master")}
    assert {"runs", "steps", "evals", "steps_run_step", "evals_run_step"} <= names
    assert db_rows(hpath, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert db_rows(hpath, "PRAGMA journal_mode") == [("wal",)]
    run_cols = [r[1] for r in db_rows(hpath, "PRAGMA table_info(runs)")]
    assert run_cols == ["id", "kind", "status", "reason", "pid", "started_at", "ended_at",
                        "start_step", "target_step", "config_json"]
    step_cols = [r[1] for r in db_rows(hpath, "PRAGMA table_info(steps)")]
    assert step_cols == list(STEP_FIELDS) + ["superseded"]
    eval_cols = [r[1] for r in db_rows(hpath, "PRAGMA table_info(evals)")]
    assert eval_cols == list(EVAL_FIELDS) + ["superseded"]
    assert "runs(" in schema_mod.__doc__ and "PRAGMA user_version" in schema_mod.__doc__


def test_not_a_database_and_newer_schema_are_user_errors(tmp_path: Path) -> None:
    bad = tmp_path / "history.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a readable SQLite database"):
        History(bad)
    with pytest.raises(UserError, match="not a readable SQLite database"):
        History(bad, readonly=True)
    bad.unlink()
    History(bad).close()
    conn = sqlite3.connect(bad)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(UserError, match="newer slavik-tui"):
        History(bad, readonly=True).runs()


def garbled_history(hpath: Path) -> None:
    """Rows in the -wal, then the main file's pages (not its header) and the -wal turned to
    garbage: SQLite opens it, and the first real read fails (a traceback before issue 8)."""
    with History(hpath) as h:
        rid = h.start_run("pretrain", {})
        for i in range(20):
            h.log_step(rid, i, float(i), 1.0, 1e-3, 1.0, 10.0)
        h.log_eval(rid, 19, 20.0, 1.0, 1.0, None, 1.0)
    data = hpath.read_bytes()
    hpath.write_bytes(data[:100] + GARBAGE.randbytes(max(len(data), 8192) - 100))
    hpath.with_name(hpath.name + "-wal").write_bytes(GARBAGE.randbytes(8192))


READERS = {
    "runs": lambda h: h.runs(),
    "run": lambda h: h.run(1),
    "last_loss": lambda h: h.last_loss(),
    "steps_arrays": lambda h: h.steps_arrays(),
    "evals_arrays": lambda h: h.evals_arrays(1),
    "new_steps": lambda h: h.new_steps(0),
    "new_evals": lambda h: h.new_evals(0),
    "running_run_id": lambda h: h.running_run_id(1),
    "export_csv": lambda h: h.export_csv(1, h.path.parent / "out.csv"),
    "metrics_arrays": lambda h: h.metrics_arrays(1),
    "new_metrics": lambda h: h.new_metrics(0),
    "metric_names": lambda h: h.metric_names(),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_garbage_history_next_to_a_wal_is_one_line_from_every_reader(
    hpath: Path, reader: str
) -> None:
    garbled_history(hpath)
    with pytest.raises(UserError) as err:
        with History(hpath, readonly=True) as h:
            READERS[reader](h)
    msg = str(err.value)
    assert f"{hpath} is not a readable SQLite database" in msg
    assert f"history.sqlite-wal and history.sqlite-shm beside it out of {hpath.parent}" in msg
    with pytest.raises(UserError, match="not a readable SQLite database"):
        History(hpath)  # the trainer's writer says the same


def test_garbage_history_advice_works_and_the_cli_says_one_line(models_dir: Path) -> None:
    model = models_dir / "m"
    model.mkdir()
    (model / "config.json").write_text('{"format_version": 1, "model": {}}')
    hpath = model / "history.sqlite"
    garbled_history(hpath)
    cli = [sys.executable, "-P", "-m", "slavik_tui", "--models-dir", str(models_dir), "runs", "m"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "not a readable SQLite database" in out.stderr and "Traceback" not in out.stderr
    backup = models_dir.parent / "broken-history"  # the advice: move all three out
    backup.mkdir()
    for path in model.glob("history.sqlite*"):
        path.rename(backup / path.name)
    with History(hpath) as h:  # what the next training run does
        rid = h.start_run("pretrain", {})
        h.log_step(rid, 0, 1.0, 2.0, 1e-3, 1.0, 10.0)
    out = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert [r.final_loss for r in History(hpath, readonly=True).runs()] == [2.0]


def test_a_linked_history_is_not_opened_and_the_advice_works(hpath: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "theirs.sqlite"
    with History(hpath) as h:
        h.start_run("pretrain", {})
    hpath.rename(elsewhere)
    hpath.symlink_to(elsewhere)
    for readonly in (True, False):
        with pytest.raises(UserError, match="is a symbolic link") as err:
            History(hpath, readonly=readonly).runs()
        assert "move it out of the folder" in str(err.value)
    assert len(History(elsewhere, readonly=True).runs()) == 1  # untouched
    hpath.rename(tmp_path / "moved-away")
    with History(hpath) as h:
        assert h.runs() == []


# ---- writing and reading back -------------------------------------------------------------
def test_rows_round_trip(hist: History, hpath: Path) -> None:
    rid = hist.start_run("pretrain", {"lr": 3e-4, "name": "славик"}, 0, 100, pid=4321)
    steps = [
        (0, 1000.25, 5.5, 1e-5, 2.0, 900.0),
        (1, 1001.5, 5.25, 2e-5, None, 1000.0),
        (2, 1002.75, NAN, 3e-5, 1.5, 1100.0),  # a diverged loss: stored as NULL, read as NaN
        (3, 1003.0, 4.75, 4e-5, 1.25, 800.0),
        (4, 1004.0, 0.1 + 0.2, 5e-5, 1.0, 1e9),
    ]
    for row in steps:
        hist.log_step(rid, *row)
    hist.log_eval(rid, 2, 1002.8, 5.0, 1.9, 0.25, 12.5)
    hist.log_eval(rid, 4, 1004.1, 4.5, 1.7, None, 12.5)
    hist.log_step(rid, np.int64(5), np.float64(1005.0), np.float32(4.5), 6e-5, 1.0, 1000.0)

    got = hist.new_steps(0)
    assert [r[1:] for r in got[:5]] == [
        (rid, s, t, None if l != l else l, lr, g, k) for s, t, l, lr, g, k in steps
    ]
    assert got[5][4] == pytest.approx(4.5)
    assert [r[0] for r in got] == sorted(r[0] for r in got)

    arr = hist.steps_arrays(np.int64(rid))  # numpy ids are fine too
    assert list(arr) == list(STEP_FIELDS)
    assert arr["step"].tolist() == [0, 1, 2, 3, 4, 5]
    assert arr["loss"][4] == 0.1 + 0.2  # exact, not text-rounded
    assert math.isnan(arr["loss"][2]) and math.isnan(arr["grad_norm"][1])
    assert arr["t"].tolist() == [1000.25, 1001.5, 1002.75, 1003.0, 1004.0, 1005.0]
    assert arr["id"].dtype == np.int64 and arr["loss"].dtype == np.float64

    ev = hist.evals_arrays(rid)
    assert list(ev) == list(EVAL_FIELDS)
    assert ev["step"].tolist() == [2, 4]
    assert ev["val_loss"].tolist() == [5.0, 4.5]
    assert math.isnan(ev["reward"][1])
    assert [r[2:] for r in hist.new_evals(0)] == [
        (2, 1002.8, 5.0, 1.9, 0.25, 12.5), (4, 1004.1, 4.5, 1.7, None, 12.5)
    ]

    hist.end_run(rid, "finished")
    info = hist.run(rid)
    assert (info.kind, info.status, info.reason, info.pid) == ("pretrain", "finished", None, 4321)
    assert (info.start_step, info.target_step, info.last_step, info.n_steps) == (0, 100, 5, 6)
    assert info.final_loss == pytest.approx(4.5)
    assert info.final_val_loss == 4.5 and info.best_val_loss == 4.5
    assert info.best_reward == 0.25
    assert info.tok_s == 1000.0  # median of 900, 1000, 1100, 800, 1e9, 1000
    assert info.config == {"lr": 3e-4, "name": "славик"}
    assert info.ended_at is not None and info.ended_at >= info.started_at

    js = info.to_json_dict()
    assert js["started_at"].startswith(time.strftime("%Y-"))
    assert "T" in js["started_at"] and js["config"]["name"] == "славик"
    import json
    json.dumps(js, allow_nan=False)  # valid JSON: NaN became None


def test_run_summaries_for_many_runs(hist: History) -> None:
    a = hist.start_run("pretrain", {}, 0, 10)
    for s in range(7):
        hist.log_step(a, s, 100.0 + s, 10.0 - s, 1e-3, 1.0, 100.0 + s)
    hist.end_run(a, "stopped", "stopped\n  by user")
    b = hist.start_run("finetune", {}, 7, 20)  # no rows at all
    c = hist.start_run("pretrain", {}, 7, 20)
    for s in range(7, 12):
        hist.log_step(c, s, 200.0 + s, 3.0, 1e-3, 1.0, 50.0)
    hist.log_eval(c, 9, 210.0, 2.5, 1.0, 0.5, 3.0)
    hist.log_eval(c, 11, 212.0, 2.75, 1.0, 0.75, 3.0)
    runs = hist.runs()
    assert [r.id for r in runs] == [c, b, a]  # newest first
    ra, rb, rc = runs[2], runs[1], runs[0]
    assert (ra.n_steps, ra.last_step, ra.final_loss, ra.tok_s) == (7, 6, 4.0, 103.0)
    assert (ra.status, ra.reason) == ("stopped", "stopped by user")
    assert (ra.best_val_loss, ra.final_val_loss, ra.best_reward) == (None, None, None)
    assert (rb.n_steps, rb.last_step, rb.final_loss, rb.tok_s) == (0, None, None, None)
    assert (rc.n_steps, rc.last_step, rc.status) == (5, 11, "running")
    assert (rc.final_val_loss, rc.best_val_loss, rc.best_reward) == (2.75, 2.5, 0.75)
    # a running run's summary follows new rows (ended ones are cached)
    hist.log_step(c, 12, 213.0, 2.0, 1e-3, 1.0, 50.0)
    assert hist.run(c).final_loss == 2.0 and hist.run(c).n_steps == 6
    assert hist.last_loss() == 2.0


def test_last_loss_skips_runs_without_steps(hist: History) -> None:
    assert hist.last_loss() is None
    a = hist.start_run("pretrain", {}, 0, 10)
    hist.log_step(a, 0, 1.0, 7.0, 1e-3, 1.0, 1.0)
    hist.log_step(a, 1, 2.0, 6.5, 1e-3, 1.0, 1.0)
    hist.end_run(a, "finished")
    hist.start_run("pretrain", {}, 2, 10)
    assert hist.last_loss() == 6.5


def test_run_unknown_id(hist: History, hpath: Path) -> None:
    with pytest.raises(UserError) as err:
        hist.run(99)
    assert str(err.value) == "no run 99 in model 'slavik'; see `slavik-tui runs slavik`"
    with pytest.raises(UserError, match="no run 7"):
        hist.end_run(7, "finished")
    with pytest.raises(UserError, match="no run 5"):
        History(hpath, readonly=True).run(5)


def test_bad_end_status_is_a_bug(hist: History) -> None:
    rid = hist.start_run("pretrain", {}, 0, 1)
    with pytest.raises(ValueError):
        hist.end_run(rid, "running")


# ---- readers ------------------------------------------------------------------------------
def test_readonly_missing_file_reads_empty_then_picks_up_the_file(hpath: Path) -> None:
    reader = History(hpath, readonly=True)
    assert reader.runs() == []
    assert reader.new_steps(0) == [] and reader.new_evals(0) == []
    arr = reader.steps_arrays()
    assert list(arr) == list(STEP_FIELDS) and all(len(v) == 0 for v in arr.values())
    assert all(len(v) == 0 for v in reader.evals_arrays().values())
    assert reader.last_loss() is None
    assert not hpath.exists()  # a reader never creates the file
    with pytest.raises(RuntimeError):
        reader.log_step(1, 0, 0.0, 1.0, 1.0, 1.0, 1.0)

    with History(hpath) as writer:
        rid = writer.start_run("pretrain", {}, 0, 5)
        writer.log_step(rid, 0, 1.0, 2.0, 1e-3, 1.0, 10.0)
        assert [r.id for r in reader.runs()] == [rid]
        assert reader.steps_arrays()["loss"].tolist() == [2.0]
    reader.close()


WRITER_CHILD = textwrap.dedent(
    """
    import sys
    from slavik_tui.store.history import History
    h = History(sys.argv[1])
    rid = h.start_run("pretrain", {"child": True}, 0, 20)
    step = 0
    for batch in range(2):
        for _ in range(10):
            h.log_step(rid, step, 1000.0 + step, 5.0 - step * 0.1, 1e-3, 1.0, 100.0)
            step += 1
        h.log_eval(rid, step - 1, 1000.0 + step, 4.0, 1.5, 0.5, 1.0)
        print(rid, flush=True)
        sys.stdin.readline()  # keep the connection open until the parent has looked
    h.end_run(rid, "finished")
    h.close()
    """
)


def test_reader_sees_rows_of_a_writer_in_another_process(hpath: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER_CHILD, str(hpath)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        rid = int(proc.stdout.readline())
        reader = History(hpath, readonly=True)
        first = reader.new_steps(0)
        assert [r[2] for r in first] == list(range(10))
        assert reader.run(rid).status == "running"
        assert reader.run(rid).config == {"child": True}
        last_id = first[-1][0]
        last_eval = reader.new_evals(0)[-1][0]

        proc.stdin.write("\n")
        proc.stdin.flush()
        assert int(proc.stdout.readline()) == rid
        more = reader.new_steps(last_id)
        assert [r[2] for r in more] == list(range(10, 20))
        assert [r[2] for r in reader.new_evals(last_eval)] == [19]
        assert reader.steps_arrays(rid)["step"].tolist() == list(range(20))

        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
        assert reader.run(rid).status == "finished"
        reader.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_new_steps_polling_by_rowid(hist: History) -> None:
    a = hist.start_run("pretrain", {}, 0, 100)
    for s in range(5):
        hist.log_step(a, s, float(s), 1.0, 1.0, 1.0, 1.0)
    rows = hist.new_steps(0)
    assert [r[2] for r in rows] == [0, 1, 2, 3, 4]
    cursor = rows[-1][0]
    assert hist.new_steps(cursor) == []
    hist.end_run(a, "finished")
    b = hist.start_run("pretrain", {}, 5, 100)
    for s in range(5, 8):
        hist.log_step(b, s, float(s), 1.0, 1.0, 1.0, 1.0)
    new = hist.new_steps(cursor)
    assert [(r[1], r[2]) for r in new] == [(b, 5), (b, 6), (b, 7)]
    assert [r[2] for r in hist.new_steps(0, run_id=a)] == [0, 1, 2, 3, 4]
    assert [r[2] for r in hist.new_steps(0, limit=2)] == [0, 1]


# ---- resume and dead trainers -------------------------------------------------------------
def test_supersede_after_leaves_one_curve(hist: History) -> None:
    killed = hist.start_run("pretrain", {}, 0, 20)
    for s in range(10):
        hist.log_step(killed, s, 100.0 + s, 10.0 - s, 1e-3, 1.0, 1.0)
    hist.log_eval(killed, 5, 105.5, 6.0, 2.0, 0.1, 1.0)
    hist.log_eval(killed, 9, 109.5, 5.0, 2.0, 0.2, 1.0)
    hist.reap_dead_runs(is_alive=lambda pid: False)

    resumed = hist.start_run("pretrain", {}, 6, 20)
    assert hist.supersede_after(6, resumed) == 3 + 1  # steps 7, 8, 9 and the eval at 9
    for s in range(7, 13):
        hist.log_step(resumed, s, 200.0 + s, 3.0, 1e-3, 1.0, 1.0)
    hist.log_eval(resumed, 10, 210.5, 2.5, 1.0, 0.3, 1.0)

    curve = hist.steps_arrays()
    assert curve["step"].tolist() == list(range(13))  # each step once
    assert curve["run_id"].tolist() == [killed] * 7 + [resumed] * 6
    assert curve["loss"][:7].tolist() == [10.0 - s for s in range(7)]
    ev = hist.evals_arrays()
    assert list(zip(ev["run_id"].tolist(), ev["step"].tolist())) == [(killed, 5), (resumed, 10)]

    everything = hist.steps_arrays(include_superseded=True)
    assert len(everything["step"]) == 16
    assert everything["step"].tolist() == sorted(everything["step"].tolist())
    assert hist.steps_arrays(killed)["step"].tolist() == list(range(7))
    assert hist.steps_arrays(killed, include_superseded=True)["step"].tolist() == list(range(10))
    assert [r[2] for r in hist.new_steps(0)] == list(range(13))
    # the killed run's summary still says what it did
    info = hist.run(killed)
    assert (info.status, info.n_steps, info.last_step) == ("failed", 10, 9)


def test_reap_dead_runs(hist: History) -> None:
    dead = hist.start_run("pretrain", {}, 0, 10, pid=111)
    hist.log_step(dead, 0, 500.0, 1.0, 1.0, 1.0, 1.0)
    hist.log_step(dead, 1, 501.5, 1.0, 1.0, 1.0, 1.0)
    hist.log_eval(dead, 1, 502.25, 1.0, 1.0, 1.0, 1.0)
    empty = hist.start_run("pretrain", {}, 0, 10, pid=222)
    alive = hist.start_run("pretrain", {}, 0, 10, pid=os.getpid())
    finished = hist.start_run("pretrain", {}, 0, 10, pid=444)
    hist.end_run(finished, "finished")
    # readers already show a run whose trainer died as failed, before anyone reaps it
    assert hist.run(dead).status == "failed" and "died" in hist.run(dead).reason

    asked = []

    def is_alive(pid: int) -> bool:
        asked.append(pid)
        return pid == os.getpid()

    assert sorted(hist.reap_dead_runs(is_alive=is_alive)) == [dead, empty]
    assert sorted(asked) == sorted([111, 222, os.getpid()])
    d = hist.run(dead)
    assert d.status == "failed"
    assert d.reason == "trainer process 111 died (killed or crashed)"
    assert d.ended_at == 502.25
    e = hist.run(empty)
    assert e.status == "failed" and e.ended_at == e.started_at
    assert hist.run(alive).status == "running"
    assert hist.run(finished).status == "finished"
    assert hist.reap_dead_runs(is_alive=is_alive) == []


def test_reap_with_a_real_dead_process(hist: History) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    rid = hist.start_run("pretrain", {}, 0, 10, pid=proc.pid)
    mine = hist.start_run("pretrain", {}, 0, 10)  # pid defaults to ours: alive
    assert hist.reap_dead_runs() == [rid]
    assert hist.run(mine).pid == os.getpid() and hist.run(mine).status == "running"


# ---- delete -------------------------------------------------------------------------------
def test_delete_run(hist: History, hpath: Path) -> None:
    a = hist.start_run("pretrain", {}, 0, 10)
    for s in range(6):
        hist.log_step(a, s, float(s), 1.0, 1.0, 1.0, 1.0)
    hist.log_eval(a, 5, 5.5, 1.0, 1.0, 1.0, 1.0)
    hist.end_run(a, "finished")
    b = hist.start_run("pretrain", {}, 6, 20)
    for s in range(6, 11):
        hist.log_step(b, s, float(s), 2.0, 1.0, 1.0, 1.0)

    reader = History(hpath, readonly=True)
    assert len(reader.runs()) == 2
    with pytest.raises(UserError, match=r"run \d+ of model 'slavik' is still running"):
        hist.delete_run(b)
    with pytest.raises(UserError, match="no run 42"):
        hist.delete_run(42)
    hist.end_run(b, "stopped", "user")
    before_b = hist.steps_arrays(b)
    hist.delete_run(a)

    assert [r.id for r in hist.runs()] == [b]
    assert [r.id for r in reader.runs()] == [b]  # another instance forgets it too
    assert db_rows(hpath, "SELECT count(*) FROM steps WHERE run_id = ?", (a,)) == [(0,)]
    assert db_rows(hpath, "SELECT count(*) FROM evals WHERE run_id = ?", (a,)) == [(0,)]
    assert hist.new_steps(0, include_superseded=True)[0][1] == b
    after = hist.steps_arrays()
    assert after["step"].tolist() == list(range(6, 11))
    for key in STEP_FIELDS:
        np.testing.assert_array_equal(after[key], before_b[key])
    with pytest.raises(UserError, match=f"no run {a}"):
        reader.run(a)
    # ids keep growing after a delete: a poller never misses a row
    last = hist.new_steps(0)[-1][0]
    c = hist.start_run("pretrain", {}, 11, 20)
    hist.log_step(c, 11, 11.0, 1.0, 1.0, 1.0, 1.0)
    assert hist.new_steps(last)[0][0] > last
    reader.close()


def test_delete_reaps_a_dead_running_run_first(hist: History) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    rid = hist.start_run("pretrain", {}, 0, 10, pid=proc.pid)
    hist.delete_run(rid)
    assert hist.runs() == []


# ---- packed blocks agree with the rows ------------------------------------------------------
def truth(path: Path, run_id: int | None, include_superseded: bool) -> dict[str, list]:
    where = []
    if run_id is not None:
        where.append(f"run_id = {int(run_id)}")
    if not include_superseded:
        where.append("superseded = 0")
    sql = f"SELECT {', '.join(STEP_FIELDS)} FROM steps"
    sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY step, id"
    rows = db_rows(path, sql)
    return {k: [r[i] for r in rows] for i, k in enumerate(STEP_FIELDS)}


def assert_matches_truth(h: History, path: Path, run_ids: list[int]) -> None:
    for rid in [None, *run_ids]:
        for inc in (False, True):
            want = truth(path, rid, inc)
            got = h.steps_arrays(rid, include_superseded=inc)
            for key in STEP_FIELDS:
                assert len(got[key]) == len(want[key])
                pairs = zip(got[key].tolist(), want[key])
                assert all(same(x, y) for x, y in pairs), (rid, inc, key)


def test_blocks_and_tail_agree_with_rows(hist: History, hpath: Path) -> None:
    rng = np.random.default_rng(1)
    runs = []
    step = 0
    for k in range(5):
        rid = hist.start_run("pretrain", {}, step, step + 50)
        runs.append(rid)
        n = int(rng.integers(0, 15))
        for _ in range(n):
            loss = NAN if rng.random() < 0.1 else float(rng.random())
            hist.log_step(rid, step, 1e9 + step, loss, float(rng.random()), None, 5.0)
            step += 1
        hist.reap_dead_runs(is_alive=lambda pid: False)
        step = max(0, step - int(rng.integers(0, 4)))  # resume a little back
        hist.supersede_after(step - 1, runs[-1] + 1)
    assert db_rows(hpath, "SELECT count(*) FROM step_blocks")[0][0] > 3
    reader = History(hpath, readonly=True)
    assert_matches_truth(reader, hpath, runs)
    hist.delete_run(runs[1])
    hist.delete_run(runs[3])
    assert_matches_truth(reader, hpath, [runs[0], runs[2], runs[4]])
    reader.close()


def test_steps_arrays_speed_sanity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema_mod, "BLOCK_ROWS", 4096)
    d = tmp_path / "big"
    d.mkdir()
    path = d / "history.sqlite"
    n = 200_000
    with History(path) as h:
        rid = h.start_run("pretrain", {}, 0, n)
    step = np.arange(n)
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO steps(run_id, step, t, loss, lr, grad_norm, tok_s) VALUES (?,?,?,?,?,?,?)",
        zip(itertools.repeat(rid), step.tolist(), (1e9 + step).tolist(), (step * 0.5).tolist(),
            itertools.repeat(1e-3), itertools.repeat(None), itertools.repeat(99.0)),
    )
    conn.commit()
    conn.close()

    with History(path, readonly=True) as reader:  # not yet packed: all of it is "tail"
        slow = reader.steps_arrays(rid)
    History(path).close()  # a writer packs what log_step did not
    with History(path, readonly=True) as reader:
        t0 = time.perf_counter()
        fast = reader.steps_arrays(rid)
        curve = reader.steps_arrays()
        elapsed = time.perf_counter() - t0
        runs = reader.runs()
    assert len(fast["step"]) == n and len(curve["step"]) == n
    for key in STEP_FIELDS:
        np.testing.assert_array_equal(fast[key], slow[key])
    np.testing.assert_array_equal(fast["step"], step)
    np.testing.assert_array_equal(fast["loss"], step * 0.5)
    assert np.isnan(fast["grad_norm"]).all()
    assert runs[0].n_steps == n and runs[0].final_loss == (n - 1) * 0.5
    assert elapsed < 1.0, f"two loads of {n:,} steps took {elapsed:.2f} s"


# ---- exports ------------------------------------------------------------------------------
def test_export_csv_round_trip(hist: History, tmp_path: Path) -> None:
    rid = hist.start_run("pretrain", {}, 0, 10)
    for s in range(6):
        grad = None if s == 2 else 0.5
        hist.log_step(rid, s, 1700000000.0 + s / 3, 1 / (s + 3), 1e-3 * s, grad, 1234.5)
    hist.log_step(rid, 6, 1700000002.0, NAN, 1e-3, 0.5, 1234.5)
    hist.log_eval(rid, 3, 1700000001.5, 2.0 / 3, 1.25, 0.5, 12.0)
    hist.log_eval(rid, 6, 1700000002.5, 0.1 + 0.2, 1.125, None, 12.0)
    hist.end_run(rid, "finished")
    other = hist.start_run("pretrain", {}, 0, 10)
    hist.log_step(other, 3, 1.0, 9.0, 9.0, 9.0, 9.0)  # another run's row must not appear

    out = tmp_path / "run.csv"
    hist.export_csv(rid, out)
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = rows[1:]
    assert [(r[0], r[1]) for r in body] == [
        ("step", "0"), ("step", "1"), ("step", "2"), ("eval", "3"), ("step", "3"),
        ("step", "4"), ("step", "5"), ("eval", "6"), ("step", "6"),
    ]

    def cell(v: object) -> str:
        return "" if v is None else repr(v)

    stored_steps = db_rows(
        hist.path,
        "SELECT step, t, loss, lr, grad_norm, tok_s FROM steps WHERE run_id = ? ORDER BY id",
        (rid,),
    )
    stored_evals = db_rows(
        hist.path, "SELECT step, t, val_loss, val_bpb, reward, size_mb FROM evals WHERE run_id = ? "
        "ORDER BY id", (rid,),
    )
    step_rows = [r for r in body if r[0] == "step"]
    eval_rows = [r for r in body if r[0] == "eval"]
    assert len(step_rows) == len(stored_steps) and len(eval_rows) == len(stored_evals)
    for r, s in zip(step_rows, stored_steps):
        assert r[1] == str(s[0]) and r[2:7] == [cell(v) for v in s[1:]] and r[7:] == [""] * 4
        assert float(r[2]) == s[1]
    for r, e in zip(eval_rows, stored_evals):
        assert r[1] == str(e[0]) and r[2] == cell(e[1]) and r[3:7] == [""] * 4
        assert r[7:] == [cell(v) for v in e[2:]]
    assert float(eval_rows[1][7]) == 0.1 + 0.2
    assert step_rows[6][3] == "" and step_rows[2][5] == ""  # NaN / NULL -> empty cell
    assert not list(tmp_path.glob(".run.csv*"))  # no temp file left behind
    with pytest.raises(UserError, match="no run 99"):
        hist.export_csv(99, tmp_path / "x.csv")
    with pytest.raises(UserError, match="does not exist"):
        hist.export_csv(rid, tmp_path / "no" / "such" / "dir.csv")


def test_export_compare_csv_long_format(tmp_path: Path) -> None:
    hs = []
    for name in ("alpha", "славик"):
        d = tmp_path / name
        d.mkdir()
        hs.append(History(d / "history.sqlite"))
    a = hs[0].start_run("pretrain", {}, 0, 3)
    for s in range(3):
        hs[0].log_step(a, s, float(s), 3.0 - s, 0.1, None, 10.0)
    hs[0].log_eval(a, 2, 2.5, 1.5, 0.7, 0.25, 4.0)
    b = hs[1].start_run("pretrain", {}, 0, 3)
    hs[1].log_step(b, 0, 0.0, NAN, 0.2, 1.0, 20.0)
    hs[1].log_step(b, 1, 1.0, 2.5, 0.2, 1.0, 20.0)

    out = tmp_path / "compare.csv"
    export_compare_csv([("alpha", hs[0], a), ("славик", hs[1], b)], out)
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["model", "run", "step", "metric", "value"]
    body = [(m, int(r), int(s), k, float(v)) for m, r, s, k, v in rows[1:]]
    expect = []
    for s in range(3):
        expect += [("alpha", a, s, "loss", 3.0 - s), ("alpha", a, s, "lr", 0.1),
                   ("alpha", a, s, "tok_s", 10.0)]
    expect += [("alpha", a, 2, "val_loss", 1.5), ("alpha", a, 2, "val_bpb", 0.7),
               ("alpha", a, 2, "reward", 0.25), ("alpha", a, 2, "size_mb", 4.0)]
    expect.sort(key=lambda r: (r[2], ["loss", "lr", "grad_norm", "tok_s", "val_loss", "val_bpb",
                                      "reward", "size_mb"].index(r[3])))
    expect += [("славик", b, 0, "lr", 0.2), ("славик", b, 0, "grad_norm", 1.0),
               ("славик", b, 0, "tok_s", 20.0), ("славик", b, 1, "loss", 2.5),
               ("славик", b, 1, "lr", 0.2), ("славик", b, 1, "grad_norm", 1.0),
               ("славик", b, 1, "tok_s", 20.0)]
    assert body == expect
    with pytest.raises(UserError, match="no run 5"):
        export_compare_csv([("alpha", hs[0], 5)], tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()
    for h in hs:
        h.close()
