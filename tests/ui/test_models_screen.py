"""The Models screen and its dialogs: new model, rename, delete, export; path completion."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_untrained, notifications, run_app, text_of, wait_for
from textual.widgets import Input

from slavik_tui.spec.config import ModelConfig
from slavik_tui.store.lock import ModelLock

from slavik_tui.ui.screens.confirm import ConfirmScreen
from slavik_tui.ui.screens.export import ExportScreen
from slavik_tui.ui.screens.models import ModelsScreen
from slavik_tui.ui.screens.new_model import NewModelScreen, field_of_error
from slavik_tui.ui.screens.rename import RenameScreen
from slavik_tui.ui.widgets.forms import FormField
from slavik_tui.ui.widgets.model_table import ModelTable
from slavik_tui.ui.widgets.path_input import complete_path, split_paths


def table_names(app) -> list[str]:
    return [row[0] for row in app.screen.query_one(ModelTable)._rows]


async def set_value(pilot, screen, selector: str, value: str) -> None:
    field = screen.query_one(selector, Input)
    field.value = value
    await pilot.pause()


def test_new_model_form_counts_parameters_live_and_shows_field_errors(models_root):
    async def body(app, pilot):
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, NewModelScreen)
        summary = form.query_one("#summary")
        assert f"= {ModelConfig().n_params:,}" in text_of(summary)  # the CLI's defaults
        await set_value(pilot, form, "#d_model", "512")
        assert f"= {ModelConfig(d_model=512).n_params:,}" in text_of(summary)
        # typing, key by key, updates it too
        form.query_one("#layers", Input).focus()
        await pilot.press("backspace", "1", "2")
        assert f"= {ModelConfig(d_model=512, n_layers=12).n_params:,}" in text_of(summary)
        # heads that do not divide d_model: the error sits at the heads field
        await set_value(pilot, form, "#heads", "7")
        heads = form.query_one("#f-heads", FormField)
        assert heads.error and "not divisible by 7 heads" in heads.error
        assert "fix the numbers" in text_of(summary)
        await set_value(pilot, form, "#heads", "8")
        assert heads.error is None
        await set_value(pilot, form, "#vocab", "12")
        assert "too small" in form.query_one("#f-vocab", FormField).error
        await set_value(pilot, form, "#context", "abc")
        assert "whole number" in form.query_one("#f-context", FormField).error
        await set_value(pilot, form, "#name", "tiny")
        assert "already exists" in form.query_one("#f-name", FormField).error
        await set_value(pilot, form, "#name", "a/b")
        assert "path separator" in form.query_one("#f-name", FormField).error
        # Create with errors: nothing happens but the messages
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, NewModelScreen)
        assert "no such file" not in (form.query_one("#f-data", FormField).error or "x")
        await pilot.press("escape")
        assert isinstance(app.screen, ModelsScreen)

    run_app(models_root, body)


def test_new_model_is_created_from_a_text_file(models_root, text_file):
    async def body(app, pilot):
        await pilot.press("n")
        form = app.screen
        await set_value(pilot, form, "#name", "новая")
        await set_value(pilot, form, "#data", str(text_file.parent / "missing.txt"))
        assert "no such file" in form.query_one("#f-data", FormField).error
        await set_value(pilot, form, "#data", str(text_file))
        assert form.query_one("#f-data", FormField).error is None
        for field_id, value in (("d_model", "32"), ("layers", "1"), ("heads", "2"),
                                ("vocab", "400"), ("context", "32")):
            await set_value(pilot, form, f"#{field_id}", value)
        form.query_one("#context", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), timeout=60)
        assert (models_root / "новая" / "tokenizer.json").is_file()
        assert table_names(app) == ["tiny", "новая"]
        assert app.screen.query_one(ModelTable).selected_name == "новая"
        assert any("created model 'новая'" in n for n in notifications(app))

    run_app(models_root, body)


def test_create_errors_from_the_engine_appear_in_the_form(models_root, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("too short", encoding="utf-8")

    async def body(app, pilot):
        await pilot.press("n")
        form = app.screen
        await set_value(pilot, form, "#name", "short")
        await set_value(pilot, form, "#data", str(short))
        await set_value(pilot, form, "#vocab", "400")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not form.busy, timeout=60)
        assert isinstance(app.screen, NewModelScreen)
        status = text_of(form.query_one("#status"))
        assert status.strip(), "the engine's error is shown"
        assert not (models_root / "short").exists()

    run_app(models_root, body)


def test_rename_checks_the_name_and_renames_the_folder(models_root):
    async def body(app, pilot):
        await pilot.press("r")
        dialog = app.screen
        assert isinstance(dialog, RenameScreen)
        await set_value(pilot, dialog, "#new-name", ".hidden")
        assert "starts with a dot" in dialog.query_one(FormField).error
        await pilot.press("enter")
        assert isinstance(app.screen, RenameScreen)  # refused, still open
        await set_value(pilot, dialog, "#new-name", "малыш")
        assert dialog.query_one(FormField).error is None
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)
        assert (models_root / "малыш").is_dir() and not (models_root / "tiny").exists()
        assert table_names(app) == ["малыш"]

    run_app(models_root, body)


def test_delete_asks_first_then_removes_the_folder(models_root):
    make_untrained(models_root, "raw")

    async def body(app, pilot):
        await pilot.press("down")  # raw comes after tiny? names sort: raw, tiny
        name = app.screen.query_one(ModelTable).selected_name
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing happens
        assert isinstance(app.screen, ModelsScreen) and (models_root / name).is_dir()
        await pilot.press("d")
        await pilot.press("enter")  # Cancel has the focus: enter is safe
        assert (models_root / name).is_dir()
        await pilot.press("d", "y")
        await pilot.pause()
        assert not (models_root / name).exists()
        assert name not in table_names(app) and len(table_names(app)) == 1

    run_app(models_root, body)


def test_delete_and_rename_are_refused_while_a_trainer_runs(models_root):
    lock = ModelLock(models_root / "tiny").acquire()

    async def body(app, pilot):
        details = text_of(app.screen.query_one("#details"))
        assert "training now" in details
        await pilot.press("d")
        assert isinstance(app.screen, ModelsScreen)
        await pilot.press("r")
        assert isinstance(app.screen, ModelsScreen)
        messages = notifications(app)
        assert any("cannot delete 'tiny' while it is being trained" in m for m in messages)
        assert any("cannot rename" in m for m in messages)
        assert (models_root / "tiny").is_dir()

    try:
        run_app(models_root, body)
    finally:
        lock.release()


def test_export_writes_a_file(models_root, tmp_path):
    pytest.importorskip("slavik_tui.engine.export")
    out = tmp_path / "out" / "tiny-bf16.safetensors"
    out.parent.mkdir()

    async def body(app, pilot):
        await pilot.press("e")
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        await pilot.press("down", "enter")  # the bf16 radio button
        await pilot.pause()
        assert dialog.fmt == "bf16"
        assert dialog.query_one("#out", Input).value.endswith("tiny-bf16.safetensors")
        await set_value(pilot, dialog, "#out", str(out))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), timeout=60)
        assert out.is_file() and out.stat().st_size > 0
        assert any(str(out) in n for n in notifications(app))

    run_app(models_root, body)


def test_untrained_model_cannot_generate_or_export_and_says_why(models_root):
    make_untrained(models_root, "raw")

    async def body(app, pilot):
        assert app.screen.query_one(ModelTable).selected_name == "raw"
        await pilot.press("g")
        assert isinstance(app.screen, ModelsScreen)
        await pilot.press("e")
        assert isinstance(app.screen, ModelsScreen)
        messages = notifications(app)
        assert any("'raw' has no trained weights yet" in m for m in messages)
        assert any("no trained weights to export" in m for m in messages)

    run_app(models_root, body)


def test_the_table_follows_the_folder(models_root):
    async def body(app, pilot):
        make_untrained(models_root, "added")
        await wait_for(pilot, lambda: "added" in table_names(app), timeout=10)

    run_app(models_root, body)


def test_narrow_terminal_shortens_headers_and_stacks_details(models_root):
    async def body(app, pilot):
        table = app.screen.query_one(ModelTable)
        labels = [str(c.label) for c in table.columns.values()]
        # the least important headers shorten first: vocab, context, heads, layers, …
        assert "ctx" in labels and "H" in labels and labels[:2] == ["name", "size MB"]
        assert table.virtual_size.width <= table.size.width
        assert app.screen.query_one("#details-pane").region.y > table.region.y
        await pilot.resize_terminal(160, 40)
        await pilot.pause()
        assert [str(c.label) for c in table.columns.values()][:3] == [
            "name", "size MB", "trained"]
        assert app.screen.query_one("#details-pane").region.x > table.region.x
        await pilot.press("i")  # details hidden behind a key
        assert not app.screen.query_one("#details-pane").display

    run_app(models_root, body)


# ---- path completion -----------------------------------------------------------------------
def test_path_completion(tmp_path):
    (tmp_path / "corpus.txt").write_text("x")
    (tmp_path / "texts").mkdir()
    (tmp_path / "my notes.txt").write_text("x")
    (tmp_path / ".hidden").write_text("x")
    assert complete_path("cor", tmp_path) == "corpus.txt"
    assert complete_path("te", tmp_path) == "texts/"
    assert complete_path("a.txt te", tmp_path) == "a.txt texts/"
    assert complete_path("my", tmp_path) == r"my\ notes.txt"
    assert complete_path('"my', tmp_path) == '"my notes.txt'
    assert complete_path(f"{tmp_path}/co", None) == f"{tmp_path}/corpus.txt"
    assert complete_path("zzz", tmp_path) is None
    assert complete_path("corpus.txt", tmp_path) is None
    assert complete_path(".h", tmp_path) == ".hidden"
    assert split_paths(r'a.txt my\ notes.txt "b c.txt"') == ["a.txt", "my notes.txt", "b c.txt"]
    assert split_paths("~/x.txt") == [str(Path.home() / "x.txt")]


def test_tab_accepts_the_path_suggestion(models_root, text_file, monkeypatch):
    monkeypatch.chdir(text_file.parent)

    async def body(app, pilot):
        await pilot.press("n")
        data = app.screen.query_one("#data", Input)
        data.focus()
        await pilot.press("c", "o")
        await pilot.press("tab")
        assert data.value == "corpus.txt"
        assert app.screen.query_one("#f-data", FormField).error is None

    run_app(models_root, body)


def test_errors_land_on_the_field_they_name():
    from slavik_tui.errors import UserError

    def error_of(**numbers) -> UserError:
        with pytest.raises(UserError) as caught:
            ModelConfig(**{**dict(d_model=64, n_layers=1, n_heads=2, vocab_size=400,
                                  context=32), **numbers})
        return caught.value

    assert field_of_error(error_of(vocab_size=12)) == "vocab"
    assert field_of_error(error_of(context=0)) == "context"
    assert field_of_error(error_of(n_layers=0)) == "layers"
    # heads that do not divide d_model: the one just changed is to blame
    apart = error_of(d_model=100, n_heads=8)
    assert field_of_error(apart, "d_model") == "d_model"
    assert field_of_error(apart, "heads") == "heads"
    assert field_of_error(apart, "vocab") == "heads"
    assert field_of_error(UserError("bad name", field="name")) == "name"
    assert field_of_error(UserError("not text", field="data")) == "data"
    assert field_of_error(UserError("no field")) is None


def test_a_refresh_keeps_the_cursor_and_updates_cells_in_place(models_root):
    make_untrained(models_root, "raw")

    async def body(app, pilot):
        await pilot.press("down")
        table = app.screen.query_one(ModelTable)
        assert table.selected_name == "tiny"
        lock = ModelLock(models_root / "tiny").acquire()  # a trainer starts
        try:
            app.rescan()
            await pilot.pause()
            assert table.selected_name == "tiny" and table.cursor_row == 1
            assert "▶" in str(table.get_cell("tiny", "name"))
            assert "training now" in text_of(app.screen.query_one("#details"))
        finally:
            lock.release()
        app.rescan()
        await pilot.pause()
        assert "▶" not in str(table.get_cell("tiny", "name"))

    run_app(models_root, body)


def test_keys_typed_in_one_burst_land_in_the_right_fields(models_root, text_file):
    """Over SSH a whole line of keys can arrive at once: Tab must still move on (or complete
    a path) before the keys typed after it are read."""
    from textual import events

    folder = str(text_file.parent)

    async def body(app, pilot):
        await pilot.press("n")
        form = app.screen
        burst = [*"abc", "tab", *f"{folder}/co", "tab", "tab", "tab", *"64", "tab", "tab",
                 *"3"]
        for key in burst:
            char = "\t" if key == "tab" else key
            app.post_message(events.Key(key, char))
        await pilot.pause(0.5)
        values = {fid: form.query_one(f"#{fid}", Input).value
                  for fid in ("name", "data", "d_model", "heads")}
        assert values == {"name": "abc", "data": str(text_file), "d_model": "64",
                          "heads": "3"}, values
        # heads 3 does not divide 64: the error sits at the heads field
        assert "not divisible by 3 heads" in form.query_one("#f-heads", FormField).error

    run_app(models_root, body)


def test_size_is_the_checkpoint_as_the_charts_size_line_shows_it(models_root):
    """One size figure: weights + optimizer state, the same number the trainer logged for the
    chart's size line; the history and the token caches are listed beside it, not in it."""
    from slavik_tui.store.history import History
    from slavik_tui.store.sizes import checkpoint_bytes

    tiny = models_root / "tiny"
    expected = checkpoint_bytes(tiny) / 1e6
    with History(tiny / "history.sqlite", readonly=True) as history:
        logged = float(history.evals_arrays()["size_mb"][-1])
    assert logged == pytest.approx(expected)  # the chart's last size point

    async def body(app, pilot):
        await pilot.press("down")
        table = app.screen.query_one(ModelTable)
        assert table.selected_name == "tiny"
        assert str(table.get_cell("tiny", "size MB")) == f"{expected:.2f}"
        info = app.info("tiny")
        assert info.checkpoint_mb == pytest.approx(expected) and expected < info.size_mb
        assert info.history_mb > 0 and info.cache_mb > 0
        details = text_of(app.screen.query_one("#details"))
        assert f"{expected:.2f} MB checkpoint = weights" in details
        assert f"history {info.history_mb:.2f} MB" in details
        assert f"token caches {info.cache_mb:.2f} MB" in details

    run_app(models_root, body, size=(160, 40))


