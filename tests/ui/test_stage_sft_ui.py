"""SFT in the app (issues 9 and 12): the Training form's stage picker starts `slavik-tui sft`
on dialogue files checked as sft reads them, resumes an interrupted sft run without --data,
and opens on SFT for a model whose newest run is one; RL's max new fits a short context."""

from __future__ import annotations

import json
import random

from conftest import run_app, wait_for
from live_trainers import alive, kill_trainers, run_status
from test_stage_ui import command, fill, label, open_training, pick_stage
from textual.widgets import Input

from slavik_tui.spec.options import DEFAULT_REWARD
from slavik_tui.spec.rl_options import longest_max_new
from slavik_tui.spec.sft_options import SFT_LR, SFTOptions
from slavik_tui.store.history import History
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.stage_picker import stage_command, stage_settings
from slavik_tui.ui.widgets.train_form import command_line, parse_settings

WORDS = "дом кот лес река поле снег мост сад окно луна".split()


def write_dialogues(path, n: int = 60) -> str:
    """n short question/answer dialogues as .jsonl (each fits the tiny model's 32 tokens)."""
    rng = random.Random(0)
    lines = []
    for _ in range(n):
        word = rng.choice(WORDS)
        lines.append(json.dumps({"messages": [
            {"role": "user", "content": f"Где {word}?"},
            {"role": "assistant", "content": f"{word.capitalize()} там."}]}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def field_error(screen, key: str) -> str | None:
    return screen.form.query_one(f"#tff-{key}", FormField).error


# ---- pure: the sft stage's options ----------------------------------------------------------
def test_sft_settings_read_the_dialogues_as_sft_will(tmp_path):
    good = write_dialogues(tmp_path / "chats.jsonl", 5)
    values = {"iters": "10", "data": good, "reward": ""}
    opts, errors = stage_settings("sft", *parse_settings(values), values)
    assert errors == {} and isinstance(opts, SFTOptions) and stage_command(opts) == "sft"
    assert opts.reward == DEFAULT_REWARD and opts.lr is None  # sft's plan lr, not train's
    assert command_line("tiny", opts) == f"slavik-tui sft tiny --iters 10 --data {good} --detach"
    # a malformed record: one line naming the file and the line, at the data field
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "Привет"}]}\n{"x": 1}\n',
                   encoding="utf-8")
    values = {"data": str(bad)}
    _, errors = stage_settings("sft", *parse_settings(values), values)
    assert set(errors) == {"data"} and f"{bad} line 1:" in errors["data"]
    assert "\n" not in errors["data"]
    # a CSV: its columns, by name, at the columns field
    faq = tmp_path / "faq.csv"
    faq.write_text("q,a\nпривет,здравствуй\n", encoding="utf-8")
    values = {"data": str(faq)}
    _, errors = stage_settings("sft", *parse_settings(values), values)
    assert set(errors) == {"columns"} and 'no "question" column (columns: q, a)' in (
        errors["columns"])
    values = {"data": str(faq), "columns": "q,a"}
    opts, errors = stage_settings("sft", *parse_settings(values), values)
    assert errors == {} and command_line("tiny", opts).endswith(" --columns q,a --detach")
    values = {"data": str(faq), "columns": "q"}
    assert "must name two columns" in stage_settings(
        "sft", *parse_settings(values), values)[1]["columns"]
    # other stages ignore the columns field
    assert stage_settings("pretrain", *parse_settings(values), values)[1] == {}


