"""`slavik-tui chat NAME`: one reply line per input line from a pipe, one conversation across
the lines, one-line errors (unknown model, a model without chat tokens)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slavik_tui.cli import main
from slavik_tui.engine.create import create_model, write_config
from slavik_tui.engine.trainer import TrainOptions, train
from slavik_tui.spec.config import ModelConfig
from slavik_tui.store.workspace import Workspace

TINY_CFG = dict(vocab_size=400, context=64, d_model=32, n_layers=1, n_heads=2)


@pytest.fixture
def model_dir(models_dir: Path, corpus_file: Path) -> Path:
    model_dir = create_model(Workspace(models_dir), "tiny", [str(corpus_file)],
                             ModelConfig(**TINY_CFG), report=lambda line: None)
    train(model_dir, TrainOptions(iters=3, batch_size=4, dtype="fp32"), report=lambda l: None)
    return model_dir


def chat(models_dir: Path, stdin: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "slavik_tui", "--models-dir", str(models_dir), "chat", *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=120)


def test_piped_stdin_gives_one_reply_line_per_input_line(model_dir):
    lines = "Привет\nКак дела?\n\nЧто ты любишь?\n"
    done = chat(model_dir.parent, lines, "tiny", "--seed", "1", "--max-tokens", "12",
                "--system", "Отвечай коротко.")
    assert done.returncode == 0, done.stderr
    out = done.stdout.split("\n")
    assert out[-1] == "" and len(out) - 1 == 4, done.stdout  # four lines, each ended
    assert out[2] == ""  # a blank input line: a blank output line, no turn
    again = chat(model_dir.parent, lines, "tiny", "--seed", "1", "--max-tokens", "12",
                 "--system", "Отвечай коротко.")
    assert again.stdout == done.stdout  # --seed: the whole session is reproducible


def test_the_lines_are_one_conversation(model_dir, monkeypatch, capsys):
    """Each line is the next user turn after the replies so far; a reply's line breaks become
    spaces, so a script reads one line per answer."""
    import slavik_tui.engine.chat as chat_pkg

    seen = []

    def fake_reply(model, tokenizer, conversation, **kw):
        seen.append([(m.role, m.content) for m in conversation])
        yield f"ответ {len(seen)}\nс переносом"

    monkeypatch.setattr(chat_pkg, "chat_reply", fake_reply, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("один\n\nдва\r\n"))
    code = main(["--models-dir", str(model_dir.parent), "chat", "tiny", "--system", "С"])
    assert code == 0
    assert capsys.readouterr().out == "ответ 1 с переносом\n\nответ 2 с переносом\n"
    assert seen == [
        [("system", "С"), ("user", "один")],
        [("system", "С"), ("user", "один"), ("assistant", "ответ 1\nс переносом"),
         ("user", "два")],
    ]


def test_unknown_model_is_one_line_exit_2(models_dir):
    done = chat(models_dir, "Привет\n", "nosuch")
    assert done.returncode == 2 and done.stdout == ""
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "unknown model 'nosuch'" in err[0]


def test_a_model_without_chat_tokens_is_told_to_run_sft(model_dir, corpus_file):
    from tokenizers import Tokenizer as HF
    from tokenizers import decoders, models, pre_tokenizers, trainers

    from slavik_tui.engine.tokenizer import EOT

    hf = HF(models.BPE())  # a tokenizer as slavik-tui made them before the chat tokens
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    hf.train_from_iterator([corpus_file.read_text(encoding="utf-8")], trainers.BpeTrainer(
        vocab_size=400, special_tokens=[EOT], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    (model_dir / "tokenizer.json").write_text(hf.to_str(), encoding="utf-8")
    write_config(model_dir, ModelConfig(**{**TINY_CFG, "vocab_size": hf.get_vocab_size()}))
    done = chat(model_dir.parent, "Привет\n", "tiny")
    assert done.returncode == 2 and done.stdout == ""
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "no chat tokens" in err[0] and "slavik-tui sft" in err[0], err


def test_at_a_terminal_a_chat_streams_replies_and_ends_cleanly(model_dir):
    """stdin a tty: a prompt per turn, each reply on its own line, /clear starts afresh,
    Ctrl-D ends it (exit 0), and so does Ctrl-C at the prompt."""
    import pty
    import signal
    import time

    def start():
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "slavik_tui", "--models-dir", str(model_dir.parent), "chat",
             "tiny", "--seed", "1", "--max-tokens", "8"],
            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "OMP_NUM_THREADS": "1"})
        os.close(slave)
        return master, proc

    master, proc = start()
    os.write(master, "Привет\n/clear\nКак дела?\n".encode())
    time.sleep(0.5)
    os.write(master, b"\x04")  # Ctrl-D at the start of a line: end of input
    out, err = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0, err
    text = out.decode()
    assert text.count("you> ") == 4 and text.count("tiny> ") == 2, text
    assert "a new conversation" in err.decode() and "Traceback" not in err.decode()

    master, proc = start()
    deadline = time.monotonic() + 60
    while b"chatting with" not in proc.stderr.peek() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # at the prompt
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0 and b"Traceback" not in err, err
