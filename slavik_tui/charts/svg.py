"""A frame as an SVG document: what ctrl+s and the autosave write (rich's terminal picture)."""

from __future__ import annotations

import io

from rich.console import Console
from rich.terminal_theme import SVG_EXPORT_THEME, TerminalTheme

from slavik_tui.charts.frame import Frame


def frame_svg(frame: Frame, title: str) -> str:
    """`frame` as an SVG document titled `title`.

    Cells without a style of their own (legend, status) get the frame's theme colours, as the
    widget paints them on its $surface background: the file looks like the screen.
    """
    console = Console(
        record=True,
        width=frame.width,
        file=io.StringIO(),
        color_system="truecolor",
        force_terminal=True,
    )
    console.print(frame.text, crop=True, overflow="crop", no_wrap=True)
    theme = SVG_EXPORT_THEME
    if frame.background is not None or frame.foreground is not None:
        palette = [tuple(SVG_EXPORT_THEME.ansi_colors[i]) for i in range(16)]
        theme = TerminalTheme(
            frame.background or tuple(SVG_EXPORT_THEME.background_color),
            frame.foreground or tuple(SVG_EXPORT_THEME.foreground_color),
            palette[:8],  # type: ignore[arg-type]
            palette[8:],  # type: ignore[arg-type]
        )
    return console.export_svg(title=title, theme=theme)
