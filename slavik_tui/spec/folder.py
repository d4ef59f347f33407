"""The one place that knows a model folder's layout: its file names, and how to read the small
JSON files in it tolerantly.

A model folder may come from someone else (a copy, an archive, a shared drive), so every name
read from disk is checked before it becomes a path, nothing here follows a symlink out of the
folder, and every error names the file and says what to do. Pure standard library.

    models/<name>/
      config.json          architecture + tokenizer settings (+ format version)
      tokenizer.json       Hugging Face tokenizers file
      model.safetensors    current weights (fp32)
      trainer_state.pt     optimizer, schedule, RNG states, data position (weights_only load)
      checkpoint.json      the commit record of the last checkpoint: step, sha256s
      datasets.json        every dataset this model saw
      history.sqlite       runs and their metric points
      data/<sha256>.bin    token cache of each dataset (+ .words: its word list)
      runs/<run_id>.log    output of a detached run
      charts/              saved and autosaved charts (SVG + CSV)
      sft/                 packed dialogues of fine-tuning (<key>.npz) and current.json
      chats/<stamp>.jsonl  conversations of the Generation screen's Chat mode
      .lock                held by the one trainer that may write this model
"""

from __future__ import annotations

import json
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig, in_file

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
WEIGHTS = "model.safetensors"
STATE = "trainer_state.pt"
RECORD = "checkpoint.json"
DATASETS = "datasets.json"
HISTORY = "history.sqlite"
LOCK = ".lock"
DATA_DIR = "data"
RUNS_DIR = "runs"
CHARTS_DIR = "charts"
SFT_DIR = "sft"
CHATS_DIR = "chats"

MAX_NAME_LEN = 64
_NAME_PUNCT = "-_."
NAME_EXAMPLE = "e.g. 'slavik-1' or 'славик'"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def validate_name(name: str) -> str:
    """Return the model name (NFC-normalised) or raise UserError naming the broken rule.

    Allowed: letters of any alphabet, digits, '-', '_', '.'; 1–64 characters; no leading dot
    (so no '.', '..' or hidden folders); hence no path separators or spaces.
    """
    if not isinstance(name, str):
        raise UserError(f"model name must be text, got {name!r}; use {NAME_EXAMPLE}")
    # NFC: "й" typed as и + combining breve (macOS file names) is the same name as "й".
    name = unicodedata.normalize("NFC", name)
    rule = None
    if not name:
        rule = "is empty"
    elif len(name) > MAX_NAME_LEN:
        rule = f"is {len(name)} characters long, the limit is {MAX_NAME_LEN}"
    elif "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        rule = "contains a path separator ('/' or '\\')"
    elif name.startswith("."):
        rule = "starts with a dot (that would be '.', '..' or a hidden folder)"
    else:
        bad = sorted({ch for ch in name if not (ch.isalnum() or ch in _NAME_PUNCT)})
        if bad:
            shown = ", ".join(repr(ch) for ch in bad)
            rule = f"contains {shown}; only letters, digits, '-', '_' and '.' are allowed"
    if rule:
        raise UserError(f"invalid model name {name!r}: it {rule}; pick a name like {NAME_EXAMPLE}",
                        field="name")
    return name


def is_sha256(text: object) -> bool:
    """A lowercase hex sha256: the only form a cache file name read from disk may take."""
    return isinstance(text, str) and _SHA256.fullmatch(text) is not None


