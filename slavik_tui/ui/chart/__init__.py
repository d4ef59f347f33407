"""The interactive chart over the pictures `slavik_tui.charts` makes: `view` (what it shows and
the pan/zoom/follow/clear rules, no Textual), `paint` (the frame on screen, when to repaint),
`widget` (`MetricsChart`: keys, mouse, messages), `save` (ctrl+s), `compare` (`CompareCharts`,
linked charts side by side)."""
