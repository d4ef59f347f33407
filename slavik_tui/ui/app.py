"""The terminal app: four modes (Models, Training, Generation, History), dialogs, help and
the command palette.

Start-up imports Textual and `store` only (standard library): torch and the engine are
imported inside the workers that need them, so the first paint comes fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import var
from textual.screen import ModalScreen, Screen

from slavik_tui.errors import UserError
from slavik_tui.store.lock import lock_holder
from slavik_tui.store.workspace import ModelInfo, Workspace
from slavik_tui.ui.app_dialogs import ModelDialogs
from slavik_tui.ui.commands import SlavikCommands
from slavik_tui.ui.modes import MODES, screen_class

SCAN_SECONDS = 2.0  # how often the models folder is listed again
def background_trainers_note(workspace: Workspace) -> str | None:
    """What to tell a user who quits while trainers keep running (they outlive the app)."""
    lines = []
    for name in workspace.names():
        pid = lock_holder(workspace.root / name)
        if pid:
            lines.append(f"training of {name} goes on in the background (pid {pid}); "
                         f"come back with `slavik-tui watch {name}`")
    return "\n".join(lines) or None


@dataclass
class Notified:
    """A notification the app showed (kept in `SlavikApp.notified`)."""

    message: str
    title: str
    severity: str


class SlavikApp(ModelDialogs, App[None]):
    """slavik-tui: train small language models on your own text, watch them, talk to them.

    Threads reach the UI one way: a worker `post_message`s a dataclass message nested in the
    class whose worker posts it (`SlavikApp.Scanned`, `RunPanel.Rows`, …); the handler, on the
    UI thread, decides what to show.
    """

    @dataclass
    class Scanned(Message):
        """A fresh listing of the models folder (`Workspace.list()`) and the (model name,
        message) of folders it could not read."""

        models: list[Any] = field(default_factory=list)
        errors: list[tuple[str, str]] = field(default_factory=list)

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SlavikApp.Scanned)  # only the newest listing matters

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "slavik-tui"
    COMMANDS = App.COMMANDS | {SlavikCommands}

    BINDINGS = [
        Binding("f1", "open('models')", "Models", key_display="F1"),
        Binding("f2", "open('training')", "Train", key_display="F2"),
        Binding("f3", "open('generation')", "Generate", key_display="F3"),
        Binding("f4", "open('history')", "History", key_display="F4"),
        Binding("m", "open('models')", "Models", show=False),
        Binding("t", "open('training')", "Train", show=False),
        Binding("g", "open('generation')", "Generate", show=False),
        Binding("h", "open('history')", "History", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit", show=False),
        # Tab moves the focus at once (priority), not after the key has bubbled up through
        # the widgets: over SSH keys arrive in bursts, and "name<Tab>path" typed fast must not
        # end up in one field. A path field takes Tab first to accept its completion.
        Binding("tab", "tab", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", show=False, priority=True),
    ]

    models: var[list[ModelInfo]] = var(list, always_update=False)
    """The models folder as last listed (every screen watches this)."""
    selected_model: var[str | None] = var(None)
    """The model under the cursor on the Models screen (the default for other screens)."""

    def __init__(self, models_root: Path, watch: str | None = None) -> None:
        super().__init__()
        self.models_root = Path(models_root)
        self.workspace = Workspace(self.models_root)
        self.watch_model = watch
        self._mode_models: dict[str, str | None] = {"training": watch, "history": None}
        self._pending_select: str | None = None
        self.fresh_model: str | None = None
        self.planned_iters: dict[str, int] = {}
        """Steps the size wizard planned for a model just created (its Training form's)."""
        """A model just created from the Training / History screen (t / h open it next)."""
        self._scan_errors_seen: set[str] = set()
        self.scan_paused = False  # tests and snapshots hold the listing still
        self._held_keys: list[events.Key] | None = None
        self.notified: list[Notified] = []
        """Every notification shown so far, oldest first (what the user was told)."""
        for mode in MODES:
            self.add_mode(mode, partial(self._make_screen, mode))

    @property
    def display_root(self) -> str:
        """The models folder, with the home folder as ~ (short enough for a header)."""
        home = str(Path.home())
        root = str(self.models_root)
        return "~" + root[len(home):] if root.startswith(home + os.sep) else root

    def _make_screen(self, mode: str) -> Screen:
        cls = screen_class(mode)
        if mode in self._mode_models:
            return cls(model=self._mode_models[mode])
        return cls()

    def on_mount(self) -> None:
        self.rescan()
        self.set_interval(SCAN_SECONDS, self._poll)
        if self.watch_model:
            self.open_mode("training", self.watch_model)
        else:
            self.switch_mode("models")

    # ---- the models folder --------------------------------------------------------------
    def rescan(self) -> None:
        """List the models folder now (on the UI thread: after a create, rename, delete)."""
        self._scan_done(self._list_models())

    def _list_models(self) -> SlavikApp.Scanned:
        """The models folder as listed now; on an error, the last listing and the error."""
        errors: list[tuple[str, str]] = []
        try:
            models = self.workspace.list(errors)
        except (OSError, UserError) as exc:
            return self.Scanned(list(self.models), [("", str(exc))])
        return self.Scanned(models, errors)

    def _poll(self) -> None:
        if not self.scan_paused:
            self._scan()

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def _scan(self) -> None:
        self.post_message(self._list_models())

    @on(Scanned)
    def _scan_done(self, message: Scanned) -> None:
        self.models = message.models
        for name, error in message.errors:
            if error not in self._scan_errors_seen:  # say it once, not every 2 s
                self._scan_errors_seen.add(error)
                self.notify(error, title=f"model {name}" if name else "models folder",
                            severity="error", timeout=10)

    def notify(self, message: str, *, title: str = "", severity: str = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Show a toast, and keep it in `notified` (thread-safe, as Textual's is)."""
        self.notified.append(Notified(message, title, severity))
        super().notify(message, title=title, severity=severity,  # type: ignore[arg-type]
                       timeout=timeout, markup=markup)

    def take_pending_selection(self) -> str | None:
        name, self._pending_select = self._pending_select, None
        return name

    def info(self, name: str) -> ModelInfo | None:
        return next((m for m in self.models if m.name == name), None)

    # ---- modes ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a dialog is open, the mode keys and `n` would act behind it: keep them off.
        if action in ("open", "help", "new_model") and isinstance(self.screen, ModalScreen):
            return False
        # A widget that types Tab itself (a TextArea that indents) keeps it.
        if action == "tab" and getattr(self.focused, "tab_behavior", None) == "indent":
            return False
        # The key of the screen you are on does nothing: leave it out of the footer.
        return not (action == "open" and parameters and parameters[0] == self.current_mode)

    async def on_event(self, event: events.Event) -> None:
        if (self._held_keys is not None and isinstance(event, events.Key)
                and not event.is_forwarded):
            self._held_keys.append(event)  # typed after a Tab that is still being decided
            return
        await super().on_event(event)

    def action_tab(self) -> None:
        """Tab: complete a path, else move the focus — before any key typed after it."""
        focused = self.focused
        complete = getattr(focused, "complete_on_tab", None)
        if complete is None:
            self.screen.focus_next()
            return
        # A path field completes from its value, but keys typed before Tab may still sit in
        # its queue: decide in the field, after them, and hold back the keys typed after Tab
        # until the focus is settled.
        self._held_keys = []

        def after_pending_keys() -> None:
            try:
                if not complete() and self.focused is focused:
                    self.screen.focus_next()
            finally:
                self.call_later(self._release_keys)

        focused.call_later(after_pending_keys)
        self.set_timer(0.5, self._release_keys)  # never hold keys for long, whatever happens

    async def _release_keys(self) -> None:
        held, self._held_keys = self._held_keys, None
        for event in held or ():
            await self.on_event(event)  # in order; a held Tab holds what follows it again

    def action_open(self, mode: str) -> None:
        """A mode key (F1–F4, m/t/g/h). From the Models screen the other screens open for the
        model under the cursor; from elsewhere they show what they showed before, or the
        model just created there."""
        model = self.selected_model if self.current_mode == "models" else None
        if self.current_mode == "models" or mode == "models":
            self.fresh_model = None
        elif mode in ("training", "history") and self.fresh_model:
            model = self.fresh_model  # just created from another screen: it, not the old one
            if mode == "training":
                self.fresh_model = None
        if mode == "generation" and model:
            self.generate_with(model)
        else:
            self.open_mode(mode, model)

    def open_mode(self, mode: str, model: str | None = None) -> None:
        """Show a mode's screen; with `model`, for that model (training/history screens are
        re-created when they show another model; the generation screen just switches)."""
        if mode == "generation":
            self.switch_mode("generation")
            if model:
                self.screen.select_model(model)  # type: ignore[attr-defined]
            self.refresh_bindings()
            return
        if mode in self._mode_models:
            try:
                screen: Screen | None = self.get_screen_stack(mode)[0]
            except (KeyError, IndexError):
                screen = None
            if screen is None:
                self._mode_models[mode] = model if model is not None else self.selected_model
            elif model is not None and getattr(screen, "model", None) != model:
                self._mode_models[mode] = model
                if hasattr(screen, "select_model"):  # History: its marks span models
                    screen.select_model(model)
                    self.switch_mode(mode)
                    self.refresh_bindings()
                    return
                if self.current_mode == mode:
                    self.switch_mode("models")
                self.remove_mode(mode)
                self._mode_models[mode] = model
                self.add_mode(mode, partial(self._make_screen, mode))
        self.switch_mode(mode)
        self.refresh_bindings()

    def generate_with(self, name: str) -> None:
        info = self.info(name)
        if info is not None and not info.trained:
            self.notify(f"model '{name}' has no trained weights yet; train it first "
                        "(t on the Models screen)", severity="warning")
            return
        self.open_mode("generation", name)


def run_app(models_root: Path, watch: str | None = None) -> int | None:
    """Run the app on a models folder; `watch` opens the Training screen for that model.
    After the app closes, says which trainers go on in the background."""
    app = SlavikApp(Path(models_root), watch=watch)
    app.run()
    note = background_trainers_note(app.workspace)
    if note:
        print(note, flush=True)
    return app.return_code or None
