"""The Generation screen: streaming, tokens/s, stopping, settings, errors as notifications."""

from __future__ import annotations

import time

from conftest import notifications, run_app, text_of, wait_for
from textual.widgets import Input


from slavik_tui.ui.screens.generation import GenerationScreen, parse_params
from slavik_tui.ui.widgets.exchange_log import Exchange


async def open_generation(pilot, app) -> GenerationScreen:
    await pilot.pause()
    await pilot.press("f3")
    screen = app.screen
    assert isinstance(screen, GenerationScreen)
    await pilot.pause()
    return screen


async def ask(pilot, screen: GenerationScreen, prompt: str, started: bool = True) -> None:
    """Type a prompt and press Enter; with `started`, wait until its exchange is on screen."""
    before = len(screen.query(Exchange))
    screen.query_one("#gen-prompt", Input).value = prompt
    screen.query_one("#gen-prompt", Input).focus()
    await pilot.press("enter")
    if started:
        await wait_for(pilot, lambda: len(screen.query(Exchange)) > before, timeout=10)


def test_answer_streams_in_with_tokens_per_second(models_root):
    async def body(app, pilot):
        screen = await open_generation(pilot, app)
        assert screen.model == "tiny"
        screen.query_one("#max-tokens", Input).value = "40"
        screen.query_one("#seed", Input).value = "7"
        await ask(pilot, screen, "Привет, как дела")
        await wait_for(pilot, lambda: not screen._generating, timeout=60)
        exchange = screen.query_one(Exchange)
        assert exchange.prompt == "Привет, как дела"
        assert exchange.answer.strip(), "a non-empty answer"
        stats = text_of(exchange.query_one(".exchange--stats"))
        assert "tok/s" in stats and "tokens ·" in stats
        assert "tok/s" in text_of(screen.query_one("#gen-status"))
        # a second prompt: the first exchange stays above it; the model is not reloaded
        loaded = screen._loaded
        await ask(pilot, screen, "The cat")
        await wait_for(pilot, lambda: not screen._generating, timeout=60)
        assert [e.prompt for e in screen.query(Exchange)] == ["Привет, как дела", "The cat"]
        assert screen._loaded is loaded

    run_app(models_root, body, size=(100, 30))


def test_escape_stops_generation(models_root, monkeypatch):
    """A model that would talk for ever (a stand-in for a long answer): Esc stops it."""
    import slavik_tui.engine.generate as engine_generate

    def endless(model, tokenizer, prompt, **settings):
        while True:
            time.sleep(0.002)
            yield "слово "

    monkeypatch.setattr(engine_generate, "generate", endless)

    async def body(app, pilot):
        screen = await open_generation(pilot, app)
        await ask(pilot, screen, "Привет")
        await wait_for(pilot, lambda: screen._exchange is not None
                       and len(screen._exchange.answer) > 30, timeout=60)
        assert "tok/s" in text_of(screen.query_one("#gen-status"))  # while generating
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen._generating, timeout=10)
        exchange = screen.query_one(Exchange)
        assert "stopped" in text_of(exchange.query_one(".exchange--stats"))
        assert exchange.answer.startswith("слово слово")
        # the screen takes the next prompt
        await ask(pilot, screen, "ещё")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen._generating, timeout=10)

    run_app(models_root, body, size=(100, 30))


def test_bad_settings_show_errors_and_generate_nothing(models_root):
    async def body(app, pilot):
        screen = await open_generation(pilot, app)
        screen.query_one("#temperature", Input).value = "hot"
        screen.query_one("#top-p", Input).value = "1.5"
        await pilot.pause()
        errors = text_of(screen.query_one("#gen-errors"))
        assert "temperature must be a number" in errors and "top-p must be ≤ 1" in errors
        assert screen.query_one("#temperature").has_class("-invalid")
        await ask(pilot, screen, "Привет", started=False)
        await pilot.pause()
        assert not screen._generating and not screen.query(Exchange)
        screen.query_one("#temperature", Input).value = "0.7"
        screen.query_one("#top-p", Input).value = "0.9"
        await pilot.pause()
        assert not text_of(screen.query_one("#gen-errors")).strip()

    run_app(models_root, body)


