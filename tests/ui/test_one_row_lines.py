"""One-row status lines at 80 columns: text longer than the line ends in "…" where it is cut
(it wrapped into a hidden second row, cut mid-sentence without a sign); the footer leaves out
the keys that do not fit, whole, and ends in "…"."""

from __future__ import annotations

from conftest import run_app, wait_for
from textual.geometry import Region
from textual.widgets import Footer, Input

from slavik_tui.ui.screens.generation import GenerationScreen
from slavik_tui.ui.screens.history import HistoryScreen
from slavik_tui.ui.widgets.runs_table import RunsTable


def shown(widget) -> str:
    """The one row a widget paints, as the terminal shows it (trailing blanks dropped)."""
    [strip] = widget.render_lines(Region(0, 0, widget.region.width, 1))
    return strip.text.rstrip()


def footer_line(app) -> str:
    """The footer row: the footer and each of its shown keys painted where it sits."""
    footer = app.screen.query_one(Footer)
    cells = [" "] * footer.region.right
    for widget in (footer, *footer.walk_children()):
        r = widget.region
        if not (widget.display and widget.visible and r.height and r.y <= footer.region.y):
            continue
        [strip] = widget.render_lines(Region(0, footer.region.y - r.y, r.width, 1))
        for x, ch in enumerate(strip.text, start=r.x):
            if 0 <= x < len(cells):
                cells[x] = ch
    return "".join(cells).rstrip()


def test_history_lines_end_in_an_ellipsis_at_80_columns(models_root):
    async def body(app, pilot):
        await pilot.pause()
        app.open_mode("history", "tiny")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await wait_for(pilot, lambda: screen.runs and screen.query_one(RunsTable).row_count)
        await pilot.pause()
        detail = screen.query_one("#run-detail")
        assert detail.region.height == 1
        text = shown(detail)
        assert text.startswith(" run 1 · pretrain") and text.endswith("…"), text
        assert len(text) <= 80
        screen.marks = [("tiny", 1), ("a-model-with-a-long-name", 12),
                        ("another-model-with-a-long-name", 3)]
        screen.panel.show_marks(screen.marks)
        await pilot.pause()
        marked = screen.query_one("#history-marked")
        text = shown(marked)
        assert text.endswith("…"), text
        assert "c compares, u unmarks" in text  # the keys come first: they stay in view
        # the footer: whole keys, then "…" (it showed "f Ful" at the edge)
        footer = footer_line(app)
        assert footer.endswith(" …") and len(footer) <= 80, footer
        assert footer.startswith("⏎ Replay space Mark c Compare"), footer
        words = footer[:-2].split()
        assert "Ful" not in words
        assert screen.query_one(Footer).cut > 0
        await pilot.press("f1")  # another screen and back: the same line
        await wait_for(pilot, lambda: not isinstance(app.screen, HistoryScreen))
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen)
                       and footer_line(app) == footer)
        screen = app.screen
        await pilot.resize_terminal(200, 30)  # room for every key: no "…"
        await wait_for(pilot, lambda: "f Full chart" in footer_line(app)
                       and "…" not in footer_line(app) and screen.query_one(Footer).cut == 0)

    run_app(models_root, body, size=(80, 24))


def test_generation_status_ends_in_an_ellipsis_at_80_columns(models_root):
    async def body(app, pilot):
        await pilot.pause()
        await pilot.press("f3")
        screen = app.screen
        assert isinstance(screen, GenerationScreen)
        await pilot.pause()
        screen._status("done · 200 tokens · 1.23 s · 162.6 tok/s · 1 thread: a trainer is "
                       "running · saved")
        await pilot.pause()
        status = screen.query_one("#gen-status")
        assert status.region.height == 1
        text = shown(status)
        assert text.startswith("  done · 200 tokens") and text.endswith("…"), text
        assert isinstance(app.focused, Input)

    run_app(models_root, body, size=(80, 24))
