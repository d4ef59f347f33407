"""Which bytes are text, and how to decode them: binary and UTF-16/32 detection, decoding with
a clear error, and a guess of the legacy code page when a file is not UTF-8.

The guess scores each Cyrillic code page (cp1251, KOI8-R, cp866, mac-cyrillic) by how likely
its reading is as Russian: the log-probability of every non-ASCII character under the letter
frequencies of Russian prose (small letters common, capitals rare, box drawing and control
characters almost never), lowered for neighbours Russian hardly has (a capital after a small
letter, a dash glued to a word, a small letter opening a sentence). The code pages put the
same letters at different bytes, so a wrong reading turns common small letters into
capitals ("пПЙЧЕФ"), rare letters or pseudographics, and scores far lower; on a short text
whose readings stay close the runner-up is named too. It works on byte and byte-pair
histograms of a sample (numpy), never a Python loop over the file.
"""

from __future__ import annotations

import codecs
import math
from pathlib import Path

import numpy as np

from slavik_tui.errors import UserError

SNIFF = 64 * 1024  # bytes looked at for binary / UTF-16 detection
_GUESS_SAMPLE = 256 * 1024  # bytes the code-page guess looks at

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


def line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


# ---- binary / UTF-16 --------------------------------------------------------------------------
def check_not_binary(path: Path, raw: bytes, encoding: str | None) -> None:
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
                raise UserError(f"{path} looks like {enc} (it starts with a {enc} BOM); {hint}",
                                field="encoding")
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            raise UserError(f"{path} is {what}", field="data")
    sample = raw[:SNIFF]
    if wide:  # NULs and low bytes are normal in UTF-16/32; decoding will check the rest
        return
    if b"\x00" not in sample:
        controls = sum(sample.count(bytes([b])) for b in (*range(1, 8), 14, 15, *range(16, 27)))
        if sample and controls > 0.05 * len(sample):
            raise UserError(
                f"{path} looks like a binary file ({controls} control bytes in the first "
                f"{len(sample)}), not text; pass a .txt, .jsonl or .csv file", field="data"
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
            "pass a .txt, .jsonl or .csv file", field="data"
        )
    hint = _UTF16_HINT.format(enc=enc, enc_lc=enc.lower())
    raise UserError(f"{path} looks like {enc} (NUL bytes between letters); {hint}",
                    field="encoding")


# ---- the code-page guess ----------------------------------------------------------------------
# Letter frequencies of Russian prose, per cent (the usual published table; ё is mostly
# printed as е, hence its low share).
_RU_FREQ = {
    "о": 10.97, "е": 8.45, "а": 8.01, "и": 7.35, "н": 6.70, "т": 6.26, "с": 5.47, "р": 4.73,
    "в": 4.54, "л": 4.40, "к": 3.49, "м": 3.21, "д": 2.98, "п": 2.81, "у": 2.62, "я": 2.01,
    "ы": 1.90, "ь": 1.74, "г": 1.70, "з": 1.65, "б": 1.59, "ч": 1.44, "й": 1.21, "х": 0.97,
    "ж": 0.94, "ш": 0.73, "ю": 0.64, "ц": 0.48, "щ": 0.36, "э": 0.32, "ф": 0.26, "ъ": 0.04,
    "ё": 0.04,
}
_WORD_CAPITALS = "АВИКОСУЯ"  # capitals that are words alone (А, В, И, К, О, С, У, Я)
# Classes of characters; ASCII ones are the same in every code page.
LATIN, BLANK, ASCII_OTHER = 0, 1, 2
LOWER, UPPER, UPPER_WORD, DASH, NBSP, OPEN, CLOSE, QUOTE, MARK, OTHER = range(3, 13)
_PUNCT_CLASS = {"–": DASH, "—": DASH, "\u00a0": NBSP, "«": OPEN, "„": OPEN, "»": CLOSE,
                "“": QUOTE, "”": QUOTE, "‘": QUOTE, "’": QUOTE, "…": MARK, "№": MARK}
# How often each class appears among the non-ASCII characters of Russian prose, and the
# log-probability of each character within it (letters by their frequency).
_CLASS_SHARE = {LOWER: 0.94, UPPER: 0.04, UPPER_WORD: 0.04, DASH: 0.008, NBSP: 0.006,
                OPEN: 0.001, CLOSE: 0.001, QUOTE: 0.001, MARK: 0.001, OTHER: 1e-5}
