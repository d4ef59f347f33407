"""The Generation screen's Chat mode: turns stream in, the conversation is saved under the
model, Esc stops a reply, ctrl+l starts a new chat, ctrl+s exports it, a hint on models never
tuned for chat."""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import notifications, run_app, text_of, wait_for
from textual.widgets import Input

from slavik_tui.engine.chat import read_dialogues
from slavik_tui.store.conversations import list_conversations
from slavik_tui.store.history import History
from slavik_tui.ui.screens.chat_export import ChatExportScreen
from slavik_tui.ui.screens.confirm import ConfirmScreen
from slavik_tui.ui.screens.generation import GenerationScreen
from slavik_tui.ui.widgets.chat_log import ChatLog, ChatTurn


async def open_chat(pilot, app) -> GenerationScreen:
    await pilot.press("f3")
    screen = app.screen
    assert isinstance(screen, GenerationScreen)
    await pilot.pause()
    await pilot.press("ctrl+t")
    await pilot.pause()
    assert screen.mode == "chat"
    return screen


async def say(pilot, screen: GenerationScreen, text: str, wait: bool = True) -> None:
    """Type a message, press Enter; with `wait`, until the reply has ended."""
    before = len(screen.chat.turns)
    prompt = screen.query_one("#gen-prompt", Input)
    prompt.focus()
    prompt.value = text
    await pilot.press("enter")
    if wait:
        await wait_for(pilot, lambda: not screen._generating
                       and len(screen.chat.turns) != before + 1, timeout=60)


def turns(screen: GenerationScreen) -> list[tuple[str, str]]:
    return [(t.role, t.answer) for t in screen.query_one(ChatLog).query(ChatTurn)]


def chat_files(models_root, name="tiny"):
    """The saved conversations, oldest first (two in one second: 093012, then 093012-2)."""
    return list_conversations(models_root / name)


def fixed_reply(monkeypatch, replies: list[str], seen: list | None = None) -> None:
    """chat_reply stands in for the model: the next of `replies`, a word at a time."""
    import slavik_tui.engine.chat.reply as reply

    answers = iter(replies)

    def chat_reply(model, tokenizer, conversation, **settings):
        if seen is not None:
            seen.append([(m.role, m.content) for m in conversation])
        return iter(re.findall(r"\s*\S+", next(answers)))

    monkeypatch.setattr(reply, "chat_reply", chat_reply)


def test_two_turns_with_a_tiny_model_stream_in_and_are_saved(models_root):
    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        assert "Chat" in screen.sub_title
        screen.query_one("#max-tokens", Input).value = "12"
        screen.query_one("#seed", Input).value = "3"
        await say(pilot, screen, "Привет, как дела?")
        await say(pilot, screen, "Расскажи о себе")
        shown = turns(screen)
        assert [role for role, _ in shown] == ["user", "assistant", "user", "assistant"]
        assert shown[0][1] == "Привет, как дела?" and shown[2][1] == "Расскажи о себе"
        assert shown[1][1].strip() and shown[3][1].strip(), "both replies streamed in"
        labels = [text_of(t.query_one(".turn--role")) for t in screen.query(ChatTurn)]
        assert labels[0].startswith("you") and labels[1].startswith("assistant")
        stats = text_of(screen.query(ChatTurn)[3].query_one(".turn--stats"))
        assert "tok/s" in stats
        files = chat_files(models_root)
        assert len(files) == 1, "one conversation, one file"
        lines = files[0].read_text(encoding="utf-8").splitlines()
        assert len(lines) == 1
        messages = json.loads(lines[0])["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
        assert [m["content"] for m in messages] == [text for _, text in shown]
        # what sft reads: the saved file is a dialogue file as it is
        (conversation,) = read_dialogues(files[0])
        assert [m.content for m in conversation] == [m["content"] for m in messages]
        assert any(str(files[0]) in n for n in notifications(app))

    run_app(models_root, body, size=(100, 30))


def test_the_system_prompt_opens_the_conversation(models_root, monkeypatch):
    seen: list = []
    fixed_reply(monkeypatch, ["Здравствуйте!", "Хорошо."], seen)

    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        system = screen.query_one("#chat-system", Input)
        system.focus()
        await pilot.press(*"Ты вежливый собеседник.", "enter")  # Enter: on to the message
        assert app.focused is screen.query_one("#gen-prompt") and not screen._generating
        await say(pilot, screen, "Привет")
        await say(pilot, screen, "Как дела?")
        assert seen[1] == [("system", "Ты вежливый собеседник."), ("user", "Привет"),
                           ("assistant", "Здравствуйте!"), ("user", "Как дела?")]
        assert turns(screen)[0] == ("system", "Ты вежливый собеседник.")
        (file,) = chat_files(models_root)
        messages = json.loads(file.read_text(encoding="utf-8"))["messages"]
        assert messages[0] == {"role": "system", "content": "Ты вежливый собеседник."}
        assert messages[-1] == {"role": "assistant", "content": "Хорошо."}

    run_app(models_root, body, size=(100, 30))


def test_escape_stops_a_reply_and_keeps_what_was_said(models_root, monkeypatch):
    import slavik_tui.engine.chat.reply as reply

    def endless(model, tokenizer, conversation, **settings):
        while True:
            time.sleep(0.002)
            yield "слово "

    monkeypatch.setattr(reply, "chat_reply", endless)

    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        await say(pilot, screen, "Говори", wait=False)
        await wait_for(pilot, lambda: screen._exchange is not None
                       and len(screen._exchange.answer) > 30, timeout=60)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen._generating, timeout=10)
        turn = screen.query(ChatTurn)[-1]
        assert turn.answer.startswith("слово слово")
        assert "stopped" in text_of(turn.query_one(".turn--stats"))
        assert app.focused is screen.query_one("#gen-prompt"), "Esc stopped, not left"
        assert screen.chat.turns[-1] == {"role": "assistant", "content": turn.answer}
        (file,) = chat_files(models_root)
        saved = json.loads(file.read_text(encoding="utf-8"))["messages"]
        assert saved[-1]["content"] == turn.answer

    run_app(models_root, body, size=(100, 30))


