"""store/conversations.py: the Chat mode's files under the model, and the JSONL export."""

from __future__ import annotations

import json

import pytest

from slavik_tui.errors import UserError
from slavik_tui.store.conversations import (
    ConversationFile,
    check_export,
    conversation_line,
    export_conversation,
    list_conversations,
)

HELLO = [{"role": "user", "content": "Привет"}, {"role": "assistant", "content": "Привет!"}]


@pytest.fixture
def model_dir(tmp_path):
    path = tmp_path / "models" / "славик"
    path.mkdir(parents=True)
    return path


def read(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1, "one conversation, one line"
    return json.loads(lines[0])["messages"]


def test_a_conversation_is_one_file_rewritten_after_each_reply(model_dir):
    file = ConversationFile(model_dir)
    assert file.path is None and list_conversations(model_dir) == []
    first = file.save(HELLO)
    assert first.parent == model_dir / "chats" and first.suffix == ".jsonl"
    more = HELLO + [{"role": "user", "content": "Как дела?"},
                    {"role": "assistant", "content": "Хорошо."}]
    assert file.save(more) == first
    assert read(first) == more
    assert "Привет" in first.read_text(encoding="utf-8"), "Cyrillic stays readable"
    assert [p.name for p in (model_dir / "chats").iterdir()] == [first.name], "no temp left"


def test_two_conversations_in_one_second_get_two_files_in_order(model_dir):
    a, b, c = (ConversationFile(model_dir) for _ in range(3))
    paths = [f.save([{"role": "user", "content": str(i)}]) for i, f in enumerate((a, b, c))]
    assert len(set(paths)) == 3
    assert list_conversations(model_dir) == paths
    assert [read(p)[0]["content"] for p in list_conversations(model_dir)] == ["0", "1", "2"]


def test_a_linked_chats_folder_is_refused(model_dir, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (model_dir / "chats").symlink_to(outside)
    with pytest.raises(UserError, match="symbolic link.*not a folder of the model"):
        ConversationFile(model_dir).save(HELLO)
    assert list(outside.iterdir()) == []
    assert list_conversations(model_dir) == []


def test_messages_may_be_engine_messages(model_dir):
    from slavik_tui.engine.chat import Message

    line = conversation_line([Message("user", "Привет"), Message("assistant", "Да")])
    assert json.loads(line) == {"messages": [{"role": "user", "content": "Привет"},
                                             {"role": "assistant", "content": "Да"}]}
    with pytest.raises(UserError, match="needs a role and a text"):
        conversation_line([{"role": "user"}])


def test_export_refuses_what_it_must_never_replace(model_dir, tmp_path):
    root = model_dir.parent
    out = tmp_path / "out.jsonl"
    assert check_export(out, root) is False
    assert export_conversation(HELLO, out, root) == out
    assert read(out) == HELLO
    assert check_export(out, root) is True
    with pytest.raises(UserError, match="already exists; confirm"):
        export_conversation(HELLO[:1], out, root)
    assert read(out) == HELLO
    export_conversation(HELLO[:1], out, root, replace=True)
    assert read(out) == HELLO[:1]
    for target, words in [(model_dir / "x.jsonl", "inside the models folder"),
                          (root / "x.jsonl", "inside the models folder"),
                          (tmp_path, "a folder"),
                          ("/dev/null", "a device"),
                          (tmp_path / "missing" / "x.jsonl", "not a folder")]:
        with pytest.raises(UserError, match=words):
            export_conversation(HELLO, target, root, replace=True)
    link = tmp_path / "link.jsonl"
    link.symlink_to(out)
    with pytest.raises(UserError, match="symbolic link"):
        export_conversation(HELLO, link, root, replace=True)
    assert read(out) == HELLO[:1]
