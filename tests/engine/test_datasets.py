"""The manifest datasets.json and the token caches: writing, reusing, and refusing folders
that are damaged or point outside themselves (issue 8 #6)."""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest

from datafiles import RUSSIAN, corpus, make_corpus, model_dir, tok, user_error, write  # noqa: F401
from slavik_tui.engine.data import (
    DatasetEntry,
    TokenData,
    add_datasets,
    file_sha256,
    load_corpus_words,
    load_manifest,
    words_in,
)

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


def test_manifest_missing(tmp_path) -> None:
    assert load_manifest(tmp_path) == []
    assert load_corpus_words(tmp_path) == set()


def test_manifest_tolerates_unknown_keys(tmp_path) -> None:
    entry = {"path": "/x", "sha256": "ab" * 32, "bytes": 1, "tokens": 2, "added_at": "t", "new": 1}
    (tmp_path / "datasets.json").write_text(json.dumps([entry]))
    [e] = load_manifest(tmp_path)
    assert isinstance(e, DatasetEntry) and e.tokens == 2




# ---- a manifest from someone else (issue 8 #6) ------------------------------------------------
def _follow_the_advice(msg: str, model_dir, src, tok) -> None:
    """Do what a refusal says (rm the named path, add the data again), then train on it."""
    target = re.search(r"\(rm ([^)]+)\)", msg).group(1)
    os.unlink(target)
    add_datasets(model_dir, [src], tok)
    TokenData(model_dir, context=16).get_batch("train", 2, step=0, seed=0)


def _good_entry(model_dir, tmp_path, tok, corpus) -> tuple[dict, object]:
    src = write(tmp_path / "book.txt", corpus)
    add_datasets(model_dir, [src], tok)
    [entry] = json.loads((model_dir / "datasets.json").read_text(encoding="utf-8"))
    return entry, src


def test_sha256_that_climbs_out_of_the_folder(model_dir, tmp_path, tok, corpus) -> None:
    entry, src = _good_entry(model_dir, tmp_path, tok, corpus)
    # What the path would reach: a cache-looking file outside the model folder.
    outside = model_dir / "data" / "../../../x.bin"
    shutil.copy(model_dir / "data" / f"{entry['sha256']}.bin", outside)
    entry["sha256"] = "../../../x"
    (model_dir / "datasets.json").write_text(json.dumps([entry]), encoding="utf-8")
    for call in (
        lambda: load_manifest(model_dir),
        lambda: TokenData(model_dir, context=16),
        lambda: load_corpus_words(model_dir),
        lambda: add_datasets(model_dir, [src], tok),
    ):
        msg = user_error(call, "datasets.json", "dataset 1", '"sha256"', "../../../x",
                         "64 lowercase hex")
    _follow_the_advice(msg, model_dir, src, tok)
    assert outside.exists()  # never touched


@pytest.mark.parametrize(
    "field, value",
    [
        ("sha256", "AB" * 32),  # upper case: not the name a cache was written under
        ("sha256", "ab" * 31),
        ("sha256", 12),
        ("bytes", "12"),
        ("tokens", -1),
        ("tokens", True),
        ("tokens", 1.5),
        ("path", None),
        ("added_at", 7),
        ("encoding", "klingon-8"),
        ("encoding", ["utf-8"]),
        ("format", "exe"),
        ("column", 3),
    ],
)
def test_fields_of_the_wrong_type(model_dir, tmp_path, tok, corpus, field, value) -> None:
    entry, src = _good_entry(model_dir, tmp_path, tok, corpus)
    entry[field] = value
    (model_dir / "datasets.json").write_text(json.dumps([entry]), encoding="utf-8")
    msg = user_error(lambda: TokenData(model_dir, context=16), "datasets.json", "dataset 1",
                     f'"{field}"', "--data")
    _follow_the_advice(msg, model_dir, src, tok)


