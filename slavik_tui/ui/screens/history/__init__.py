"""The History screen: every run of a model, replayed in the chart, compared, exported.

* A model picker (p; any model of the folder) over the table of its runs (`RunsTable`):
  start time, duration, steps, status, learning rate, final train / val loss, best reward,
  tokens/s; the line under it says why the highlighted run ended and how it was set up
  (`runs_panel.RunsPanel`).
* Enter replays the highlighted run in a `MetricsChart` (every chart key works there); a run
  still being trained keeps growing in it (polled by rowid, `runs.watch.RunFollower`).
* space marks runs — of this model or of any other picked meanwhile — and c compares them:
  one chart with every run in its own colour (legend `model/run`), or `v` side by side (one
  linked chart per run). x is the step since each run's start (like W&B's "Step"; `a` switches
  to the model's own step: a second training of a model starts where the first ended) or, with
  the chart's `x`, the wall time since each run's first row. Under it a `CompareTable` of their
  figures, the best of each column in bold (`view.RunView`).
* e writes CSV: on the runs table the highlighted run, to models/NAME/charts/run-<id>.csv (what
  `slavik-tui runs NAME --csv` writes; the trainer's autosave writes the same file); on the
  chart the replayed run, or the comparison to models/<first model>/charts/compare-<runs>.csv
  (long format: model, run, step, metric, value). The notification gives the path.
* d deletes a run from the history after a confirmation; the checkpoint is not touched.
* Below 32 rows the runs list folds away while a chart shows (escape brings it back); f does
  the same by hand at any size.

Reading runs happens in thread workers (`loader.RunLoader`; `History.steps_arrays` reads packed
blocks: a 1,000,000-step run in ~0.1–0.2 s); only filling the chart runs on the UI thread.
"""

from slavik_tui.ui.screens.history.screen import HistoryScreen

__all__ = ["HistoryScreen"]
