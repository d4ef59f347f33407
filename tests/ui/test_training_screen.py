"""The Training screen: the model's curve, the form and its command line, start / follow / stop
of a real detached trainer, and the progress line."""

from __future__ import annotations

import math
from collections import deque

import pytest
from conftest import make_untrained, notifications, run_app, wait_for
from live_trainers import TRAIN_FIELDS, alive, kill_trainers, run_status
from textual.widgets import Button, Input

from slavik_tui.spec.options import TrainOptions
from slavik_tui.store.lock import lock_holder

from slavik_tui.ui.screens.training import TrainingScreen
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.train_form import (
    DEFAULT_ITERS,
    FIELDS,
    command_line,
    parse_field,
    parse_settings,
    train_args,
)
from slavik_tui.runs.watch import RunProgress
from slavik_tui.ui.widgets.train_progress import progress_text


async def open_training(pilot, app) -> TrainingScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
    screen = app.screen
    await wait_for(pilot, lambda: screen.live.snapshot is not None and screen.live.curve_known)
    return screen


async def fill(pilot, screen: TrainingScreen, values: dict[str, str]) -> None:
    for key, value in values.items():
        screen.form.query_one(f"#tf-{key}", Input).value = value
    await pilot.pause()


def test_shows_the_models_existing_curve_and_its_last_run(models_root):
    async def body(app, pilot):
        screen = await open_training(pilot, app)
        lengths = screen.panel.series_lengths()
        assert lengths == {"loss": 20, "val_loss": 2, "reward": 2, "size_mb": 2}
        assert app.focused is screen.chart  # the chart's keys work at once
        assert not screen.chart.live  # a finished run: no "● live" on its chart
        assert screen.chart.save_dir == models_root / "tiny" / "charts"
        line = screen.query_one("#train-progress").plain
        assert "run 1 finished" in line and "step 20/20" in line and "loss " in line
        assert str(screen.query_one("#tf-start", Button).label) == "▶ Start"
        assert screen.query_one("#tf-stop", Button).disabled
        # the last run's settings are what an empty field keeps
        assert screen.form.query_one("#tf-batch_size", Input).placeholder == "4"
        assert screen.form.query_one("#tf-iters", Input).placeholder == str(DEFAULT_ITERS)
        # chart keys work when it has the focus; Tab leaves it for the form
        await pilot.press("1")
        assert "loss" in screen.chart.hidden_metrics
        await pilot.press("1", "tab")
        assert app.focused.id == "train-model"

    run_app(models_root, body, size=(120, 40), watch="tiny")


def test_command_line_follows_the_fields(models_root, text_file):
    async def body(app, pilot):
        screen = await open_training(pilot, app)
        command = lambda: str(screen.form.query_one("#tf-command").render())
        assert command() == f"$ slavik-tui --models-dir {models_root} train tiny --detach"
        screen.form.query_one("#tf-iters", Input).focus()
        await pilot.press(*"500")
        assert "train tiny --iters 500 --detach" in command()
        await fill(pilot, screen, {"lr": "3e-4", "device": "cpu", "seed": "7",
                                   "data": str(text_file)})
        assert command().endswith(
            f"train tiny --iters 500 --lr 0.0003 --seed 7 --device cpu "
            f"--data {text_file} --detach")

    run_app(models_root, body, size=(120, 40), watch="tiny")


def test_an_invalid_field_shows_the_trainers_words_and_blocks_start(models_root, tmp_path):
    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await fill(pilot, screen, {"batch_size": "0", "lr": "fast",
                                   "data": str(tmp_path / "nope.txt")})
        field = lambda key: screen.form.query_one(f"#tff-{key}", FormField)
        assert field("batch_size").error == "--batch-size must be a positive whole number, got 0"
        assert field("lr").error == "--lr must be a number like 6e-4, got 'fast'"
        assert field("data").error == f"{tmp_path / 'nope.txt'}: no such file; check the path"
        assert field("iters").error is None
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("Fix the fields marked in red" in n
                                          for n in notifications(app)))
        assert app.focused is screen.form.query_one("#tf-batch_size", Input)
        assert not screen.live.starting and lock_holder(models_root / "tiny") is None
        await fill(pilot, screen, {"batch_size": "2", "lr": "", "data": ""})
        assert field("batch_size").error is None and field("data").error is None

    run_app(models_root, body, size=(120, 40), watch="tiny")


