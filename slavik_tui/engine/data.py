"""Datasets: reading a user's files, the token caches, and the batches the trainer sees.

Reading (`read_documents`):
- `.jsonl` / `.ndjson`: one document per line, from the "text" field (or `column`).
- `.csv` / `.tsv`: one document per row, from the "text" column (or `column`); quoted newlines
  are handled by the csv module; the delimiter (, ; tab |) is detected from the header.
- anything else is plain text, and the whole file is one document.
- Bytes are checked before decoding: NUL bytes or a known binary signature (PDF, ZIP/DOCX/EPUB,
  gzip, ...) → "not a text file"; a UTF-16/32 BOM or NUL pattern → "convert to UTF-8".
- UTF-8 by default (a BOM is stripped); `encoding` reads legacy files (cp1251, koi8-r, ...).
  When UTF-8 fails, the error names the byte offset and line, and guesses the encoding.
- **Newlines are normalised**: "\\r\\n" and a lone "\\r" become "\\n" (Python's universal
  newlines), so the model never spends capacity on "\\r" and a Windows file and a Unix file with
  the same text give the same tokens.

Caches (`add_datasets`), all keyed by the sha256 of the file's raw bytes:
- `data/<sha256>.bin`: raw uint16 tokens, documents joined by EOT (np.memmap-readable);
- `data/<sha256>.words`: the distinct lower-cased words of the corpus, for the reward;
- `datasets.json`: the manifest, one entry per distinct file content.

Batches (`TokenData`): each dataset's first 90% trains, its last 10% (at least one window)
validates. `get_batch` is a pure function of (split, batch_size, step, seed): the data position
needs no saving, which is what makes resume exact.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import unicodedata
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from slavik_tui.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    sha256_bytes,
)
from slavik_tui.atomic import sha256_file as file_sha256  # noqa: F401 - part of this API
from slavik_tui.engine.checkpoint import now_iso
from slavik_tui.errors import UserError

if TYPE_CHECKING:  # torch is imported lazily, only where batches are built
    import torch

    from slavik_tui.engine.tokenizer import Tokenizer

MANIFEST = "datasets.json"
DATA_DIR = "data"
TOKEN_DTYPE = np.uint16

# Words for the reward: runs of letters (any alphabet), no digits or underscores.
WORD_RE = re.compile(r"[^\W\d_]+")

_JSONL_EXT = {".jsonl", ".ndjson"}
_CSV_EXT = {".csv": ",", ".tsv": "\t"}
_SNIFF = 64 * 1024  # bytes looked at for binary / UTF-16 detection

# Signatures of binary formats people mistake for text, with what to do about each.
_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF", "a PDF; extract its text first (e.g. pdftotext FILE out.txt)"),
    (b"PK\x03\x04", "a ZIP archive (also .docx/.epub/.odt); unpack it or save it as plain text"),
    (b"\x1f\x8b", "gzip-compressed; decompress it first (gunzip FILE)"),
    (b"BZh", "bzip2-compressed; decompress it first (bunzip2 FILE)"),
    (b"\xfd7zXZ\x00", "xz-compressed; decompress it first (unxz FILE)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive; unpack it first"),
    (b"\xd0\xcf\x11\xe0", "an old MS Office file (.doc/.xls); save it as plain text"),
    (b"{\\rtf", "an RTF document; save it as plain text"),
    (b"\x89PNG", "a PNG image, not text; pass a .txt, .jsonl or .csv file"),
    (b"\xff\xd8\xff", "a JPEG image, not text; pass a .txt, .jsonl or .csv file"),
    (b"SQLite format 3\x00", "an SQLite database; export the text to a .txt or .csv file"),
    (b"\x7fELF", "a program, not text; pass a .txt, .jsonl or .csv file"),
]

_UTF16_HINT = (
    "convert it to UTF-8 (iconv -f {enc} -t UTF-8 FILE > out.txt) or pass --encoding {enc_lc}"
)


# ---- small helpers ----------------------------------------------------------------------------
def words_in(text: str) -> set[str]:
    """Distinct lower-cased words (letters only; NFC, so combining accents stay in the word)."""
    return {w.lower() for w in WORD_RE.findall(unicodedata.normalize("NFC", text))}


def _normalise_newlines(text: str) -> str:
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


# ---- encoding detection -----------------------------------------------------------------------
def _check_not_binary(path: Path, raw: bytes, encoding: str | None) -> None:
    """UserError for UTF-16/32 without --encoding and for binary files; done before decoding."""
    wide = encoding is not None and codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    if not wide:
        for bom, enc in (
            (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16: FF FE 00 00 starts with FF FE
            (codecs.BOM_UTF32_BE, "UTF-32"),
            (codecs.BOM_UTF16_LE, "UTF-16"),
            (codecs.BOM_UTF16_BE, "UTF-16"),
        ):
            if raw.startswith(bom):
                hint = _UTF16_HINT.format(enc=enc, enc_lc=enc.lower())
                raise UserError(f"{path} looks like {enc} (it starts with a {enc} BOM); {hint}")
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            raise UserError(f"{path} is {what}")
    sample = raw[:_SNIFF]
    if wide:  # NULs and low bytes are normal in UTF-16/32; decoding will check the rest
        return
    if b"\x00" not in sample:
        controls = sum(sample.count(bytes([b])) for b in (*range(1, 8), 14, 15, *range(16, 27)))
        if sample and controls > 0.05 * len(sample):
            raise UserError(
                f"{path} looks like a binary file ({controls} control bytes in the first "
                f"{len(sample)}), not text; pass a .txt, .jsonl or .csv file"
            )
        return
    # NUL bytes: UTF-16/32 text (a regular pattern) or binary data.
    half = max(1, len(sample) // 2)
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    quarter = max(1, len(sample) // 4)
    by4 = [sample[i::4].count(0) for i in range(4)]
    if min(by4[2], by4[3]) > 0.9 * quarter and by4[0] < 0.5 * quarter:
        enc = "UTF-32"  # little-endian BMP text: bytes 2 and 3 of each unit are 0
    elif min(by4[0], by4[1]) > 0.9 * quarter and by4[3] < 0.5 * quarter:
        enc = "UTF-32"
    elif (odd > 0.1 * half and even < 0.02 * half) or (even > 0.1 * half and odd < 0.02 * half):
        enc = "UTF-16"
    else:
        raise UserError(
            f"{path} looks like a binary file (it contains NUL bytes), not text; "
            "pass a .txt, .jsonl or .csv file"
        )
    hint = _UTF16_HINT.format(enc=enc, enc_lc=enc.lower())
    raise UserError(f"{path} looks like {enc} (NUL bytes between letters); {hint}")


def _russian_score(text: str) -> float:
    """Share of the non-ASCII words that look like Russian: all Cyrillic, lower case after
    the first letter. Text read in the wrong code page gives mixed words instead ("cafй"
    is latin-1 read as cp1251; "пПЙЧЕФ" is koi8-r read as cp1251)."""
    good = total = 0
    for word in WORD_RE.findall(text):
        if word.isascii():
            continue
        total += 1
        if all("\u0400" <= c <= "\u04ff" for c in word) and word[1:] == word[1:].lower():
            good += 1
    return good / total if total else 0.0


def _guess_encoding(raw: bytes) -> tuple[str, str]:
    """(codec, description) of the most likely legacy encoding of bytes that are not UTF-8.

    Russian text is mostly lower case and the three Cyrillic code pages put lower case at
    different bytes, so the one that yields the most Russian-looking words wins; when none
    does, the text is most likely Western European.
    """
    sample = raw[: 256 * 1024]
    scores = {
        enc: _russian_score(sample.decode(enc, errors="replace"))
        for enc in ("cp1251", "koi8-r", "cp866")
    }
    best = max(scores, key=scores.get)
    if scores[best] > 0.6:
        names = {"cp1251": "Windows Cyrillic", "koi8-r": "KOI8-R Cyrillic", "cp866": "DOS Cyrillic"}
        return best, names[best]
    return "cp1252", "Western European; latin-1 is close"


def _decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """(text, codec name) — UserError with offset, line and a likely encoding on failure."""
    if encoding is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            enc, desc = _guess_encoding(raw)
            raise UserError(
                f"{path} is not valid UTF-8 (byte {exc.start}, line {_line_of(raw, exc.start)}); "
                f"it looks like {enc} ({desc}): pass --encoding {enc} or convert it "
                f"(iconv -f {enc} -t UTF-8 FILE > out.txt)"
            ) from None
        used = "utf-8"
    else:
        used = codecs.lookup(encoding).name
        try:
            text = raw.decode(used)
        except UnicodeDecodeError as exc:
            raise UserError(
                f"{path} is not valid {encoding} (byte {exc.start}, line "
                f"{_line_of(raw, exc.start)}); pass the right --encoding (utf-8, cp1251, koi8-r, "
                "latin-1, ...) or convert the file to UTF-8"
            ) from None
    if text.startswith("\ufeff"):  # a BOM (utf-8 with BOM, or utf-16 read with its BOM)
        text = text[1:]
    return text, used


# ---- formats ----------------------------------------------------------------------------------
def _format_of(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in _JSONL_EXT:
        return "jsonl"
    if ext in _CSV_EXT:
        return "csv"
    return "txt"


def _jsonl_documents(path: Path, text: str, column: str) -> list[str]:
    docs: list[str] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(
                f"{path} line {lineno} is not valid JSON ({exc.msg}, column {exc.colno}); "
                f'each line of a .jsonl file must be one object like {{"{column}": "..."}}'
            ) from None
        if not isinstance(obj, dict):
            raise UserError(
                f"{path} line {lineno} is a JSON {type(obj).__name__}, not an object; each line "
                f'of a .jsonl file must be one object like {{"{column}": "..."}}'
            )
        if column not in obj:
            keys = ", ".join(map(str, obj)) or "none"
            raise UserError(
                f'{path} line {lineno} has no "{column}" field (fields: {keys}); '
                "pass --column NAME to read another field"
            )
        value = obj[column]
        if value is None:
            continue
        if not isinstance(value, str):
            raise UserError(
                f'{path} line {lineno}: field "{column}" is a JSON {type(value).__name__}, not '
                "a string; pass --column NAME for the field that holds the text"
            )
        value = _normalise_newlines(value)
        if value.strip():
            docs.append(value)
    return docs


def _csv_documents(path: Path, text: str, column: str) -> list[str]:
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # whole books in one cell
    candidates = [_CSV_EXT.get(path.suffix.lower(), ","), ",", ";", "\t", "|"]
    header: list[str] = []
    delimiter = candidates[0]
    for delim in dict.fromkeys(candidates):
        try:
            first = next(csv.reader(io.StringIO(text), delimiter=delim), [])
        except csv.Error:
            continue
        if column in first:
            header, delimiter = first, delim
            break
        if len(first) > len(header):
            header, delimiter = first, delim
    if column not in header:
        cols = ", ".join(header) or "none"
        raise UserError(
            f'{path} has no "{column}" column (columns: {cols}); pass --column NAME to pick one'
        )
    index = header.index(column)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    docs: list[str] = []
    try:
        next(reader)
        for row in reader:
            if index < len(row) and row[index].strip():
                docs.append(row[index])
    except csv.Error as exc:
        raise UserError(
            f"{path} line {reader.line_num} is not valid CSV ({exc}); fix the quoting there "
            "or save the file again from a spreadsheet"
        ) from None
    return docs


def _parse(path: Path, raw: bytes, encoding: str | None, column: str | None):
    """(documents, codec, format, column) of one file's raw bytes."""
    if not raw:
        raise UserError(f"{path} is empty; put some text in it or pass another file")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UserError(
                f"unknown encoding {encoding!r}; use a name Python knows, such as utf-8, "
                "cp1251, koi8-r, cp866, utf-16 or latin-1"
            ) from None
    _check_not_binary(path, raw, encoding)
    text, used = _decode(path, raw, encoding)
    text = _normalise_newlines(text)
    if not text.strip():
        raise UserError(
            f"{path} contains only whitespace; put some text in it or pass another file"
        )
    fmt = _format_of(path)
    if fmt == "txt":
        return [text], used, fmt, None
    column = column or "text"
    reader = _jsonl_documents if fmt == "jsonl" else _csv_documents
    docs = reader(path, text, column)
    if not docs:
        kind = "field" if fmt == "jsonl" else "column"
        raise UserError(
            f'{path} has no text in its "{column}" {kind}; pass --column NAME for the '
            f"{kind} that holds the text"
        )
    return docs, used, fmt, column


