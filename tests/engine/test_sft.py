"""Dialogue fine-tuning (engine/sft.py): loss only on the assistant's tokens, held-out dialogue
loss falls, exact resume after SIGKILL, --detach then stop, chat tokens added to an old model."""

from __future__ import annotations

import json
import random
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.engine.chat import Message, chat_ids, chat_reply
from slavik_tui.engine.create import create_model, write_config
from slavik_tui.engine.sft import load_current, pack_files, sft, split_dialogues, weights_rows
from slavik_tui.engine.tokenizer import CHAT_TOKENS, Tokenizer
from slavik_tui.engine.trainer import TrainOptions, train
from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig
from slavik_tui.spec.folder import ModelFolder
from slavik_tui.spec.sft_options import SFTOptions
from slavik_tui.store.history import History
from slavik_tui.store.workspace import Workspace
from test_tokenizer import old_tokenizer
from test_trainer import cli, curve, wait_until

TINY_CFG = dict(vocab_size=400, context=64, d_model=32, n_layers=1, n_heads=2)
QUIET = dict(report=lambda line: None)
ANIMALS = ["кошка", "собака", "птица", "лиса", "мышь", "корова", "рыба", "утка"]
COLOURS = ["белая", "чёрная", "рыжая", "серая"]


def dialogue(rng: random.Random) -> dict:
    """A question whose answer follows from it: a tiny model can learn the rule."""
    animal, colour = rng.choice(ANIMALS), rng.choice(COLOURS)
    messages = [{"role": "user", "content": f"Какая {animal}? {colour}"},
                {"role": "assistant", "content": f"{animal.capitalize()} {colour}."}]
    if rng.random() < 0.3:
        messages.insert(0, {"role": "system", "content": "Отвечай коротко."})
    if rng.random() < 0.3:
        other = rng.choice(ANIMALS)
        messages += [{"role": "user", "content": f"А {other}?"},
                     {"role": "assistant", "content": f"{other.capitalize()} {colour}."}]
    return {"messages": messages}


@pytest.fixture
def dialogues(tmp_path: Path) -> Path:
    rng = random.Random(3)
    path = tmp_path / "dialogues.jsonl"
    path.write_text("".join(json.dumps(dialogue(rng), ensure_ascii=False) + "\n"
                            for _ in range(300)), encoding="utf-8")
    return path


@pytest.fixture
def model_dir(models_dir: Path, corpus_file: Path) -> Path:
    return create_model(Workspace(models_dir), "tiny", [str(corpus_file)],
                        ModelConfig(**TINY_CFG), **QUIET)


def opts(**kw) -> SFTOptions:
    base = dict(batch_size=8, eval_every=10, save_every=10, dtype="fp32", lr=3e-3)
    base.update(kw)
    return SFTOptions(**base)


def evals(model_dir: Path) -> tuple:
    with History(model_dir / "history.sqlite", readonly=True) as h:
        runs = sorted(h.runs(), key=lambda r: r.id)
        return runs, h.evals_arrays(runs[-1].id)


def test_loss_counts_only_the_assistants_tokens(model_dir, dialogues):
    tokenizer = Tokenizer.load(model_dir / "tokenizer.json")
    ids = chat_ids(tokenizer)
    data = pack_files(ModelFolder(model_dir), [str(dialogues)], tokenizer, 64, None, None,
                      **QUIET)
    roles = {ids.system, ids.user, ids.assistant}
    checked = 0
    for step in range(5):
        x, y = data.get_batch("train", 8, step, seed=1)
        assert x.shape == y.shape == (8, 64)
        for row_x, row_y in zip(x.tolist(), y.tolist()):
            row = row_x + [row_y[-1] if row_y[-1] != -1 else None]
            role = None
            for t in range(64):
                nxt = row[t + 1]
                if nxt is None:  # the last target is masked: not an assistant token
                    assert row_y[t] == -1
                    continue
                if nxt in roles:
                    expected = False
                    role = nxt
                else:
                    expected = role == ids.assistant and nxt != ids.eot
                    if nxt in (ids.end, ids.eot):
                        role = None
                # a target exists exactly where the next token is the assistant's (its
                # <|end|> included), and it is that token
                assert (row_y[t] != -1) == expected, (t, row, row_y)
                if expected:
                    assert row_y[t] == nxt
                    checked += 1
    assert checked > 100
    # every row has something to learn, so no batch's loss is all ignored
    assert (data.mask["train"][:, 1:].sum(axis=1) > 0).all()
    # the targets are the reply text: decoding them gives the assistant's words, never a
    # question's
    x, y = data.get_batch("train", 8, 0, seed=1)
    said = tokenizer.decode([t for t in y.flatten().tolist() if t not in (-1, ids.end)])
    assert "Какая" not in said and any(a.capitalize() in said for a in ANIMALS)


