"""Create a model folder: tokenizer trained on its datasets, config, token caches, history.

The folder is assembled under a hidden temporary name (`.NAME.creating-PID`) and renamed into
place at the end, so a failure (a bad file, a corpus too short for the context, a full disk)
leaves nothing half-made behind; such a folder left by a killed `new` is removed by the next.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
from pathlib import Path
from typing import Callable

from slavik_tui.atomic import on_disk_full, pid_alive
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
    remove_stale_builds(workspace.root)
    tmp = workspace.root / f".{name}.creating-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    needed = sum(os.stat(path).st_size for path in data)  # token caches ≈ the text's size
    with on_disk_full(workspace.root, f"the new model '{name}'", needed=needed):
        tmp.mkdir(parents=True)
        cfg = _build(tmp, final, workspace, data, documents, cfg, encoding, column, report)
    sizes = cfg.sizes_mb()
    report(
        f"created model '{name}': {cfg.n_params:,} parameters, {sizes['fp32']:.1f} MB fp32 "
        f"weights, {sizes['checkpoint']:.1f} MB full checkpoint; next: slavik-tui train {name}"
    )
    return final


_BUILD = re.compile(r"\..+\.creating-(\d+)")


def remove_stale_builds(root: Path) -> None:
    """Remove `.NAME.creating-PID` folders whose `new` was killed (its pid is gone)."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        found = _BUILD.fullmatch(entry.name)
        if found and entry.is_dir(follow_symlinks=False) and not pid_alive(int(found.group(1))):
            shutil.rmtree(entry.path, ignore_errors=True)


def _build(tmp: Path, final: Path, workspace: Workspace, data: list[str], documents: list,
           cfg: ModelConfig, encoding, column, report) -> ModelConfig:
    """Fill `tmp` and rename it to `final`; on any failure `tmp` is removed. Returns the
    config as built (the vocabulary may shrink to what a small text yields)."""
    try:
        report(f"training a {cfg.vocab_size}-token byte-level BPE tokenizer on {len(data)} file(s)")
        tokenizer = Tokenizer.train(documents, cfg.vocab_size)
        documents.clear()  # the tokenizer has them; free the memory for the caches
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
            raise UserError(f"model '{final.name}' already exists in {workspace.root}; "
                            "pick another name") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return cfg