def _read_raw(path: str | os.PathLike) -> tuple[Path, bytes]:
    p = Path(path).expanduser()
    if p.is_dir():
        raise UserError(f"{p} is a directory; pass the text files inside it (e.g. {p}/*.txt)")
    try:
        return p.resolve(), p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{p}: no such file; check the path") from None
    except PermissionError:
        raise UserError(f"{p}: permission denied; make the file readable (chmod +r)") from None
    except IsADirectoryError:
        raise UserError(f"{p} is a directory; pass the text files inside it") from None


def read_documents(
    path: str | os.PathLike, encoding: str | None = None, column: str | None = None
) -> list[str]:
    """The documents in one file (see the module docstring for formats and newlines)."""
    p, raw = _read_raw(path)
    return _parse(p, raw, encoding, column)[0]


# ---- manifest ---------------------------------------------------------------------------------
@dataclass
class DatasetEntry:
    """One dataset a model has seen (a line of datasets.json)."""

    path: str  # absolute path when added (the file may move later; sha256 is the identity)
    sha256: str  # of the raw file bytes; names the caches data/<sha256>.bin/.words
    bytes: int  # raw file size
    tokens: int  # tokens in the cache, EOTs included
    added_at: str  # ISO 8601, UTC
    encoding: str | None = "utf-8"
    format: str = "txt"  # txt | jsonl | csv
    column: str | None = None  # jsonl field / csv column (None for txt)

    @classmethod
    def from_dict(cls, d: dict) -> DatasetEntry:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _manifest_path(model_dir: Path) -> Path:
    return Path(model_dir) / MANIFEST


