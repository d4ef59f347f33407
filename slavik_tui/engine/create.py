"""Create a model folder: tokenizer trained on its datasets, config, token caches, history.

The folder is assembled under a hidden temporary name and renamed into place at the end, so
a failure (a bad file, a corpus too short for the context) leaves nothing half-made behind.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
from pathlib import Path
from typing import Callable

from slavik_tui.engine.checkpoint import atomic_write_json
from slavik_tui.spec.config import FORMAT_VERSION, ModelConfig
from slavik_tui.engine.data import TokenData, add_datasets, read_documents
from slavik_tui.engine.tokenizer import EOT, MIN_VOCAB, Tokenizer
from slavik_tui.errors import UserError
from slavik_tui.store.history import History
from slavik_tui.store.workspace import Workspace, validate_name


def write_config(model_dir: Path, cfg: ModelConfig, created_at: str | None = None) -> None:
    atomic_write_json(Path(model_dir) / "config.json", {
        "format_version": FORMAT_VERSION,
        "model": cfg.to_dict(),
        "tokenizer": {"type": "byte-level-bpe", "vocab_size": cfg.vocab_size, "eot": EOT},
        "created_at": created_at or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })


def create_model(
    workspace: Workspace,
    name: str,
    data: list[str],
    cfg: ModelConfig,
    encoding: str | None = None,
    column: str | None = None,
    report: Callable[[str], None] = print,
) -> Path:
    """Build models/<name>/ from datasets; returns its path."""
    name = validate_name(name)
    final = workspace.root / name
    if final.exists():
        raise UserError(f"model '{name}' already exists in {workspace.root}; pick another name")
    if not data:
        raise UserError("a new model needs text: pass --data FILE (plain text, .jsonl or .csv)")
    documents = []
    for path in data:
        documents.extend(read_documents(path, encoding=encoding, column=column))
    tmp = workspace.root / f".{name}.creating-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        report(f"training a {cfg.vocab_size}-token byte-level BPE tokenizer on {len(data)} file(s)")
        tokenizer = Tokenizer.train(documents, cfg.vocab_size)
        del documents
        if tokenizer.vocab_size < cfg.vocab_size:
            # A small text yields fewer merges; shrink the embedding to fit (never below the
            # config's floor: spare rows are harmless and the text-length check comes next).
            vocab = max(tokenizer.vocab_size, MIN_VOCAB)
            report(f"the text is small: the tokenizer learned {tokenizer.vocab_size} tokens")
            cfg = ModelConfig.from_dict({**cfg.to_dict(), "vocab_size": vocab})
        tokenizer.save(tmp / "tokenizer.json")
        write_config(tmp, cfg)
        for entry in add_datasets(tmp, data, tokenizer, encoding=encoding, column=column):
            report(f"dataset {Path(entry.path).name}: {entry.bytes:,} bytes → {entry.tokens:,} tokens")
        TokenData(tmp, cfg.context)  # fails early if a text is shorter than the context
        History(tmp / "history.sqlite").close()
        try:
            os.rename(tmp, final)
        except OSError:
            raise UserError(f"model '{name}' already exists in {workspace.root}; pick another name") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    sizes = cfg.sizes_mb()
    report(
        f"created model '{name}': {cfg.n_params:,} parameters, {sizes['fp32']:.1f} MB fp32 "
        f"weights, {sizes['checkpoint']:.1f} MB full checkpoint; next: slavik-tui train {name}"
    )
    return final
