"""The base of the dialogs that run one job in a thread (creating a model, exporting one):
the job's button is off and Escape refuses while it runs, its progress lines and its outcome
come back as messages, and a `UserError` is shown beside the field it is about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from textual import on, work
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from slavik_tui.errors import UserError

R = TypeVar("R")


class JobDialog(ModalScreen[R], Generic[R]):
    """Subclasses set JOB_BUTTON and BUSY_NOTE, implement `job` (runs in the worker thread)
    and may override `job_failed`; they compose a `#status` Static and a `#cancel` button."""

    JOB_BUTTON = ""
    """The selector of the button that starts the job (disabled while it runs)."""
    BUSY_NOTE = "The job is running; wait a moment"
    """What Escape says while the job runs."""
    FAILURE = "the job failed"
    """How the status line starts when the job fails with a bug (not a `UserError`)."""

    @dataclass
    class Progress(Message):
        """A line of progress from the job (creating a model trains its tokenizer)."""

        line: str

    @dataclass
    class Done(Message):
        """The job returned `result`: the dialog closes with it."""

        result: Any

    @dataclass
    class Failed(Message):
        """The job raised `error` (a `UserError` is the user's to fix; anything else a bug)."""

        error: BaseException

    def __init__(self) -> None:
        super().__init__()
        self.busy = False

    def job(self, *args: Any) -> R:
        """The work, in a thread worker; `self.report(line)` tells how it goes."""
        raise NotImplementedError

    def job_failed(self, error: BaseException) -> None:
        """Show why the job failed (the base: in the status line)."""
        if isinstance(error, UserError):
            self.set_status(str(error), error=True)
        else:
            self.set_status(f"{self.FAILURE}: {type(error).__name__}: {error} "
                            "(a bug; please report it)", error=True)

    # ---- running it --------------------------------------------------------------------------
    def start_job(self, *args: Any) -> None:
        self.busy = True
        self.query_one(self.JOB_BUTTON, Button).disabled = True
        self._run_job(*args)

    def report(self, line: str) -> None:
        """A progress line (any thread)."""
        self.post_message(self.Progress(line))

    @work(thread=True, exclusive=True, group="job", exit_on_error=False)
    def _run_job(self, *args: Any) -> None:
        try:
            result = self.job(*args)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, never a traceback
            self.post_message(self.Failed(exc))
        else:
            self.post_message(self.Done(result))

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        self.set_status(message.line)

    @on(Done)
    def _done(self, message: Done) -> None:
        self.busy = False
        self.dismiss(message.result)

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self.busy = False
        self.query_one(self.JOB_BUTTON, Button).disabled = False
        self.job_failed(message.error)

    # ---- the dialog ---------------------------------------------------------------------------
    def set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "-error")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self.busy:
            self.notify(self.BUSY_NOTE, severity="warning")
            return
        self.dismiss(None)
