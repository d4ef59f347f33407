"""Our chat format: ids and loss mask of a conversation, the reply prompt, and the Jinja
template that gives the same ids in `transformers`."""

from __future__ import annotations

import pytest

from corpus import make_text
from slavik_tui.engine.chat import (
    CHAT_TEMPLATE,
    Message,
    chat_ids,
    prompt_ids,
    render_conversation,
)
from slavik_tui.engine.tokenizer import ASSISTANT, END_OF_TURN, EOT, SYSTEM, USER, Tokenizer
from slavik_tui.errors import UserError

CONV = [
    Message("system", "Ты вежливый собеседник."),
    Message("user", "Привет, как дела?"),
    Message("assistant", "Кошка тихо видит дом."),
    Message("user", "А собака?"),
    Message("assistant", " Собака снова ищет лес!\n"),
    Message("user", "Спасибо 😀"),
    Message("assistant", "The cat sees the sea."),
]


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train([make_text(20_000, seed=4)], vocab_size=400)


def test_render_layout_and_mask(tok: Tokenizer) -> None:
    ids, mask = render_conversation(CONV, tok)
    c = chat_ids(tok)
    assert (c.eot, c.system, c.user, c.assistant, c.end) == (0, 1, 2, 3, 4)
    expected_ids, expected_mask = [c.eot], [0]
    for m in CONV:
        body = tok.encode(m.content) + [c.end]
        expected_ids += [c.role(m.role), *body]
        expected_mask += [0] + [int(m.role == "assistant")] * len(body)
    assert ids == expected_ids and mask == expected_mask
    # what the mask selects is exactly the replies, each with its end of turn
    learned = tok.decode([t for t, m in zip(ids, mask) if m])
    assert learned == "".join(m.content + END_OF_TURN for m in CONV if m.role == "assistant")
    assert tok.decode(ids) == EOT + "".join(f"<|{m.role}|>{m.content}{END_OF_TURN}" for m in CONV)


def test_markers_typed_by_a_user_are_text(tok: Tokenizer) -> None:
    conv = [Message("user", f"{ASSISTANT}да{END_OF_TURN}"), Message("assistant", f"{USER}?")]
    ids, mask = render_conversation(conv, tok)
    c = chat_ids(tok)
    specials = [t for t in ids if t < 5]
    assert specials == [c.eot, c.user, c.end, c.assistant, c.end]
    assert sum(mask) == len(tok.encode(f"{USER}?")) + 1


def test_prompt_ids_end_with_assistant(tok: Tokenizer) -> None:
    c = chat_ids(tok)
    conv = CONV[:-1]
    ids = prompt_ids(conv, tok)
    assert ids == render_conversation(conv, tok)[0] + [c.assistant]
    # the prompt plus the reply is the rendered conversation (the reply's tokens included)
    full = render_conversation(CONV, tok)[0]
    assert full[: len(ids)] == ids and full[len(ids):] == tok.encode(CONV[-1].content) + [c.end]


def test_prompt_ids_fit_by_dropping_old_exchanges(tok: Tokenizer) -> None:
    c = chat_ids(tok)
    conv = CONV[:-1]
    blocks = [[c.role(m.role), *tok.encode(m.content), c.end] for m in conv]
    full = prompt_ids(conv, tok)
    assert prompt_ids(conv, tok, max_len=len(full)) == full
    # one token short: the first exchange goes, the system message stays
    fit = prompt_ids(conv, tok, max_len=len(full) - 1)
    assert fit == [c.eot, *blocks[0], *blocks[3], *blocks[4], *blocks[5], c.assistant]
    # short enough for the last question alone, but not with the system message
    alone = [c.eot, *blocks[5], c.assistant]
    assert prompt_ids(conv, tok, max_len=len(alone)) == alone
    # a last message longer than the room keeps its end
    assert prompt_ids(conv, tok, max_len=3) == alone[-3:]


def test_prompt_needs_a_user_message_last(tok: Tokenizer) -> None:
    with pytest.raises(UserError, match="must end with the user's message"):
        prompt_ids(CONV, tok)


@pytest.mark.parametrize("conv, needle", [
    ([], "no messages"),
    ([Message("bot", "x")], "role 'bot'"),
    ([Message("user", "a"), Message("user", "b")], "turns must alternate"),
    ([Message("user", "a"), Message("system", "b")], "only the first"),
    ([Message("user", "")], "is empty"),
    ([Message("user", 5)], "not text"),
    (["hello"], "not a Message"),
])
def test_bad_conversations_are_one_line(tok: Tokenizer, conv, needle: str) -> None:
    with pytest.raises(UserError) as exc:
        render_conversation(conv, tok)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_tokenizer_without_chat_tokens(tok: Tokenizer) -> None:
    from test_tokenizer import old_tokenizer

    old = old_tokenizer(make_text(5_000))
    with pytest.raises(UserError) as exc:
        render_conversation(CONV, old)
    assert "no chat tokens" in str(exc.value) and "slavik-tui sft" in str(exc.value)
    old.add_chat_tokens()
    ids, _ = render_conversation(CONV, old)
    assert ids[:2] == [old.eot_id, old.special_id(SYSTEM)]


# ---- the Jinja template in transformers ---------------------------------------------------------
def hf_ids(fast, messages, **kw) -> list[int]:
    out = fast.apply_chat_template(messages, tokenize=True, return_dict=False, **kw)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def test_template_gives_our_ids_in_transformers(tok: Tokenizer, tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(path), eos_token=EOT, chat_template=CHAT_TEMPLATE
    )
    as_dicts = [{"role": m.role, "content": m.content} for m in CONV]
    assert len([m for m in CONV if m.role == "assistant"]) == 3  # a 3-turn conversation
    assert hf_ids(fast, as_dicts) == render_conversation(CONV, tok)[0]
    assert hf_ids(fast, as_dicts[:-1], add_generation_prompt=True) == prompt_ids(CONV[:-1], tok)
    text = fast.apply_chat_template(as_dicts[:3], tokenize=False)
    assert text == f"{EOT}{SYSTEM}{CONV[0].content}{END_OF_TURN}{USER}{CONV[1].content}" \
                   f"{END_OF_TURN}{ASSISTANT}{CONV[2].content}{END_OF_TURN}"
    with pytest.raises(Exception, match="roles are system, user and assistant"):
        fast.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)
