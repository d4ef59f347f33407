"""The engine and the store never import the UI; the store never imports torch."""

from __future__ import annotations

import subprocess
import sys

UI = ("textual", "rich", "plotext", "textual_plotext")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_engine_imports_no_ui():
    modules = loaded_after(
        "import slavik_tui.engine.model, slavik_tui.engine.trainer, slavik_tui.engine.generate,"
        " slavik_tui.engine.data, slavik_tui.engine.tokenizer, slavik_tui.engine.export,"
        " slavik_tui.engine.checkpoint, slavik_tui.engine.create, slavik_tui.runs"
    )
    assert "torch" in modules  # the probe really imported the engine
    assert not modules & set(UI), modules & set(UI)


def test_store_imports_neither_ui_nor_torch():
    modules = loaded_after(
        "import slavik_tui.store.history, slavik_tui.store.workspace, slavik_tui.store.lock,"
        " slavik_tui.engine.config, slavik_tui.runs"
    )
    assert not modules & set(UI + ("torch",)), modules & set(UI + ("torch",))
