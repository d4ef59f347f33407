"""Dialogue fine-tuning (SFT): the trainer's stage whose batches are packed conversations and
whose loss counts only the assistant's tokens.

    sft(model_dir, SFTOptions(data=["qa.txt"], iters=300), report=print)
    # = `slavik-tui sft NAME --data qa.txt --iters 300`; `slavik-tui sft NAME` resumes

Lock, signals, plan, checkpoints, exact resume, NaN guard, history: engine/trainer.py's. Here:

- **Data** (`make_data`): the `--data` files are read as dialogues (engine/chat/read.py; a
  malformed record is one line naming file and line), split, and packed into rows with the
  assistant-only loss mask (engine/chat/pack.py), cached as `sft/<key>.npz` (the key hashes
  files, columns, encoding, context, vocabulary) with `sft/current.json` naming the set in
  use: a resume (`sft NAME`, no `--data`) and every torchrun rank read the very same rows.
- **The held-out split** is by a hash of each dialogue's text (one in ten): a dialogue that
  appears twice is held out both times or neither (Q&A sets repeat themselves), and adding a
  file never moves a dialogue from one side to the other.
- **Batches**: rows picked by a generator seeded from (seed, step, split), a pure function as
  in pretraining (exact resume); targets are -1 outside the mask, which the loss ignores.
- **Chat tokens for an old model** (`prepare_model`): a tokenizer made before they were
  reserved gets them appended, and the model gets embedding rows for them (started at the
  mean of the trained rows, engine/chat/embeddings.py), said in one report line. The files
  follow at the first checkpoint: tokenizer.json, the checkpoint, config.json. A kill between
  the last two leaves weights with more rows than config.json says: the next `sft` run reads
  that in the weights' header and config.json follows them (a kill before the checkpoint
  leaves only the longer tokenizer: the rows are grown again, identically).
- **A fresh optimizer for each new sft plan** (pretraining's moments fit other data and
  another lr); a resumed plan keeps its own.
- **Evals**: val loss is the mean over every reply token of the held-out rows (bits/byte over
  the replies' bytes); the reward is the run's spec on seeded replies to four held-out
  questions against their true answers: for a chat model, how it answers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import struct
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from slavik_tui.atomic import atomic_write_bytes, atomic_write_json, on_disk_full, sha256_file
from slavik_tui.engine import distributed as dist
from slavik_tui.engine.chat import ASSISTANT_ROLE, USER_ROLE, Message, chat_ids
from slavik_tui.engine.chat import pack_conversations, parse_columns, read_dialogues
from slavik_tui.engine.chat.embeddings import EMBED, HEAD, grow_embeddings
from slavik_tui.engine.tokenizer import Tokenizer
from slavik_tui.engine.train_loop import TrainLoop
from slavik_tui.engine.trainer import Stage, train
from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig
from slavik_tui.spec.folder import ModelFolder, is_sha256
from slavik_tui.spec.sft_options import SFTOptions

CACHE_VERSION = 1
CURRENT = "current.json"
VAL_SHARE = 10  # one dialogue in VAL_SHARE is held out
PROBES = 4  # held-out questions answered at every eval (the reward)
PROBE_TOKENS = 48
_NEEDS_DATA = ("a new sft run needs dialogues: add --data FILE (a .jsonl of messages, a .csv "
               "with question,answer columns, or text with dash-led lines or T:/Q:/A: records)")


@dataclasses.dataclass(frozen=True)
class DialogueFile:
    path: str
    sha256: str
    dialogues: int


@dataclasses.dataclass(frozen=True)
class Probe:
    prompt: list[Message]  # ends with the user's question
    answer: str  # the held-out reply


# ---- the data ------------------------------------------------------------------------------
class DialogueData:
    """Packed train / held-out rows with TokenData's interface: get_batch, val_batches,
    val_bytes_per_token, context, datasets, train_tokens; `split_tokens` (the reward's corpus
    context) is the pretraining corpus's, so a corpus-based reward means the same in both."""

    def __init__(self, folder: ModelFolder, arrays: dict[str, np.ndarray],
                 files: list[DialogueFile], probes: list[Probe], tokenizer: Tokenizer) -> None:
        self.model_dir, self.tokenizer = folder.path, tokenizer
        self.ids = {s: arrays[f"{s}_ids"] for s in ("train", "val")}
        self.mask = {s: arrays[f"{s}_mask"] for s in ("train", "val")}
        self.context = int(self.ids["train"].shape[1]) - 1
        self.datasets, self.probes = files, probes
        self.train_tokens = int((self.ids["train"] != tokenizer.eot_id).sum())  # no padding
        self.reply_tokens = int(self.mask["train"][:, 1:].sum())
        lengths = np.array([len(tokenizer.token_bytes(i)) for i in range(tokenizer.vocab_size)],
                           dtype=np.int64)
        lengths[sorted(chat_ids(tokenizer).stops)] = 0  # special tokens stand for no text
        targets = self.ids["val"][:, 1:][self.mask["val"][:, 1:] == 1].astype(np.int64)
        self.val_bytes_per_token = max(1, int(lengths[targets].sum())) / max(1, targets.size)

    def split_tokens(self, split: str) -> list[np.ndarray]:
        from slavik_tui.engine.data import TokenData
        return TokenData(self.model_dir, context=1).split_tokens(split)

    def rows(self, split: str) -> int:
        return int(self.ids[split].shape[0])

    def _xy(self, split: str, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.from_numpy(self.ids[split][rows].astype(np.int64))
        learn = torch.from_numpy(self.mask[split][rows][:, 1:] == 1)
        y = torch.where(learn, ids[:, 1:], torch.full_like(ids[:, 1:], -1))
        return ids[:, :-1].contiguous(), y.contiguous()

    def get_batch(self, split: str, batch_size: int, step: int,
                  seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x (batch, context) and y, -1 where the loss must not count: a pure function of
        (split, batch_size, step, seed), like TokenData's."""
        if split not in self.ids:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        mask64 = (1 << 64) - 1
        rng = np.random.default_rng([int(seed) & mask64, int(step) & mask64,
                                     0 if split == "train" else 1])
        return self._xy(split, rng.integers(0, self.rows(split), size=batch_size))

    def val_batches(self, n: int, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Every held-out row when they fit in `n` batches, else n·batch_size evenly spaced."""
        total = self.rows("val")
        rows = (np.arange(total) if total <= n * batch_size
                else np.linspace(0, total - 1, num=n * batch_size).round().astype(np.int64))
        return [self._xy("val", rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]


def _dialogue_hash(conversation: list[Message]) -> str:
    text = json.dumps([[m.role, m.content] for m in conversation], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_dialogues(conversations: list[list[Message]]):
    """(train, held out), each in the order of their hashes (a shuffle that needs no seed)."""
    if len(conversations) < 2:
        raise UserError(f"fine-tuning needs at least 2 dialogues (one to learn from, one held "
                        f"out to measure), the files have {len(conversations)}; add more",
                        field="data")
    keyed = sorted(((_dialogue_hash(c), c) for c in conversations), key=lambda kc: kc[0])
    val = [c for h, c in keyed if int(h[:8], 16) % VAL_SHARE == 0] or [keyed[0][1]]
    held = {id(c) for c in val}
    train_ = [c for _h, c in keyed if id(c) not in held] or [val.pop()]
    return train_, val


def _probes(val: list[list[Message]]) -> list[Probe]:
    """The eval's questions: held-out conversations up to their last reply, and that reply."""
    lasts = [(c, max(i for i, m in enumerate(c) if m.role == ASSISTANT_ROLE)) for c in val]
    return [Probe(c[:i], c[i].content) for c, i in lasts
            if i > 0 and c[i - 1].role == USER_ROLE][:PROBES]


def _vocab_hash(tokenizer: Tokenizer) -> str:
    pieces = map(tokenizer.token_bytes, range(tokenizer.vocab_size))
    return hashlib.sha256(b"".join(len(b).to_bytes(4, "little") + b for b in pieces)).hexdigest()


def pack_files(folder: ModelFolder, paths: list[str], tokenizer: Tokenizer, context: int,
               columns: tuple[str, str] | None, encoding: str | None,
               report: Callable[[str], None]) -> DialogueData:
    """Read, split and pack the dialogue files (or reuse their cache); make them current."""
    files, conversations = [], []
    for path in paths:
        found = read_dialogues(path, columns, encoding)
        files.append(DialogueFile(str(Path(path).resolve()), sha256_file(Path(path)), len(found)))
        conversations.extend(found)
    key = hashlib.sha256(json.dumps({
        "version": CACHE_VERSION, "files": [f.sha256 for f in files], "columns": columns,
        "encoding": encoding, "context": context, "vocab": _vocab_hash(tokenizer),
    }).encode()).hexdigest()
    train_, val = split_dialogues(conversations)
    sft_dir = folder.inner_dir(folder.sft_dir)
    cache = sft_dir / f"{key}.npz"
    arrays = _read_arrays(cache, context, tokenizer) if cache.is_file() else None
    if arrays is None:
        arrays = {}
        for split, group in (("train", train_), ("val", val)):
            arrays[f"{split}_ids"], arrays[f"{split}_mask"] = pack_conversations(
                group, tokenizer, context)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        with on_disk_full(folder.path, "the packed dialogues"):
            atomic_write_bytes(cache, buffer.getvalue())
        for old in sft_dir.glob("*.npz"):  # one set is kept: the current one
            if old != cache and is_sha256(old.stem):
                old.unlink()
    probes = _probes(val)
    with on_disk_full(folder.path, "the packed dialogues"):
        atomic_write_json(sft_dir / CURRENT, {
            "key": key, "context": context,
            "files": [dataclasses.asdict(f) for f in files],
            "train_dialogues": len(train_), "val_dialogues": len(val),
            "probes": [{"prompt": [[m.role, m.content] for m in p.prompt], "answer": p.answer}
                       for p in probes],
        })
    data = DialogueData(folder, arrays, files, probes, tokenizer)
    names = ", ".join(Path(f.path).name for f in files)
    report(f"dialogues {names}: {len(train_):,} to learn from, {len(val):,} held out; "
           f"{data.rows('train'):,} rows of {context} tokens, {data.reply_tokens:,} reply tokens")
    return data


def load_current(folder: ModelFolder, context: int, tokenizer: Tokenizer) -> DialogueData:
    """The dialogue set the last sft run used (for a resume without --data)."""
    if not os.path.lexists(folder.sft_dir):
        raise UserError(_NEEDS_DATA, field="data")
    folder.inner_dir(folder.sft_dir, create=False)  # never read through a link
    meta = folder.read_json(folder.sft_dir / CURRENT)
    if meta is None:
        raise UserError(_NEEDS_DATA, field="data")
    try:
        key = meta["key"] if is_sha256(meta["key"]) else None
        files = [DialogueFile(str(f["path"]), str(f["sha256"]), int(f["dialogues"]))
                 for f in meta["files"]]
        probes = [Probe([Message(str(r), str(c)) for r, c in p["prompt"]], str(p["answer"]))
                  for p in meta["probes"]]
    except (KeyError, TypeError, ValueError):
        key = None
    if key is None:
        raise UserError(f"{folder.sft_dir / CURRENT} is damaged; give the dialogues again "
                        "with --data FILE", field="data")
    if meta.get("context") != context:
        raise UserError(f"the dialogues were packed for a context of {meta.get('context')} "
                        f"tokens, the model has {context}; give them again with --data FILE",
                        field="data")
    arrays = _read_arrays(folder.sft_dir / f"{key}.npz", context, tokenizer)
    if arrays is None:
        raise UserError(f"the packed dialogues {folder.sft_dir / (key + '.npz')} are missing "
                        "or damaged; give the dialogues again with --data FILE", field="data")
    return DialogueData(folder, arrays, files, probes, tokenizer)


def _read_arrays(path: Path, context: int, tokenizer: Tokenizer) -> dict | None:
    """The cached rows, or None when the file is missing, a link, damaged or not for them."""
    if path.is_symlink() or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("train_ids", "train_mask", "val_ids", "val_mask")}
    except (OSError, ValueError, KeyError, EOFError):
        return None
    for split in ("train", "val"):
        ids, mask = arrays[f"{split}_ids"], arrays[f"{split}_mask"]
        if (ids.ndim != 2 or ids.shape != mask.shape or ids.shape[0] == 0
                or ids.shape[1] != context + 1 or int(ids.max()) >= tokenizer.vocab_size):
            return None
    return arrays


@torch.no_grad()
def held_out_loss(model, data: DialogueData, batches: int = 8, batch_size: int = 8,
                  device="cpu", autocast=contextlib.nullcontext) -> float:
    """The mean loss over every reply token of the held-out rows (the evals' val loss)."""
    total, count = 0.0, 0
    for x, y in data.val_batches(batches, batch_size):
        with autocast():
            _, loss = model(x.to(device), y.to(device))
        n = int((y != -1).sum())
        total, count = total + float(loss) * n, count + n
    return total / max(1, count)


# ---- the model's files ---------------------------------------------------------------------
def weights_rows(folder: ModelFolder) -> int | None:
    """The embedding's rows in model.safetensors, from its header (None: none to read)."""
    try:
        with open(folder.weights, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(min(n, 1 << 24)))
        return int(header[EMBED]["shape"][0])
    except (OSError, ValueError, KeyError, TypeError, IndexError, struct.error):
        return None


def write_vocab(folder: ModelFolder, vocab_size: int) -> None:
    """config.json with the model's (and its tokenizer block's) vocabulary size changed."""
    meta = folder.read_meta()
    meta["model"]["vocab_size"] = vocab_size
    if isinstance(meta.get("tokenizer"), dict):
        meta["tokenizer"]["vocab_size"] = vocab_size
    atomic_write_json(folder.config, meta)


# ---- the stage -----------------------------------------------------------------------------
class SFTLoop(TrainLoop):
    """TrainLoop with a fresh optimizer at a plan's start, files that follow a grown
    vocabulary, and dialogue evals (see the module docstring)."""

    files_follow = False  # tokenizer.json and config.json checked against the model

    def run(self, step: int) -> dict:
        if step == self.plan["start_step"] and self.optimizer.state:
            self.optimizer.state.clear()
            self.t.report("a new sft plan: AdamW's moments start afresh")
        return super().run(step)

    def save(self, step: int) -> None:
        if not self.world.is_main:
            return
        folder = ModelFolder(self.t.model_dir)
        if not self.files_follow and (Tokenizer.load(folder.tokenizer).vocab_size
                                      != self.tokenizer.vocab_size):
            self.tokenizer.save(folder.tokenizer)  # before the checkpoint: see the docstring
        super().save(step)
        if not self.files_follow and folder.read_config().vocab_size != self.model.cfg.vocab_size:
            write_vocab(folder, self.model.cfg.vocab_size)
        self.files_follow = True

    @torch.no_grad()
    def evaluate(self, step: int) -> dict:
        from slavik_tui.engine.chat import chat_reply

        model, plan, data = self.model, self.plan, self.data
        model.eval()
        val_loss = held_out_loss(model, data, plan["eval_batches"], plan["batch_size"],
                                 self.device, self._autocast)
        replies = []
        for i, probe in enumerate(data.probes):
            pieces = chat_reply(model, self.tokenizer, probe.prompt, max_tokens=PROBE_TOKENS,
                                temperature=0.8, seed=plan["seed"] * 1000 + step * 4 + i)
            replies.append("".join(pieces))
        model.train()
        # the run's reward spec on the replies, the true answers as references (TRL's form)
        spec, questions = self.reward_spec, [p.prompt[-1].content for p in data.probes]
        summary = spec.score(replies, questions, [p.answer for p in data.probes],
                             **self.reward_ctx).summary() if replies else {}
        return {"val_loss": val_loss,
                "val_bpb": val_loss / math.log(2) / data.val_bytes_per_token,
                "reward": summary.get("reward", math.nan),
                "sample": f"{questions[0][:30]} → {replies[0]}" if replies else "",
                "metrics": {k: summary.get(k, math.nan)
                            for k in ["reward_std", *(f"rewards/{n}" for n in spec.names)]}}


class SFTStage(Stage):
    kind = "sft"
    command = "sft"
    loop_class = SFTLoop
    added: dict[str, int] = {}  # the chat tokens make_data gave the tokenizer

    def make_data(self, model_dir: Path, cfg: ModelConfig, tokenizer: Tokenizer,
                  opts: SFTOptions, report: Callable[[str], None]) -> DialogueData:
        folder = ModelFolder(model_dir)
        is_main = dist.world_from_env().is_main
        self.added = tokenizer.add_chat_tokens()  # in memory; saved with the first checkpoint
        rows = weights_rows(folder)
        if rows is not None and cfg.vocab_size < rows <= tokenizer.vocab_size:
            # a run stopped between its checkpoint and config.json: the weights are the truth
            report(f"config.json said {cfg.vocab_size} tokens, the weights have {rows} rows "
                   "(an sft run was stopped while saving): config.json follows the weights")
            cfg.vocab_size = rows  # the trainer builds the model from this very object
            if is_main:
                write_vocab(folder, rows)
        if not opts.data:
            return load_current(folder, cfg.context, tokenizer)
        columns = parse_columns(opts.columns) if getattr(opts, "columns", None) else None
        return pack_files(folder, list(opts.data), tokenizer, cfg.context, columns,
                          opts.encoding, report)

    def prepare_model(self, model: torch.nn.Module, tokenizer: Tokenizer,
                      report: Callable[[str], None]) -> None:
        rows = model.embed_tokens.num_embeddings
        vocab = max(rows, tokenizer.vocab_size)
        if vocab == rows and not self.added:
            return
        new_ids = sorted(set(self.added.values()) | set(range(rows, vocab)))
        state = grow_embeddings(model.state_dict(), vocab, new_ids=new_ids)
        tied = model.lm_head.weight is model.embed_tokens.weight
        model.embed_tokens = torch.nn.Embedding.from_pretrained(state[EMBED], freeze=False)
        head = torch.nn.utils.skip_init(torch.nn.Linear, model.cfg.d_model, vocab, bias=False)
        model.lm_head = head
        if tied:
            model.lm_head.weight = model.embed_tokens.weight
        else:
            with torch.no_grad():
                head.weight.copy_(state[HEAD])
        model.cfg.vocab_size = vocab  # the trainer's cfg too: one object
        names = ", ".join(self.added) or "its chat tokens"
        report(f"the model had no chat tokens: added {names} as ids {new_ids[0]}–{new_ids[-1]} "
               f"(embedding {rows} → {vocab} rows, the new ones at the mean of the trained "
               "ones); tokenizer.json and config.json follow at the first checkpoint")


def sft(model_dir: Path, opts: SFTOptions, report: Callable[[str], None] = print,
        on_run_started: Callable[[int], None] | None = None) -> dict:
    """Fine-tune the model at `model_dir` on dialogues (a run of kind `sft`)."""
    return train(model_dir, opts, report, on_run_started, stage=SFTStage())


__all__ = ["DialogueData", "SFTLoop", "SFTStage", "held_out_loss", "load_current",
           "pack_files", "sft", "split_dialogues", "weights_rows"]
