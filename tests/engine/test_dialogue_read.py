"""Dialogue files → conversations: .jsonl messages, .csv question/answer, dash-led prose lines,
T:/Q:/A: records; every malformed record is one line naming the file, the line and the fix."""

from __future__ import annotations

import json
import random

import pytest

from corpus import sentence
from slavik_tui.engine.chat import Message, parse_columns, read_dialogues
from slavik_tui.engine.chat.prose import speech_of
from slavik_tui.errors import UserError

U, A, S = "user", "assistant", "system"


def one_line(exc: pytest.ExceptionInfo, *needles: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.strip()
    for needle in needles:
        assert needle.lower() in msg.lower(), (needle, msg)
    return msg


def write(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def jsonl(*records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def msgs(*pairs) -> list[Message]:
    return [Message(role, content) for role, content in pairs]


# ---- .jsonl -----------------------------------------------------------------------------------
def test_jsonl_messages(tmp_path) -> None:
    rng = random.Random(1)
    q, a = sentence(rng), sentence(rng)
    path = write(tmp_path, "chats.jsonl", jsonl(
        {"messages": [{"role": "system", "content": "Ты кот."},
                      {"role": "user", "content": "Привет"},
                      {"role": "assistant", "content": "Мяу!", "name": "kot"}], "id": 7},
        {"messages": [{"role": "system", "content": " "}, {"role": "user", "content": q},
                      {"role": "assistant", "content": a}, {"role": "user", "content": "И?"},
                      {"role": "assistant", "content": "Всё."}]},
    ) + "\n  \n" + jsonl({"messages": [{"role": "assistant", "content": "Здравствуйте!"}]}))
    assert read_dialogues(path) == [
        msgs((S, "Ты кот."), (U, "Привет"), (A, "Мяу!")),
        msgs((U, q), (A, a), (U, "И?"), (A, "Всё.")),  # an empty system prompt is dropped
        msgs((A, "Здравствуйте!")),
    ]


GOOD = {"role": "user", "content": "Привет"}
REPLY = {"role": "assistant", "content": "Привет!"}


@pytest.mark.parametrize("line, needle", [
    ('{"messages": [', "not valid JSON"),
    ('[1, 2]', "JSON list, not an object"),
    ('{"conversations": []}', 'no "messages" list (fields: conversations)'),
    (json.dumps({"messages": "hi"}), 'no "messages" list'),
    (json.dumps({"messages": []}), "it has no messages"),
    (json.dumps({"messages": [GOOD, "hi"]}), 'message 2 is not an object with a "role"'),
    (json.dumps({"messages": [{"role": "bot", "content": "x"}, REPLY]}), "role 'bot'"),
    (json.dumps({"messages": [GOOD, {"role": "assistant"}]}), 'no text "content"'),
    (json.dumps({"messages": [GOOD, {"role": "assistant", "content": 3}]}), "got int"),
    (json.dumps({"messages": [GOOD, {"role": "assistant", "content": "  "}]}), "is empty"),
    (json.dumps({"messages": [GOOD, {"role": "system", "content": "x"}, REPLY]}),
     "only the first message may be one"),
    (json.dumps({"messages": [GOOD, GOOD, REPLY]}), "both user messages"),
    (json.dumps({"messages": [GOOD]}), "no assistant message"),
])
def test_jsonl_errors_name_file_and_line(tmp_path, line: str, needle: str) -> None:
    path = write(tmp_path, "bad.jsonl", jsonl({"messages": [GOOD, REPLY]}) + "\n" + line + "\n")
    with pytest.raises(UserError) as exc:
        read_dialogues(path)
    one_line(exc, str(path), "line 3", needle, '{"messages": [{"role": "user"')
    assert exc.value.field == "data"


def test_jsonl_without_dialogues(tmp_path) -> None:
    with pytest.raises(UserError) as exc:
        read_dialogues(write(tmp_path, "empty.jsonl", "\n \n"))
    one_line(exc, "has no dialogues")


# ---- .csv -------------------------------------------------------------------------------------
def test_csv_question_answer(tmp_path) -> None:
    path = write(tmp_path, "faq.csv",
                 'id,question,answer\n1,Как дела?,Хорошо.\n2," Что нового?\n(второй вопрос)",'
                 '"Ничего, ""всё"" по-старому"\n,,\n')
    assert read_dialogues(path) == [
        msgs((U, "Как дела?"), (A, "Хорошо.")),
        msgs((U, "Что нового?\n(второй вопрос)"), (A, 'Ничего, "всё" по-старому')),
    ]


def test_csv_other_columns_and_delimiter(tmp_path) -> None:
    path = write(tmp_path, "faq.csv", "q;a\nКто там?;Я.\n", encoding="cp1251")
    with pytest.raises(UserError) as exc:  # cp1251 without --encoding: the data reader's advice
        read_dialogues(path, columns=("q", "a"))
    one_line(exc, "--encoding cp1251")
    assert read_dialogues(path, columns=("q", "a"), encoding="cp1251") == [
        msgs((U, "Кто там?"), (A, "Я."))
    ]


def test_csv_missing_column_advice_works(tmp_path) -> None:
    path = write(tmp_path, "faq.tsv", "вопрос\tответ\nКто там?\tЯ.\n")
    with pytest.raises(UserError) as exc:
        read_dialogues(path)
    msg = one_line(exc, 'no "question" column', "columns: вопрос, ответ", "--columns")
    assert exc.value.field == "columns" and "QUESTION,ANSWER" in msg
    # following the advice: name the two columns
    assert read_dialogues(path, columns=parse_columns("вопрос,ответ")) == [
        msgs((U, "Кто там?"), (A, "Я."))
    ]


def test_csv_empty_cell_names_line(tmp_path) -> None:
    path = write(tmp_path, "faq.csv", "question,answer\nКак дела?,Хорошо\nА у тебя?,\n")
    with pytest.raises(UserError) as exc:
        read_dialogues(path)
    one_line(exc, str(path), "line 3", '"answer" cell is empty')


def test_csv_header_only(tmp_path) -> None:
    with pytest.raises(UserError) as exc:
        read_dialogues(write(tmp_path, "faq.csv", "question,answer\n"))
    one_line(exc, "no rows below its header")


@pytest.mark.parametrize("text", ["q", "q,a,b", ",a", "q,"])
def test_parse_columns_rejects(text: str) -> None:
    with pytest.raises(UserError) as exc:
        parse_columns(text)
    one_line(exc, "--columns", "question,answer")
    assert exc.value.field == "columns"


# ---- dash-led prose ---------------------------------------------------------------------------
PROSE = (
    "Степан Аркадьич проснулся.\n\n"
    "–\u00a0Из присутствия есть бумаги?\n\n"
    "— На столе,\u00a0– отвечал Матвей. – От хозяина приходили.\n"
    "- Хорошо.\n\n"
    "Он помолчал.\n"
    "– Матвей, сестра будет завтра.\n"
    "– Слава богу.\n"
    "Одна строка.\n"
    "– Одинокий вопрос?\n"
    "   – Да, – сказал он, – иди!\n"
    "– Москва – столица.\n"
)


def test_dash_dialogue(tmp_path) -> None:
    # blank lines do not break a dialogue, narration does; a last question without an
    # answer ("Хорошо.", "Москва – столица.") is dropped, as is a lone line
    assert read_dialogues(write(tmp_path, "novel.txt", PROSE)) == [
        msgs((U, "Из присутствия есть бумаги?"), (A, "На столе. От хозяина приходили.")),
        msgs((U, "Матвей, сестра будет завтра."), (A, "Слава богу.")),
        msgs((U, "Одинокий вопрос?"), (A, "Да, иди!")),
    ]


@pytest.mark.parametrize("line, speech", [
    ("– Дарье Александровне?\u00a0– как бы с сомнением повторил Матвей.",
     "Дарье Александровне?"),
    ("– Угодно,\u00a0– сказал он, смеясь. – Пойдём.", "Угодно. Пойдём."),
    ("– Ну, – сказал он, – иди.", "Ну, иди."),
    ("– Москва – столица, – сказал он", "Москва – столица."),
    ("—\tДа!", "Да!"),
])
def test_speech_without_the_authors_words(line: str, speech: str) -> None:
    assert speech_of(line) == speech


def test_prose_without_dialogue(tmp_path) -> None:
    path = write(tmp_path, "plain.txt", "Просто текст.\n– Одна реплика.\nЕщё текст.\n-1 градус\n")
    with pytest.raises(UserError) as exc:
        read_dialogues(path)
    one_line(exc, str(path), "no dialogue", "starting with a dash", "T:/Q:/A:", ".jsonl")


# ---- T:/Q:/A: records -------------------------------------------------------------------------
def test_qa_records(tmp_path) -> None:
    text = (
        "\nT: Я не курю\nQ: ты куришь?\nA: нет\n\n"
        "T: Кошка видит дом\nT: Собака видит лес\nQ: кто видит лес?\nA: собака\n"
        "Q: а дом?\nA: кошка,\nконечно\n\n\n"
        "Q:без пробела?\nA:да\n"
    )
    assert read_dialogues(write(tmp_path, "qa.txt", text)) == [
        msgs((U, "Я не курю\nты куришь?"), (A, "нет")),
        msgs((U, "Кошка видит дом\nСобака видит лес\nкто видит лес?"), (A, "собака"),
             (U, "а дом?"), (A, "кошка,\nконечно")),
        msgs((U, "без пробела?"), (A, "да")),
    ]


@pytest.mark.parametrize("record, lineno, needle", [
    ("A: нет\n", 4, "an A: line has no Q: line before it"),
    ("Q: да?\nQ: нет?\nA: да\n", 5, "two Q: lines"),
    ("Q: да?\nT: факт\nA: да\n", 5, "a T: line comes between"),
    ("T: факт\nQ: да?\n", 5, "the Q: line has no A: line"),
    ("T: факт\n", 4, "the T: line has no Q:"),
    ("Q: да?\nA:  \n", 5, "the A: line is empty"),
])
def test_qa_errors_name_file_and_line(tmp_path, record: str, lineno: int, needle: str) -> None:
    path = write(tmp_path, "qa.txt", "Q: ты тут?\nA: да\n\n" + record + "\nQ: ещё?\nA: да\n")
    with pytest.raises(UserError) as exc:
        read_dialogues(path)
    one_line(exc, str(path), f"line {lineno}:", needle, "records separated by blank lines")


def test_qa_first_line_decides_the_format(tmp_path) -> None:
    # a first line with a tag makes the file records; a later untagged line continues a field
    path = write(tmp_path, "qa.txt", "Q: раз?\nA: два\nтри\n")
    assert read_dialogues(path) == [msgs((U, "раз?"), (A, "два\nтри"))]


# ---- the file itself --------------------------------------------------------------------------
def test_file_problems_are_the_data_readers(tmp_path) -> None:
    with pytest.raises(UserError) as exc:
        read_dialogues(tmp_path / "nope.jsonl")
    one_line(exc, "no such file")
    with pytest.raises(UserError) as exc:
        read_dialogues(write(tmp_path, "empty.txt", ""))
    one_line(exc, "is empty")
    with pytest.raises(UserError) as exc:
        read_dialogues(write(tmp_path, "wide.txt", "\ufeff– Да?\n– Нет.\n", encoding="utf-16"))
    one_line(exc, "UTF-16")
    with pytest.raises(UserError) as exc:
        read_dialogues(write(tmp_path, "a.txt", "– Да?\n– Нет.\n"), encoding="klingon")
    one_line(exc, "unknown encoding")
    path = write(tmp_path, "crlf.txt", "– Да?\r\n– Нет.\r\n", encoding="utf-16")
    assert read_dialogues(path, encoding="utf-16") == [msgs((U, "Да?"), (A, "Нет."))]
