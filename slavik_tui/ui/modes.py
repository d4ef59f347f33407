"""The app's four modes (Models, Training, Generation, History): their names, titles and
screen classes, imported on first use."""

from __future__ import annotations

from textual.screen import Screen

MODES = ("models", "training", "generation", "history")
MODE_TITLES = {"models": "Models", "training": "Training", "generation": "Generation",
               "history": "History"}


def screen_class(mode: str) -> type[Screen]:
    """The class of a mode's screen, imported on first use (training/history pull in the
    chart and numpy; nothing of that is needed to paint the Models screen)."""
    if mode == "models":
        from slavik_tui.ui.screens.models import ModelsScreen as cls
    elif mode == "training":
        from slavik_tui.ui.screens.training import TrainingScreen as cls
    elif mode == "generation":
        from slavik_tui.ui.screens.generation import GenerationScreen as cls
    elif mode == "history":
        from slavik_tui.ui.screens.history import HistoryScreen as cls
    else:
        raise ValueError(mode)
    return cls