@dataclass(frozen=True)
class ModelFolder:
    """Paths inside one model folder. Cheap: nothing is read until a method is called."""

    path: Path

    def __init__(self, path: str | os.PathLike) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def name(self) -> str:
        return self.path.name

    # ---- files ----------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def tokenizer(self) -> Path:
        return self.path / TOKENIZER

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS

    @property
    def state(self) -> Path:
        return self.path / STATE

    @property
    def record(self) -> Path:
        return self.path / RECORD

    @property
    def datasets(self) -> Path:
        return self.path / DATASETS

    @property
    def history(self) -> Path:
        return self.path / HISTORY

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    @property
    def data_dir(self) -> Path:
        return self.path / DATA_DIR

    @property
    def runs_dir(self) -> Path:
        return self.path / RUNS_DIR

    @property
    def charts_dir(self) -> Path:
        return self.path / CHARTS_DIR

    @property
    def sft_dir(self) -> Path:
        """The dialogue fine-tuning data: packed rows (<key>.npz) and current.json."""
        return self.path / SFT_DIR

    @property
    def chats_dir(self) -> Path:
        return self.path / CHATS_DIR

    def cache(self, sha256: str, suffix: str = ".bin") -> Path:
        """The token cache (`.bin`) or word list (`.words`) of a dataset. The sha256 comes from
        datasets.json, which may have been edited: anything but 64 hex digits is refused."""
        if not is_sha256(sha256):
            raise UserError(
                f"{self.datasets}: dataset id {str(sha256)[:80]!r} is not a sha256; restore the "
                "file from a copy of the model folder, or add the data again with --data FILE"
            )
        return self.data_dir / f"{sha256}{suffix}"

    def inner_dir(self, path: Path, create: bool = True,
                  then: str = "run the command again") -> Path:
        """`path` (data/, runs/, charts/: a folder of this model), refused when it is a symbolic
        link or not a folder, so nothing is ever read or written outside the model through it;
        made when `create`. `then` ends the advice (what to do after removing it)."""
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            if create:
                path.mkdir(exist_ok=True)
            return path
        if not stat.S_ISDIR(mode):  # lstat: a link to a folder is a link, not a folder
            raise UserError(
                f"{path} is {_KIND_WORDS[_kind_of(mode)]}, not a folder of the model; "
                f"slavik-tui reads and writes only inside the model's folder: remove it "
                f"(rm {path}) and {then}")
        return path

    def run_log(self, run_id: int) -> Path:
        return self.runs_dir / f"{int(run_id)}.log"

    def chart_files(self, run_id: int) -> tuple[Path, Path]:
        """Where a run's autosaved chart goes: charts/run-<id>.svg and .csv."""
        stem = f"run-{int(run_id)}"
        return self.charts_dir / f"{stem}.svg", self.charts_dir / f"{stem}.csv"

    # ---- tolerant readers -------------------------------------------------------------------
    def read_json(self, path: Path, missing: Any = None) -> Any:
        """Parsed JSON of a file in this folder, `missing` when it is absent; UserError naming
        the file when it is not a regular file or not JSON."""
        try:
            if path.is_symlink() or (path.exists() and not path.is_file()):
                raise UserError(
                    f"{path} is not a regular file; replace it with the real file or restore "
                    "the model folder from a copy"
                )
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return missing
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{path} cannot be read ({exc}); restore it from a copy of the "
                            "model folder") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                            "restore it from a copy of the model folder") from None

    def read_meta(self) -> dict:
        """config.json as a dict with a "model" object (older folders held the model alone)."""
        meta = self.read_json(self.config)
        if meta is None:
            raise UserError(f"{self.config} is missing, so the folder is incomplete; restore the "
                            f"file or remove the model with `slavik-tui delete {self.name}`")
        if not isinstance(meta, dict):
            raise UserError(f"{self.config} is not a JSON object; restore it from a copy of the "
                            "model folder")
        if "model" not in meta:
            meta = {"model": meta}
        if not isinstance(meta["model"], dict):
            raise UserError(f"{self.config}: 'model' is not an object; restore it from a copy of "
                            "the model folder")
        return meta

    def read_config(self) -> ModelConfig:
        """The model's architecture from config.json, every value checked; a UserError names
        the file and the field, never a command-line flag."""
        try:
            return ModelConfig.from_dict(self.read_meta()["model"])
        except UserError as exc:
            if str(self.config) in str(exc):
                raise
            raise in_file(exc, self.config) from None

    def read_record(self) -> dict | None:
        """checkpoint.json (None when the model was never saved); UserError when damaged."""
        record = self.read_json(self.record)
        if record is None:
            return None
        step = record.get("step") if isinstance(record, dict) else None
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise UserError(f"{self.record} is damaged (no valid 'step'); restore the model "
                            "folder from a copy")
        return record

    def saved_step(self) -> int:
        """The step of the last committed checkpoint (0 when never trained)."""
        record = self.read_record()
        return record["step"] if record else 0


# ---- where exports and CSVs may go ---------------------------------------------------------
def check_output(path: str | os.PathLike, models_root: str | os.PathLike, force: bool = False,
                 folder: bool = False, example: str = "model.safetensors") -> Path:
    """`path` as a place to write an export or a CSV, or UserError saying why not and what to do.

    Refused: anything inside the models folder (the app's own territory: a target there could
    replace a model's weights or history, and an exported folder would be listed as a model);
    a path that is there but not a regular file (a device such as /dev/null, a link, a folder:
    writing would replace it); an existing file unless `force`. With `folder` (the `hf`
    export, a new folder) only a missing or empty folder will do: a folder of files is never
    written over, `force` or not. `example` is the file name suggested when `path` is a folder.
    """
    out = Path(path).expanduser()
    root = Path(models_root).expanduser().resolve()
    where = out.parent.resolve() / out.name  # the link itself, if `out` is one
    if where == root or root in where.parents or root in out.resolve().parents:
        raise UserError(f"{out} is inside the models folder {root}, where it could replace a "
                        "model's files or look like a model; write it outside, e.g. "
                        f"{Path.home() / out.name}")
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return out
    except OSError as exc:
        raise UserError(f"{out} cannot be checked ({exc.strerror}); pick another path") from None
    kind = _kind_of(st.st_mode)
    if folder:
        if kind == "folder" and not any(os.scandir(out)):
            return out
        what = "a folder with files in it" if kind == "folder" else _KIND_WORDS[kind]
        raise UserError(f"{out} is {what}; the hf export writes a new folder, so give a path "
                        "that does not exist yet")
    if kind == "file":
        if force:
            return out
        raise UserError(f"{out} already exists; add --force to replace it, or pick another path")
    fix = (f"give a file path such as {out / example}" if kind == "folder"
           else "pick another path")
    raise UserError(f"{out} is {_KIND_WORDS[kind]}, not a file, and is never replaced; {fix}")


_KIND_WORDS = {"file": "a file", "folder": "a folder", "link": "a symbolic link",
               "special": "a device, pipe or socket"}


def _kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "special"
