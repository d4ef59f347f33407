"""store/history/metrics.py: named series, the version-2 schema and its migration, exports."""

from __future__ import annotations

import csv
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from slavik_tui.errors import UserError
from slavik_tui.store.history import CSV_COLUMNS, SCHEMA_VERSION, History, export_compare_csv
from slavik_tui.store.history import schema as schema_mod

NAN = float("nan")

# The version-1 schema, as the code before the metrics table wrote it.
V1_DDL = """
CREATE TABLE runs(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, status TEXT NOT NULL,
  reason TEXT, pid INTEGER, started_at REAL NOT NULL, ended_at REAL, start_step INTEGER,
  target_step INTEGER, config_json TEXT);
CREATE TABLE steps(id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
  step INTEGER NOT NULL, t REAL NOT NULL, loss REAL, lr REAL, grad_norm REAL, tok_s REAL,
  superseded INTEGER NOT NULL DEFAULT 0);
CREATE INDEX steps_run_step ON steps(run_id, step);
CREATE INDEX steps_superseded ON steps(run_id, id) WHERE superseded = 1;
CREATE TABLE evals(id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
  step INTEGER NOT NULL, t REAL NOT NULL, val_loss REAL, val_bpb REAL, reward REAL,
  size_mb REAL, superseded INTEGER NOT NULL DEFAULT 0);
CREATE INDEX evals_run_step ON evals(run_id, step);
CREATE TABLE step_blocks(last_id INTEGER PRIMARY KEY, first_id INTEGER NOT NULL,
  n INTEGER NOT NULL, run_lo INTEGER NOT NULL, run_hi INTEGER NOT NULL, data BLOB NOT NULL);
INSERT INTO runs(kind, status, pid, started_at, ended_at, start_step, target_step, config_json)
  VALUES ('pretrain', 'finished', 1, 100.0, 110.0, 0, 3, '{"lr": 0.001}');
INSERT INTO steps(run_id, step, t, loss, lr, grad_norm, tok_s) VALUES
  (1, 1, 101.0, 3.0, 0.001, 1.0, 50.0), (1, 2, 102.0, 2.5, 0.001, 1.0, 50.0),
  (1, 3, 103.0, 2.0, 0.001, NULL, 50.0);
INSERT INTO evals(run_id, step, t, val_loss, val_bpb, reward, size_mb) VALUES
  (1, 3, 103.5, 2.2, 1.1, 0.4, 1.5);
PRAGMA user_version = 1;
"""


@pytest.fixture
def hpath(tmp_path: Path) -> Path:
    d = tmp_path / "slavik"
    d.mkdir()
    return d / "history.sqlite"


@pytest.fixture
def hist(hpath: Path):
    with History(hpath) as h:
        yield h