def test_held_out_split_is_by_content_and_duplicates_stay_together():
    conv = [[Message("user", f"вопрос {i}"), Message("assistant", f"ответ {i}")]
            for i in range(200)]
    train_, val = split_dialogues(conv + conv[:50])  # 50 repeated dialogues
    assert 10 <= len(val) <= 50 and len(train_) + len(val) == 250
    held = {c[0].content for c in val}
    assert not held & {c[0].content for c in train_}  # no dialogue on both sides
    assert split_dialogues(list(reversed(conv)))[1] == split_dialogues(conv)[1]
    with pytest.raises(UserError, match="at least 2 dialogues"):
        split_dialogues(conv[:1])


def test_fine_tuning_lowers_the_held_out_dialogue_loss(model_dir, dialogues):
    sft(model_dir, opts(data=[str(dialogues)], iters=80, eval_every=10, save_every=80), **QUIET)
    runs, ev = evals(model_dir)
    assert [r.kind for r in runs] == ["sft"] and runs[0].status == "finished"
    val = ev["val_loss"]
    assert len(val) == 8
    assert val[-1] < val[0] - 1.0 and val[-1] < 0.6 * val[0], val  # the answers' rule
    assert (np.diff(val) < 0).sum() >= 6, val  # falling, not a lucky eval
    assert np.isfinite(ev["reward"]).all()
    # the same held-out rows, read back as a resume would
    tokenizer = Tokenizer.load(model_dir / "tokenizer.json")
    data = load_current(ModelFolder(model_dir), 64, tokenizer)
    assert data.rows("val") >= 1 and data.probes
    model, tok, _cfg = ckpt.load_model(model_dir)
    with torch.no_grad():
        losses = [float(model(x, y)[1]) for x, y in data.val_batches(8, 8)]
    assert np.mean(losses) == pytest.approx(val[-1], abs=0.05)


def test_a_new_sft_run_needs_dialogues_and_a_bad_record_names_its_line(model_dir, tmp_path):
    with pytest.raises(UserError, match="needs dialogues: add --data"):
        sft(model_dir, opts(iters=5), **QUIET)
    bad = tmp_path / "bad.jsonl"
    good = json.dumps(dialogue(random.Random(0)), ensure_ascii=False)
    bad.write_text(f'{good}\n{{"messages": [{{"role": "user"}}]}}\n', encoding="utf-8")
    with pytest.raises(UserError) as exc:
        sft(model_dir, opts(data=[str(bad)], iters=5), **QUIET)
    message = str(exc.value)
    assert "\n" not in message and f"{bad} line 2" in message
    with History(model_dir / "history.sqlite", readonly=True) as h:
        assert h.runs() == []  # refused before a run was recorded


