"""The app as a whole: modes and their keys, help, command palette, watch, quit, start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import notifications, run, text_of, wait_for
from textual.command import CommandPalette

from slavik_tui.store.lock import ModelLock
from slavik_tui.ui.app import SlavikApp, SlavikCommands, background_trainers_note
from slavik_tui.ui.screens.generation import GenerationScreen
from slavik_tui.ui.screens.help import HelpScreen, bindings_of
from slavik_tui.ui.screens.history import HistoryScreen
from slavik_tui.ui.screens.models import ModelsScreen
from slavik_tui.ui.screens.training import TrainingScreen
from slavik_tui.ui.widgets.model_table import ModelTable

ROOT = Path(__file__).resolve().parents[2]


def test_opens_on_models_with_the_tiny_model_and_its_figures(models_root):
    async def body():
        app = SlavikApp(models_root)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, ModelsScreen)
            table = app.screen.query_one(ModelTable)
            assert table.row_count == 1
            row = [str(cell) for cell in table.get_row("tiny")]
            name, size, trained, params, d, layers, heads, vocab, ctx, data, steps, loss = row
            assert (name, trained, params, d, layers, heads, vocab, ctx, data, steps) == (
                "tiny", "✓", "26.2k", "32", "1", "2", "400", "32", "1", "20")
            assert float(size) > 0 and float(loss) > 0
            details = text_of(app.screen.query_one("#details"))
            assert "400·32 + 1·(4·32² + 3·32·96 + 2·32) + 32 = 26,208" in details
            assert "corpus.txt" in details and "weights" in details and "optimizer" in details

    run(body)


def test_every_screen_is_one_key_away(models_root):
    async def body():
        app = SlavikApp(models_root)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
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

    run(body)


def test_letters_go_into_text_fields_not_to_the_mode_keys(models_root):
    async def body():
        app = SlavikApp(models_root)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("f3")
            await pilot.press("m", "t", "h", "q")
            assert isinstance(app.screen, GenerationScreen)
            assert app.screen.query_one("#gen-prompt").value == "mthq"

    run(body)


def test_help_lists_every_key_of_every_screen(models_root):
    async def body():
        app = SlavikApp(models_root)
        async with app.run_test(size=(100, 60)) as pilot:
            await pilot.pause()
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            text = text_of(app.screen.query_one("#help-keys"))
            for cls in (SlavikApp, ModelsScreen, GenerationScreen):
                for _keys, description in bindings_of(cls):
                    assert description in text, description
            for expected in ("F1 / m", "F3 / g", "ctrl+p", "New", "Export", "Rename", "Delete",
                             "Stop", "Create", "Complete path"):
                assert expected in text, expected
            await pilot.press("escape")
            assert isinstance(app.screen, ModelsScreen)

    run(body)


def test_command_palette_runs_the_main_actions(models_root):
    async def body():
        app = SlavikApp(models_root)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
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

    run(body)


def test_watch_opens_the_training_screen_of_that_model(models_root):
    async def body():
        app = SlavikApp(models_root, watch="tiny")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, TrainingScreen)
            assert app.screen.model == "tiny"

    run(body)


def test_q_quits_and_a_live_trainer_is_named_after_exit(models_root):
    assert background_trainers_note(SlavikApp(models_root).workspace) is None
    lock = ModelLock(models_root / "tiny").acquire()  # this process plays the trainer
    try:
        note = background_trainers_note(SlavikApp(models_root).workspace)
        assert note == (f"training of tiny goes on in the background (pid {os.getpid()}); "
                        "come back with `slavik-tui watch tiny`")

        async def body():
            app = SlavikApp(models_root)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                await pilot.press("q")
                await pilot.pause()
                assert app._exit

        run(body)
    finally:
        lock.release()


def test_a_broken_model_folder_is_reported_not_fatal(models_root):
    bad = models_root / "broken"
    bad.mkdir()
    (bad / "config.json").write_text("{not json", encoding="utf-8")

    async def body():
        app = SlavikApp(models_root)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert [m.name for m in app.models] == ["tiny"]
            assert any("not valid JSON" in n for n in notifications(app))

    run(body)


def test_no_color_is_honoured(models_root, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = SlavikApp(models_root)
    assert app.no_color
    assert any(type(f).__name__ in ("Monochrome", "NoColor") for f in app._filters)


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
