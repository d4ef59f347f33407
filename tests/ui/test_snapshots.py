"""What the Models, Training and History screens look like at 80×24, 100×30 and 160×45 (and
the Generation screen at 80×24 and 120×40).

Fixed, fake model folders (no training, no clock), so the pictures only change when the UI
does. Update the baselines with `pytest tests/ui/test_snapshots.py --snapshot-update` and
look at the report before committing them.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from textual.widgets import Input

from conftest import wait_for

from slavik_tui.ui.app import SlavikApp
from slavik_tui.ui.widgets.exchange_log import ExchangeLog

SIZES = [(80, 24), (100, 30), (160, 45)]
GENERATION_SIZES = [(80, 24), (120, 40)]
T0 = 1_740_000_000.0  # the runs' fixed start, so the tables do not follow the clock


def _steady(app) -> None:
    """No blinking cursor, no polling: the same picture every time."""
    for field in app.screen.query(Input):
        field.cursor_blink = False
    app.scan_paused = True


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_models_screen(snap_compare, snapshot_root, size):
    async def run_before(pilot):
        await pilot.pause()
        await pilot.press("down")  # the cursor on 'tolstoy': two datasets in the details
        _steady(pilot.app)
        await pilot.pause()

    assert snap_compare(SlavikApp(snapshot_root), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", GENERATION_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_generation_screen(snap_compare, snapshot_root, size):
    async def run_before(pilot):
        await pilot.pause()
        await pilot.press("down", "f3")
        await pilot.pause()
        screen = pilot.app.screen
        log = screen.query_one(ExchangeLog)
        exchange = log.start("tolstoy", "Привет, как дела")
        await pilot.pause()
        exchange.append("? — сказал Левин, и тихо вышел в сад. Анна ждала его у окна.")
        exchange.set_stats("18 tokens in 0.12 s · 150.0 tok/s")
        screen._status("done · 18 tokens in 0.12 s · 150.0 tok/s")
        screen.query_one("#temperature", Input).value = "hot"
        screen.query_one("#gen-prompt", Input).focus()
        _steady(pilot.app)
        await pilot.pause()

    assert snap_compare(SlavikApp(snapshot_root), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_training_screen(snap_compare, snapshot_root, size):
    async def run_before(pilot):
        await pilot.pause()
        await pilot.press("down", "f2")  # tolstoy: a finished run of three logged steps
        screen = pilot.app.screen
        await wait_for(pilot, lambda: len(screen.chart.get_series("loss")) == 3)
        _steady(pilot.app)
        await pilot.pause(0.5)  # the chart repaints on its 0.2 s timer

    assert snap_compare(SlavikApp(snapshot_root), terminal_size=size, run_before=run_before)


def _fixed_runs(root, monkeypatch) -> None:
    """tolstoy gets a second (stopped) run; every run starts and ends at fixed times, shown in
    UTC."""
    from slavik_tui.store.history import History

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    with History(root / "tolstoy" / "history.sqlite") as history:
        run_id = history.start_run("pretrain", {"lr": 3e-4, "batch_size": 16}, 1200, 5000,
                                   pid=1)
        for i, loss in enumerate([2.70, 2.61, 2.55], start=1):
            history.log_step(run_id, 1200 + 100 * i, T0 + 4000 + i, loss, 3e-4, 1.0, 12345.0)
        history.log_eval(run_id, 1500, T0 + 4003, 2.66, 1.9, 0.31, 82.4)
        history.end_run(run_id, "stopped", "stopped by the user (ctrl+t)")
    for name in ("tolstoy", "tiny"):
        with sqlite3.connect(root / name / "history.sqlite") as conn:
            conn.execute("UPDATE runs SET started_at = ? + 3600 * id, ended_at = ? + 3600 * id"
                         " + 1234.5", (T0, T0))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_history_screen(snap_compare, snapshot_root, monkeypatch, size):
    _fixed_runs(snapshot_root, monkeypatch)

    async def run_before(pilot):
        await pilot.pause()
        await pilot.press("down", "f4")  # tolstoy: a finished and a stopped run
        screen = pilot.app.screen
        await wait_for(pilot, lambda: len(screen.runs) == 2)
        _steady(pilot.app)
        await pilot.pause(0.3)

    assert snap_compare(SlavikApp(snapshot_root), terminal_size=size, run_before=run_before)