def test_focus_is_visible_and_letters_switch_screens_from_every_part(models_root):
    from slavik_tui.ui.screens.history import HistoryScreen

    async def body(app, pilot):
        table = app.screen.query_one(ModelTable)
        pane = app.screen.query_one("#details-pane")
        assert app.focused is table
        blurred = pane.styles.border_top
        await pilot.press("tab")  # the details (they scroll) take the focus, marked
        assert app.focused is pane and pane.styles.border_top != blurred
        await pilot.press("h")
        assert isinstance(app.screen, HistoryScreen) and app.screen.model == "tiny"

    run_app(models_root, body, size=(100, 30))


def test_a_running_model_shows_the_step_its_trainer_reached(models_root):
    """Not the last checkpoint's step (0 before the first save): the running run's."""
    import os
    import time

    from slavik_tui.store.history import History

    tiny = models_root / "tiny"
    lock = ModelLock(tiny).acquire()  # this process plays the trainer
    try:
        with History(tiny / "history.sqlite") as history:
            run_id = history.start_run("pretrain", {}, 20, 100, pid=os.getpid())
            for step in range(21, 38):
                history.log_step(run_id, step, time.time(), 4.5, 6e-4, 1.0, 1000.0)

        async def body(app, pilot):
            await pilot.press("down")
            table = app.screen.query_one(ModelTable)
            assert str(table.get_cell("tiny", "steps")) == "37"
            assert "37 steps" in text_of(app.screen.query_one("#details"))

        run_app(models_root, body, size=(160, 40))
    finally:
        lock.release()


