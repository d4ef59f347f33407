"""Leftovers of issue 13 on the Training screen: the SFT form's field order, what the stop
toast and the progress line say ctrl+r does, the form of a run re-attached to, and the stop-now
question when the trainer exits by itself."""

from __future__ import annotations

from conftest import run_app, wait_for
from test_stage_ui import open_training, pick_stage

from slavik_tui.ui.widgets.forms import FormField


def test_the_sft_form_asks_for_the_dialogues_before_their_columns(models_root):
    async def body(app, pilot):
        screen = await open_training(pilot, app)
        await pick_stage(pilot, screen, "sft")
        form = screen.form
        fields = [f.id for f in form.query(FormField) if f.display]
        assert fields.index("tff-data") + 1 == fields.index("tff-columns")
        await pilot.pause()
        data = form.query_one("#tff-data", FormField)
        columns = form.query_one("#tff-columns", FormField)
        assert data.region.y < columns.region.y  # on the screen too
        form.query_one("#tf-data").focus()
        await pilot.press("tab")  # and Tab goes from the dialogues to their columns
        assert app.focused is form.query_one("#tf-columns")

    run_app(models_root, body, size=(120, 40), watch="tiny")
