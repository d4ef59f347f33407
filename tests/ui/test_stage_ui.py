"""The stage in the app (issue 9, item 4): the Training form picks pretraining or RL and the
reward spec, its command line and Start run `train` or `rl`; the blue line is the reward in
both; only a run of the form's stage resumes."""

from __future__ import annotations

from conftest import notifications, run_app, wait_for
from live_trainers import alive, kill_trainers, run_status
from textual.widgets import Button, Input, Select

from slavik_tui.spec.options import DEFAULT_ITERS, DEFAULT_REWARD, TrainOptions
from slavik_tui.spec.rl_options import RLOptions
from slavik_tui.store.history import History
from slavik_tui.store.lock import lock_holder
from slavik_tui.ui.screens.training import TrainingScreen
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.stage_picker import error_field, stage_command, stage_settings
from slavik_tui.ui.widgets.train_form import command_line, parse_settings

# An RL run that goes on until the test stops it, with evals often enough to see them.
RL_FIELDS = {"iters": "100000", "group": "2", "prompts": "2", "max_new": "8",
             "eval_every": "2", "save_every": "50", "lr": "1e-4"}


async def open_training(pilot, app) -> TrainingScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
    screen = app.screen
    await wait_for(pilot, lambda: screen.live.snapshot is not None and screen.live.curve_known)
    return screen


async def fill(pilot, screen: TrainingScreen, values: dict[str, str]) -> None:
    for key, value in values.items():
        screen.form.query_one(f"#tf-{key}", Input).value = value
    await pilot.pause()


async def pick_stage(pilot, screen: TrainingScreen, stage: str) -> None:
    screen.form.query_one("#tf-stage", Select).value = stage
    await pilot.pause()
    await pilot.pause()


def command(screen) -> str:
    return str(screen.form.query_one("#tf-command").render())


def label(screen) -> str:
    return str(screen.query_one("#tf-start", Button).label)


# ---- pure: the stage's options --------------------------------------------------------------
def test_rl_settings_take_the_common_fields_and_their_own_in_rls_words():
    values = {"iters": "50", "lr": "1e-4", "seed": "3", "batch_size": "7", "data": "",
              "reward": "prefix", "group": "4", "prompts": "", "max_new": "16", "kl": "0.1"}
    opts, errors = stage_settings("rl", *parse_settings(values), values)
    assert errors == {}
    assert isinstance(opts, RLOptions)
    assert (opts.iters, opts.lr, opts.seed, opts.group, opts.max_new, opts.kl) == (
        50, 1e-4, 3, 4, 16, 0.1)
    assert opts.prompts is None and opts.batch_size is None  # rl's plan, not the form's 7
    assert opts.reward == "prefix"
    line = command_line("tiny", opts)
    assert line == ("slavik-tui rl tiny --iters 50 --lr 0.0001 --seed 3 --reward prefix "
                    "--group 4 --max-new 16 --kl 0.1 --detach")
    assert stage_command(opts) == "rl"
    # the rl command's own rules and words
    bad = {**values, "group": "1", "kl": "-1"}
    _, errors = stage_settings("rl", *parse_settings(bad), bad)
    assert errors["group"].startswith("--group must be at least 2")
    assert errors["kl"] == "--kl must be 0 or more, got -1.0"
    # an empty reward: the unfinished RL run's spec, else the default (rl decides)
    empty = {**values, "reward": ""}
    assert stage_settings("rl", *parse_settings(empty), empty)[0].reward is None


def test_pretrain_settings_carry_the_reward_and_ignore_the_rl_fields():
    values = {"iters": "50", "reward": "chrf:1,prefix:0.5", "group": "1"}
    opts, errors = stage_settings("pretrain", *parse_settings(values), values)
    assert errors == {} and type(opts) is TrainOptions
    assert opts.reward == "chrf:1,prefix:0.5"
    assert command_line("tiny", opts) == (
        "slavik-tui train tiny --iters 50 --reward chrf:1,prefix:0.5 --detach")
    values = {"iters": "50", "reward": ""}
    opts, _ = stage_settings("pretrain", *parse_settings(values), values)
    assert opts.reward == DEFAULT_REWARD
    assert command_line("tiny", opts) == "slavik-tui train tiny --iters 50 --detach"


