"""What every command needs: the models workspace named by the flags, and printing a line."""

from __future__ import annotations

import sys

from slavik_tui.cli.parser import PROG


def workspace(args):
    from slavik_tui.store.workspace import Workspace, resolve_models_dir

    return Workspace(resolve_models_dir(getattr(args, "models_dir", None)))


def say(line: str) -> None:
    print(line, flush=True)


def note(line: str) -> None:
    """A line for the person at the terminal (stderr), not for a script reading stdout."""
    print(line, file=sys.stderr, flush=True)


__all__ = ["PROG", "note", "say", "workspace"]
