"""What the Models, Training and Generation screens look like at 80×24 and 120×40.

Fixed, fake model folders (no training, no clock), so the pictures only change when the UI
does. Update the baselines with `pytest tests/ui/test_snapshots.py --snapshot-update` and
look at the report before committing them.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from conftest import wait_for

from slavik_tui.ui.app import SlavikApp
from slavik_tui.ui.widgets.exchange_log import ExchangeLog

SIZES = [(80, 24), (120, 40)]


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


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
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
