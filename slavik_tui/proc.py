"""How slavik-tui starts its own Python children (the detached trainer, the chart autosaver).

A plain `python -m slavik_tui...` puts the current directory first on `sys.path`, so a
`plotext.py` or `safetensors.py` lying in the folder where the user typed the command would
run instead of the real module. Children therefore start isolated from the cwd:

    subprocess.Popen([*child_python(), "-m", "slavik_tui.charts", ...], cwd=model_dir)

`-P` (Python 3.11+) only drops the cwd/script folder from `sys.path` and keeps the
environment (PYTHONPATH, OMP_NUM_THREADS, SLAVIK_* settings); older Pythons get `-I`, which
also ignores PYTHON* variables and the user site folder. Pass a folder the program owns (the
model folder) as `cwd`, so relative paths never resolve in the user's directory either.
Standard library only.
"""

from __future__ import annotations

import sys


def child_python() -> list[str]:
    """argv prefix that starts this same interpreter without the cwd on `sys.path`."""
    return [sys.executable, "-P" if sys.version_info >= (3, 11) else "-I"]
