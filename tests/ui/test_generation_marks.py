"""The Generation screen's marks: the prompt's label shows where the focus is, as a form's
labels do; the status's " · saved" belongs to the chat reply it was said of."""

from __future__ import annotations

from conftest import run_app, text_of, wait_for
from test_chat_mode import fixed_reply, open_chat, say
from textual.color import Color
from textual.widgets import Input

from slavik_tui.ui.screens.generation import GenerationScreen
from slavik_tui.ui.widgets.exchange_log import ExchangeLog


def test_the_prompt_label_is_marked_while_the_prompt_has_the_focus(models_root):
    async def body(app, pilot):
        await pilot.pause()
        await pilot.press("f3")
        screen = app.screen
        assert isinstance(screen, GenerationScreen)
        await pilot.pause()
        label = screen.query_one("#gen-prompt-label")
        assert isinstance(app.focused, Input) and app.focused.id == "gen-prompt"
        focused = (label.styles.color, bool(label.styles.text_style.bold))
        await pilot.press("escape")  # leaves the field: the log has the focus
        await pilot.pause()
        assert isinstance(app.focused, ExchangeLog)
        unfocused = (label.styles.color, bool(label.styles.text_style.bold))
        assert focused[1] and not unfocused[1]
        assert focused[0] != unfocused[0]
        assert focused[0] == Color.parse(app.get_css_variables()["accent"])
        await pilot.press("p")  # back in the prompt: marked again
        await pilot.pause()
        assert (label.styles.color, bool(label.styles.text_style.bold)) == focused

    run_app(models_root, body, size=(80, 24))


def test_saved_leaves_the_status_when_the_mode_changes(models_root, monkeypatch):
    fixed_reply(monkeypatch, ["Привет! Как дела?", "Хорошо."])

    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        status = screen.query_one("#gen-status")
        await say(pilot, screen, "Привет")
        await wait_for(pilot, lambda: "saved" in text_of(status))
        assert text_of(status).startswith("done · ")
        await pilot.press("ctrl+t")  # Text mode: no conversation was saved here
        await pilot.pause()
        assert screen.mode == "text"
        assert "saved" not in text_of(status), text_of(status)
        await pilot.press("ctrl+t")  # and back: the saved reply was of the last mode's run
        await pilot.pause()
        assert "saved" not in text_of(status)
        await say(pilot, screen, "Как ты?")  # a new reply, saved: said again
        await wait_for(pilot, lambda: "saved" in text_of(status))

    run_app(models_root, body, size=(100, 30))
