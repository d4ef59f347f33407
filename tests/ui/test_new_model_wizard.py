"""The new-model form's size wizard note: it says "applied" only while the fields hold the
proposal (seen in tmux: it stayed after every field was changed by hand)."""

from __future__ import annotations

from conftest import run_app, text_of

from test_models_screen import set_value


def test_the_applied_note_goes_once_the_shape_moves_off_the_proposal(models_root, text_file):
    async def body(app, pilot):
        await pilot.press("n")
        form = app.screen
        status = lambda: text_of(form.query_one("#status"))  # noqa: E731
        await set_value(pilot, form, "#name", "sized")
        await set_value(pilot, form, "#vocab", "400")
        await set_value(pilot, form, "#context", "32")
        await set_value(pilot, form, "#data", str(text_file))
        assert form.suggestion is not None
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert "size wizard applied" in status()  # the fields' own changes keep it
        await set_value(pilot, form, "#name", "sized2")  # not the shape: it stays
        assert "size wizard applied" in status()
        await set_value(pilot, form, "#d_model", str(form.suggestion.d_model * 2))
        assert "size wizard applied" not in status()
        await set_value(pilot, form, "#d_model", str(form.suggestion.d_model))
        assert "size wizard applied" not in status()  # said again only by ctrl+g
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert "size wizard applied" in status()

    run_app(models_root, body, size=(100, 40))