# ---- in the app -----------------------------------------------------------------------------
def test_the_sft_stage_shows_its_fields_and_a_malformed_file_at_the_data_field(models_root,
                                                                              tmp_path):
    good = write_dialogues(tmp_path / "chats.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        form = screen.form
        shown = lambda key: form.query_one(f"#tff-{key}", FormField).display
        data_label = lambda: str(form.query_one("#tff-data .field--label").render())
        assert not shown("columns") and data_label() == "add data"
        await pick_stage(pilot, screen, "sft")
        assert form.stage.stage == "sft" and form.stage.kind == "sft"
        assert shown("columns") and shown("data") and shown("batch_size")
        assert not shown("group")
        assert data_label() == "dialogues"
        assert form.query_one("#tf-lr", Input).placeholder == f"{SFT_LR:g}"
        assert form.query_one("#tf-columns", Input).placeholder.startswith("question,answer")
        assert command(screen).endswith(" sft tiny --detach")
        await fill(pilot, screen, {"data": str(bad)})
        error = field_error(screen, "data")
        assert error.startswith(f"{bad} line 1: not valid JSON") and "\n" not in error
        await fill(pilot, screen, {"data": good, "iters": "5"})
        assert field_error(screen, "data") is None
        assert command(screen).endswith(f" sft tiny --iters 5 --data {good} --detach")
        await pick_stage(pilot, screen, "pretrain")  # back: its own label, no columns field
        assert data_label() == "add data" and not shown("columns")
        assert form.query_one("#tf-lr", Input).placeholder == "0.0006"

    run_app(models_root, body, size=(120, 40), watch="tiny")


def test_start_runs_sft_detached_and_an_interrupted_sft_run_resumes_as_sft(models_root,
                                                                           tmp_path):
    """A real `slavik-tui sft` process started by the form: a run of kind sft in the history;
    stopped, the form resumes it with `slavik-tui sft NAME` (sft's cached rows, no --data),
    and a new app on the model opens on SFT."""
    good = write_dialogues(tmp_path / "chats.jsonl")

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await pick_stage(pilot, screen, "sft")
        await fill(pilot, screen, {"data": good, "iters": "100000", "batch_size": "2",
                                   "eval_every": "5", "save_every": "50"})
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.live.live_pid and screen.live.progress.run_id == 2
                       and screen.live.progress.status == "running", timeout=90)
        pid = screen.live.live_pid
        with History(models_root / "tiny" / "history.sqlite", readonly=True) as history:
            assert history.run(2).kind == "sft"
        assert screen.form.query_one("#tf-data", Input).value == ""  # sft keeps them
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen.live.progress.status == "stopped"
                       and not alive(pid), timeout=60)
        assert run_status(models_root, "tiny", 2) == "stopped"
        await fill(pilot, screen, {"iters": ""})
        assert label(screen) == "▶ Resume"
        assert "ctrl+r resumes run 2" in screen.query_one("#train-progress").plain
        assert command(screen).endswith(" sft tiny --batch-size 2 --eval-every 5 "
                                        "--save-every 50 --detach")
        await pick_stage(pilot, screen, "pretrain")  # train does not resume an sft run
        assert label(screen) == "▶ Start"
        await pick_stage(pilot, screen, "sft")
        await fill(pilot, screen, {"batch_size": "", "eval_every": "", "save_every": ""})
        assert label(screen) == "▶ Resume"
        launched = []
        screen.panel._start_trainer = lambda *args: launched.append(args)
        await pilot.press("ctrl+r")
        assert launched and launched[0][4] == "sft" and launched[0][2] == []

    async def reopened(app, pilot):
        screen = await open_training(pilot, app)
        await pilot.pause()
        assert screen.form.stage.stage == "sft"  # its newest run is sft
        assert label(screen) == "▶ Resume"
        assert screen.form.query_one("#tf-batch_size", Input).placeholder == "2"  # its plan
        assert command(screen).endswith(" sft tiny --detach")

    try:
        run_app(models_root, body, size=(120, 40), watch="tiny")
        run_app(models_root, reopened, size=(120, 40), watch="tiny")
    finally:
        assert kill_trainers(models_root) == []


def test_rls_max_new_default_is_the_longest_that_fits_a_short_context(models_root):
    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await pick_stage(pilot, screen, "rl")
        fits = longest_max_new(32)  # tiny's context: 64 new tokens do not fit
        assert fits < 64
        field = screen.form.query_one("#tf-max_new", Input)
        assert field.placeholder == str(fits)
        # left to the plan, which the rl stage cuts to the context (Stage.fit_plan)
        assert screen.form.settings.max_new is None
        assert command(screen).endswith(" rl tiny --detach")
        await fill(pilot, screen, {"max_new": "4"})  # typed: the user's
        assert command(screen).endswith(" rl tiny --max-new 4 --detach")
        await fill(pilot, screen, {"max_new": ""})
        await pick_stage(pilot, screen, "pretrain")
        assert "--max-new" not in command(screen)

    run_app(models_root, body, size=(120, 40), watch="tiny")