def test_tampered_weights_end_in_a_notification_not_a_crash(models_root):
    weights = models_root / "tiny" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))

    async def body(app, pilot):
        screen = await open_generation(pilot, app)
        await ask(pilot, screen, "Привет")
        await wait_for(pilot, lambda: any("checksum" in m for m in notifications(app)),
                       timeout=60)
        await wait_for(pilot, lambda: not screen._generating, timeout=10)
        assert app.is_running and isinstance(app.screen, GenerationScreen)

    run_app(models_root, body)


def test_markup_in_prompts_and_answers_is_shown_as_text(models_root):
    async def body(app, pilot):
        screen = await open_generation(pilot, app)
        screen.query_one("#max-tokens", Input).value = "3"
        await ask(pilot, screen, "[bold]x[/] [red")
        await wait_for(pilot, lambda: not screen._generating, timeout=60)
        prompt = text_of(screen.query_one(".exchange--prompt"))
        assert "[bold]x[/] [red" in prompt

    run_app(models_root, body)


def test_parse_params():
    kwargs, errors = parse_params({"max-tokens": "50", "temperature": "0,5", "top-k": "0",
                                   "top-p": "1", "seed": ""})
    assert errors == {}
    assert kwargs == {"max_tokens": 50, "temperature": 0.5, "top_k": 0, "top_p": 1.0,
                      "seed": None}
    _, errors = parse_params({"max-tokens": "0", "temperature": "-1", "top-k": "x",
                              "top-p": "0", "seed": "abc"})
    assert set(errors) == {"max-tokens", "temperature", "top-k", "top-p", "seed"}


def test_generation_uses_one_torch_thread_while_a_trainer_runs(models_root, monkeypatch):
    """Two CPU-heavy processes on two cores stall each other: beside a live trainer (of any
    model) the screen generates on one thread, and gives torch its threads back after."""
    import torch

    import slavik_tui.engine.generate as engine_generate
    from slavik_tui.store.lock import ModelLock

    seen: list[int] = []

    def recording(model, tokenizer, prompt, **settings):
        seen.append(torch.get_num_threads())
        yield "да"

    monkeypatch.setattr(engine_generate, "generate", recording)
    before = torch.get_num_threads()
    torch.set_num_threads(2)

    async def body(app, pilot):
        screen = await open_generation(pilot, app)
        await ask(pilot, screen, "Привет")
        await wait_for(pilot, lambda: not screen._generating, timeout=60)
        assert seen == [2]  # nobody trains: torch's own count
        assert "thread" not in text_of(screen.query_one("#gen-status"))
        lock = ModelLock(models_root / "tiny").acquire()  # this process plays the trainer
        try:
            await ask(pilot, screen, "Привет")
            await wait_for(pilot, lambda: not screen._generating, timeout=60)
        finally:
            lock.release()
        assert seen == [2, 1]
        assert torch.get_num_threads() == 2  # restored after the answer
        assert "1 thread: a trainer is running" in text_of(screen.query_one("#gen-status"))

    try:
        run_app(models_root, body, size=(100, 30))
    finally:
        torch.set_num_threads(before)


# ---- focus and keys (#13 item 6) ---------------------------------------------------------------
def painted(app, widget) -> list[tuple[str, tuple, tuple]]:
    """(character, colour, background) of every cell `widget` covers, as painted now."""
    region = widget.region
    rows = app.screen._compositor.render_strips()[region.y:region.bottom]
    cells = []
    for strip in rows:
        for segment in strip.crop(region.x, region.right):
            style = segment.style
            fg = style.color.get_truecolor() if style and style.color else (0, 0, 0)
            bg = style.bgcolor.get_truecolor() if style and style.bgcolor else (0, 0, 0)
            cells.extend((ch, tuple(fg), tuple(bg)) for ch in segment.text)
    return cells


def contrast(before: list, after: list) -> int:
    """How much a widget's picture changed: 255 where a character changed, else the largest
    change of a cell's background, or of a visible character's colour (summed over R, G, B).
    Textual's own focus tint of a compact field is about 20: invisible."""
    if len(before) != len(after):
        return 255
    worst = 0
    for (c1, fg1, bg1), (c2, fg2, bg2) in zip(before, after):
        if c1 != c2:
            return 255
        worst = max(worst, sum(abs(a - b) for a, b in zip(bg1, bg2)))
        if c1.strip():
            worst = max(worst, sum(abs(a - b) for a, b in zip(fg1, fg2)))
    return worst


