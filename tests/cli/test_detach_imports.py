"""`train --detach` / `sft --detach` hand the run to another process: they must not pay for
importing torch first (the trainer is named, and imported only when it runs here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = r"""
import sys, types
import slavik_tui.runs as runs
runs.start_detached = lambda *a, **k: types.SimpleNamespace(run_id=1, pid=1, log_path="x.log")
from slavik_tui.cli import main
code = main(sys.argv[1:])
print(code, "torch" in sys.modules)
"""


@pytest.mark.parametrize("command", ["train", "sft"])
def test_a_detached_start_does_not_import_torch(models_dir, tmp_path, command):
    (models_dir / "tiny").mkdir()
    data = tmp_path / "d.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "a"}, '
                    '{"role": "assistant", "content": "b"}]}\n', encoding="utf-8")
    extra = ["--data", str(data)] if command == "sft" else []
    out = subprocess.run([sys.executable, "-c", SCRIPT, "--models-dir", str(models_dir),
                          command, "tiny", "--detach", *extra],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split()[-2:] == ["0", "False"], out.stdout + out.stderr
