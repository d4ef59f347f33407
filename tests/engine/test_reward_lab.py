"""The reward lab: damaged kinds of text, the default spec's ranking on generated text, and the
whole lab on a tiny trained model."""

from __future__ import annotations

import numpy as np
import pytest

from corpus import make_text
from slavik_tui.engine.create import create_model
from slavik_tui.engine.reward import (
    DEFAULT_SPEC,
    CharNgram,
    WordPairs,
    Pair,
    held_out_pairs,
    held_out_windows,
    text_pairs,
)
from slavik_tui.engine.reward_lab import (
    format_table,
    lab,
    margin,
    random_tokens,
    repeated,
    run_lab,
    shuffled,
)
from slavik_tui.engine.tokenizer import Tokenizer
from slavik_tui.engine.trainer import TrainOptions, train
from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig
from slavik_tui.store.workspace import Workspace

TINY_CFG = dict(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train([make_text(30_000, seed=0)], vocab_size=400)


@pytest.fixture(scope="module")
def ngram() -> dict:
    """The corpus context of the tokenizer's text (the default spec's `ngram` and `bigrams`)."""
    text = make_text(30_000, seed=0)
    return {"corpus_ngram": CharNgram.from_text(text), "corpus_pairs": WordPairs.from_text(text)}


def generated_pairs(tok: Tokenizer, n: int = 32, seed: int = 1) -> list[Pair]:
    """Pairs from text the tokenizer never saw: 16-token prompts, 32-token references."""
    ids = tok.encode(make_text(12_000, seed=seed))
    starts = np.linspace(0, len(ids) - 60, num=n).round().astype(int)
    return text_pairs([ids[s : s + 60] for s in starts], tok, 16, 32)


def test_damaged_kinds_keep_or_lose_what_they_should(tok) -> None:
    ref = "Кошка тихо видит дом. The cat sees the sea!"
    mixed = shuffled(ref, np.random.default_rng(3))
    assert sorted(mixed.split()) == sorted(ref.split()) and mixed != ref
    loop = repeated(ref)
    assert loop.startswith("Кошка тихо видит Кошка тихо видит") and len(loop) <= len(ref)
    assert repeated("") == shuffled("", np.random.default_rng(0)) == ""
    a = random_tokens(tok, 40, np.random.default_rng(5))
    assert a == random_tokens(tok, 40, np.random.default_rng(5)) != random_tokens(
        tok, 40, np.random.default_rng(6))

    class Three:  # ids 0 and 2 are letters, 1 is end-of-text
        eot_id, vocab_size = 1, 3

        def token_bytes(self, i: int) -> bytes:
            return [b"a", b"<|endoftext|>", b"b"][i]

    drawn = random_tokens(Three(), 200, np.random.default_rng(0))
    assert len(drawn) == 200 and set(drawn) == {"a", "b"}  # never eot, the last id reached


def test_default_spec_ranks_real_text_far_above_damaged_text(tok, ngram) -> None:
    for seed in (1, 2, 3):
        result = lab(DEFAULT_SPEC, generated_pairs(tok, seed=seed), tok, seed=seed,
                     **ngram)
        scores = result["scores"]
        assert set(scores) == {"real", "shuffled", "repeated", "random"}  # no model given
        assert scores["real"] > 2.7  # chrF 1 + ngram and bigrams ≈ 0.97 each
        for bad in ("shuffled", "repeated", "random"):
            assert scores["real"] - scores[bad] > 1.0, (bad, scores)
        assert margin(result) > 1.0
        assert scores["repeated"] < scores["shuffled"]  # the repetition penalty bites


def test_vocab_cannot_tell_shuffled_from_real(tok) -> None:
    """Why `vocab` (the old default) is no longer the default: word order is invisible to it."""
    pairs = generated_pairs(tok)
    words = {w for p in pairs for w in p.reference.lower().split()}
    result = lab("vocab", pairs, tok, corpus_words=words)
    assert abs(result["scores"]["real"] - result["scores"]["shuffled"]) < 0.05


def test_lab_is_seeded(tok, ngram) -> None:
    pairs = generated_pairs(tok)
    first = lab(DEFAULT_SPEC, pairs, tok, seed=7, **ngram)
    assert lab(DEFAULT_SPEC, pairs, tok, seed=7, **ngram) == first
    other = lab(DEFAULT_SPEC, pairs, tok, seed=8, **ngram)
    assert other["scores"]["shuffled"] != first["scores"]["shuffled"]


def test_table_has_a_row_per_function_and_a_column_per_kind(tok) -> None:
    result = lab("chrf:1,repetition:0.5,length:1", generated_pairs(tok), tok)
    assert result["reward"] == "chrf:1,repetition:0.5,length:1" and result["samples"] == 32
    lines = format_table(result).splitlines()
    assert lines[0] == "reward chrf:1,repetition:0.5,length:1 on 32 held-out prompts"
    assert lines[1].split() == ["real", "shuffled", "repeated", "random"]
    assert [line.split()[0] for line in lines[2:6]] == ["reward", "chrf", "repetition", "length"]
    row = [float(x) for x in lines[3].split()[1:]]
    assert row == pytest.approx([result["functions"]["chrf"][k] for k in
                                 ("real", "shuffled", "repeated", "random")], abs=5e-4)
    want = f"margin: real − best of shuffled / repeated / random = {margin(result):.3f}"
    assert lines[-1] == want


def test_pairs_without_a_continuation_are_left_out(tok, ngram) -> None:
    pairs = generated_pairs(tok)[:3] + [Pair("Конец.", ""), Pair("Конец.", " \n")]
    assert lab(DEFAULT_SPEC, pairs, tok, **ngram)["samples"] == 3
    with pytest.raises(UserError, match="no prompt with a continuation"):
        lab(DEFAULT_SPEC, [Pair("Конец.", "")], tok, **ngram)


# ---- on a model folder ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained 600 steps on generated text (a few seconds)."""
    root = tmp_path_factory.mktemp("lab")
    corpus = root / "corpus.txt"
    corpus.write_text(make_text(30_000), encoding="utf-8")
    (root / "models").mkdir()
    model_dir = create_model(Workspace(root / "models"), "tiny", [str(corpus)],
                             ModelConfig(**TINY_CFG), report=lambda line: None)
    train(model_dir, TrainOptions(iters=600, lr=3e-3, batch_size=8, eval_every=1000,
                                  save_every=1000, dtype="fp32"), report=lambda line: None)
    return model_dir


def test_lab_on_a_trained_model_puts_its_samples_between_real_and_damaged(trained) -> None:
    result = run_lab(trained, samples=32, seed=0)
    scores = result["scores"]
    assert list(scores) == ["real", "model", "shuffled", "repeated", "random"]
    assert set(result["functions"]) == {"chrf", "ngram", "bigrams", "repetition"}
    assert result["samples"] == 32
    assert scores["real"] == max(scores.values())
    # It writes fluent text of the corpus but cannot know the held-out continuation: below the
    # real text (chrF), far above shuffled, repeated and random text (ngram, repetition).
    assert scores["real"] > scores["model"] + 0.05, scores
    assert scores["model"] > max(scores[k] for k in ("shuffled", "repeated", "random")) + 0.2
    assert result["functions"]["chrf"]["model"] < result["functions"]["chrf"]["shuffled"]
    assert run_lab(trained, samples=32, seed=0) == result  # seeded: the same table again
    assert "model" in format_table(result).splitlines()[1].split()


def test_lab_loads_the_corpus_words_for_vocab(trained) -> None:
    result = run_lab(trained, "vocab", samples=8)
    assert result["functions"]["vocab"]["real"] > 0.8  # the references' words are the corpus's
    assert result["functions"]["vocab"]["random"] < 0.5


def test_held_out_windows_are_the_val_batches(trained) -> None:
    from slavik_tui.engine.data import TokenData

    data = TokenData(trained, context=32)
    windows = held_out_windows(data, 5)
    ((x, y),) = data.val_batches(1, 5)
    assert windows.shape == (5, 33)
    assert (windows[:, :-1] == x.numpy()).all() and (windows[:, 1:] == y.numpy()).all()
    tok = Tokenizer.load(trained / "tokenizer.json")
    pairs = held_out_pairs(data, tok, 5)  # 33-token windows: 16-token prompts, 17 after
    assert pairs == text_pairs(windows, tok, 16, 17)
    for w, p in zip(windows.tolist(), pairs):
        if tok.eot_id not in w:  # no room to move the start: the whole window, as text
            text = b"".join(tok.token_bytes(t) for t in w).decode("utf-8", errors="ignore")
            assert p.prompt + p.reference == text.rstrip("\ufffd")


def test_lab_refuses_bad_input_in_one_line(trained, models_dir) -> None:
    with pytest.raises(UserError, match="--samples must be a whole number") as info:
        run_lab(trained, samples=0)
    assert info.value.field == "samples"
    with pytest.raises(UserError, match="unknown reward 'chrff'") as info:
        run_lab(trained, "chrff")
    assert info.value.field == "reward"
    untrained = create_model(Workspace(models_dir), "fresh", [str(trained.parent.parent /
                             "corpus.txt")], ModelConfig(**TINY_CFG), report=lambda line: None)
    with pytest.raises(UserError, match="no trained weights"):
        run_lab(untrained)

