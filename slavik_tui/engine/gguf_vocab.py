"""Our byte-level BPE tokenizer.json as a GGUF vocabulary llama.cpp tokenises identically.

llama.cpp's "gpt2" tokenizer model is byte-level BPE: a regex split of the text into words,
each word's UTF-8 bytes mapped to GPT-2's 256 printable characters, then the merges applied
lowest rank first. That is exactly what our `tokenizers` pipeline does (ByteLevel
pre-tokenizer with its regex, no normalizer, BPE without dropout or byte fallback), so the
vocabulary and merges go over as they are — the only choice is the pre-tokenizer *name*.

`tokenizer.ggml.pre = "gpt-2"`: llama.cpp maps that name to its GPT-2 pre-tokenizer, whose
split (a hand-written matcher in its unicode.cpp) implements
`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+` — the same
regex the ByteLevel pre-tokenizer uses. (llama.cpp's own converter refuses custom tokenizers
because it identifies pre-tokenizers by hashing the ids of a fixed probe text, which only
known, published vocabularies can match.) tests/engine/test_gguf.py re-tokenises Russian text
from the written vocabulary and merges with that split and compares the ids with ours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from slavik_tui.errors import UserError

PRE_TOKENIZER = "gpt-2"  # llama.cpp's name for the GPT-2 split (see the module docstring)


@dataclass
class GGUFVocab:
    """What goes under `tokenizer.ggml.*`: one entry per embedding row."""

    tokens: list[str]  # byte-level strings, as in tokenizer.json; specials as their text
    types: list[int]  # gguf.TokenType values
    merges: list[str]  # "left right", in rank order
    ids: dict[str, int]  # token text → id (real tokens only, not the padding)


def read_vocab(tokenizer_json: Path, n_vocab: int) -> GGUFVocab:
    """Read `tokenizer_json` and lay its tokens out over `n_vocab` ids.

    The model may have more embedding rows than the tokenizer has tokens (a small corpus
    learns fewer merges than asked for); those ids get placeholder tokens of type UNUSED,
    as llama.cpp's converter pads such vocabularies, so the vocabulary matches token_embd.
    """
    import gguf

    data = _load_json(tokenizer_json)
    model = data.get("model")
    if not isinstance(model, dict) or model.get("type") != "BPE":
        raise _bad(tokenizer_json, "it is not a BPE tokenizer")
    _check_pipeline(tokenizer_json, data, model)

    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        raise _bad(tokenizer_json, "its model has no vocab")
    ids: dict[str, int] = {}
    special: set[int] = set()
    added_plain: set[int] = set()
    for token, idx in vocab.items():
        ids[token] = idx
    for added in data.get("added_tokens") or []:
        if not isinstance(added, dict) or not isinstance(added.get("content"), str):
            raise _bad(tokenizer_json, "an added token is malformed")
        idx = added.get("id")
        ids[added["content"]] = idx
        (special if added.get("special") else added_plain).add(idx)
    for token, idx in ids.items():
        if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < n_vocab:
            raise UserError(
                f"{tokenizer_json} does not fit the model: token {token!r} has id {idx!r}, but "
                f"config.json has vocab_size {n_vocab}; restore the model's matching files"
            )
    if len(set(ids.values())) != len(ids):
        raise _bad(tokenizer_json, "two tokens share one id")

    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    types = [int(gguf.TokenType.UNUSED)] * n_vocab
    for token, idx in ids.items():
        tokens[idx] = token
        if idx in special:
            types[idx] = int(gguf.TokenType.CONTROL)
        elif idx in added_plain:
            types[idx] = int(gguf.TokenType.USER_DEFINED)
        else:
            types[idx] = int(gguf.TokenType.NORMAL)
    return GGUFVocab(tokens, types, _merges(tokenizer_json, model.get("merges")), ids)


def _check_pipeline(path: Path, data: dict, model: dict) -> None:
    """Refuse anything whose tokenisation llama.cpp's gpt-2 pipeline would not reproduce."""
    pre = data.get("pre_tokenizer")
    if not (
        isinstance(pre, dict)
        and pre.get("type") == "ByteLevel"
        and pre.get("use_regex", True) is True
        and pre.get("add_prefix_space") is False
    ):
        raise _bad(path, "its pre-tokenizer is not slavik-tui's ByteLevel split")
    if data.get("normalizer") is not None:
        raise _bad(path, "it has a normalizer, which llama.cpp's gpt-2 vocabulary lacks")
    if (
        model.get("dropout") not in (None, 0, 0.0)
        or model.get("byte_fallback")
        or model.get("ignore_merges")
        or model.get("continuing_subword_prefix")
        or model.get("end_of_word_suffix")
    ):
        raise _bad(path, "its BPE options are not plain byte-level BPE")


def _merges(path: Path, merges) -> list[str]:
    """Merges as "left right" strings (tokenizers ≥ 0.20 saves pairs, older ones strings)."""
    if not isinstance(merges, list):
        raise _bad(path, "its model has no merges")
    out = []
    for merge in merges:
        if isinstance(merge, str):
            parts = merge.split(" ")
        elif isinstance(merge, list):
            parts = merge
        else:
            parts = None
        # Byte-level symbols never contain a space (it is "Ġ"), so one space separates them.
        if not (parts and len(parts) == 2 and all(isinstance(p, str) and p and " " not in p
                                                 for p in parts)):
            raise _bad(path, f"merge {merge!r} is malformed")
        out.append(f"{parts[0]} {parts[1]}")
    return out


def _load_json(path: Path) -> dict:
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise UserError(f"{path} is missing; restore the model's tokenizer.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); restore the model's tokenizer.json") from None
    if not isinstance(data, dict):
        raise _bad(path, "it is not a JSON object")
    return data


def _bad(path: Path, why: str) -> UserError:
    return UserError(
        f"{path} cannot be exported to GGUF: {why}; restore the tokenizer.json slavik-tui made "
        "for this model"
    )
