"""The app as a whole: modes and their keys, help, command palette, watch, quit, start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import notifications, run_app, text_of, wait_for
from textual.command import CommandPalette

from slavik_tui.store.lock import ModelLock
from slavik_tui.ui.app import SlavikApp, background_trainers_note
from slavik_tui.ui.commands import SlavikCommands
from slavik_tui.ui.screens.generation import GenerationScreen
from slavik_tui.ui.screens.help import HelpScreen, bindings_of
from slavik_tui.ui.screens.history import HistoryScreen
from slavik_tui.ui.screens.models import ModelsScreen
from slavik_tui.ui.screens.training import TrainingScreen
from slavik_tui.ui.widgets.model_table import ModelTable

ROOT = Path(__file__).resolve().parents[2]


def test_opens_on_models_with_the_tiny_model_and_its_figures(models_root):
    async def body(app, pilot):
        assert isinstance(app.screen, ModelsScreen)
        table = app.screen.query_one(ModelTable)
        assert table.row_count == 1
        row = [str(cell) for cell in table.get_row("tiny")]
        name, size, trained, stages, params, d, layers, heads, vocab, ctx, data, steps, loss = row
        assert (name, trained, stages, params, d, layers, heads, vocab, ctx, data, steps) == (
            "tiny", "✓", "pre", "26.2k", "32", "1", "2", "400", "32", "1", "20")
        assert float(size) > 0 and float(loss) > 0
        details = text_of(app.screen.query_one("#details"))
        assert "400·32 + 1·(4·32² + 3·32·96 + 2·32) + 32 = 26,208" in details
        assert "corpus.txt" in details and "weights" in details and "optimizer" in details

    run_app(models_root, body, size=(120, 40))


def test_every_screen_is_one_key_away(models_root):
    async def body(app, pilot):
        await pilot.press("f3")
        assert isinstance(app.screen, GenerationScreen)
        assert app.screen.model == "tiny"
        await pilot.press("f2")
        assert isinstance(app.screen, TrainingScreen)
        await pilot.press("f4")
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, ModelsScreen)
        # letters work where no text field has the focus; from Models they carry the model
        await pilot.press("t")
        assert isinstance(app.screen, TrainingScreen) and app.screen.model == "tiny"
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen) and app.screen.model == "tiny"
        await pilot.press("m")
        assert isinstance(app.screen, ModelsScreen)
        await pilot.press("enter")  # enter on a model: its Training screen
        assert isinstance(app.screen, TrainingScreen)

    run_app(models_root, body)


def test_letters_go_into_text_fields_not_to_the_mode_keys(models_root):
    async def body(app, pilot):
        await pilot.press("f3")
        await pilot.press("m", "t", "h", "q")
        assert isinstance(app.screen, GenerationScreen)
        assert app.screen.query_one("#gen-prompt").value == "mthq"

    run_app(models_root, body)


def test_help_lists_every_key_of_every_screen(models_root):
    async def body(app, pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = text_of(app.screen.query_one("#help-keys"))
        for cls in (SlavikApp, ModelsScreen, GenerationScreen):
            for _keys, description in bindings_of(cls):
                assert description in text, description
        for expected in ("F1 / m", "F3 / g", "ctrl+p", "New", "Export", "Rename", "Delete",
                         "Stop", "Create", "Complete path"):
            assert expected in text, expected
        # the mouse, and what the figures mean (reward most of all)
        for expected in ("wheel", "drag", "a legend entry: show / hide", "reward",
                         "continuation is scored against the text that really",
                         "weights + optimizer state"):
            assert expected in text, expected
        await pilot.press("escape")
        assert isinstance(app.screen, ModelsScreen)

    run_app(models_root, body, size=(100, 60))


def test_command_palette_runs_the_main_actions(models_root):
    async def body(app, pilot):
        provider = SlavikCommands(app.screen)
        await provider.startup()
        names = [text for text, _command, _help in provider.commands()]
        for expected in ("Models screen", "Training screen", "Generation screen",
                         "History screen", "New model…", "Train tiny", "Generate with tiny",
                         "Export tiny…", "Rename tiny…", "Delete tiny…"):
            assert expected in names, expected
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"generate with tiny")
        await pilot.pause(0.5)  # the palette searches in the background
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GenerationScreen))
        assert app.screen.model == "tiny"

    run_app(models_root, body, size=(100, 30))


def test_each_screen_is_made_of_its_parts_and_styled_by_the_app(models_root):
    """After the split each screen still mounts its widgets, and all their CSS is the app's."""
    import slavik_tui.ui.chart.widget as chart_widget
    from slavik_tui.ui.screens.history.runs_panel import RunsPanel
    from slavik_tui.ui.screens.history.view import RunView
    from slavik_tui.ui.widgets.run_panel import RunPanel
    from slavik_tui.ui.widgets.train_side import TrainSide

    parts = {"models": [ModelTable], "training": [TrainSide, RunPanel],
             "generation": [], "history": [RunsPanel, RunView]}

    async def body(app, pilot):
        for mode, classes in parts.items():
            app.open_mode(mode)
            await pilot.pause()
            for cls in classes:
                assert len(app.screen.query(cls)) == 1, (mode, cls)
            # every widget of ours takes its rules from app.tcss (the chart keeps its own)
            for node in app.screen.walk_children(with_self=True):
                cls = type(node)
                if cls.__module__.startswith("slavik_tui.ui") and cls.__module__ not in (
                        chart_widget.__name__, "slavik_tui.ui.chart.compare"):
                    assert "DEFAULT_CSS" not in vars(cls), cls

    run_app(models_root, body, size=(120, 40))


