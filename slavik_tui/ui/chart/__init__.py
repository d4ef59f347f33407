"""The interactive chart over the pictures `slavik_tui.charts` makes: `view` (what it shows and
the pan/zoom/follow/clear/cursor rules, no Textual), `paint` (the frame on screen, when to
repaint), `widget` (`MetricsChart`: keys, messages), `mouse` (wheel, drag, legend click, hover),
`save` (ctrl+s), `compare` (`CompareCharts`, linked charts side by side)."""