def test_a_reply_with_no_text_leaves_the_message_out(models_root, monkeypatch):
    fixed_reply(monkeypatch, ["", "Да."])

    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        await say(pilot, screen, "Привет")
        assert screen.chat.turns == []
        assert "left out" in text_of(screen.query(ChatTurn)[-1].query_one(".turn--stats"))
        assert chat_files(models_root) == [], "nothing to save without a reply"
        await say(pilot, screen, "Привет")  # turns still alternate
        assert [t["role"] for t in screen.chat.turns] == ["user", "assistant"]

    run_app(models_root, body, size=(100, 30))


def test_a_chats_folder_that_is_a_link_is_not_written_through(models_root, monkeypatch,
                                                               tmp_path):
    fixed_reply(monkeypatch, ["Привет!"])
    outside = tmp_path / "outside"
    outside.mkdir()
    (models_root / "tiny" / "chats").symlink_to(outside)

    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        await say(pilot, screen, "Привет")
        assert turns(screen)[-1] == ("assistant", "Привет!"), "the chat goes on"
        await wait_for(pilot, lambda: any("not saved" in n and "symbolic link" in n
                                          for n in notifications(app)), timeout=10)
        assert list(outside.iterdir()) == []

    run_app(models_root, body, size=(100, 30))

def test_new_chat_empties_the_view_and_starts_another_file(models_root, monkeypatch):
    fixed_reply(monkeypatch, ["Привет!", "Снова привет!"])

    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        await say(pilot, screen, "Привет")
        assert len(screen.query(ChatTurn)) == 2
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert not screen.query(ChatTurn) and screen.chat.turns == []
        assert screen.query_one(ChatLog).query(".log--empty"), "the empty view's hint is back"
        await say(pilot, screen, "Ещё раз")
        files = chat_files(models_root)
        assert len(files) == 2
        last = json.loads(files[1].read_text(encoding="utf-8"))["messages"]
        assert [m["content"] for m in last] == ["Ещё раз", "Снова привет!"]

    run_app(models_root, body, size=(100, 30))


def test_export_writes_jsonl_and_asks_before_replacing(models_root, monkeypatch, tmp_path):
    fixed_reply(monkeypatch, ["Привет!", "Хорошо."])
    out = tmp_path / "exported.jsonl"

    async def export(pilot, app, path) -> None:
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ChatExportScreen)
        app.screen.query_one("#chat-out", Input).value = str(path)
        await pilot.press("enter")
        await pilot.pause()

    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        await say(pilot, screen, "Привет")
        await export(pilot, app, out)
        assert app.screen is screen
        first = out.read_text(encoding="utf-8")
        assert json.loads(first)["messages"] == [{"role": "user", "content": "Привет"},
                                                 {"role": "assistant", "content": "Привет!"}]
        await say(pilot, screen, "Как дела?")
        # an existing file: asked, and No keeps it
        await export(pilot, app, out)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ChatExportScreen)
        assert "already exists" in app.screen.query_one("#f-chat-out").error
        assert out.read_text(encoding="utf-8") == first
        # inside the models folder: refused, nothing written
        inside = models_root / "tiny" / "chat.jsonl"
        app.screen.query_one("#chat-out", Input).value = str(inside)
        await pilot.press("enter")
        await pilot.pause()
        assert "inside the models folder" in app.screen.query_one("#f-chat-out").error
        assert not inside.exists()
        # Yes replaces it
        app.screen.query_one("#chat-out", Input).value = str(out)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert app.screen is screen
        assert len(json.loads(out.read_text(encoding="utf-8"))["messages"]) == 4

    run_app(models_root, body, size=(100, 30))


