"""Text typed by a user (a flag's value, a form field) → a number, or one line saying what to type.

The one place that turns text into numbers: the command line, the training form, the new-model
form and the generation form all call these, so the same mistake gets the same words everywhere.
"""

from __future__ import annotations

import math

from slavik_tui.errors import UserError


def _shown(text: str) -> str:
    return repr(text) if text else "nothing"


def parse_whole(text: str, what: str, field: str | None = None) -> int:
    """A whole number; `_` may group digits (10_000). `what` names the value in the error."""
    stripped = str(text).strip()
    if stripped and "__" not in stripped:
        try:
            return int(stripped.replace("_", ""))
        except ValueError:
            pass
    raise UserError(f"{what} must be a whole number, got {_shown(stripped)}", field=field)


def parse_number(text: str, what: str, example: str = "", field: str | None = None) -> float:
    """A finite decimal number ("6e-4", "0.5"; a decimal comma "0,5" is read as a point)."""
    hint = f" like {example}" if example else ""
    stripped = str(text).strip()
    try:
        value = float(stripped.replace(",", "."))
    except ValueError:
        raise UserError(f"{what} must be a number{hint}, got {_shown(stripped)}",
                        field=field) from None
    if not math.isfinite(value):
        raise UserError(f"{what} must be a finite number{hint}, got {stripped!r}", field=field)
    return value
