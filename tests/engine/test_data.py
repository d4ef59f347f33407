"""Datasets: reading files (formats, encodings, bad input), token caches, batches."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest

from slavik_tui.engine.data import (
    DatasetEntry,
    TokenData,
    add_datasets,
    file_sha256,
    load_corpus_words,
    load_manifest,
    read_documents,
    words_in,
)
from slavik_tui.engine.tokenizer import EOT, Tokenizer
from slavik_tui.errors import UserError

RU = (
    "и в не на я что он с а как это по но она его к так все они мы было сказал Левин Анна "
    "Каренина дом время рука жизнь глаза слово ёлка подъезд объяснение любовь счастье"
).split()
EN = "the of and to a in that he was it his with as for had you not be her on at by".split()


def make_corpus(n_words: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n_words):
        out.append(rng.choice(RU if rng.random() < 0.7 else EN))
        out.append(rng.choice(["\n\n", ". ", ", "]) if rng.random() < 0.05 else " ")
        if i % 101 == 0:
            out.append(f"{rng.randint(0, 99)} ")
    return "".join(out)


RUSSIAN = (
    "Старый мельник долго смотрел на реку, а вечером зажёг лампу и написал сыну "
    "длинное письмо.\n"
) * 20


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


# ---- plain text -------------------------------------------------------------------------------
def test_txt_is_one_document(tmp_path) -> None:
    p = write(tmp_path / "a.txt", "first line\n\nsecond\n")
    assert read_documents(p) == ["first line\n\nsecond\n"]


def test_unknown_extension_is_text(tmp_path) -> None:
    p = write(tmp_path / "notes.md", "# Заголовок\n")
    assert read_documents(p) == ["# Заголовок\n"]


def test_bom_stripped(tmp_path) -> None:
    p = write(tmp_path / "bom.txt", b"\xef\xbb\xbf" + "Привет".encode())
    assert read_documents(p) == ["Привет"]
    assert read_documents(p, encoding="utf-8") == ["Привет"]


def test_newlines_normalised(tmp_path) -> None:
    p = write(tmp_path / "crlf.txt", b"one\r\ntwo\r\n\r\nthree\rfour\n")
    assert read_documents(p) == ["one\ntwo\n\nthree\nfour\n"]


def test_legacy_encoding_flag(tmp_path) -> None:
    p = write(tmp_path / "win.txt", RUSSIAN.encode("cp1251"))
    assert read_documents(p, encoding="cp1251") == [RUSSIAN]
    p = write(tmp_path / "koi.txt", RUSSIAN.encode("koi8-r"))
    assert read_documents(p, encoding="KOI8-R") == [RUSSIAN]


def test_utf16_with_flag(tmp_path) -> None:
    p = write(tmp_path / "u16.txt", RUSSIAN.encode("utf-16"))
    assert read_documents(p, encoding="utf-16") == [RUSSIAN]


# ---- bad input --------------------------------------------------------------------------------
def test_missing_file(tmp_path) -> None:
    user_error(lambda: read_documents(tmp_path / "nope.txt"), "nope.txt", "no such file")


def test_directory(tmp_path) -> None:
    user_error(lambda: read_documents(tmp_path), "directory", "files inside")


def test_empty_file(tmp_path) -> None:
    p = write(tmp_path / "empty.txt", b"")
    user_error(lambda: read_documents(p), "empty.txt", "empty", "another file")


def test_whitespace_only(tmp_path) -> None:
    p = write(tmp_path / "blank.txt", " \n\t\r\n  ")
    user_error(lambda: read_documents(p), "blank.txt", "whitespace")


def test_binary_file(tmp_path) -> None:
    rng = random.Random(3)
    p = write(tmp_path / "blob.txt", bytes(rng.randrange(256) for _ in range(5000)))
    user_error(lambda: read_documents(p), "blob.txt", "binary", ".txt")


def test_binary_control_bytes(tmp_path) -> None:
    p = write(tmp_path / "ctl.txt", bytes(range(1, 32)) * 100)
    user_error(lambda: read_documents(p), "ctl.txt", "binary")


@pytest.mark.parametrize(
    "magic, needle",
    [(b"%PDF-1.7\n", "pdftotext"), (b"PK\x03\x04rest", "zip"), (b"\x1f\x8b\x08", "gunzip")],
)
def test_known_binary_formats(tmp_path, magic: bytes, needle: str) -> None:
    p = write(tmp_path / "book.txt", magic + b"text" * 100)
    user_error(lambda: read_documents(p), "book.txt", needle)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [RUSSIAN, "Plain English text, with spaces.\n" * 20])
def test_utf16_detected(tmp_path, codec: str, text: str) -> None:
    p = write(tmp_path / "wide.txt", text.encode(codec))
    user_error(lambda: read_documents(p), "wide.txt", "UTF-16", "iconv", "--encoding utf-16")


@pytest.mark.parametrize("codec", ["utf-32", "utf-32-le"])
def test_utf32_detected(tmp_path, codec: str) -> None:
    p = write(tmp_path / "wide.txt", ("Hello мир\n" * 30).encode(codec))
    user_error(lambda: read_documents(p), "UTF-32", "--encoding utf-32")


def test_cp1251_suggested(tmp_path) -> None:
    raw = b"header line\n" + RUSSIAN.encode("cp1251")
    p = write(tmp_path / "win.txt", raw)
    msg = user_error(lambda: read_documents(p), "win.txt", "not valid UTF-8", "--encoding cp1251")
    assert "byte 12" in msg and "line 2" in msg  # where it failed


def test_koi8r_suggested(tmp_path) -> None:
    p = write(tmp_path / "koi.txt", RUSSIAN.encode("koi8-r"))
    user_error(lambda: read_documents(p), "--encoding koi8-r")


def test_cp866_suggested(tmp_path) -> None:
    p = write(tmp_path / "dos.txt", RUSSIAN.encode("cp866"))
    user_error(lambda: read_documents(p), "--encoding cp866")


def test_latin1_suggested(tmp_path) -> None:
    p = write(tmp_path / "fr.txt", "Le café était très déjà précieux.\n".encode("latin-1") * 10)
    user_error(lambda: read_documents(p), "cp1252", "latin-1", "--encoding")


def test_unknown_encoding(tmp_path) -> None:
    p = write(tmp_path / "a.txt", "hello")
    user_error(lambda: read_documents(p, encoding="klingon-8"), "klingon-8", "cp1251")


def test_wrong_explicit_encoding(tmp_path) -> None:
    p = write(tmp_path / "a.txt", b"ok\n\xff\xfe\xfa")
    user_error(lambda: read_documents(p, encoding="utf-8"), "line 2", "--encoding")


# ---- jsonl ------------------------------------------------------------------------------------
def test_jsonl_documents(tmp_path) -> None:
    lines = [
        json.dumps({"text": "первый\r\nдокумент", "id": 1}, ensure_ascii=False),
        "",
        json.dumps({"text": "second", "body": "x"}),
        json.dumps({"text": None}),
        json.dumps({"text": "   "}),
    ]
    p = write(tmp_path / "d.jsonl", "\r\n".join(lines) + "\r\n")
    assert read_documents(p) == ["первый\nдокумент", "second"]


def test_jsonl_column(tmp_path) -> None:
    p = write(tmp_path / "d.jsonl", '{"body": "a b"}\n{"body": "c\\u2028d"}\n')
    assert read_documents(p, column="body") == ["a b", "c\u2028d"]


def test_jsonl_bad_line(tmp_path) -> None:
    p = write(tmp_path / "d.jsonl", '{"text": "ok"}\n{"text": broken}\n')
    user_error(lambda: read_documents(p), "d.jsonl", "line 2", "not valid JSON")


def test_jsonl_missing_field(tmp_path) -> None:
    p = write(tmp_path / "d.jsonl", '{"content": "hi", "author": "me"}\n')
    user_error(lambda: read_documents(p), "line 1", '"text"', "content, author", "--column")


def test_jsonl_not_object(tmp_path) -> None:
    p = write(tmp_path / "d.jsonl", '["a", "b"]\n')
    user_error(lambda: read_documents(p), "line 1", "list", "object")


def test_jsonl_value_not_string(tmp_path) -> None:
    p = write(tmp_path / "d.jsonl", '{"text": 42}\n')
    user_error(lambda: read_documents(p), "line 1", "int", "--column")


def test_jsonl_all_empty(tmp_path) -> None:
    p = write(tmp_path / "d.jsonl", '{"text": ""}\n{"text": null}\n')
    user_error(lambda: read_documents(p), "no text", "--column")


# ---- csv --------------------------------------------------------------------------------------
def test_csv_quoted_newlines(tmp_path) -> None:
    p = write(tmp_path / "d.csv", 'id,text\r\n1,"строка\r\nвторая, с запятой"\r\n2,простой\r\n3,\r\n')
    assert read_documents(p) == ["строка\nвторая, с запятой", "простой"]


def test_csv_column_and_semicolons(tmp_path) -> None:
    p = write(tmp_path / "d.csv", 'автор;сообщение\nя;"привет; мир"\nты;пока\n')
    assert read_documents(p, column="сообщение") == ["привет; мир", "пока"]


def test_tsv(tmp_path) -> None:
    p = write(tmp_path / "d.tsv", "text\tn\nhello, world\t1\n")
    assert read_documents(p) == ["hello, world"]


def test_csv_missing_column(tmp_path) -> None:
    p = write(tmp_path / "d.csv", "title,body\na,b\n")
    user_error(lambda: read_documents(p), "d.csv", '"text"', "title, body", "--column")


def test_csv_cp1251_suggested(tmp_path) -> None:
    p = write(tmp_path / "d.csv", ("text\n" + RUSSIAN).encode("cp1251"))
    user_error(lambda: read_documents(p), "--encoding cp1251")


# ---- caches and manifest ----------------------------------------------------------------------
def test_add_datasets_writes_caches(model_dir, tmp_path, tok, corpus) -> None:
    src = write(tmp_path / "book.txt", corpus.replace("\n", "\r\n"))
    [entry] = add_datasets(model_dir, [src], tok)
    assert entry.sha256 == file_sha256(src) and entry.bytes == src.stat().st_size
    assert entry.path == str(src.resolve()) and entry.format == "txt"
    assert entry.encoding == "utf-8" and entry.column is None
    assert entry.added_at.endswith("+00:00")
    bin_path = model_dir / "data" / f"{entry.sha256}.bin"
    tokens = np.memmap(bin_path, dtype=np.uint16, mode="r")
    assert entry.tokens == tokens.size == bin_path.stat().st_size // 2
    assert np.array_equal(tokens, tok.encode_to_array([corpus]))  # CRLF normalised
    assert tok.decode(tokens[:-1]) == corpus and tokens[-1] == tok.eot_id
    assert load_manifest(model_dir) == [entry]
    on_disk = json.loads((model_dir / "datasets.json").read_text(encoding="utf-8"))
    assert on_disk[0]["sha256"] == entry.sha256 and set(on_disk[0]) == {
        "path", "sha256", "bytes", "tokens", "added_at", "encoding", "format", "column"
    }
    words = (model_dir / "data" / f"{entry.sha256}.words").read_text(encoding="utf-8").split()
    assert "каренина" in words and "the" in words and "Анна" not in words
    assert not any(w.isdigit() for w in words)
    assert not list((model_dir / "data").glob("*.tmp")) and not list(model_dir.glob("*.tmp"))


def test_add_same_file_twice_is_deduped(model_dir, tmp_path, tok, corpus) -> None:
    src = write(tmp_path / "book.txt", corpus)
    copy = write(tmp_path / "copy.txt", corpus)
    [first] = add_datasets(model_dir, [src], tok)
    bin_path = model_dir / "data" / f"{first.sha256}.bin"
    os.utime(bin_path, ns=(1_000_000_000, 1_000_000_000))  # any rewrite would change this
    manifest_before = (model_dir / "datasets.json").read_bytes()
    again = add_datasets(model_dir, [src, copy, src], tok)
    assert again == [first]
    assert bin_path.stat().st_mtime_ns == 1_000_000_000
    assert (model_dir / "datasets.json").read_bytes() == manifest_before
    assert len(load_manifest(model_dir)) == 1


def test_existing_cache_is_reused(model_dir, tmp_path, tok, corpus) -> None:
    src = write(tmp_path / "book.txt", corpus)
    [entry] = add_datasets(model_dir, [src], tok)
    (model_dir / "datasets.json").unlink()  # the manifest is lost, the cache survives
    bin_path = model_dir / "data" / f"{entry.sha256}.bin"
    os.utime(bin_path, ns=(1_000_000_000, 1_000_000_000))
    [again] = add_datasets(model_dir, [src], tok)
    assert again.tokens == entry.tokens
    assert bin_path.stat().st_mtime_ns == 1_000_000_000


def test_one_bad_file_adds_nothing(model_dir, tmp_path, tok, corpus) -> None:
    good = write(tmp_path / "good.txt", corpus)
    bad = write(tmp_path / "bad.txt", RUSSIAN.encode("cp1251"))
    user_error(lambda: add_datasets(model_dir, [good, bad], tok), "bad.txt", "cp1251")
    assert load_manifest(model_dir) == []
    assert not (model_dir / "data").exists()


def test_add_jsonl_records_column(model_dir, tmp_path, tok) -> None:
    rows = [{"msg": make_corpus(50, seed=i)} for i in range(5)]
    src = write(tmp_path / "chat.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    [entry] = add_datasets(model_dir, [src], tok, column="msg")
    assert (entry.format, entry.column) == ("jsonl", "msg")
    tokens = np.fromfile(model_dir / "data" / f"{entry.sha256}.bin", dtype=np.uint16)
    assert int((tokens == tok.eot_id).sum()) == 5


def test_add_with_encoding(model_dir, tmp_path, tok) -> None:
    src = write(tmp_path / "win.txt", RUSSIAN.encode("cp1251"))
    [entry] = add_datasets(model_dir, [src], tok, encoding="cp1251")
    assert entry.encoding == "cp1251"
    tokens = np.fromfile(model_dir / "data" / f"{entry.sha256}.bin", dtype=np.uint16)
    assert tok.decode(tokens[:-1]) == RUSSIAN


def test_corpus_words(model_dir, tmp_path, tok) -> None:
    a = write(tmp_path / "a.txt", "Ёлка, ёлка! Word_2 x1y 42 и\u0306од\n")
    b = write(tmp_path / "b.txt", "Другой файл: Tolstoy.")
    add_datasets(model_dir, [a, b], tok)
    assert load_corpus_words(model_dir) == {
        "ёлка", "word", "x", "y", "йод", "другой", "файл", "tolstoy"
    }
    assert words_in("Привет, МИР") == {"привет", "мир"}


def test_manifest_missing_and_corrupt(tmp_path) -> None:
    assert load_manifest(tmp_path) == []
    assert load_corpus_words(tmp_path) == set()
    (tmp_path / "datasets.json").write_text("[{oops")
    user_error(lambda: load_manifest(tmp_path), "datasets.json", "corrupt", "--data")
    (tmp_path / "datasets.json").write_text('{"a": 1}')
    user_error(lambda: load_manifest(tmp_path), "corrupt")


def test_manifest_tolerates_unknown_keys(tmp_path) -> None:
    entry = {"path": "/x", "sha256": "ab" * 32, "bytes": 1, "tokens": 2, "added_at": "t", "new": 1}
    (tmp_path / "datasets.json").write_text(json.dumps([entry]))
    [e] = load_manifest(tmp_path)
    assert isinstance(e, DatasetEntry) and e.tokens == 2


# ---- TokenData --------------------------------------------------------------------------------
@pytest.fixture
def loaded(model_dir, tmp_path, tok, corpus):
    """A model with two datasets of different sizes."""
    a = write(tmp_path / "a.txt", corpus)
    b = write(tmp_path / "b.txt", make_corpus(3_000, seed=99))
    entries = add_datasets(model_dir, [a, b], tok)
    return model_dir, entries


def _find(haystack: np.ndarray, needle: np.ndarray) -> list[int]:
    windows = np.lib.stride_tricks.sliding_window_view(haystack, needle.size)
    return np.nonzero((windows == needle).all(axis=1))[0].tolist()


def test_no_data(model_dir) -> None:
    user_error(lambda: TokenData(model_dir, context=16), "no training data", "--data")


def test_too_short(model_dir, tmp_path, tok) -> None:
    src = write(tmp_path / "tiny.txt", "Короткий текст.")
    [entry] = add_datasets(model_dir, [src], tok)
    msg = user_error(
        lambda: TokenData(model_dir, context=64), "tiny.txt", f"has {entry.tokens} tokens",
        "fewer than two context windows", "--context",
    )
    assert "130" in msg  # 2 × (64 + 1)
    TokenData(model_dir, context=entry.tokens // 2 - 1)  # exactly two windows is enough


def test_damaged_cache(loaded) -> None:
    model_dir, entries = loaded
    bin_path = model_dir / "data" / f"{entries[0].sha256}.bin"
    bin_path.write_bytes(bin_path.read_bytes()[:-2])
    user_error(lambda: TokenData(model_dir, context=16), "a.txt", "damaged", "--data")
    bin_path.unlink()
    user_error(lambda: TokenData(model_dir, context=16), "a.txt", "missing", "--data")


def test_splits(loaded) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=32)
    total = sum(e.tokens for e in entries)
    assert data.train_tokens + data.val_tokens == total
    assert 0.08 < data.val_tokens / total < 0.12
    assert data.datasets == entries


def test_get_batch_shapes_and_shift(loaded) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=32)
    x, y = data.get_batch("train", 6, step=0, seed=1)
    assert x.shape == y.shape == (6, 32)
    assert str(x.dtype) == str(y.dtype) == "torch.int64"
    x_np, _ = data.get_batch("train", 6, step=0, seed=np.int64(1))
    assert (x_np == x).all()
    assert (x[:, 1:] == y[:, :-1]).all()
    caches = [np.fromfile(model_dir / "data" / f"{e.sha256}.bin", dtype=np.uint16) for e in entries]
    for row_x, row_y in zip(x.numpy(), y.numpy()):
        window = np.concatenate([row_x, row_y[-1:]]).astype(np.uint16)
        hits = [(i, pos) for i, c in enumerate(caches) for pos in _find(c, window)]
        assert hits  # a real window of one cache ...
        # ... inside its train split (first 90%)
        assert any(pos + 33 <= int(caches[i].size * 0.9) + 1 for i, pos in hits)


def test_get_batch_is_pure(loaded) -> None:
    model_dir, _ = loaded
    a = TokenData(model_dir, context=16)
    b = TokenData(model_dir, context=16)
    x1, y1 = a.get_batch("train", 8, step=5, seed=42)
    a.get_batch("train", 8, step=6, seed=42)  # no hidden state between calls
    x2, y2 = b.get_batch("train", 8, step=5, seed=42)
    assert (x1 == x2).all() and (y1 == y2).all()
    assert not (a.get_batch("train", 8, step=6, seed=42)[0] == x1).all()
    assert not (a.get_batch("train", 8, step=5, seed=43)[0] == x1).all()
    assert not (a.get_batch("val", 8, step=5, seed=42)[0] == x1).all()
    with pytest.raises(ValueError):
        a.get_batch("test", 8, step=0, seed=0)


def test_get_batch_samples_both_datasets(loaded) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=8)
    small = np.fromfile(model_dir / "data" / f"{entries[1].sha256}.bin", dtype=np.uint16)
    x, y = data.get_batch("train", 400, step=0, seed=0)
    from_small = 0
    for row_x, row_y in zip(x.numpy(), y.numpy()):
        if _find(small, np.concatenate([row_x, row_y[-1:]]).astype(np.uint16)):
            from_small += 1
    share = entries[1].tokens / (entries[0].tokens + entries[1].tokens)
    assert 0.5 * share * 400 < from_small < 1.5 * share * 400 + 20


def test_val_batches(loaded) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=16)
    batches = data.val_batches(3, 4)
    again = TokenData(model_dir, context=16).val_batches(3, 4)
    assert len(batches) == 3
    for (x, y), (x2, y2) in zip(batches, again):
        assert x.shape == y.shape == (4, 16) and (x == x2).all() and (y == y2).all()
        assert (x[:, 1:] == y[:, :-1]).all()
    caches = [np.fromfile(model_dir / "data" / f"{e.sha256}.bin", dtype=np.uint16) for e in entries]
    starts = []
    for x, y in batches:
        for row_x, row_y in zip(x.numpy(), y.numpy()):
            window = np.concatenate([row_x, row_y[-1:]]).astype(np.uint16)
            val_hits = [
                pos for c in caches for pos in _find(c, window) if pos >= c.size - data.val_tokens
            ]
            assert val_hits
            starts.append(val_hits[0])
    assert len(set(starts)) > 6  # spread out, not one window repeated


def test_val_bytes_per_token(loaded, tok) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=16)
    assert 1.0 < data.val_bytes_per_token < 8.0
    # exact: the val tokens decode to this many UTF-8 bytes (EOT counted as none)
    total = 0
    for e in entries:
        c = np.fromfile(model_dir / "data" / f"{e.sha256}.bin", dtype=np.uint16)
        val = c[c.size - max(int(np.ceil(c.size * 0.1)), 17) :]
        total += len(tok.decode(val[val != tok.eot_id]).encode("utf-8"))
    assert data.val_bytes_per_token == pytest.approx(total / data.val_tokens)


def test_reward_prompts(loaded, tok) -> None:
    model_dir, entries = loaded
    data = TokenData(model_dir, context=32)
    prompts = data.reward_prompts(4, 16)
    assert prompts == TokenData(model_dir, context=32).reward_prompts(4, 16)
    assert len(prompts) == 4 and all(len(p) == 16 for p in prompts)
    assert len({tuple(p) for p in prompts}) == 4
    caches = [np.fromfile(model_dir / "data" / f"{e.sha256}.bin", dtype=np.uint16) for e in entries]
    for p in prompts:
        assert all(isinstance(t, int) for t in p)
        needle = np.array(p, dtype=np.uint16)
        hits = [(c, pos) for c in caches for pos in _find(c, needle) if pos >= int(c.size * 0.89)]
        assert hits  # taken from a validation split
        c, pos = hits[0]
        text = tok.decode(p)
        # starts at a line (after a line break or EOT) or at a word, never mid-word
        before = tok.decode(c[pos - 1 : pos])
        assert not text[0].isspace() or text[0] == " "
        assert before.endswith(("\n", EOT)) or text.startswith(" ")


def test_csv_huge_cell(tmp_path) -> None:
    book = "слово " * 40_000  # above the csv module's default 128 KB field limit
    p = write(tmp_path / "big.csv", f'title,text\nКнига,"{book}"\n')
    assert read_documents(p) == [book]
