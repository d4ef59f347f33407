"""Shared by test_read, test_datasets and test_batches: texts, files and a tokenizer."""

from __future__ import annotations

import random

import pytest

from slavik_tui.engine.tokenizer import Tokenizer
from slavik_tui.errors import UserError

RU = (
    "и в не на я что он с а как это по но она его к так все они мы было сказал Левин Анна "
    "Каренина дом время рука жизнь глаза слово ёлка подъезд объяснение любовь счастье"
).split()
EN = "the of and to a in that he was it his with as for had you not be her on at by".split()

RUSSIAN = (
    "Старый мельник долго смотрел на реку, а вечером зажёг лампу и написал сыну "
    "длинное письмо.\n"
) * 20


def make_corpus(n_words: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n_words):
        out.append(rng.choice(RU if rng.random() < 0.7 else EN))
        out.append(rng.choice(["\n\n", ". ", ", "]) if rng.random() < 0.05 else " ")
        if i % 101 == 0:
            out.append(f"{rng.randint(0, 99)} ")
    return "".join(out)


def write(path, data: bytes | str):
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def user_error(fn, *needles: str) -> str:
    """Call fn, expect a one-line UserError that contains every needle (case-insensitive)."""
    with pytest.raises(UserError) as exc:
        fn()
    msg = str(exc.value)
    assert "\n" not in msg and msg.strip()
    for needle in needles:
        assert needle.lower() in msg.lower(), (needle, msg)
    return msg


@pytest.fixture(scope="module")
def corpus() -> str:
    return make_corpus(8_000, seed=7)


@pytest.fixture(scope="module")
def tok(corpus: str) -> Tokenizer:
    return Tokenizer.train([corpus], vocab_size=500)


@pytest.fixture
def model_dir(tmp_path, tok):
    d = tmp_path / "models" / "славик"
    d.mkdir(parents=True)
    tok.save(d / "tokenizer.json")
    return d
