"""The reward spec in pretraining: checked before a run is recorded, scored at every eval on
the held-out pairs, stored as its own series, and the old names of a saved plan still resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from slavik_tui.cli import main
from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.engine.create import create_model
from slavik_tui.engine.evals import EVAL_PROMPTS, SAMPLING, eval_pairs
from slavik_tui.engine.reward import DEFAULT_SPEC, RewardSpec, corpus_context
from slavik_tui.engine.trainer import Trainer, TrainOptions, train
from slavik_tui.spec.config import ModelConfig
from slavik_tui.store.history import History
from slavik_tui.store.workspace import Workspace

TINY_CFG = dict(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2)

# `new` flags of a tiny model (tests/conftest.py's TINY; a conftest import is ambiguous when
# another tests/ folder has its own conftest)
TINY = ["--d-model", "32", "--layers", "1", "--heads", "2", "--vocab-size", "400",
        "--context", "32"]


@pytest.fixture
def model_dir(models_dir: Path, corpus_file: Path) -> Path:
    return create_model(Workspace(models_dir), "tiny", [str(corpus_file)],
                        ModelConfig(**TINY_CFG), report=lambda line: None)


def opts(**kw) -> TrainOptions:
    base = dict(batch_size=4, eval_every=10, save_every=10, dtype="fp32", lr=3e-3)
    base.update(kw)
    return TrainOptions(**base)


def runs(model_dir: Path):
    with History(model_dir / "history.sqlite", readonly=True) as h:
        return h.runs()


# ---- a bad spec: one line, exit 2, no run ---------------------------------------------------
@pytest.fixture
def user_rewards(tmp_path, monkeypatch) -> None:
    (tmp_path / "rw_train.py").write_text(
        "def boom(completions, **kwargs):\n    raise RuntimeError('no score today')\n"
        "def short(completions, **kwargs):\n    return [0.5]\n"
        "def fine(completions, **kwargs):\n    return [0.25] * len(completions)\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize("spec, needle", [
    ("chrff", "unknown reward 'chrff'; did you mean 'chrf'"),
    ("chrf:-1", "weight '-1'"),
    ("chrf,chrf", "appears twice"),
    ("rw_train:boom", "'rw_train:boom' failed on 2 completions (RuntimeError: no score today)"),
    ("chrf,rw_train:short", "'rw_train:short' returned 1 scores for 2 completions"),
    ("no_such_mod_q:f", "cannot import module 'no_such_mod_q'"),
])
def test_a_bad_spec_is_one_line_and_exit_2_before_any_run(
    capsys, models_dir, corpus_file, user_rewards, spec, needle
) -> None:
    assert main(["new", "tiny", "--data", str(corpus_file), *TINY]) == 0
    capsys.readouterr()
    code = main(["train", "tiny", "--iters", "2", "--batch-size", "2", "--reward", spec])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slavik-tui: error: "), err
    assert needle in lines[0] and "Traceback" not in err
    model_dir = models_dir / "tiny"
    assert runs(model_dir) == []
    assert not (model_dir / ckpt.STATE).exists()  # nothing trained, nothing saved
    # the lock is free again and a good user function trains
    assert main(["train", "tiny", "--iters", "1", "--batch-size", "2", "--eval-every", "1",
                 "--reward", "rw_train:fine"]) == 0
    (run,) = runs(model_dir)
    assert run.status == "finished" and run.best_reward == 0.25


# ---- evals --------------------------------------------------------------------------------
def test_evals_score_the_held_out_pairs_with_the_spec_and_store_each_function(model_dir) -> None:
    lines: list[str] = []
    train(model_dir, opts(iters=20), report=lines.append)
    with History(model_dir / "history.sqlite", readonly=True) as h:
        (run,) = h.runs()
        evals = h.evals_arrays(run.id)
        series = h.metrics_arrays(run.id)
    assert run.config["reward"] == DEFAULT_SPEC
    assert set(series) == {"reward_std", "rewards/chrf", "rewards/ngram", "rewards/bigrams",
                           "rewards/repetition"}
    for name, (steps, values) in series.items():
        assert steps.tolist() == evals["step"].tolist() == [10, 20], name
    chrf, rep = series["rewards/chrf"][1], series["rewards/repetition"][1]
    ngram, pairs = series["rewards/ngram"][1], series["rewards/bigrams"][1]
    assert ((0 <= chrf) & (chrf <= 1)).all() and ((-1 <= rep) & (rep <= 0)).all()
    assert ((0 <= ngram) & (ngram <= 1)).all() and ((0 <= pairs) & (pairs <= 1)).all()
    # the combined reward is Σ weight × each function's mean (chrf:1,ngram:1,bigrams:1,repetition:0.5)
    assert evals["reward"] == pytest.approx(chrf + ngram + pairs + 0.5 * rep, abs=1e-12)
    assert (series["reward_std"][1] >= 0).all()

    # Known values: the last eval again, by hand, from the saved step-20 weights.
    from slavik_tui.engine.data import TokenData
    from slavik_tui.engine.generate import generate

    model, tok, cfg = ckpt.load_model(model_dir)
    data = TokenData(model_dir, cfg.context)
    pairs = eval_pairs(data, tok)
    assert 0 < len(pairs) <= EVAL_PROMPTS
    texts = ["".join(generate(model, tok, p.prompt, max_tokens=len(tok.encode(p.reference)),
                              seed=1337 * 1000 + 20 * 4 + i, **SAMPLING))
             for i, p in enumerate(pairs)]
    spec = RewardSpec.parse(DEFAULT_SPEC)
    summary = spec.score(texts, [p.prompt for p in pairs], [p.reference for p in pairs],
                         **corpus_context(model_dir, data, spec)).summary()
    assert summary["reward"] == pytest.approx(evals["reward"][-1], abs=1e-9)
    assert summary["reward_std"] == pytest.approx(series["reward_std"][1][-1], abs=1e-9)
    assert summary["rewards/chrf"] == pytest.approx(chrf[-1], abs=1e-9)
    assert any(line.startswith("eval 20:") and "reward" in line for line in lines)


def test_eval_pairs_are_fixed_held_out_text(model_dir) -> None:
    from slavik_tui.engine.data import TokenData
    from slavik_tui.engine.tokenizer import Tokenizer

    data = TokenData(model_dir, 32)
    tok = Tokenizer.load(model_dir / "tokenizer.json")
    pairs = eval_pairs(data, tok)
    assert pairs == eval_pairs(data, tok) and len(pairs) == EVAL_PROMPTS
    val_text = "".join(tok.decode(part.tolist()) for part in data.split_tokens("val"))
    for p in pairs:
        assert p.reference.strip() and (p.prompt + p.reference) in val_text
    # a stage whose batches are not the corpus (dialogues) scores the corpus's same prompts
    import types

    from slavik_tui.engine.evals import reward_data

    assert reward_data(data, model_dir) is data
    other = reward_data(types.SimpleNamespace(context=32), model_dir)
    assert isinstance(other, TokenData) and eval_pairs(other, tok) == pairs


# ---- resuming with the old names ------------------------------------------------------------
def stop_at(model_dir: Path, step: int, **kw) -> None:
    """Train toward step 20 and stop (gracefully) after `step`: an unfinished plan."""
    trainer = None

    def report(line: str) -> None:
        if line.startswith(f"step {step}/"):
            trainer.request_stop()

    trainer = Trainer(model_dir, opts(iters=20, log_every=step, **kw), report=report)
    assert trainer.run()["status"] == "stopped"


def test_an_old_name_on_the_command_line_resumes_with_todays_spec(model_dir) -> None:
    stop_at(model_dir, 10)
    lines: list[str] = []
    result = train(model_dir, opts(reward="corpus_words"), report=lines.append)
    assert result["status"] == "finished" and result["step"] == 20
    notes = [line for line in lines if "corpus_words" in line]
    assert notes == ["reward 'corpus_words' is now 'vocab': scoring with --reward vocab"]
    assert any(line.startswith("run 2: resuming") for line in lines)
    with History(model_dir / "history.sqlite", readonly=True) as h:
        assert h.metric_names(2) == ["reward_std", "rewards/vocab"]
        assert h.run(2).config["reward"] == "vocab:1"
    assert ckpt.load_trainer_state(model_dir)["plan"]["reward"] == "vocab:1"


def test_an_old_saved_plan_resumes_with_its_reward_mapped(model_dir) -> None:
    stop_at(model_dir, 10)
    # A plan saved with an old reward name (as an RL plan or an older trainer keeps it).
    state = ckpt.load_trainer_state(model_dir)
    state["plan"]["reward"] = "distinct"
    weights = (model_dir / ckpt.WEIGHTS).read_bytes()
    ckpt.save_checkpoint(model_dir, weights, ckpt.serialize_state(state), state["step"])
    lines: list[str] = []
    # reward=None: a stage whose --reward defaults to the unfinished run's (rl)
    train(model_dir, opts(reward=None), report=lines.append)
    assert "reward 'distinct' is now 'repetition': scoring with --reward repetition" in lines
    with History(model_dir / "history.sqlite", readonly=True) as h:
        assert h.metric_names(2) == ["reward_std", "rewards/repetition"]
        (steps, _values), = h.metrics_arrays(2, names=["rewards/repetition"]).values()
        assert steps.tolist() == [20]


def test_a_resumed_plan_keeps_its_spec_when_none_is_given(model_dir) -> None:
    stop_at(model_dir, 10, reward="prefix:2,length")
    train(model_dir, opts(reward=None), report=lambda line: None)
    with History(model_dir / "history.sqlite", readonly=True) as h:
        assert h.run(2).config["reward"] == "prefix:2,length:1"
        assert h.metric_names(2) == ["reward_std", "rewards/length", "rewards/prefix"]
    train(model_dir, opts(iters=10, reward=None), report=lambda line: None)  # a new plan
    with History(model_dir / "history.sqlite", readonly=True) as h:
        assert h.run(3).config["reward"] == DEFAULT_SPEC


def test_a_bad_spec_fails_a_detached_start_in_the_foreground(capsys, models_dir,
                                                            corpus_file) -> None:
    assert main(["new", "tiny", "--data", str(corpus_file), *TINY]) == 0
    capsys.readouterr()
    code = main(["train", "tiny", "--iters", "2", "--reward", "chrf:x", "--detach"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "weight 'x'" in err
    assert runs(models_dir / "tiny") == []