def test_new_model_errors_go_once_the_field_is_fixed(models_root, tmp_path, text_file):
    short = tmp_path / "short.txt"
    short.write_text("too short", encoding="utf-8")

    async def body(app, pilot):
        await pilot.press("n")
        form = app.screen
        await set_value(pilot, form, "#name", "tiny")  # taken
        await pilot.press("ctrl+s")
        assert "already exists" in form._field("name").error
        assert "fix the fields" in text_of(form.query_one("#status"))
        await set_value(pilot, form, "#name", "short")
        assert form._field("name").error is None
        assert not text_of(form.query_one("#status")).strip()  # no stale "fix the fields"
        await set_value(pilot, form, "#data", str(short))
        await set_value(pilot, form, "#vocab", "400")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not form.busy, timeout=60)
        assert form.query_one("#status").has_class("-error")  # the engine refused the text
        await set_value(pilot, form, "#data", str(text_file))
        assert form._field("data").error is None
        assert not form.query_one("#status").has_class("-error")

    run_app(models_root, body)


def test_export_choices_show_the_selection_by_shape_not_only_colour(models_root):
    from textual.widgets import RadioButton

    async def body(app, pilot):
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        await pilot.pause()

        def marks():
            return [str(b.render())[:3] for b in app.screen.query(RadioButton)]

        assert marks() == ["(•)", "( )", "( )"]
        await pilot.press("down", "enter")
        assert marks() == ["( )", "(•)", "( )"] and app.screen.fmt == "bf16"

    run_app(models_root, body)