def test_exact_resume_after_sigkill(model_dir, dialogues, tmp_path):
    twin_root = tmp_path / "twin"
    twin_root.mkdir()
    shutil.copytree(model_dir, twin_root / "tiny")
    args = ["sft", "tiny", "--data", str(dialogues), "--iters", "200", "--batch-size", "4",
            "--save-every", "25", "--eval-every", "1000", "--dtype", "fp32", "--lr", "2e-3"]
    reference = cli(twin_root, *args)
    _out, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    expected = curve(twin_root / "tiny")
    assert len(expected) == 200

    victim = cli(model_dir.parent, *args)
    wait_until(lambda: ckpt.saved_step(model_dir) >= 50 and max(curve(model_dir), default=0) >= 60,
               timeout=120)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    killed_at, saved = max(curve(model_dir)), ckpt.saved_step(model_dir)
    assert saved < killed_at < 200, "the kill must land mid-run, past a checkpoint"

    resumed = cli(model_dir.parent, "sft", "tiny", "--dtype", "fp32")  # the same dialogues
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming" in out
    got = curve(model_dir)
    assert sorted(got) == list(range(1, 201))
    assert got == expected  # bit for bit
    runs, _ev = evals(model_dir)
    assert [r.kind for r in runs] == ["sft", "sft"] and runs[1].start_step == saved


def test_detach_then_stop(model_dir, dialogues, capsys):
    from slavik_tui.cli import main

    root = str(model_dir.parent)
    code = main(["--models-dir", root, "sft", "tiny", "--detach", "--data", str(dialogues),
                 "--iters", "100000", "--batch-size", "4", "--save-every", "1000",
                 "--eval-every", "1000", "--dtype", "fp32"])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_id = int(out.strip().splitlines()[0])
    wait_until(lambda: max(curve(model_dir), default=0) >= 5)
    assert main(["--models-dir", root, "stop", "tiny"]) == 0, capsys.readouterr().err
    with History(model_dir / "history.sqlite", readonly=True) as h:
        run = h.run(run_id)
    assert run.kind == "sft" and run.status == "stopped"
    assert ckpt.saved_step(model_dir) == run.last_step  # checkpointed at the stop
    assert "stopped" in (model_dir / "runs" / f"{run_id}.log").read_text()


def make_old_model(models_dir: Path, corpus_file: Path) -> Path:
    """A model as slavik-tui made them before the chat tokens: its tokenizer lacks them and
    its embedding has one row per token; pretrained a few steps."""
    model_dir = create_model(Workspace(models_dir), "old", [str(corpus_file)],
                             ModelConfig(**TINY_CFG), **QUIET)
    old = old_tokenizer(corpus_file.read_text(encoding="utf-8"), 400)
    old.save(model_dir / "tokenizer.json")
    write_config(model_dir, ModelConfig(**{**TINY_CFG, "vocab_size": old.vocab_size}))
    shutil.rmtree(model_dir / "data")
    (model_dir / "datasets.json").unlink()
    train(model_dir, TrainOptions(data=[str(corpus_file)], iters=10, batch_size=4,
                                  dtype="fp32"), **QUIET)
    return model_dir


def test_an_old_model_gets_the_chat_tokens(models_dir, corpus_file, dialogues):
    model_dir = make_old_model(models_dir, corpus_file)
    n = Tokenizer.load(model_dir / "tokenizer.json").vocab_size
    before = ckpt.load_weights(model_dir)["embed_tokens.weight"]
    assert not Tokenizer.load(model_dir / "tokenizer.json").has_chat_tokens
    lines: list[str] = []
    sft(model_dir, opts(data=[str(dialogues)], iters=20, eval_every=20, save_every=20),
        report=lines.append)
    said = [line for line in lines if "chat tokens" in line]
    assert len(said) == 1 and all(t in said[0] for t in CHAT_TOKENS), lines
    tok = Tokenizer.load(model_dir / "tokenizer.json")
    assert [tok.special_id(t) for t in CHAT_TOKENS] == [n, n + 1, n + 2, n + 3]
    assert ModelFolder(model_dir).read_config().vocab_size == n + 4 == weights_rows(
        ModelFolder(model_dir))
    after = ckpt.load_weights(model_dir)["embed_tokens.weight"]
    assert after.shape == (n + 4, 32) and before.shape == (n, 32)
    model, tok, _cfg = ckpt.load_model(model_dir)
    reply = "".join(chat_reply(model, tok, [Message("user", "Какая кошка? белая")], seed=1,
                               max_tokens=10))
    assert isinstance(reply, str)

    # a kill between the checkpoint and config.json: the next run makes config.json follow
    write_config(model_dir, ModelConfig(**{**TINY_CFG, "vocab_size": n}))
    lines.clear()
    sft(model_dir, opts(iters=2, eval_every=2, save_every=2), report=lines.append)
    assert any("config.json follows the weights" in line for line in lines), lines
    assert ModelFolder(model_dir).read_config().vocab_size == n + 4
    assert not any("chat tokens" in line for line in lines)