def test_a_trainers_reward_error_belongs_to_the_reward_field():
    assert error_field("unknown reward 'chrff'; did you mean 'chrf'? use chrf, ...") == "reward"
    assert error_field("reward 'chrf' has weight 'x', which is not a positive number") == (
        "reward")
    assert error_field("the reward spec is empty; use e.g. --reward chrf:1") == "reward"
    assert error_field("/tmp/a.txt: no such file; check the path") is None
    assert error_field("--max-new 64 and the 8-token prompt do not fit the model's context "
                       "of 32 tokens; use --max-new 24 or less") == "max_new"


# ---- in the app -----------------------------------------------------------------------------
def test_the_rl_stage_shows_its_fields_and_command(models_root):
    async def body(app, pilot):
        screen = await open_training(pilot, app)
        form = screen.form
        shown = lambda key: form.query_one(f"#tff-{key}", FormField).display
        assert form.stage.stage == "pretrain"  # tiny's runs are pretraining
        assert not shown("group") and not form.query_one("#tff-group").region.height
        assert form.query_one("#tf-reward", Input).placeholder == DEFAULT_REWARD
        assert " train tiny --detach" in command(screen)
        await pick_stage(pilot, screen, "rl")
        assert form.stage.stage == "rl"
        assert shown("group") and form.query_one("#tff-group").region.height > 0
        assert not shown("batch_size") and not shown("data")  # rl takes neither
        # the empty max new is the plan's, cut to context 32 by the stage: shown, not sent
        assert form.query_one("#tf-max_new", Input).placeholder == "24"
        assert command(screen).endswith(" rl tiny --detach")
        # rl's plan defaults: lr 3e-5, a new run of the default length (no RL run to resume)
        assert form.query_one("#tf-lr", Input).placeholder == "3e-05"
        assert form.query_one("#tf-group", Input).placeholder == "8"
        assert form.query_one("#tf-iters", Input).placeholder == str(DEFAULT_ITERS)
        await fill(pilot, screen, {"reward": "prefix:2", "group": "4", "iters": "10"})
        assert command(screen).endswith(" rl tiny --iters 10 --reward prefix:2 --group 4 "
                                        "--detach")
        await fill(pilot, screen, {"group": "1"})
        assert "at least 2" in form.query_one("#tff-group", FormField).error
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("Fix the fields marked in red" in n
                                          for n in notifications(app)))
        assert lock_holder(models_root / "tiny") is None
        # back to pretraining: its own fields and command, the RL field's error gone
        await pick_stage(pilot, screen, "pretrain")
        assert shown("batch_size") and shown("data")
        assert form.errors == {}
        assert command(screen).endswith(" train tiny --iters 10 --reward prefix:2 --detach")
        assert form.query_one("#tf-lr", Input).placeholder == "0.0006"

    run_app(models_root, body, size=(120, 40), watch="tiny")


def test_a_bad_reward_spec_is_one_line_at_the_reward_field(models_root):
    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await pick_stage(pilot, screen, "rl")
        await fill(pilot, screen, {"iters": "5", "reward": "chrff:1", "max_new": "64"})
        field = lambda key: screen.form.query_one(f"#tff-{key}", FormField)
        # (the panel's StartFailed reaches the screen, which marks the field, just after)
        await pilot.press("ctrl+r")  # the trainer checks the context first
        await wait_for(pilot, lambda: not screen.live.starting and field("max_new").error,
                       timeout=60)
        assert "do not fit the model's context of 32 tokens" in field("max_new").error
        await fill(pilot, screen, {"max_new": "8"})
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not screen.live.starting and field("reward").error,
                       timeout=60)
        error = field("reward").error
        assert "unknown reward 'chrff'" in error and "\n" not in error
        with History(models_root / "tiny" / "history.sqlite", readonly=True) as history:
            assert [r.kind for r in history.runs()] == ["pretrain"]  # no run recorded

    try:
        run_app(models_root, body, size=(120, 40), watch="tiny")
    finally:
        kill_trainers(models_root)


