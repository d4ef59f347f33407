"""Reading a user's input files into documents.

- `.jsonl` / `.ndjson`: one document per line, from the "text" field (or `column`).
- `.csv` / `.tsv`: one document per row, from the "text" column (or `column`); quoted newlines
  are handled by the csv module; the delimiter (, ; tab |) is detected from the header.
- anything else is plain text, and the whole file is one document.
- Only regular files are read: a FIFO would block forever and /dev/zero never ends, so the
  type is checked with `os.stat` before opening (and again on the open file). A symlink to a
  regular file is fine: it is the user's own input.
- Bytes are checked before decoding (binary, UTF-16/32; see `encoding`); UTF-8 by default,
  `encoding` reads legacy files (cp1251, koi8-r, ...).
- **Newlines are normalised**: "\\r\\n" and a lone "\\r" become "\\n" (Python's universal
  newlines), so the model never spends capacity on "\\r" and a Windows file and a Unix file with
  the same text give the same tokens.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import stat
from pathlib import Path

from slavik_tui.engine.data.encoding import check_not_binary, decode
from slavik_tui.errors import UserError

_JSONL_EXT = {".jsonl", ".ndjson"}
_CSV_EXT = {".csv": ",", ".tsv": "\t"}
FORMATS = ("txt", "jsonl", "csv")


def normalise_newlines(text: str) -> str:
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---- the file itself --------------------------------------------------------------------------
def _not_regular(p: Path, mode: int) -> UserError:
    if stat.S_ISFIFO(mode):  # what a pipe sends can be saved; then it is a file like any other
        return UserError(
            f"{p} is a named pipe (FIFO), not a regular file, and reading it may never end; "
            f"save what it sends to a file first (cat {p} > text.txt) and pass that file",
            field="data",
        )
    what = (
        "a character device" if stat.S_ISCHR(mode)
        else "a block device" if stat.S_ISBLK(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    return UserError(
        f"{p} is {what}, not a text file; pass a regular .txt, .jsonl or .csv file",
        field="data",
    )


def read_raw(path: str | os.PathLike) -> tuple[Path, bytes]:
    """(absolute path, raw bytes) of one input file; UserError for anything but a readable
    regular file."""
    p = Path(path).expanduser()
    try:
        mode = os.stat(p).st_mode
        if stat.S_ISDIR(mode):
            raise UserError(
                f"{p} is a directory; pass the text files inside it (e.g. {p}/*.txt)",
                field="data",
            )
        if not stat.S_ISREG(mode):
            raise _not_regular(p, mode)
        # O_NONBLOCK: should the file have become a FIFO since the stat, opening still
        # returns at once, and the check below refuses it.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        with open(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise _not_regular(p, mode)
            raw = f.read()
    except FileNotFoundError:
        raise UserError(f"{p}: no such file; check the path", field="data") from None
    except PermissionError:
        raise UserError(
            f"{p}: permission denied; make the file readable (chmod +r)", field="data"
        ) from None
    except OSError as exc:  # a symlink loop, an I/O error, a name too long ...
        raise UserError(
            f"{p} cannot be read ({exc.strerror or exc}); check the path", field="data"
        ) from None
    return p.resolve(), raw


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
                f'each line of a .jsonl file must be one object like {{"{column}": "..."}}',
                field="data",
            ) from None
        if not isinstance(obj, dict):
            raise UserError(
                f"{path} line {lineno} is a JSON {type(obj).__name__}, not an object; each line "
                f'of a .jsonl file must be one object like {{"{column}": "..."}}',
                field="data",
            )
        if column not in obj:
            keys = ", ".join(map(str, obj)) or "none"
            raise UserError(
                f'{path} line {lineno} has no "{column}" field (fields: {keys}); '
                "pass --column NAME to read another field",
                field="column",
            )
        value = obj[column]
        if value is None:
            continue
        if not isinstance(value, str):
            raise UserError(
                f'{path} line {lineno}: field "{column}" is a JSON {type(value).__name__}, not '
                "a string; pass --column NAME for the field that holds the text",
                field="column",
            )
        value = normalise_newlines(value)
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
            f'{path} has no "{column}" column (columns: {cols}); pass --column NAME to pick one',
            field="column",
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
            "or save the file again from a spreadsheet",
            field="data",
        ) from None
    return docs


def decoded_text(path: Path, raw: bytes, encoding: str | None,
                 what: str = "some text") -> tuple[str, str]:
    """(text with \n newlines, codec used) of a file's raw bytes: empty, binary, UTF-16 and
    undecodable files each get their one-line error; `what` says what the file should hold."""
    if not raw:
        raise UserError(f"{path} is empty; put {what} in it or pass another file", field="data")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UserError(
                f"unknown encoding {encoding!r}; use a name Python knows, such as utf-8, "
                "cp1251, koi8-r, cp866, mac-cyrillic, utf-16 or latin-1",
                field="encoding",
            ) from None
    check_not_binary(path, raw, encoding)
    text, used = decode(path, raw, encoding)
    return normalise_newlines(text), used


def parse(
    path: Path, raw: bytes, encoding: str | None, column: str | None
) -> tuple[list[str], str, str, str | None]:
    """(documents, codec, format, column) of one file's raw bytes."""
    text, used = decoded_text(path, raw, encoding)
    if not text.strip():
        raise UserError(
            f"{path} contains only whitespace; put some text in it or pass another file",
            field="data",
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
            f"{kind} that holds the text",
            field="column",
        )
    return docs, used, fmt, column


def read_documents(
    path: str | os.PathLike, encoding: str | None = None, column: str | None = None
) -> list[str]:
    """The documents in one file (see the module docstring for formats and newlines)."""
    p, raw = read_raw(path)
    return parse(p, raw, encoding, column)[0]
