"""Imports flow downward only: the layers contract in pyproject.toml, and at run time the core
imports no UI (the engine), no torch (store, spec, runs, charts) and no Textual (charts)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UI = ("textual", "rich", "plotext", "textual_plotext")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_the_layers_contract_holds():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    out = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_engine_imports_no_ui():
    modules = loaded_after(
        "import slavik_tui.engine.model, slavik_tui.engine.trainer, slavik_tui.engine.generate,"
        " slavik_tui.engine.data, slavik_tui.engine.tokenizer, slavik_tui.engine.export,"
        " slavik_tui.engine.checkpoint, slavik_tui.engine.create, slavik_tui.runs"
    )
    assert "torch" in modules  # the probe really imported the engine
    assert not modules & set(UI), modules & set(UI)


def test_store_spec_and_runs_import_neither_ui_nor_torch():
    modules = loaded_after(
        "import slavik_tui.store.history, slavik_tui.store.workspace, slavik_tui.store.lock,"
        " slavik_tui.spec.config, slavik_tui.spec.options, slavik_tui.spec.folder,"
        " slavik_tui.runs, slavik_tui.runs.watch"
    )
    assert not modules & set(UI + ("torch",)), modules & set(UI + ("torch",))


def test_charts_draw_without_textual_or_torch():
    import pkgutil

    import slavik_tui.charts

    names = [f"slavik_tui.charts.{m.name}" for m in pkgutil.iter_modules(slavik_tui.charts.__path__)
             if m.name != "__main__"]
    modules = loaded_after("import " + ", ".join(names))
    assert not modules & {"textual", "textual_plotext", "torch"}, names