def test_field_checks_word_errors_as_the_trainer_does():
    from slavik_tui.engine import trainer
    from slavik_tui.errors import UserError

    spec = {s.key: s for s in FIELDS}
    for key, value in [("iters", 0), ("batch_size", -3), ("eval_every", 0), ("save_every", 0),
                       ("seed", -1), ("lr", 0.0), ("lr", 12.0), ("lr", -1.0)]:
        with pytest.raises(UserError) as ours:
            parse_field(spec[key], str(value))
        with pytest.raises(UserError) as theirs:
            trainer.TrainOptions(**{key: value}).validate()
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(UserError) as ours:
        parse_field(spec["device"], "tpu")
    with pytest.raises(UserError) as theirs:
        trainer.pick_device("tpu")
    assert str(ours.value) == str(theirs.value)
    for device in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert parse_field(spec["device"], device) == device


def test_train_args_are_the_cli_flags():
    from slavik_tui.cli import build_parser

    settings, errors = parse_settings({"iters": "10", "batch_size": "2", "lr": "1e-3",
                                       "eval_every": "5", "save_every": "5", "seed": "0",
                                       "device": "auto"})
    assert errors == {}
    args = train_args(settings)
    assert "--device" not in args  # auto is the default
    parsed = build_parser().parse_args(["train", "m", *args])
    assert (parsed.iters, parsed.batch_size, parsed.lr, parsed.eval_every, parsed.save_every,
            parsed.seed) == (10, 2, 1e-3, 5, 5, 0)
    assert command_line("славик", TrainOptions(iters=5)) == (
        "slavik-tui train славик --iters 5 --detach")
    assert command_line("m", TrainOptions(data=["/a b/c.txt"]), "~/models") == (
        "slavik-tui --models-dir ~/models train m --data '/a b/c.txt' --detach")


def test_progress_line_reads_well():
    now = 1000.0
    p = RunProgress(run_id=3, status="running", start_step=100, target_step=1100,
                    started_at=now - 65, step=600, loss=2.34567, val_loss=2.5, reward=0.41,
                    tok_s=5230.0, recent=deque([(500, now - 10), (600, now)]))
    text = progress_text(p, now=now).plain
    assert text == ("run 3 ● running  step 600/1100 50%  loss 2.3457  val 2.5000  "
                    "reward 0.410  5230 tok/s  ETA 0:50  1:05 elapsed")
    wrapped = progress_text(p, now=now, width=40).plain.splitlines()
    assert all(len(line) <= 40 for line in wrapped) and len(wrapped) >= 3
    assert "reward 0.410" in wrapped[1] + wrapped[2]  # split between fields, never inside
    p.status, p.reason, p.ended_at = "failed", "loss became nan at step 601", now - 5
    text = progress_text(p, now=now).plain
    assert "run 3 failed" in text and "ETA" not in text and "1:00 elapsed" in text
    assert text.endswith("loss became nan at step 601")
    # no recent steps yet: the ETA comes from tokens/s
    p = RunProgress(run_id=1, status="running", target_step=100, step=0, tok_s=1000.0,
                    tokens_per_step=500)
    assert math.isclose(p.eta(), 50.0)
    assert progress_text(RunProgress(hint="no runs yet")).plain == "no runs yet"