@pytest.mark.parametrize(
    "manifest, needle",
    [
        ('{"a": 1}', "not a JSON list"),
        ("[1, 2]", "not a JSON object"),
        ('[{"path": "/x", "bytes": 1, "tokens": 2, "added_at": "t"}]', '"sha256"'),
        ("[{oops", "not JSON"),
        (b"\xff\xfe[]", "not JSON"),
    ],
)
def test_damaged_manifest(model_dir, tmp_path, tok, corpus, manifest, needle) -> None:
    src = write(tmp_path / "book.txt", corpus)
    write(model_dir / "datasets.json", manifest)
    msg = user_error(lambda: add_datasets(model_dir, [src], tok), "datasets.json", needle)
    _follow_the_advice(msg, model_dir, src, tok)


def test_linked_manifest_is_not_followed(model_dir, tmp_path, tok, corpus) -> None:
    src = write(tmp_path / "book.txt", corpus)
    elsewhere = write(tmp_path / "elsewhere.json", "[]")
    (model_dir / "datasets.json").symlink_to(elsewhere)
    msg = user_error(lambda: add_datasets(model_dir, [src], tok), "datasets.json",
                     "symbolic link")
    assert elsewhere.read_text() == "[]"  # not written through
    _follow_the_advice(msg, model_dir, src, tok)
    assert elsewhere.read_text() == "[]"


def test_linked_data_folder_is_not_followed(model_dir, tmp_path, tok, corpus) -> None:
    entry, src = _good_entry(model_dir, tmp_path, tok, corpus)
    outside = tmp_path / "outside"
    (model_dir / "data").rename(outside)
    (model_dir / "data").symlink_to(outside, target_is_directory=True)
    before = sorted(p.name for p in outside.iterdir())
    other = write(tmp_path / "other.txt", make_corpus(2_000, seed=3))
    for call in (
        lambda: TokenData(model_dir, context=16),
        lambda: load_corpus_words(model_dir),
        lambda: add_datasets(model_dir, [other], tok),  # would write a new cache through it
    ):
        msg = user_error(call, f"{model_dir / 'data'}", "symbolic link", "--data")
    assert sorted(p.name for p in outside.iterdir()) == before
    _follow_the_advice(msg, model_dir, src, tok)
    assert (model_dir / "data").is_dir() and not (model_dir / "data").is_symlink()


@pytest.mark.parametrize("suffix", [".bin", ".words"])
def test_linked_cache_file_is_not_followed(model_dir, tmp_path, tok, corpus, suffix) -> None:
    entry, src = _good_entry(model_dir, tmp_path, tok, corpus)
    cache = model_dir / "data" / f"{entry['sha256']}{suffix}"
    outside = tmp_path / f"outside{suffix}"
    cache.rename(outside)
    cache.symlink_to(outside)
    reader = TokenData if suffix == ".bin" else lambda d, context: load_corpus_words(d)
    calls = [lambda: reader(model_dir, context=16), lambda: add_datasets(model_dir, [src], tok)]
    for call in calls:
        msg = user_error(call, cache.name, "symbolic link", "--data")
    _follow_the_advice(msg, model_dir, src, tok)
    assert cache.is_file() and not cache.is_symlink()


def test_damaged_word_list(model_dir, tmp_path, tok, corpus) -> None:
    entry, src = _good_entry(model_dir, tmp_path, tok, corpus)
    words = model_dir / "data" / f"{entry['sha256']}.words"
    words.write_bytes(b"\xff\xfe\x00")
    msg = user_error(lambda: load_corpus_words(model_dir), words.name, "damaged")
    _follow_the_advice(msg, model_dir, src, tok)
    assert "каренина" in load_corpus_words(model_dir)


def test_input_must_be_a_regular_file(model_dir, tmp_path, tok) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    user_error(lambda: add_datasets(model_dir, [fifo], tok), "pipe.txt", "named pipe")
    assert load_manifest(model_dir) == []
