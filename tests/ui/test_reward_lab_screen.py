"""The reward lab on the Models screen (`w`): the CLI's table for the selected model, scored in
a thread; an untrained model or a bad spec is one line in the dialog; Esc closes it."""

from __future__ import annotations

import threading

from conftest import make_untrained, run_app, text_of, wait_for
from textual.widgets import Input

from slavik_tui.engine.reward_lab import KINDS, run_lab
from slavik_tui.spec.options import DEFAULT_REWARD
from slavik_tui.ui.screens.models import ModelsScreen
from slavik_tui.ui.screens.reward_lab import SAMPLES, RewardLabScreen
from slavik_tui.ui.widgets.model_table import ModelTable


def status(screen) -> str:
    return text_of(screen.query_one("#lab-status"))


def select(app, name: str) -> None:
    table = app.screen.query_one(ModelTable)
    names = [row[0] for row in table._rows]
    table.move_cursor(row=names.index(name))


def test_w_scores_the_selected_model_in_a_thread_and_shows_the_table(models_root,
                                                                     monkeypatch):
    from slavik_tui.engine import reward_lab

    expected = run_lab(models_root / "tiny", DEFAULT_REWARD, samples=SAMPLES)
    release = threading.Event()
    threads = []

    def held_lab(*args, **kwargs):  # the real lab, once the test lets it go
        threads.append(threading.current_thread())
        assert release.wait(30)
        return run_lab(*args, **kwargs)

    monkeypatch.setattr(reward_lab, "run_lab", held_lab)

    async def body(app, pilot):
        await pilot.press("w")
        lab = app.screen
        assert isinstance(lab, RewardLabScreen)
        # the lab runs in a worker thread: the UI goes on (a key moves the focus) and says
        # "scoring…" until it is done
        await wait_for(pilot, lambda: threads)
        assert threads[0] is not threading.main_thread()
        await pilot.press("tab")
        await pilot.pause(0.2)
        assert "scoring…" in status(lab)
        assert lab.busy and lab.result is None
        release.set()
        await wait_for(pilot, lambda: not lab.busy, timeout=120)
        assert lab.result is not None, status(lab)
        # the very numbers `slavik-tui reward tiny` prints (same function, seed, samples)
        assert lab.result["scores"] == expected["scores"]
        assert lab.result["functions"] == expected["functions"]
        table = text_of(lab.query_one("#lab-table"))
        header = table.splitlines()[0].split()
        assert header == list(KINDS)  # real model shuffled repeated random
        lines = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:]}
        assert set(lines) == {"reward", "chrf", "ngram", "bigrams", "repetition"}
        assert lines["reward"] == [f"{expected['scores'][k]:.3f}" for k in KINDS]
        assert lines["chrf"] == [f"{expected['functions']['chrf'][k]:.3f}" for k in KINDS]
        # the spec used, and what the table says
        assert f"reward {DEFAULT_REWARD} on {expected['samples']} held-out prompts" in status(lab)
        assert "margin" in status(lab)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)

    run_app(models_root, body, size=(120, 40))


def test_a_bad_spec_is_one_line_and_another_spec_scores_again(models_root):
    async def body(app, pilot):
        await pilot.press("w")
        lab = app.screen
        await wait_for(pilot, lambda: not lab.busy, timeout=120)
        field = lab.query_one("#lab-spec", Input)
        field.value = "chrff:1"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not lab.busy, timeout=60)
        line = status(lab).strip()
        assert "chrff" in line and "\n" not in line and "Traceback" not in line
        assert lab.result is None
        assert text_of(lab.query_one("#lab-table")).strip() == ""
        field.value = "prefix"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not lab.busy, timeout=120)
        assert lab.result is not None and list(lab.result["functions"]) == ["prefix"]
        assert "reward prefix:1 on" in status(lab)

    run_app(models_root, body, size=(100, 30))


def test_an_untrained_model_is_one_line_and_nothing_runs(models_root):
    make_untrained(models_root, "raw")

    async def body(app, pilot):
        await wait_for(pilot, lambda: any(m.name == "raw" for m in app.models))
        select(app, "raw")
        await pilot.press("w")
        lab = app.screen
        assert isinstance(lab, RewardLabScreen)
        assert "no trained weights yet" in status(lab) and "train it first" in status(lab)
        assert not lab.busy and lab.runs == 0
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)

    run_app(models_root, body, size=(100, 30))


def test_the_lab_key_is_in_help(models_root):
    async def body(app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Reward lab" in text_of(app.screen.query_one("#help-keys"))

    run_app(models_root, body, size=(100, 40))


def test_the_lab_opens_on_the_spec_the_models_newest_run_scored_with(models_root):
    from slavik_tui.engine.trainer import TrainOptions, train

    train(models_root / "tiny", TrainOptions(iters=2, batch_size=2, eval_every=2,
                                             save_every=2, dtype="fp32", device="cpu",
                                             reward="prefix:2,chrf"), report=lambda line: None)

    async def body(app, pilot):
        await pilot.press("w")
        lab = app.screen
        assert lab.query_one("#lab-spec", Input).value == "prefix:2,chrf:1"
        await wait_for(pilot, lambda: not lab.busy, timeout=120)
        assert lab.result is not None and lab.result["reward"] == "prefix:2,chrf:1"
        assert list(lab.result["functions"]) == ["prefix", "chrf"]

    run_app(models_root, body, size=(100, 30))


def test_the_palette_opens_the_lab_of_a_model(models_root):
    from textual.command import CommandPalette

    async def body(app, pilot):
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"reward lab of tiny")
        await pilot.pause(0.5)  # the palette searches in the background
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RewardLabScreen))
        lab = app.screen
        assert lab.model_name == "tiny"
        await wait_for(pilot, lambda: not lab.busy, timeout=120)
        assert lab.result is not None

    run_app(models_root, body, size=(100, 30))