def test_a_model_never_trained_opens_with_the_form(models_root):
    make_untrained(models_root, "raw")

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        assert screen.panel.series_lengths()["loss"] == 0
        assert screen.has_class("-form-shown")  # nothing to chart: the form is the point
        assert "no runs yet: ctrl+r starts one" in screen.query_one("#train-progress").plain
        await pilot.press("escape")  # back to the chart; f brings the form back
        assert screen.has_class("-form-hidden") and app.focused is screen.chart
        await pilot.press("f")
        assert screen.has_class("-form-shown")

    run_app(models_root, body, watch="raw")


def test_narrow_terminal_gives_the_chart_the_room(models_root):
    async def body(app, pilot):
        screen = await open_training(pilot, app)
        assert screen.has_class("-form-hidden") and screen.chart.display
        assert screen.chart.size.height >= 15
        await pilot.press("f")
        assert screen.has_class("-form-shown") and app.focused.id == "train-model"
        await pilot.press("f")  # the Select has the focus: f is a key, not text
        assert screen.has_class("-form-hidden") and app.focused is screen.chart
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.2)
        assert screen.has_class("-form-shown") and screen.chart.display
        assert app.focused is screen.chart  # the new layout keeps the chart's keys

    run_app(models_root, body, watch="tiny")


def test_start_follow_and_stop_a_detached_trainer(models_root):
    """A real trainer process: starts from the screen, its points arrive, Stop ends it."""

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await fill(pilot, screen, TRAIN_FIELDS)
        await pilot.press("ctrl+r")
        assert screen.live.starting
        await wait_for(pilot, lambda: screen.live.live_pid and screen.live.progress.run_id == 2
                       and screen.live.progress.status == "running", timeout=30)
        pid = screen.live.live_pid
        assert alive(pid) and lock_holder(models_root / "tiny") == pid
        await wait_for(pilot, lambda: any("run 2 of 'tiny' is training in the background"
                                          in n for n in notifications(app)))
        assert screen.query_one("#tf-start", Button).disabled
        assert not screen.query_one("#tf-stop", Button).disabled
        await wait_for(pilot, lambda: screen.panel.series_lengths()["loss"] >= 30
                       and screen.panel.series_lengths()["val_loss"] >= 3, timeout=30)
        line = screen.query_one("#train-progress").plain
        assert "run 2 ● running" in line and "/100020" in line and "ETA" in line
        assert screen.chart.live  # rows arrive: the chart says "● live"
        # the form shows the running run's settings (what an empty field would mean)
        placeholders = {key: screen.form.query_one(f"#tf-{key}", Input).placeholder
                        for key in ("iters", "batch_size", "eval_every")}
        assert placeholders == {"iters": "100000", "batch_size": "2", "eval_every": "5"}
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen.live.progress.status == "stopped", timeout=30)
        assert not screen.chart.live
        assert run_status(models_root, "tiny", 2) == "stopped"
        assert lock_holder(models_root / "tiny") is None
        await wait_for(pilot, lambda: any("run 2 of 'tiny' stopped at step" in n
                                          for n in notifications(app)))
        # Resume: clearing --iters continues the stopped plan
        assert screen.live.resumable
        assert str(screen.query_one("#tf-start", Button).label) == "▶ Start"
        await fill(pilot, screen, {"iters": ""})
        assert str(screen.query_one("#tf-start", Button).label) == "▶ Resume"
        assert "ctrl+r resumes run 2" in screen.query_one("#train-progress").plain
        descriptions = {b.binding.description for b in app.active_bindings.values()}
        assert "Resume" in descriptions and "Start" not in descriptions
        launched = []  # the key starts the trainer without --iters (not run again here)
        screen.panel._start_trainer = lambda *args: launched.append(args)
        await pilot.press("ctrl+r")
        assert launched and "--iters" not in launched[0][2]
        assert launched[0][2][:2] == ["--batch-size", "2"]

    try:
        run_app(models_root, body, size=(120, 40), watch="tiny")
    finally:
        assert kill_trainers(models_root) == []  # nothing was left running


