"""Live runs: start detached trainers that outlive the terminal, find them, stop them, watch them.

No torch and no UI here: the app and the CLI both use this package.
"""

from slavik_tui.runs.detached import (  # noqa: F401 - the package's API
    ERROR_PREFIX,
    DetachedRun,
    live_run,
    start_detached,
    stop,
    train_command,
)