def test_watch_opens_the_training_screen_of_that_model(models_root):
    async def body(app, pilot):
        assert isinstance(app.screen, TrainingScreen)
        assert app.screen.model == "tiny"

    run_app(models_root, body, watch="tiny")


def test_q_quits_and_a_live_trainer_is_named_after_exit(models_root):
    assert background_trainers_note(SlavikApp(models_root).workspace) is None
    lock = ModelLock(models_root / "tiny").acquire()  # this process plays the trainer
    try:
        note = background_trainers_note(SlavikApp(models_root).workspace)
        assert note == (f"training of tiny goes on in the background (pid {os.getpid()}); "
                        "come back with `slavik-tui watch tiny`")

        async def body(app, pilot):
            await pilot.press("q")
            await pilot.pause()
            assert not app.is_running and app.return_code == 0

        run_app(models_root, body)
    finally:
        lock.release()


def test_a_broken_model_folder_is_reported_not_fatal(models_root):
    bad = models_root / "broken"
    bad.mkdir()
    (bad / "config.json").write_text("{not json", encoding="utf-8")

    async def body(app, pilot):
        assert [m.name for m in app.models] == ["tiny"]
        assert any("not valid JSON" in n for n in notifications(app))

    run_app(models_root, body)


def test_no_color_is_honoured(models_root, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = SlavikApp(models_root)
    assert app.no_color


STARTUP_PROBE = r"""
import asyncio, json, sys
from pathlib import Path
from slavik_tui.ui.app import SlavikApp

async def main():
    app = SlavikApp(Path(sys.argv[1]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        rows = app.screen.query_one("#models-table").row_count
        heavy = sorted(m for m in sys.modules
                       if m == "torch" or m.startswith("torch.") or m == "tokenizers"
                       or m in ("slavik_tui.engine.model", "slavik_tui.engine.trainer",
                                "slavik_tui.engine.checkpoint", "slavik_tui.engine.generate"))
        print(json.dumps({"rows": rows, "heavy": heavy[:5]}))

asyncio.run(main())
"""


def test_torch_is_not_imported_to_paint_the_app(models_root):
    out = subprocess.run(
        [sys.executable, "-c", STARTUP_PROBE, str(models_root)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"rows": 1, "heavy": []}
