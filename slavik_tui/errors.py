"""The one exception type for mistakes a user can fix.

Anything raised as `UserError` is shown as a single line (CLI: on stderr with exit code 2;
UI: as a notification, or next to the form field it names). Its message names the problem *and*
the fix. Every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem caused by input the user can change (a file, a flag, a name).

    `field` names the option it is about (a `TrainOptions` / `ModelConfig` field such as
    "batch_size", or "name", "data"), so a form can put the message beside that field without
    searching the text; None when it is about no single field.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        # One line, always: a multi-line message would break the CLI contract.
        super().__init__(" ".join(str(message).split()))
        self.field = field


class DiskFull(UserError):
    """A write failed because the disk (or quota) is full: the user frees space and reruns.

    Its own type so the trainer can record the run's reason as "disk full" rather than as a
    crash."""
