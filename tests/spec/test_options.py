"""One source for the training flags: TrainOptions' metadata gives the CLI parser, the detached
trainer's argv, the training form's fields and the README's list, and they agree."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from slavik_tui.cli.parser import build_parser, train_options
from slavik_tui.errors import UserError
from slavik_tui.spec.options import (
    FLAG,
    FLAGS,
    FORM_FLAGS,
    PLAN_DEFAULTS,
    TrainOptions,
    check_device_name,
    flags_of,
    options_argv,
)
from slavik_tui.spec.rl_options import RLOptions

ROOT = Path(__file__).resolve().parents[2]

# A valid value that differs from the default, for every kind of flag.
SAMPLES = {"int": 7, "float": 0.25, "bool": True, "list": ["a.txt", "b c/д.txt"]}
STRINGS = {"device": "cuda:1", "dtype": "bf16", "reward": "distinct", "encoding": "cp1251",
           "column": "body", "master_addr": "10.0.0.1", "rdzv_endpoint": "10.0.0.1:29400"}
INTS = {"node_rank": 3}  # below the sample --nnodes


def sample(flag):
    if flag.key in INTS:
        return INTS[flag.key]
    return STRINGS[flag.key] if flag.kind == "str" else SAMPLES[flag.kind]


def parse_train(argv: list[str]) -> TrainOptions:
    return train_options(build_parser().parse_args(["train", "m", *argv]))


def test_every_field_has_exactly_one_flag():
    assert [f.name for f in fields(TrainOptions)] == [f.key for f in FLAGS]
    assert len({f.flag for f in FLAGS}) == len(FLAGS)
    for flag in FLAGS:
        assert flag.help and flag.kind in ("int", "float", "str", "bool", "list")
        assert flag.flag == "--" + flag.key.replace("_", "-")
    # the engine engineer implements these two under exactly these names
    assert FLAG["reset_optimizer"].default is False and FLAG["threads"].default is None


def test_parsing_the_argv_built_from_options_gives_the_same_options():
    assert options_argv(TrainOptions()) == []
    assert parse_train([]) == TrainOptions()
    everything = TrainOptions(**{flag.key: sample(flag) for flag in FLAGS})
    for flag in FLAGS:
        assert getattr(everything, flag.key) != flag.default, flag.key
    argv = options_argv(everything)
    assert parse_train(argv) == everything
    # one field at a time: only its own flag appears
    for flag in FLAGS:
        argv = options_argv(TrainOptions(**{flag.key: sample(flag)}))
        assert argv[0] == flag.flag and set(argv[::2] if flag.kind != "bool" else argv) == {flag.flag}
        assert getattr(parse_train(argv), flag.key) == sample(flag)


def test_floats_survive_the_round_trip_exactly():
    for lr in (3e-4, 1 / 3, 6.000000000000001e-4, 1e-7):
        assert parse_train(options_argv(TrainOptions(lr=lr))).lr == lr


def test_the_new_flags_of_issue_8():
    opts = parse_train(["--reset-optimizer", "--threads", "1"])
    assert opts.reset_optimizer is True and opts.threads == 1
    with pytest.raises(UserError) as exc:
        parse_train(["--threads", "0"])
    assert str(exc.value) == "--threads must be a positive whole number, got 0"
    assert exc.value.field == "threads"


@pytest.mark.parametrize("argv, message, field", [
    (["--iters", "x"], "--iters must be a whole number, got 'x'", "iters"),
    (["--iters", "0"], "--iters must be a positive whole number, got 0", "iters"),
    (["--lr", "fast"], "--lr must be a number like 6e-4, got 'fast'", "lr"),
    (["--lr", "inf"], "--lr must be a finite number like 6e-4, got 'inf'", "lr"),
    (["--lr", "12"], "--lr must be a positive number like 6e-4, got 12.0", "lr"),
    (["--min-lr-ratio", "2"], "--min-lr-ratio must be between 0 and 1, got 2.0", "min_lr_ratio"),
    (["--dtype", "fp16"], "--dtype must be auto, fp32 or bf16, got 'fp16'", "dtype"),
    (["--device", "tpu"], "--device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'", "device"),
    (["--seed", "-1"], "--seed must be 0 or more, got -1", "seed"),
    (["--weight-decay", "nan"], "--weight-decay must be a finite number like 0.1, got 'nan'",
     "weight_decay"),
])
def test_a_bad_value_is_one_line_naming_the_flag_and_its_field(argv, message, field):
    with pytest.raises(UserError) as exc:
        parse_train(argv)
    assert str(exc.value) == message and exc.value.field == field


def test_validate_checks_types_of_options_built_in_code():
    with pytest.raises(UserError) as exc:
        TrainOptions(batch_size="8").validate()
    assert exc.value.field == "batch_size" and "whole number" in str(exc.value)
    with pytest.raises(UserError):
        TrainOptions(iters=True).validate()
    TrainOptions(lr=1).validate()  # an int is a number


def test_check_device_name():
    for name in ("auto", "cpu", "cuda", "cuda:3", "mps"):
        check_device_name(name)
    with pytest.raises(UserError) as exc:
        check_device_name("bogus")
    assert exc.value.field == "device"


def test_plan_defaults_come_from_the_metadata():
    assert PLAN_DEFAULTS == {"batch_size": 8, "grad_accum": 1, "lr": 6e-4, "min_lr_ratio": 0.1,
                             "weight_decay": 0.1, "grad_clip": 1.0, "eval_every": 50,
                             "save_every": 100, "eval_batches": 8, "seed": 1337}
    assert "(default 8)" in FLAG["batch_size"].help_text
    assert "(default 0.0006)" in FLAG["lr"].help_text


RL_FORM_KEYS = {f.key for f in flags_of(RLOptions) if f.label} | {"columns"}  # + SFT's CSV columns


def test_the_form_shows_the_labelled_flags():
    from slavik_tui.ui.widgets import train_form

    # the pretraining flags with a label, and the RL and SFT stages' (ui/widgets/stage_picker.py)
    assert set(train_form.FIELD_KEYS) == {f.key for f in FORM_FLAGS} | RL_FORM_KEYS
    assert [f.key for f in train_form.FIELDS] == [f.key for f in FORM_FLAGS if f.key != "data"]
    settings, errors = train_form.parse_settings({"iters": "10", "batch_size": "0", "lr": "x"})
    # errors land on fields by UserError.field, in the trainer's own words
    assert errors == {"batch_size": "--batch-size must be a positive whole number, got 0",
                      "lr": "--lr must be a number like 6e-4, got 'x'"}
    assert settings.iters == 10
    settings, errors = train_form.parse_settings({"iters": "10_000", "seed": "0"})
    assert errors == {} and train_form.train_args(settings) == ["--iters", "10000", "--seed", "0"]
    assert parse_train(train_form.train_args(settings)) == settings


def test_the_forms_fields_are_composed_from_the_metadata():
    from textual.app import App
    from textual.widgets import Input

    from slavik_tui.ui.widgets.forms import FormField
    from slavik_tui.ui.widgets.train_form import TrainForm

    class One(App):
        def compose(self):
            yield TrainForm()

    async def body():
        async with One().run_test(size=(80, 40)) as pilot:
            form = pilot.app.query_one(TrainForm)
            ids = {i.id.removeprefix("tf-") for i in form.query(Input)}
            assert ids == {f.key for f in FORM_FLAGS} | RL_FORM_KEYS
            labels = {f.label for f in form.query(FormField)}
            rl_labels = {f.label for f in flags_of(RLOptions) if f.label}
            assert labels == {f.label for f in FORM_FLAGS} | rl_labels | {"stage", "columns"}

    import asyncio

    asyncio.run(body())


def _readme_command_line() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## The command line", 1)[1].split("\n## ", 1)[0]


def train_flags_table() -> str:
    """The README's table of `train` flags, as the metadata gives it (run this file to print)."""
    rows = ["| flag | what it sets |", "|---|---|"]
    for flag in FLAGS:
        shown = flag.flag + (f" {flag.metavar}" if flag.metavar else "")
        shown = shown.replace("|", "\\|")  # a bare | would end the table's cell
        rows.append(f"| `{shown}` | {flag.help_text} |")
    return "\n".join(rows)


def test_the_readme_lists_every_train_flag_as_the_metadata_says():
    section = _readme_command_line()
    assert train_flags_table() in section, "README is stale: paste `python " \
        "tests/spec/test_options.py` into its \"The command line\" section"
    assert "slavik-tui train NAME" in section and "--detach" in section


def test_the_readme_names_every_command():
    section = _readme_command_line()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them only here
    for name in commands:
        assert f"slavik-tui {name} " in section, name
    for name, sub in commands.items():
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option not in ("--help", "--models-dir"):
                    assert option in section, f"{name} {option}"


if __name__ == "__main__":
    print(train_flags_table())