def test_start_runs_rl_detached_the_blue_line_is_its_reward_and_it_resumes_as_rl(models_root):
    """A real `slavik-tui rl` process started by the form: a run of kind grpo, its evals'
    reward on the chart, stopped; the form then offers to resume it on RL only, and a new app
    on the model opens on RL."""

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        rewards_before = screen.panel.series_lengths()["reward"]
        await pick_stage(pilot, screen, "rl")
        await fill(pilot, screen, RL_FIELDS)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.live.live_pid and screen.live.progress.run_id == 2
                       and screen.live.progress.status == "running", timeout=60)
        pid = screen.live.live_pid
        with History(models_root / "tiny" / "history.sqlite", readonly=True) as history:
            assert history.run(2).kind == "grpo"
        # the blue line: the evals' reward, as in pretraining
        await wait_for(pilot, lambda: screen.panel.series_lengths()["reward"]
                       >= rewards_before + 2, timeout=90)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen.live.progress.status == "stopped"
                       and not alive(pid), timeout=60)
        assert run_status(models_root, "tiny", 2) == "stopped"
        await fill(pilot, screen, {"iters": ""})
        assert label(screen) == "▶ Resume"
        assert "ctrl+r resumes run 2" in screen.query_one("#train-progress").plain
        # pretraining does not resume an RL run: `train` without --iters starts a new plan
        await pick_stage(pilot, screen, "pretrain")
        assert label(screen) == "▶ Start"
        assert "resume" not in screen.query_one("#train-progress").plain
        await pick_stage(pilot, screen, "rl")
        assert label(screen) == "▶ Resume"
        launched = []
        screen.panel._start_trainer = lambda *args: launched.append(args)
        await pilot.press("ctrl+r")
        assert launched and launched[0][4] == "rl" and "--iters" not in launched[0][2]

    async def reopened(app, pilot):
        screen = await open_training(pilot, app)
        await pilot.pause()
        assert screen.form.stage.stage == "rl"  # its newest run is RL
        assert label(screen) == "▶ Resume"
        assert screen.form.query_one("#tf-group", Input).placeholder == "2"  # the run's plan

    try:
        run_app(models_root, body, size=(120, 40), watch="tiny")
        run_app(models_root, reopened, size=(120, 40), watch="tiny")
    finally:
        assert kill_trainers(models_root) == []


# ---- the stages a model went through --------------------------------------------------------
def add_run(history_path, kind: str, steps: int) -> int:
    with History(history_path) as history:
        run_id = history.start_run(kind, {"kind": kind}, 0, max(steps, 1), pid=1)
        for step in range(1, steps + 1):
            history.log_step(run_id, step, 1.7e9 + step, 3.0, 1e-4, 1.0, 100.0)
        history.end_run(run_id, "finished" if steps else "failed", None if steps else "bad")
    return run_id


def test_trained_kinds_are_the_stages_that_trained_a_step_in_first_run_order(tmp_path):
    from slavik_tui.store.stages import last_reward_spec, stages_label, trained_kinds

    path = tmp_path / "history.sqlite"
    with History(path, readonly=True) as history:
        assert trained_kinds(history) == ()  # no file yet
        assert last_reward_spec(history) is None
    add_run(path, "pretrain", 3)
    add_run(path, "grpo", 0)  # failed before its first step: changed nothing
    add_run(path, "sft", 2)
    add_run(path, "pretrain", 1)
    with History(path, readonly=True) as history:
        assert trained_kinds(history) == ("pretrain", "sft")
    add_run(path, "grpo", 2)
    with History(path, readonly=True) as history:
        kinds = trained_kinds(history)
    assert kinds == ("pretrain", "sft", "grpo")
    with History(path) as history:  # the newest run with a spec names it
        history.start_run("pretrain", {"reward": "chrf:1,prefix:0.5"}, 0, 1, pid=1)
        history.start_run("pretrain", {}, 0, 1, pid=1)  # a run of before specs
    with History(path, readonly=True) as history:
        assert last_reward_spec(history) == "chrf:1,prefix:0.5"
    assert stages_label(kinds) == "pre+sft+rl"
    assert stages_label(()) == "" and stages_label(["pretrain", "dpo"]) == "pre+dpo"


