"""Chart maths and pictures: series, reduction, ticks, frames, SVG, autosave. No Textual.

The interactive widget lives in `slavik_tui.ui.chart`; everything it draws is made here, so the
trainer's autosave child (`python -m slavik_tui.charts`) and the tests draw without an app.
Submodules are imported explicitly, so importing this package alone stays cheap.
"""
