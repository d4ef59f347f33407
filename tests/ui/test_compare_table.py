"""The compare table under a comparison chart fits the terminal: no sideways scroll at 80, 100
or 160 columns (short headers, then the least important columns left out)."""

from __future__ import annotations

import pytest
from conftest import run_app, wait_for
from test_history_screen import models, open_history

from slavik_tui.ui.chart.widget import MetricsChart
from slavik_tui.ui.widgets.compare_table import CompareTable


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 45)])
def test_the_compare_table_fits_without_scrolling_sideways(tmp_path, size):
    root = models(tmp_path)

    async def body(app, pilot):
        screen = await open_history(app, pilot, "alpha")
        screen.marks = [("alpha", 1), ("alpha", 2), ("beta", 1)]
        await pilot.press("c")
        chart = screen.query_one("#history-chart", MetricsChart)
        await wait_for(pilot, lambda: screen.view_kind == "compare" and chart.drawn_series)
        table = screen.query_one(CompareTable)
        await wait_for(pilot, lambda: table.display and table.row_count == 3
                       and table.size.width > 0)
        await pilot.pause()
        keys = [column.key.value for column in table.columns.values()]
        assert keys[:1] == ["run"] and "best val loss" in keys
        assert table.virtual_size.width <= table.size.width, (keys, table.virtual_size)
        assert table.max_scroll_x == 0
        if size[0] >= 160:  # room for every column with its full header
            assert len(keys) == 9 and not table.shorts
        assert "━━ alpha/2" in [str(c) for c in table.get_row("alpha/2")]

    run_app(root, body, size=size)