def test_a_bad_dataset_is_reported_next_to_the_field(models_root, tmp_path):
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await fill(pilot, screen, {"iters": "5", "data": str(binary)})
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not screen.live.starting, timeout=40)
        error = screen.form.query_one("#tff-data", FormField).error
        assert error and str(binary) in error
        await wait_for(pilot, lambda: any(str(binary) in n for n in notifications(app)))
        assert screen.live.progress.status == "finished"  # the last run, as before
        assert not screen.query_one("#tf-start", Button).disabled

    try:
        run_app(models_root, body, size=(120, 40), watch="tiny")
    finally:
        kill_trainers(models_root)


def test_unknown_model_says_so(models_root):
    async def body(app, pilot):
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        await pilot.pause(0.3)
        line = app.screen.query_one("#train-progress").plain
        assert "no model 'ghost'" in line

    run_app(models_root, body, watch="ghost")


def test_a_model_created_from_the_training_screen_is_shown_and_ready_to_train(
        models_root, text_file):
    from slavik_tui.ui.screens.history import HistoryScreen
    from slavik_tui.ui.screens.new_model import NewModelScreen

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await app.run_action("new_model")  # what the palette's "New model…" does
        await wait_for(pilot, lambda: isinstance(app.screen, NewModelScreen))
        await pilot.pause()
        form = app.screen
        for field_id, value in (("name", "fresh"), ("data", str(text_file)), ("d_model", "32"),
                                ("layers", "1"), ("heads", "2"), ("vocab", "400"),
                                ("context", "32")):
            form.query_one(f"#{field_id}", Input).value = value
        await pilot.pause()
        form.query_one("#context", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen)
                       and app.screen.model == "fresh", timeout=60)
        screen = await open_training(pilot, app)
        assert screen.side.picker.value == "fresh"
        assert screen.check_action("start", ("new",)) is True  # ctrl+r starts it
        assert any("ctrl+r starts training it" in n for n in notifications(app))
        launched = []
        screen.panel._start_trainer = lambda *args: launched.append(args)
        await pilot.press("ctrl+r")
        assert launched and launched[0][1] == "fresh"
        screen.panel.live.starting = False
        screen.chart.focus()
        await pilot.press("h")  # the History screen shows it too
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        assert app.screen.model == "fresh"

    run_app(models_root, body, size=(120, 40), watch="tiny")


def test_focus_is_visible_esc_leaves_a_field_and_ctrl_r_hands_the_keys_to_the_chart(
        models_root):
    """Typed 800 into iters, ctrl+r, then g: the run starts with 800 steps and g opens the
    Generation screen (it once typed "800g" into the field)."""
    from slavik_tui.ui.screens.generation import GenerationScreen

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        iters = screen.form.query_one("#tf-iters", Input)
        field = screen.form.query_one("#tff-iters", FormField)
        unfocused = (iters.rich_style, field.query_one(".field--label").rich_style)
        chart_marked = screen.chart.styles.border_left
        iters.focus()
        await pilot.pause()
        assert field.has_class("-focused")
        assert iters.rich_style.bgcolor != unfocused[0].bgcolor  # the field is tinted
        assert field.query_one(".field--label").rich_style.bold  # and its label marked
        assert not unfocused[1].bold
        assert screen.chart.styles.border_left != chart_marked  # the chart's bar dims
        await pilot.press(*"800", "escape")  # Esc leaves the field for the chart
        assert app.focused is screen.chart and not field.has_class("-focused")
        assert screen.chart.styles.border_left == chart_marked
        iters.focus()
        await pilot.pause()
        launched = []
        screen.panel._start_trainer = lambda *args: launched.append(args)
        await pilot.press("ctrl+r", "g")
        assert launched and launched[0][2][:2] == ["--iters", "800"]
        assert isinstance(app.screen, GenerationScreen)
        assert iters.value == "800"
        await pilot.press("f2")
        screen.panel.live.starting = False
        screen.side.picker.focus()  # a picker is no text field: letters still switch
        await pilot.press("h")
        assert not isinstance(app.screen, TrainingScreen)

    run_app(models_root, body, size=(120, 40), watch="tiny")