def test_the_size_wizard_proposes_a_size_for_the_files_and_ctrl_g_takes_it(
        models_root, text_file):
    from slavik_tui.spec.sizing import estimate_tokens, propose_size
    from slavik_tui.ui.screens.training import TrainingScreen

    async def body(app, pilot):
        await pilot.press("n")
        form = app.screen
        wizard = lambda: text_of(form.query_one("#wizard"))
        assert "choose the text files" in wizard()
        await set_value(pilot, form, "#name", "sized")
        await set_value(pilot, form, "#vocab", "400")
        await set_value(pilot, form, "#context", "32")
        await set_value(pilot, form, "#data", str(text_file))
        expected = propose_size(estimate_tokens(text_file.stat().st_size), vocab_size=400,
                                context=32, memory_bytes=form_memory(), estimated=True)
        assert form.suggestion == expected
        assert f"suggested: {expected.summary}" in wizard() and expected.reason in wizard()
        assert form.query_one("#d_model", Input).value == "256"  # ignored until taken
        await pilot.press("ctrl+g")
        shape = [form.query_one(f"#{f}", Input).value for f in ("d_model", "layers", "heads")]
        assert shape == [str(expected.d_model), str(expected.n_layers), str(expected.n_heads)]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen), timeout=60)
        await wait_for(pilot, lambda: app.screen.query_one(ModelTable).selected_name == "sized")
        await pilot.press("t")  # the wizard's steps wait in the Training form
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
        await pilot.pause()
        assert app.screen.form.query_one("#tf-iters", Input).value == str(expected.iters)

    run_app(models_root, body, size=(100, 40))