# Neighbours Russian text (almost) never has, with how much rarer than usual they are:
# measured on novels, a play and chat-style questions and answers.
_RARE_PAIRS = {
    **{(LOWER, c): 1e-3 for c in (UPPER, UPPER_WORD)},  # a capital inside a word
    **{(UPPER, c): 0.05 for c in (BLANK, ASCII_OTHER)},  # a one-letter word that is none
    **{(DASH, c): 1e-3 for c in (LOWER, UPPER, UPPER_WORD)},  # dashes stand between spaces
    **{(CLOSE, c): 1e-3 for c in (LOWER, UPPER, UPPER_WORD)},
    (LOWER, OPEN): 1e-3,
    (OPEN, LOWER): 0.1,  # a quotation mostly starts with a capital
    (QUOTE, LOWER): 0.1,
    (BLANK, NBSP): 1e-3,
    (NBSP, LOWER): 0.02,
    (MARK, LOWER): 0.01,
}
# After ". ", "! ", "? " or a line break a sentence starts: capitals there are the rule.
_SENTENCE_START = {LOWER: 0.05 / 0.94, UPPER: 0.9 / 0.04, UPPER_WORD: 0.9 / 0.04}
_LOG_FLOOR = -6.0  # mean log-probability below this: not Russian in any of the code pages
_LATIN_NEIGHBOURS = 0.5  # non-ASCII bytes beside ASCII letters (per byte): accented Latin
_CLOSE = 5.0  # log-likelihoods nearer than this (e^5 ≈ 150 times): name the runner-up too

_CYRILLIC = {
    "cp1251": "Windows Cyrillic",
    "koi8-r": "KOI8-R Cyrillic",
    "cp866": "DOS Cyrillic",
    "mac-cyrillic": "Mac Cyrillic",
}


def _class_of(b: int, ch: str) -> int:
    if b < 128:
        return LATIN if ch.isalpha() else BLANK if ch in " \t\r\n" else ASCII_OTHER
    if ch in _RU_FREQ:
        return LOWER
    if ch.lower() in _RU_FREQ:
        return UPPER_WORD if ch in _WORD_CAPITALS else UPPER
    return _PUNCT_CLASS.get(ch, OTHER)


