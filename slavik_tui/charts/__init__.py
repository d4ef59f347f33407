"""Chart maths and pictures, no Textual: `series` (storage, the x axes), `smooth` (W&B's
smoothing kinds), `reduce` (min/max per column), `raster` (glyphs), `ticks`, `theme` (colours),
`markers`, `legend` (with last values), `readout` (the cursor's numbers), `axes` (plotext's
frame), `frame` (`render_frame`: one picture as styled runs), `svg`, `training` (the series of a
run and its extra named metrics), `feed` (history rows into series), `autosave` (a run's SVG +
CSV).

The interactive widget lives in `slavik_tui.ui.chart`; everything it draws is made here, so the
trainer's autosave child (`python -m slavik_tui.charts`) and the tests draw without an app.
Submodules are imported explicitly, so importing this package alone stays cheap.
"""