def test_a_csv_takes_its_columns_and_a_detached_start_reports_a_bad_file(model_dir, tmp_path,
                                                                          capsys):
    from slavik_tui.cli import main

    rng = random.Random(5)
    rows = ["вопрос;ответ"] + [f"{m['content']};{a['content']}" for m, a in (
        dialogue(rng)["messages"][-2:] for _ in range(40))]
    table = tmp_path / "qa.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match='no "question" column.*--columns'):
        sft(model_dir, opts(data=[str(table)], iters=2), **QUIET)
    sft(model_dir, opts(data=[str(table)], columns="вопрос,ответ", iters=2, eval_every=2),
        **QUIET)
    assert sum(f.dialogues for f in load_current(
        ModelFolder(model_dir), 64, Tokenizer.load(model_dir / "tokenizer.json")).datasets) == 40

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n', encoding="utf-8")
    code = main(["--models-dir", str(model_dir.parent), "sft", "tiny", "--detach", "--data",
                 str(bad), "--iters", "5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{bad} line 1" in err[0], err


def test_two_gloo_processes_fine_tune_an_old_model_as_one_does(models_dir, corpus_file,
                                                               dialogues, tmp_path):
    """Under torchrun every rank grows the embedding alike and rank 1 reads the rows rank 0
    packed (sft/current.json): 2 processes log the 1-process curve."""
    from test_ddp import ARGS, assert_same, finish, twin
    from test_ddp import cli as ddp_cli

    old = make_old_model(models_dir, corpus_file)
    steps = ["--data", str(dialogues), "--iters", "20", "--save-every", "10"]
    one = twin(old, tmp_path / "one")
    finish(ddp_cli(one.parent, "sft", "tiny", *steps, *ARGS))
    two = twin(old, tmp_path / "two")
    out = finish(ddp_cli(two.parent, "sft", "tiny", *steps, *ARGS, "--nproc", "2"))
    assert "x 2 processes" in out and out.count("had no chat tokens") == 1
    assert len(curve(one)) == 10 + 20  # pretraining, then sft
    assert_same(curve(two), curve(one))
    assert weights_rows(ModelFolder(two)) == weights_rows(ModelFolder(one))


def test_a_kill_before_the_first_checkpoint_leaves_a_model_sft_can_finish(models_dir,
                                                                          corpus_file,
                                                                          dialogues):
    """The first save writes tokenizer.json before the checkpoint: killed in between, the
    folder has the chat tokens but the old embedding; the next sft run grows it again."""
    from slavik_tui.engine.tokenizer import add_chat_tokens

    model_dir = make_old_model(models_dir, corpus_file)
    n = Tokenizer.load(model_dir / "tokenizer.json").vocab_size
    assert len(add_chat_tokens(model_dir / "tokenizer.json")) == 4
    lines: list[str] = []
    sft(model_dir, opts(data=[str(dialogues)], iters=4, eval_every=4, save_every=4),
        report=lines.append)
    assert sum("no chat tokens" in line for line in lines) == 1, lines
    folder = ModelFolder(model_dir)
    assert folder.read_config().vocab_size == weights_rows(folder) == n + 4
    assert Tokenizer.load(folder.tokenizer).vocab_size == n + 4