def _tables(enc: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per byte value read in code page `enc`: its class, its log-probability as a character
    of Russian text (0 for ASCII, which every code page reads alike), and how much likelier
    (log) it is at the start of a sentence."""
    chars = [bytes([b]).decode(enc, errors="replace") for b in range(256)]
    cls = np.array([_class_of(b, c) for b, c in enumerate(chars)])
    members = {k: [c for b, c in enumerate(chars) if cls[b] == k] for k in _CLASS_SHARE}
    total = sum(_RU_FREQ.values())
    log_p = np.zeros(256)
    for b in range(128, 256):
        k, ch = int(cls[b]), chars[b]
        within = _RU_FREQ[ch.lower()] / total if k in (LOWER, UPPER, UPPER_WORD) else (
            1 / max(1, len(members[k])))
        log_p[b] = math.log(_CLASS_SHARE[k] * within)
    at_start = np.array([math.log(_SENTENCE_START.get(int(k), 1.0)) for k in cls])
    return cls, log_p, at_start


_N_CLASSES = 13
_PAIR_LOG = np.zeros((_N_CLASSES, _N_CLASSES))
for (_a, _b), _factor in _RARE_PAIRS.items():
    _PAIR_LOG[_a, _b] = math.log(_factor)
_TABLES = {enc: _tables(enc) for enc in _CYRILLIC}
_HIGH = np.arange(256) >= 128
_ENDS = np.frombuffer(b".!?", dtype=np.uint8)
_ASCII_LETTER = np.array([chr(b).isascii() and chr(b).isalpha() for b in range(256)])


def russian_scores(sample: bytes) -> dict[str, float]:
    """Mean log-likelihood per non-ASCII byte of `sample` read as Russian in each code page
    (higher is likelier; about -3.3 for Russian prose in its own code page)."""
    arr = np.frombuffer(sample, dtype=np.uint8)
    hist = np.bincount(arr, minlength=256)
    high = int(hist[128:].sum())
    if high == 0:
        return {enc: _LOG_FLOOR - 1 for enc in _CYRILLIC}
    cur, prev = arr[1:], arr[:-1]
    pairs = np.bincount(prev.astype(np.int32) * 256 + cur, minlength=65536).reshape(256, 256)
    before_prev = np.concatenate([[0], arr[:-2]]).astype(np.uint8)
    starts = (prev == 0x0A) | ((prev == 0x20) & np.isin(before_prev, _ENDS))
    starts_hist = np.bincount(cur[starts], minlength=256)
    scores = {}
    for enc, (cls, log_p, at_start) in _TABLES.items():
        pair_log = _PAIR_LOG[cls[:, None], cls[None, :]]
        total = hist @ log_p + (pairs * pair_log).sum() + starts_hist @ at_start
        scores[enc] = float(total) / high
    return scores


def guess_encodings(raw: bytes, start: int = 0) -> list[str]:
    """The likeliest legacy encodings of bytes that are not UTF-8, best first: one, or two
    when a short text leaves two readings close. `start` is where UTF-8 failed (the sample is
    taken from there). Every codec returned decodes the whole of `raw`."""
    lo = max(0, start - 1024)
    sample = (b"\n" if lo == 0 else b"") + raw[lo : start + _GUESS_SAMPLE]  # a file starts a line
    arr = np.frombuffer(sample, dtype=np.uint8)
    high = max(1, int(np.count_nonzero(arr >= 128)))
    # Accented Latin letters sit inside Latin words; Cyrillic ones beside other Cyrillic ones.
    left, right = arr[:-1], arr[1:]
    beside_latin = int(
        np.count_nonzero(_ASCII_LETTER[left] & _HIGH[right])
        + np.count_nonzero(_HIGH[left] & _ASCII_LETTER[right])
    )
    if beside_latin / high <= _LATIN_NEIGHBOURS:
        scores = russian_scores(sample)
        # cp1251 first: on a tie (text cp1251 and mac-cyrillic read alike) the commoner wins.
        ranked = [e for e in sorted(scores, key=lambda e: -scores[e])
                  if scores[e] >= _LOG_FLOOR and _decodes(raw, e)]
        if ranked:
            best = ranked[0]
            close = [e for e in ranked[1:2] if (scores[best] - scores[e]) * high < _CLOSE
                     and sample.decode(e) != sample.decode(best)]
            return [best, *close]
    return ["cp1252" if _decodes(raw, "cp1252") else "latin1"]


def describe(codecs_: list[str]) -> str:
    """"cp1251 (Windows Cyrillic)", with the runner-up when there is one."""
    names = {**_CYRILLIC, "cp1252": "Western European; latin-1 is close",
             "latin1": "Western European"}
    return " or else ".join(f"{enc} ({names[enc]})" for enc in codecs_)


def _decodes(raw: bytes, enc: str) -> bool:
    return not any(bytes([b]) in raw for b in _UNDEFINED[enc])


_UNDEFINED = {  # the bytes a code page leaves undefined (cp1251: 0x98; KOI8-R: none)
    enc: [b for b in range(256) if bytes([b]).decode(enc, errors="replace") == "\ufffd"]
    for enc in (*_CYRILLIC, "cp1252")
}


# ---- decoding ---------------------------------------------------------------------------------
def decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """(text, codec name) — UserError with offset, line and a likely encoding on failure."""
    if encoding is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.end == len(raw) and exc.reason == "unexpected end of data":
                # UTF-8 cut short in its last character (a truncated copy or download): the
                # text is UTF-8; only the cut character is lost.
                return decode(path, raw[: exc.start], encoding)
            guesses = guess_encodings(raw, exc.start)
            enc = guesses[0]
            also = "".join(f" (or --encoding {e})" for e in guesses[1:])
            raise UserError(
                f"{path} is not valid UTF-8 (byte {exc.start}, line {line_of(raw, exc.start)}); "
                f"it looks like {describe(guesses)}: pass --encoding {enc}{also} or convert it "
                f"(iconv -f {enc} -t UTF-8 FILE > out.txt)", field="encoding"
            ) from None
        used = "utf-8"
    else:
        used = codecs.lookup(encoding).name
        try:
            text = raw.decode(used)
        except UnicodeDecodeError as exc:
            raise UserError(
                f"{path} is not valid {encoding} (byte {exc.start}, line "
                f"{line_of(raw, exc.start)}); pass the right --encoding (utf-8, cp1251, koi8-r, "
                "latin-1, ...) or convert the file to UTF-8", field="encoding"
            ) from None
    if text.startswith("\ufeff"):  # a BOM (utf-8 with BOM, or utf-16 read with its BOM)
        text = text[1:]
    return text, used