def form_memory():
    from slavik_tui.ui.screens.new_model import device_memory

    return device_memory()


def test_columns_fit_every_width_from_80_to_200_and_end_goes_to_the_last_row(snapshot_root):
    """No column is cut at the right edge: headers shorten, then the least important columns
    go; the size, the steps and the last loss stay at every width."""

    async def body(app, pilot):
        app.scan_paused = True
        table = app.screen.query_one(ModelTable)
        for width in range(80, 201, 4):
            await pilot.resize_terminal(width, 30)
            await pilot.pause()
            keys = [str(key.value) for key in table.columns]
            assert table.virtual_size.width <= table.size.width, (width, keys)
            assert {"name", "size MB", "steps", "last loss"} <= set(keys), width
            if width >= 150:  # the details sit beside the table from 150 columns
                assert len(keys) >= 9, width
            loss = table.get_cell("tolstoy", "last loss")
            assert str(loss) == "2.7512"
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert [str(c.label) for c in table.columns.values()][-1] == "last loss"
        assert table.scroll_x == 0
        await pilot.press("end")  # the last row, not a sideways scroll
        assert table.cursor_row == table.row_count - 1 and table.scroll_x == 0
        await pilot.press("home")
        assert table.cursor_row == 0

    run_app(snapshot_root, body, size=(100, 30))
