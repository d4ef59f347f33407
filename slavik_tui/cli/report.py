"""`report NAME [--run ID] [--out FILE.md] [--force]`: a run's report as Markdown.

Without `--out` the Markdown goes to stdout (no chart: a terminal cannot show an SVG); with it
the report is written to FILE.md and its chart beside it as FILE.svg, linked from the report,
where `runs --csv` and `export` may write (never in the models folder, never over a link or
a device, over an existing file only with `--force`). The report is built by
`slavik_tui.runs.report`; the chart is `charts.svg.run_chart_svg`, the samples
`engine.samples.report_samples` (torch is imported only for them).
"""

from __future__ import annotations

import sys

from slavik_tui.cli.common import note, workspace
from slavik_tui.spec.numbers import parse_whole


def cmd_report(args) -> int:
    from slavik_tui.charts.svg import run_chart_svg
    from slavik_tui.runs.report import gather, markdown, take_samples, write_report

    ws = workspace(args)
    model_dir = ws.model_dir(args.name)
    run_id = None if args.run is None else parse_whole(args.run, "--run")

    def sampler(path):
        note(f"sampling {args.name}'s current weights for the report…")
        from slavik_tui.engine.samples import report_samples

        return report_samples(path)

    if args.out is None:
        report = gather(model_dir, run_id)  # an unknown run: one line before torch loads
        sys.stdout.write(markdown(report, take_samples(sampler, model_dir)))
        return 0
    md, svg = write_report(model_dir, args.out, ws.root, run_id, args.force,
                           chart=run_chart_svg, sampler=sampler)
    print(f"wrote the report of '{args.name}' to {md} (chart: {svg.name})")
    return 0