def load_manifest(model_dir: str | os.PathLike) -> list[DatasetEntry]:
    path = _manifest_path(Path(model_dir))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    try:
        if not isinstance(data, list):
            raise TypeError
        return [DatasetEntry.from_dict(d) for d in data]
    except (TypeError, AttributeError):
        raise UserError(
            f"{path} is corrupt; restore it from a copy of the model folder, or delete it and "
            "add the data again with --data FILE"
        ) from None


def _save_manifest(model_dir: Path, entries: list[DatasetEntry]) -> None:
    atomic_write_json(_manifest_path(model_dir), [asdict(e) for e in entries])


def _cache_paths(model_dir: Path, sha: str) -> tuple[Path, Path]:
    d = Path(model_dir) / DATA_DIR
    return d / f"{sha}.bin", d / f"{sha}.words"


def _write_words(path: Path, docs: Iterable[str]) -> None:
    words: set[str] = set()
    for doc in docs:
        words |= words_in(doc)
    atomic_write_text(path, "\n".join(sorted(words)) + "\n")


def add_datasets(
    model_dir: str | os.PathLike,
    paths: Iterable[str | os.PathLike],
    tokenizer: Tokenizer,
    encoding: str | None = None,
    column: str | None = None,
) -> list[DatasetEntry]:
    """Tokenise files into the model's caches and list them in datasets.json.

    Every file is read and checked before anything is written, so one bad file adds nothing.
    A file whose content (sha256) is already listed is not read again; an existing .bin is
    reused, never re-tokenised. Returns one entry per distinct file, in order.
    """
    model_dir = Path(model_dir)
    entries = load_manifest(model_dir)
    by_sha = {e.sha256: e for e in entries}
    todo: list[tuple[DatasetEntry, list[str] | None]] = []
    seen: set[str] = set()
    for path in paths:
        p, raw = _read_raw(path)
        sha = sha256_bytes(raw)
        if sha in seen:
            continue
        seen.add(sha)
        existing = by_sha.get(sha)
        bin_path, words_path = _cache_paths(model_dir, sha)
        if existing is not None and bin_path.is_file() and words_path.is_file():
            todo.append((existing, None))
            continue
        if existing is not None:  # a cache file went missing: rebuild it as first read
            docs, used, fmt, col = _parse(p, raw, existing.encoding, existing.column)
        else:
            docs, used, fmt, col = _parse(p, raw, encoding, column)
        entry = existing or DatasetEntry(
            path=str(p), sha256=sha, bytes=len(raw), tokens=0, added_at=now_iso(),
            encoding=used, format=fmt, column=col,
        )
        todo.append((entry, docs))

    result: list[DatasetEntry] = []
    changed = False
    for entry, docs in todo:
        if docs is not None:
            bin_path, words_path = _cache_paths(model_dir, entry.sha256)
            size = bin_path.stat().st_size if bin_path.is_file() else -1
            if size > 0 and size % 2 == 0:
                tokens = size // 2  # cached already: reuse, never re-tokenise
            else:
                arr = np.ascontiguousarray(tokenizer.encode_to_array(docs), dtype=TOKEN_DTYPE)
                atomic_write_bytes(bin_path, memoryview(arr).cast("B"))
                tokens = int(arr.size)
            if not words_path.is_file():
                _write_words(words_path, docs)
            if entry.sha256 not in by_sha:
                entry.tokens = tokens
                entries.append(entry)
                by_sha[entry.sha256] = entry
                changed = True
        result.append(entry)
    if changed:
        _save_manifest(model_dir, entries)
    return result