def test_narrow_ctrl_r_in_the_form_shows_the_chart_with_the_focus(models_root):
    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await pilot.press("f")
        assert screen.has_class("-form-shown") and not screen.chart.display
        screen.form.query_one("#tf-iters", Input).focus()
        await pilot.press(*"50")
        screen.panel._start_trainer = lambda *args: None
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.has_class("-form-hidden") and app.focused is screen.chart

    run_app(models_root, body, size=(80, 24), watch="tiny")


def test_stop_phase_says_what_the_stop_waits_for():
    from slavik_tui.ui.widgets.stopping import kill_question, stop_phase

    assert stop_phase(40, 40, 20).startswith("stopping: finishing step 41…")
    assert stop_phase(40, 41, 20).startswith("stopping: saving the checkpoint of step 41…")
    assert stop_phase(40, 41, 41).startswith("stopping: step 41 saved; a last eval")
    assert stop_phase(None, None, 0).startswith("stopping: finishing step 1…")
    assert stop_phase(40, 40, 20).endswith("ctrl+t again: stop now (lose the steps after 20)")
    assert "lost: about 21" in kill_question(123, 41, 20)


def test_a_second_ctrl_t_kills_the_trainer_after_a_confirmation(models_root):
    """The graceful stop is held back (as a slow save would), so the run stays 'stopping':
    ctrl+t again offers stop now, y kills the trainer, the run is recorded as stopped with the
    reason, and the last checkpoint stays whole."""
    from slavik_tui.spec.folder import ModelFolder
    from slavik_tui.store.history import History
    from slavik_tui.ui.screens.confirm import ConfirmScreen

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await fill(pilot, screen, {**TRAIN_FIELDS, "save_every": "10"})
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.live.live_pid and screen.live.progress.run_id == 2
                       and (screen.live.progress.step or 0) >= 45, timeout=60)
        pid = screen.live.live_pid
        screen.panel._stop_trainer = lambda *args: None  # SIGTERM never goes: it keeps going
        await pilot.press("ctrl+t")
        assert screen.live.stopping
        hint = screen.query_one("#train-progress").plain
        assert "stopping: " in hint and "ctrl+t again: stop now" in hint
        assert str(screen.query_one("#tf-stop", Button).label) == "■ Stop now"
        descriptions = {b.binding.description for b in app.active_bindings.values()}
        assert "Stop now" in descriptions and "Stop" not in descriptions
        await pilot.press("ctrl+t")
        assert isinstance(app.screen, ConfirmScreen)
        assert "steps after the last checkpoint" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: not alive(pid) and screen.live.progress.status in (
            "stopped",), timeout=90)  # the kill, then the poll loop's next look (slow in CI)
        with History(models_root / "tiny" / "history.sqlite", readonly=True) as history:
            run = history.run(2)
        saved = ModelFolder(models_root / "tiny").saved_step()
        assert run.status == "stopped" and "killed by the user (stop now)" in run.reason
        assert f"resume from step {saved}" in run.reason and saved >= 30
        assert saved % 10 == 0  # a checkpoint of the run, whole
        assert screen.live.resumable
        await wait_for(pilot, lambda: any("killed the trainer of 'tiny'" in n
                                          for n in notifications(app)))
        # one toast of the kill, saying what ctrl+r does as the progress line does (iters is
        # filled in: new steps, not a resume)
        told = [n for n in notifications(app) if "run 2 of 'tiny'" in n or "killed" in n]
        assert len(told) == 2 and "checkpoint saved" not in told[-1]  # the start's, the kill's
        line = screen.query_one("#train-progress").plain
        assert "ctrl+r starts 100000 new steps" in line
        assert told[-1].endswith(line[line.index("ctrl+r "):].strip())

    try:
        run_app(models_root, body, size=(120, 40), watch="tiny")
    finally:
        assert kill_trainers(models_root) == []
