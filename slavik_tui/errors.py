"""The one exception type for mistakes a user can fix.

Anything raised as `UserError` is shown as a single line (CLI: on stderr with exit code 2;
UI: as a notification or next to a form field). Its message names the problem *and* the fix.
Every other exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem caused by input the user can change (a file, a flag, a name)."""

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message would break the CLI contract.
        super().__init__(" ".join(str(message).split()))