def test_hint_on_a_model_never_tuned_for_chat(models_root):
    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        hint = screen.query_one("#chat-hint")
        await wait_for(pilot, lambda: hint.display and text_of(hint).strip(), timeout=30)
        line = text_of(hint).strip()
        assert "slavik-tui sft tiny --data FILE" in line and "\n" not in line
        await pilot.press("ctrl+t")  # back to Text mode: no chat widgets
        await pilot.pause()
        assert not hint.display and not screen.query_one(ChatLog).display
        assert "Text" in screen.sub_title
        # once fine-tuned (a run of kind sft, new weights), the next reply drops the hint
        await pilot.press("ctrl+t")
        with History(models_root / "tiny" / "history.sqlite") as history:
            history.end_run(history.start_run("sft", {}, target_step=20, pid=1), "finished")
        record = models_root / "tiny" / "checkpoint.json"
        record.write_text(record.read_text(encoding="utf-8") + " ", encoding="utf-8")
        screen.query_one("#max-tokens", Input).value = "3"
        await say(pilot, screen, "Привет")
        await wait_for(pilot, lambda: not hint.display, timeout=30)

    run_app(models_root, body, size=(100, 30))


def test_a_model_without_chat_tokens_answers_in_dialogue_lines(models_root, monkeypatch):
    """A model made before the chat tokens: it chats as its texts wrote dialogue."""
    import slavik_tui.engine.generate as engine_generate
    from slavik_tui.engine.tokenizer import Tokenizer

    prompts: list[str] = []

    def generate(model, tokenizer, prompt, **settings):
        prompts.append(prompt)
        yield from ["Хорошо", ", спасибо.\n— А вы", "?"]

    monkeypatch.setattr(Tokenizer, "has_chat_tokens", property(lambda self: False))
    monkeypatch.setattr(engine_generate, "generate", generate)

    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        hint = screen.query_one("#chat-hint")
        await wait_for(pilot, lambda: "no chat tokens" in text_of(hint), timeout=30)
        await say(pilot, screen, "Как дела?")
        assert prompts == ["— Как дела?\n— "]
        assert screen.chat.turns[-1] == {"role": "assistant", "content": "Хорошо, спасибо."}

    run_app(models_root, body, size=(100, 30))


def test_footer_names_the_mode_keys(models_root):
    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        shown = {b.description for _, b, enabled, *_ in screen.active_bindings.values()
                 if enabled and b.show}
        assert {"Text mode", "New chat", "Export", "Again"} <= shown
        assert "Chat mode" not in shown and "Clear" not in shown
        await pilot.press("ctrl+t")
        await pilot.pause()
        shown = {b.description for _, b, enabled, *_ in screen.active_bindings.values()
                 if enabled and b.show}
        assert {"Chat mode", "Clear", "Again"} <= shown
        assert "Export" not in shown and "New chat" not in shown

    run_app(models_root, body, size=(100, 30))


def test_again_asks_for_another_reply_in_place_of_the_last(models_root, monkeypatch):
    seen: list = []
    fixed_reply(monkeypatch, ["Привет!", "Хорошо.", "Отлично!"], seen)

    async def body(app, pilot):
        screen = await open_chat(pilot, app)
        await say(pilot, screen, "Привет")
        await say(pilot, screen, "Как дела?")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: not screen._generating
                       and len(screen.chat.turns) == 4, timeout=30)
        assert seen[2] == seen[1], "asked from the same conversation"
        assert turns(screen) == [("user", "Привет"), ("assistant", "Привет!"),
                                 ("user", "Как дела?"), ("assistant", "Отлично!")]
        (file,) = chat_files(models_root)
        saved = json.loads(file.read_text(encoding="utf-8"))["messages"]
        assert [m["content"] for m in saved] == ["Привет", "Привет!", "Как дела?", "Отлично!"]

    run_app(models_root, body, size=(100, 30))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_chat_mode_snapshot(snap_compare, snapshot_root, size):
    """Chat mode with a system prompt and two exchanges (fake models: nothing is loaded)."""
    from slavik_tui.ui.app import SlavikApp

    async def run_before(pilot):
        await pilot.pause()
        await pilot.press("down", "f3", "ctrl+t")
        await pilot.pause()
        screen = pilot.app.screen
        screen.query_one("#chat-system", Input).value = "Ты вежливый собеседник."
        log = screen.query_one(ChatLog)
        log.add("system", "Ты вежливый собеседник.")
        for question, answer in [("Привет!", "Здравствуйте! Чем могу помочь?"),
                                 ("Как дела?", "Хорошо, спасибо. А у вас?")]:
            log.add("user", question)
            turn = log.add("assistant", model="tolstoy")
            await pilot.pause()
            turn.append(answer)
            turn.set_stats("9 tokens · 0.06 s · 150.0 tok/s")
        screen.query_one("#gen-prompt", Input).focus()
        for field in screen.query(Input):
            field.cursor_blink = False
        pilot.app.scan_paused = True
        await pilot.pause()

    assert snap_compare(SlavikApp(snapshot_root), terminal_size=size, run_before=run_before)
