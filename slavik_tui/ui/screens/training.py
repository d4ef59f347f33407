"""Training screen — PLACEHOLDER, to be replaced by the Training screen's author.

The app builds it as `TrainingScreen(model=NAME_OR_NONE)` for the "training" mode and
re-creates it when another model is asked for (it reads `screen.model` to tell).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class TrainingScreen(Screen):
    """Trains / watches one model (placeholder)."""

    def __init__(self, model: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.title = "slavik-tui"

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        what = f"model '{self.model}'" if self.model else "no model chosen (pick one on Models, F1)"
        yield Static(f"Training — {what}.\n\nThe training view is not built yet.",
                     id="placeholder", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"Training · {self.model}" if self.model else "Training"
