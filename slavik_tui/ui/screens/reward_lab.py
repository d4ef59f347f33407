"""The reward lab of one model (`w` on the Models screen): does a reward spec tell good text
from bad on this model's own held-out text? (issue 9, DESIGN §6)

The dialog runs `engine.reward_lab.run_lab` — the very function behind `slavik-tui reward
NAME` — in a thread worker, since it loads the weights and samples continuations with torch;
the UI stays live and says "scoring…" meanwhile. The result is the CLI's table: one row for
the combined reward and one per function, one column per kind of text (real, the model's own,
shuffled, repeated, random), then the margin of real over the best damaged kind. The spec is
a field, first the one the model's newest run scored with (what its blue line means), else
the default: edit it and press Enter to score another. An untrained model, a bad spec or a
damaged folder is one line in the dialog; Esc closes it (a run still scoring is left to end in
its thread, its result dropped).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from slavik_tui.errors import UserError
from slavik_tui.spec.options import DEFAULT_REWARD
from slavik_tui.ui.widgets.app_footer import AppFooter
from slavik_tui.ui.widgets.forms import FormField

SAMPLES = 16  # held-out prompts scored (the CLI's default --samples)
LAB_HINT = ("real: the true continuations · model: its own samples · shuffled, repeated, "
            "random: damaged text. A spec worth optimising ranks real far above the damaged "
            "kinds, the model's samples between them.")


def model_spec(model_dir: Path) -> str:
    """The spec the model's newest run scored with (its blue line), else the default; a
    damaged history gives the default (the Models screen says what is wrong with it)."""
    from slavik_tui.spec.folder import ModelFolder
    from slavik_tui.store.history import History
    from slavik_tui.store.stages import last_reward_spec

    path = ModelFolder(model_dir).history
    if not path.is_file():
        return DEFAULT_REWARD
    try:
        with History(path, readonly=True) as history:
            return last_reward_spec(history) or DEFAULT_REWARD
    except (UserError, sqlite3.Error):
        return DEFAULT_REWARD


def lab_table(result: dict) -> Table:
    """The lab's result as a Rich table (format_table's layout): the combined reward first,
    then each function, one column per kind in the result's order."""
    kinds = list(result["scores"])
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False)
    table.add_column("", no_wrap=True)
    for kind in kinds:
        table.add_column(kind, justify="right", no_wrap=True)
    table.add_row(Text("reward", style="bold"),
                  *(Text(f"{result['scores'][k]:.3f}", style="bold") for k in kinds))
    for name, values in result["functions"].items():
        table.add_row(f"  {name}", *(f"{values[k]:.3f}" if k in values else "-"
                                     for k in kinds))
    return table


def summary_line(result: dict, margin: float) -> str:
    """What the table says in one line: the spec, the prompts and real's margin."""
    verdict = ("real ranks first" if margin > 0 else
               "real does NOT rank above the damaged text: this spec rewards the wrong thing")
    return (f"reward {result['reward']} on {result['samples']} held-out prompts · margin "
            f"real − best damaged = {margin:.3f} ({verdict})")


class RewardLabScreen(ModalScreen[None]):
    """Scores five kinds of text with a spec on one model; Enter in the spec field re-runs."""

    BINDINGS = [Binding("escape", "close", "Close")]

    @dataclass
    class Scored(Message):
        """Lab run number `run` gave `result` (run_lab's dict); real's margin over the rest."""

        run: int
        result: dict
        margin: float

    @dataclass
    class Failed(Message):
        """Lab run number `run` stopped with one line for the user."""

        run: int
        error: str

    def __init__(self, name: str, model_dir: Path, trained: bool = True,
                 spec: str | None = None, samples: int = SAMPLES) -> None:
        super().__init__()
        self.model_name = name
        self.model_dir = Path(model_dir)
        self.trained = trained
        self.spec = spec or model_spec(self.model_dir)  # what its blue line scores
        self.samples = samples
        self.busy = False
        self.runs = 0  # lab runs started; only the newest one's answer is shown
        self.result: dict | None = None
        """The last result shown (None before the first, or after a failure)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog -wide"):
            yield Label(f"Reward lab · {self.model_name}", classes="dialog--title",
                        markup=False)
            yield FormField("reward spec", Input(self.spec, id="lab-spec", compact=True),
                            id="labf-spec")
            yield Static("", id="lab-status", markup=False)
            yield Static("", id="lab-table")
            yield Label(LAB_HINT, classes="dialog--hint", markup=False)
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#lab-spec", Input).focus()
        if not self.trained:
            self._say(f"model '{self.model_name}' has no trained weights yet; train it first "
                      "(t on the Models screen), then score it here", error=True)
            return
        self.score(self.spec)

    # ---- running the lab ------------------------------------------------------------------
    def score(self, spec: str) -> None:
        """Run the lab for `spec` in a thread (one at a time; a newer run replaces it)."""
        self.spec = spec.strip() or DEFAULT_REWARD
        self.runs += 1
        self.busy = True
        self.result = None
        self.query_one("#lab-table", Static).update("")
        self._say(f"scoring… ({self.samples} held-out prompts: the model samples a "
                  "continuation of each, then every kind of text is scored)")
        self._run(self.runs, self.spec)

    @work(thread=True, exclusive=True, group="reward-lab", exit_on_error=False)
    def _run(self, run: int, spec: str) -> None:
        try:
            from slavik_tui.engine.reward_lab import margin, run_lab
            from slavik_tui.ui.screens.generation_work import live_trainer, torch_threads

            # Beside a trainer, one thread: two CPU-heavy processes stall each other.
            threads = 1 if live_trainer(self.app.workspace) else None
            with torch_threads(threads):
                result = run_lab(self.model_dir, spec, samples=self.samples)
        except UserError as exc:
            self.post_message(self.Failed(run, str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug: one line here, never a traceback
            self.post_message(self.Failed(run, f"the lab failed: {type(exc).__name__}: {exc} "
                                               "(a bug; please report it)"))
        else:
            self.post_message(self.Scored(run, result, margin(result)))

    @on(Scored)
    def _scored(self, message: Scored) -> None:
        if message.run != self.runs:
            return  # an older run's result: a newer spec is being scored
        self.busy = False
        self.result = message.result
        self._say(summary_line(message.result, message.margin), error=message.margin <= 0)
        self.query_one("#lab-table", Static).update(lab_table(message.result))

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        if message.run != self.runs:
            return
        self.busy = False
        self._say(message.error, error=True)

    # ---- the dialog -----------------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        status = self.query_one("#lab-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    @on(Input.Submitted, "#lab-spec")
    def _spec_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.trained:
            return
        self.score(event.value)

    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["RewardLabScreen", "lab_table", "summary_line"]
