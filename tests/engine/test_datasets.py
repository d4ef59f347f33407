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