def test_every_tab_stop_shows_its_focus(models_root):
    """Tab goes round every focusable part of the screen, in both modes; each one looks
    different when it has the focus (no stop where typing vanishes unseen)."""
    async def body(app, pilot):
        screen = await open_generation(pilot, app)
        for mode in ("text", "chat"):
            for field in screen.query(Input):
                field.cursor_blink = False
            await pilot.pause()
            prompt = screen.query_one("#gen-prompt")
            assert app.focused is prompt
            chain = list(screen.focus_chain)
            ids = [w.id for w in chain]
            assert ids[0] == "gen-model" and ids[-2:] == [
                "chat-log" if mode == "chat" else "gen-log", "gen-prompt"]
            assert ("chat-system" in ids) == (mode == "chat")
            for widget in [*chain[:-1], prompt]:  # the round ends back at the prompt
                blurred = painted(app, widget)
                await pilot.press("tab")
                await pilot.pause()
                assert app.focused is widget
                assert contrast(blurred, painted(app, widget)) >= 60, \
                    f"{widget!r} shows no focus ({mode} mode)"
            await pilot.press("ctrl+t")
            await pilot.pause()

    run_app(models_root, body, size=(100, 30))


def test_p_or_slash_focuses_the_prompt_and_esc_leaves_a_field(models_root):
    from slavik_tui.ui.widgets.chat_log import ChatLog
    from slavik_tui.ui.widgets.exchange_log import ExchangeLog

    async def body(app, pilot):
        screen = await open_generation(pilot, app)
        prompt = screen.query_one("#gen-prompt", Input)
        assert app.focused is prompt
        await pilot.press("escape")
        assert app.focused is screen.query_one(ExchangeLog)  # the output: arrows scroll it
        await pilot.press("p")
        assert app.focused is prompt and prompt.value == ""
        await pilot.press("x", "p")  # in the field p is a letter
        assert prompt.value == "xp"
        for field in ("#seed", "#gen-model"):
            screen.query_one(field).focus()
            await pilot.press("escape")
            assert app.focused is screen.query_one(ExchangeLog), field
            await pilot.press("slash")
            assert app.focused is prompt and prompt.value == "xp"
        await pilot.press("ctrl+t")  # Chat mode: Esc goes to the conversation
        await pilot.press("escape")
        assert app.focused is screen.query_one(ChatLog)
        await pilot.press("p")
        assert app.focused is prompt

    run_app(models_root, body, size=(100, 30))


def test_letters_type_in_the_prompt_and_switch_screens_outside_it(models_root):
    from slavik_tui.ui.screens.history import HistoryScreen
    from slavik_tui.ui.screens.models import ModelsScreen
    from slavik_tui.ui.screens.training import TrainingScreen

    async def body(app, pilot):
        screen = await open_generation(pilot, app)
        prompt = screen.query_one("#gen-prompt", Input)
        await pilot.press("t", "m", "h")
        await pilot.pause()
        assert app.screen is screen and prompt.value == "tmh"
        for key, cls in (("t", TrainingScreen), ("h", HistoryScreen), ("m", ModelsScreen)):
            screen.query_one("#top-k").focus()
            await pilot.press("escape", key)
            await pilot.pause()
            assert isinstance(app.screen, cls), key
            await pilot.press("f3")
            await pilot.pause()
            assert app.screen is screen
        assert prompt.value == "tmh"

    run_app(models_root, body, size=(100, 30))


def test_coming_back_to_generation_lands_in_the_prompt(models_root):
    # Seen in tmux: Esc (the log), t, then h … g: the focus was still on the log, and a
    # prompt typed there vanished (only screen letters do something on the log).
    from slavik_tui.ui.screens.models import ModelsScreen

    async def body(app, pilot):
        screen = await open_generation(pilot, app)
        prompt = screen.query_one("#gen-prompt", Input)
        await pilot.press("escape")  # leaves the prompt: the log has the focus
        assert app.focused is not prompt
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)
        app.open_mode("generation")
        await pilot.pause()
        assert app.screen is screen and app.focused is prompt
        await pilot.press("a", "b")
        assert prompt.value == "ab"

    run_app(models_root, body, size=(100, 30))