def test_the_models_list_says_which_stages_each_model_went_through(models_root):
    from slavik_tui.ui.widgets.model_table import ModelTable

    history = models_root / "tiny" / "history.sqlite"

    def stages_cell(app, name: str) -> str:
        table = app.screen.query_one(ModelTable)
        return str(table.get_cell(name, "stages"))

    async def body(app, pilot):
        await wait_for(pilot, lambda: any(m.name == "tiny" for m in app.models))
        assert stages_cell(app, "tiny") == "pre"
        add_run(history, "grpo", 2)  # as `slavik-tui rl tiny` would have
        await wait_for(pilot, lambda: stages_cell(app, "tiny") == "pre+rl", timeout=10)
        assert app.info("tiny").stages == ("pretrain", "grpo")

    run_app(models_root, body, size=(120, 30))


def test_the_history_screen_shows_each_runs_kind(models_root):
    from slavik_tui.ui.screens.history.screen import HistoryScreen
    from slavik_tui.ui.widgets.runs_table import RunsTable

    history = models_root / "tiny" / "history.sqlite"
    sft, rl = add_run(history, "sft", 2), add_run(history, "grpo", 3)

    async def body(app, pilot):
        await wait_for(pilot, lambda: any(m.name == "tiny" for m in app.models))
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        table = app.screen.query_one(RunsTable)
        await wait_for(pilot, lambda: len(table.runs) == 3)
        kinds = {run.id: str(table.get_cell(str(run.id), "kind")) for run in table.runs}
        assert kinds == {1: "pretrain", sft: "sft", rl: "grpo"}

    run_app(models_root, body, size=(100, 30))


def test_rl_on_an_untrained_model_is_one_line_and_records_nothing(models_root):
    from conftest import make_untrained

    make_untrained(models_root, "raw")

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await pick_stage(pilot, screen, "rl")
        await fill(pilot, screen, {"iters": "5", "max_new": "8"})
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any("has no trained weights yet" in n
                                          for n in notifications(app)), timeout=60)
        line = next(n for n in notifications(app) if "has no trained weights yet" in n)
        assert "slavik-tui train raw" in line and "\n" not in line
        assert not (models_root / "raw" / "history.sqlite").exists()
        assert label(screen) == "▶ Start" and not screen.live.starting

    try:
        run_app(models_root, body, size=(120, 40), watch="raw")
    finally:
        kill_trainers(models_root)


def test_another_model_opens_on_its_own_stage(models_root):
    from conftest import make_untrained

    make_untrained(models_root, "raw")
    add_run(models_root / "tiny" / "history.sqlite", "grpo", 2)

    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await wait_for(pilot, lambda: screen.form.stage.stage == "rl")  # tiny's newest: RL
        screen.side.picker.value = "raw"
        await wait_for(pilot, lambda: screen.model == "raw" and screen.live.curve_known)
        await pilot.pause()
        assert screen.form.stage.stage == "pretrain"  # nothing to go on with RL
        assert " train raw" in command(screen)
        screen.side.picker.value = "tiny"
        await wait_for(pilot, lambda: screen.model == "tiny"
                       and screen.form.stage.stage == "rl")
        # the line under the form follows the stage's change message (a refresh later)
        await wait_for(pilot, lambda: " rl tiny" in command(screen), timeout=10)

    run_app(models_root, body, size=(120, 40), watch="tiny")
