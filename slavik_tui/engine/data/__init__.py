"""Datasets: reading a user's files, the token caches, and the batches the trainer sees.

- `read`: input files (txt / jsonl / csv, regular files only) → documents; `encoding` decides
  which bytes are text and how to decode them (binary and UTF-16 detection, code-page guess).
- `datasets`: the manifest datasets.json and the caches data/<sha256>.bin / .words.
- `batches`: `TokenData`, train/val windows as a pure function of (seed, step).
"""

from slavik_tui.atomic import sha256_file as file_sha256
from slavik_tui.engine.data.batches import TokenData
from slavik_tui.engine.data.datasets import (
    TOKEN_DTYPE,
    WORD_RE,
    DatasetEntry,
    add_datasets,
    load_corpus_words,
    load_manifest,
    words_in,
)
from slavik_tui.engine.data.read import read_documents

__all__ = [
    "TOKEN_DTYPE",
    "WORD_RE",
    "DatasetEntry",
    "TokenData",
    "add_datasets",
    "file_sha256",
    "load_corpus_words",
    "load_manifest",
    "read_documents",
    "words_in",
]