def load_corpus_words(model_dir: str | os.PathLike) -> set[str]:
    """Union of the .words lists of every dataset in the manifest (missing lists skipped)."""
    words: set[str] = set()
    for entry in load_manifest(model_dir):
        path = _cache_paths(Path(model_dir), entry.sha256)[1]
        try:
            words.update(w for w in path.read_text(encoding="utf-8").split("\n") if w)
        except FileNotFoundError:
            continue
    return words


# ---- batches ----------------------------------------------------------------------------------
@dataclass
class _Part:
    """One dataset's memmap and its split: train = [0, split), val = [split, n)."""

    name: str
    tokens: np.ndarray
    split: int

    @property
    def n(self) -> int:
        return int(self.tokens.shape[0])


class TokenData:
    """Training and validation windows over every cached dataset of a model."""

    def __init__(
        self,
        model_dir: str | os.PathLike,
        context: int,
        val_fraction: float = 0.1,
    ) -> None:
        self.model_dir = Path(model_dir)
        if not isinstance(context, (int, np.integer)) or isinstance(context, bool) or context < 1:
            raise UserError(f"--context must be a positive whole number, got {context!r}")
        if not 0.0 < val_fraction < 1.0:
            raise UserError(
                f"validation fraction {val_fraction!r} must be between 0 and 1 (e.g. 0.1)"
            )
        self.context = int(context)
        self._tokenizer: Tokenizer | None = None  # loaded on first use (validation stats)
        self.datasets = load_manifest(self.model_dir)
        if not self.datasets:
            raise UserError(
                f"model {self.model_dir.name} has no training data; add a text file with "
                "--data FILE"
            )
        window = context + 1
        self._parts: list[_Part] = []
        for entry in self.datasets:
            name = Path(entry.path).name
            bin_path = _cache_paths(self.model_dir, entry.sha256)[0]
            size = bin_path.stat().st_size if bin_path.is_file() else -1
            if size < 0 or size % 2 or size // 2 != entry.tokens:
                problem = "missing" if size < 0 else "damaged"
                raise UserError(
                    f"the token cache of {name} (data/{entry.sha256[:12]}….bin) is {problem}; "
                    f"delete it and add the file again with --data {entry.path}"
                )
            n = size // 2
            if n < 2 * window:
                raise UserError(
                    f"{name} has {n} tokens, fewer than two context windows (train + "
                    f"validation need 2×(context+1) = {2 * window}); add more text or use a "
                    "smaller --context"
                )
            tokens = np.memmap(bin_path, dtype=TOKEN_DTYPE, mode="r", shape=(n,))
            n_val = max(int(np.ceil(n * val_fraction)), window)
            n_val = min(n_val, n - window)  # train keeps at least one window too
            self._parts.append(_Part(name, tokens, n - n_val))
        self.train_tokens = sum(p.split for p in self._parts)
        self.val_tokens = sum(p.n - p.split for p in self._parts)
        # window starts available per part and split (a window is context+1 tokens)
        self._starts = {
            "train": np.array([p.split - window + 1 for p in self._parts], dtype=np.int64),
            "val": np.array([p.n - p.split - window + 1 for p in self._parts], dtype=np.int64),
        }
        self._lo = {
            "train": np.zeros(len(self._parts), dtype=np.int64),
            "val": np.array([p.split for p in self._parts], dtype=np.int64),
        }
        sizes = {
            "train": [p.split for p in self._parts],
            "val": [p.n - p.split for p in self._parts],
        }
        self._weights = {k: np.asarray(v, dtype=np.float64) / sum(v) for k, v in sizes.items()}
        self._val_bpt: float | None = None

    # ---- random training / validation windows -----------------------------------------------
    def _check_split(self, split: str) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")

    def _gather(self, part_idx: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """(B, context+1) uint16 windows; starts are absolute offsets in each part."""
        window = self.context + 1
        out = np.empty((len(starts), window), dtype=TOKEN_DTYPE)
        ar = np.arange(window, dtype=np.int64)
        for k in np.unique(part_idx):
            rows = np.nonzero(part_idx == k)[0]
            out[rows] = self._parts[k].tokens[starts[rows, None] + ar]
        return out

    @staticmethod
    def _to_xy(windows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        t = torch.from_numpy(windows.astype(np.int64))
        return t[:, :-1].contiguous(), t[:, 1:].contiguous()

    def get_batch(
        self, split: str, batch_size: int, step: int, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x, y of shape (batch_size, context), int64; y is x shifted left by one token.

        Pure: a fresh generator seeded from (seed, step, split) picks, for each row, a dataset
        (weighted by its tokens in the split) and a uniformly random window start.
        """
        self._check_split(split)
        mask = (1 << 64) - 1
        split_id = 0 if split == "train" else 1
        rng = np.random.default_rng([int(seed) & mask, int(step) & mask, split_id])
        k = len(self._parts)
        part_idx = (
            np.zeros(batch_size, dtype=np.int64)
            if k == 1
            else rng.choice(k, size=batch_size, p=self._weights[split])
        )
        starts = self._lo[split][part_idx] + rng.integers(0, self._starts[split][part_idx])
        return self._to_xy(self._gather(part_idx, starts))

    def _val_positions(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """`count` window starts evenly spaced through all val splits: (part_idx, starts)."""
        starts_per = self._starts["val"]
        cum = np.concatenate([[0], np.cumsum(starts_per)])
        flat = np.linspace(0, cum[-1] - 1, num=count).round().astype(np.int64)
        part_idx = np.searchsorted(cum, flat, side="right") - 1
        return part_idx, self._lo["val"][part_idx] + (flat - cum[part_idx])

    def val_batches(self, n: int, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """`n` fixed batches of validation windows, evenly spaced through the val split."""
        part_idx, starts = self._val_positions(n * batch_size)
        windows = self._gather(part_idx, starts)
        return [
            self._to_xy(windows[i * batch_size : (i + 1) * batch_size]) for i in range(n)
        ]

    # ---- validation statistics --------------------------------------------------------------
    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            from slavik_tui.engine.tokenizer import Tokenizer

            self._tokenizer = Tokenizer.load(self.model_dir / "tokenizer.json")
        return self._tokenizer

    @property
    def val_bytes_per_token(self) -> float:
        """UTF-8 bytes of the validation text per validation token (EOT counts 0 bytes).

        Exact: the byte lengths of the tokens add up to the decoded text's length. Turns a
        loss in nats per token into bits per byte: bpb = loss / ln 2 / val_bytes_per_token.
        """
        if self._val_bpt is None:
            tok = self.tokenizer
            lengths = np.array(
                [len(tok.token_bytes(i)) for i in range(tok.vocab_size)], dtype=np.int64
            )
            lengths[tok.eot_id] = 0
            total = 0
            for p in self._parts:
                for lo in range(p.split, p.n, 1 << 20):
                    ids = np.asarray(p.tokens[lo : min(p.n, lo + (1 << 20))])
                    if ids.size and int(ids.max()) >= lengths.size:
                        raise UserError(
                            f"the token cache of {p.name} does not match this model's "
                            "tokenizer; delete the model's data/ folder and datasets.json and "
                            "add the files again with --data"
                        )
                    total += int(lengths[ids].sum())
            self._val_bpt = total / self.val_tokens
        return self._val_bpt

    def reward_prompts(self, n: int = 4, length: int = 16) -> list[list[int]]:
        """`n` fixed prompts of `length` tokens from evenly spaced places in the val split.

        Each prompt starts at the beginning of a line when one is near (else of a word), so
        the model is asked to continue text rather than to finish a half-written word.
        """
        length = max(1, min(length, self.context))
        tok = self.tokenizer
        part_idx, starts = self._val_positions(n)
        prompts: list[list[int]] = []
        for k, start in zip(part_idx.tolist(), starts.tolist()):
            p = self._parts[k]
            last = p.n - length  # the last start that leaves room for the whole prompt
            ahead = np.asarray(p.tokens[start : min(p.n, start + 256)]).tolist()
            pieces = [tok.token_bytes(t) if t != tok.eot_id else b"\n" for t in ahead]
            line = next((j + 1 for j, b in enumerate(pieces) if b.endswith(b"\n")), None)
            if line is not None:  # skip blank lines too: start at the line's first text
                while line < len(pieces) and not pieces[line].strip():
                    line += 1
            word = next((j for j, b in enumerate(pieces) if b[:1].isspace()), None)
            offset = line if line is not None and line < len(pieces) else word or 0
            start = min(start + offset, last)
            prompts.append(np.asarray(p.tokens[start : start + length]).astype(np.int64).tolist())
        return prompts

__all__ = [
    "DatasetEntry",
    "TokenData",
    "add_datasets",
    "file_sha256",
    "load_corpus_words",
    "load_manifest",
    "read_documents",
    "words_in",
]