def v1_file(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(V1_DDL)
    conn.close()


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()


# ---- schema and migration -----------------------------------------------------------------
def test_new_file_has_the_metrics_table(hist: History, hpath: Path) -> None:
    assert SCHEMA_VERSION == 2
    assert {"metrics", "metrics_run_name_step"} <= tables(hpath)
    conn = sqlite3.connect(hpath)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(metrics)")]
    index = [r[2] for r in conn.execute("PRAGMA index_info(metrics_run_name_step)")]
    conn.close()
    assert cols == ["id", "run_id", "step", "t", "name", "value", "superseded"]
    assert index == ["run_id", "name", "step"]
    assert "metrics(" in schema_mod.__doc__


def test_a_version_1_file_is_read_as_it_is_and_upgraded_in_place_by_the_writer(
    hpath: Path,
) -> None:
    v1_file(hpath)
    with History(hpath, readonly=True) as viewer:  # a viewer reads v1, no metrics yet
        (run,) = viewer.runs()
        assert (run.n_steps, run.final_loss, run.best_reward) == (3, 2.0, 0.4)
        assert viewer.metric_names() == [] and viewer.metrics_arrays(1) == {}
        assert viewer.new_metrics(0) == []
        assert "metrics" not in tables(hpath)  # a reader never writes
        with History(hpath) as writer:  # the trainer opens it: the table appears
            assert writer.version == SCHEMA_VERSION
            (run,) = writer.runs()
            assert run.config == {"lr": 0.001} and run.status == "finished"
            np.testing.assert_array_equal(writer.steps_arrays(1)["loss"], [3.0, 2.5, 2.0])
            np.testing.assert_array_equal(writer.evals_arrays(1)["reward"], [0.4])
            writer.log_metrics(1, 3, 103.5, {"rewards/chrf": 0.25})
        # the same viewer, opened before the upgrade, now sees the new series
        assert viewer.metric_names(1) == ["rewards/chrf"]
        assert viewer.new_metrics(0)[0][4:] == ("rewards/chrf", 0.25)
    assert {"metrics", "metrics_run_name_step"} <= tables(hpath)
    conn = sqlite3.connect(hpath)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("SELECT count(*) FROM steps").fetchone() == (3,)
    conn.close()


# ---- writing and reading ------------------------------------------------------------------
def test_log_and_read_back(hist: History) -> None:
    rid = hist.start_run("pretrain", {})
    hist.log_metrics(rid, 10, 1.0, {"rewards/chrf": 0.2, "reward_std": np.float32(0.5)})
    hist.log_metrics(rid, 20, 2.0, {"rewards/chrf": NAN, "reward_std": None, "gpu/util": 97})
    hist.log_metrics(rid, 5, 0.5, {"rewards/chrf": 0.1})  # out of order: read by step
    hist.log_metrics(rid, 30, 3.0, {})  # nothing to write
    other = hist.start_run("grpo", {})
    hist.log_metrics(other, 1, 4.0, {"kl": 0.01})

    assert hist.metric_names(rid) == ["gpu/util", "reward_std", "rewards/chrf"]
    assert hist.metric_names() == ["gpu/util", "kl", "reward_std", "rewards/chrf"]
    arrays = hist.metrics_arrays(rid)
    assert list(arrays) == ["gpu/util", "reward_std", "rewards/chrf"]
    steps, values = arrays["rewards/chrf"]
    assert steps.dtype == np.int64 and values.dtype == np.float64
    np.testing.assert_array_equal(steps, [5, 10, 20])
    np.testing.assert_array_equal(values, [0.1, 0.2, NAN])
    np.testing.assert_array_equal(arrays["reward_std"][1], [0.5, NAN])
    picked = hist.metrics_arrays(rid, names=["kl", "gpu/util"])
    assert list(picked) == ["kl", "gpu/util"] and len(picked["kl"][0]) == 0
    assert picked["gpu/util"][1].tolist() == [97.0]
    assert list(hist.metrics_arrays()) == ["gpu/util", "kl", "reward_std", "rewards/chrf"]

    rows = hist.new_metrics(0)
    assert [r[4] for r in rows] == ["rewards/chrf", "reward_std", "rewards/chrf", "reward_std",
                                    "gpu/util", "rewards/chrf", "kl"]
    assert rows[3] == (rows[3][0], rid, 20, 2.0, "reward_std", None)  # NaN comes back None
    last = rows[4][0]
    assert [r[4] for r in hist.new_metrics(last)] == ["rewards/chrf", "kl"]
    assert [r[4] for r in hist.new_metrics(last, run_id=other)] == ["kl"]
    assert len(hist.new_metrics(0, limit=2)) == 2
    with History(hist.path, readonly=True) as viewer:
        assert viewer.new_metrics(0) == rows


def test_a_failed_write_writes_nothing(hist: History) -> None:
    rid = hist.start_run("pretrain", {})
    with pytest.raises(ValueError, match="'kl'.*not a number"):
        hist.log_metrics(rid, 1, 1.0, {"entropy": 1.0, "kl": "high"})
    with pytest.raises(UserError, match="control characters"):
        hist.log_metrics(rid, 1, 1.0, {"entropy": 1.0, "a\nb": 1.0})
    assert hist.new_metrics(0) == []


@pytest.mark.parametrize("name, match", [
    ("", "non-empty"), (None, "non-empty"), ("x" * 97, "97 characters"),
    (" kl", "spaces at its ends"), ("kl\t", "control characters"), ("a\x00b", "control"),
])
def test_bad_names_are_one_line(hist: History, name: object, match: str) -> None:
    rid = hist.start_run("pretrain", {})
    with pytest.raises(UserError, match=match) as err:
        hist.log_metrics(rid, 1, 1.0, {name: 1.0})
    assert "\n" not in str(err.value)


def test_supersede_and_delete_cover_metrics(hist: History) -> None:
    first = hist.start_run("pretrain", {})
    for s in (10, 20, 30):
        hist.log_metrics(first, s, float(s), {"rewards/chrf": s / 100})
    hist.end_run(first, "stopped")
    second = hist.start_run("pretrain", {}, start_step=10)
    assert hist.supersede_after(10, second) == 2  # steps 20 and 30 of the first run
    hist.log_metrics(second, 20, 21.0, {"rewards/chrf": 0.9})
    steps, values = hist.metrics_arrays()["rewards/chrf"]
    assert steps.tolist() == [10, 20] and values.tolist() == [0.1, 0.9]
    assert hist.metrics_arrays(first)["rewards/chrf"][0].tolist() == [10]
    all_rows = hist.metrics_arrays(first, include_superseded=True)["rewards/chrf"]
    assert all_rows[0].tolist() == [10, 20, 30]
    assert len(hist.new_metrics(0)) == 2 and len(hist.new_metrics(0, include_superseded=True)) == 4
    hist.end_run(second, "finished")
    hist.delete_run(first)
    assert [r[1] for r in hist.new_metrics(0, include_superseded=True)] == [second]
    assert hist.metric_names(first) == []


# ---- exports ------------------------------------------------------------------------------
def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_run_csv_has_a_column_per_metric(hist: History, tmp_path: Path) -> None:
    rid = hist.start_run("pretrain", {})
    hist.log_step(rid, 1, 1.0, 3.0, 0.1, 1.0, 9.0)
    hist.log_step(rid, 2, 2.0, 2.0, 0.1, 1.0, 9.0)
    hist.log_eval(rid, 2, 2.5, 2.5, 1.2, 0.3, 4.0)
    hist.log_metrics(rid, 2, 2.5, {"rewards/chrf": 0.25, "reward_std": 0.125, "loss": 7.0})
    hist.log_metrics(rid, 2, 2.6, {"gpu/util": 50.0, "rewards/chrf": NAN})
    out = tmp_path / "run.csv"
    hist.export_csv(rid, out)
    header, *body = read_csv(out)
    names = ["gpu/util", "metric:loss", "reward_std", "rewards/chrf"]  # sorted by name
    assert header == list(CSV_COLUMNS) + names
    width = len(header)
    assert all(len(r) == width for r in body)
    assert [(r[0], r[1]) for r in body] == [
        ("step", "1"), ("eval", "2"), ("metric", "2"), ("metric", "2"), ("step", "2")]
    base = len(CSV_COLUMNS)
    assert body[2][2] == "2.5" and body[2][3:base] == [""] * (base - 3)
    assert body[2][base:] == ["", "7.0", "0.125", "0.25"]
    assert body[3][2] == "2.6" and body[3][base:] == ["50.0", "", "", ""]
    assert body[1][base:] == [""] * 4 and body[0][base:] == [""] * 4
    assert body[1][CSV_COLUMNS.index("reward")] == "0.3"

    plain = hist.start_run("pretrain", {})  # no metrics: exactly the old columns
    hist.log_step(plain, 1, 1.0, 3.0, 0.1, 1.0, 9.0)
    hist.export_csv(plain, out)
    assert read_csv(out)[0] == list(CSV_COLUMNS)


def test_compare_csv_lists_metrics_after_the_fixed_columns(hist: History, tmp_path: Path) -> None:
    rid = hist.start_run("grpo", {})
    hist.log_step(rid, 1, 1.0, 3.0, 0.1, NAN, NAN)
    hist.log_metrics(rid, 1, 1.0, {"kl": 0.5, "entropy": NAN, "reward": 0.75})
    hist.log_eval(rid, 1, 1.5, 2.0, NAN, NAN, NAN)
    out = tmp_path / "cmp.csv"
    export_compare_csv([("m", hist, rid)], out)
    assert read_csv(out)[1:] == [
        ["m", str(rid), "1", "loss", "3.0"], ["m", str(rid), "1", "lr", "0.1"],
        ["m", str(rid), "1", "val_loss", "2.0"], ["m", str(rid), "1", "kl", "0.5"],
        ["m", str(rid), "1", "metric:reward", "0.75"],
    ]
    assert not math.isnan(hist.metrics_arrays(rid)["kl"][1][0])
