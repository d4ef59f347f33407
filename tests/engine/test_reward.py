"""Reward functions (known values), specs (parsing, weights, validation, the old names mapped),
held-out text pairs."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sacrebleu.metrics import CHRF

from corpus import make_text
from slavik_tui.engine import reward
from slavik_tui.engine.data import words_in
from slavik_tui.engine.reward import (
    DEFAULT_SPEC,
    Pair,
    RewardSpec,
    text_pairs,
    upgrade_legacy,
)
from slavik_tui.engine.reward.functions import chrf, length, prefix, repetition, vocab
from slavik_tui.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def refs(*texts: str) -> dict:
    return {"references": list(texts)}


# ---- built-in functions -----------------------------------------------------------------------
def test_chrf_is_sacrebleus_sentence_score_over_100() -> None:
    cases = [("Кошка тихо видит дом.", "Кошка долго видит реку."),
             ("дом видит кошка", "кошка видит дом"),
             ("The cat sees the sea", "the cat sees the sea"),
             ("", "что-то"), ("что-то", "")]
    metric = CHRF()
    got = chrf([c for c, _ in cases], [""] * len(cases), **refs(*(r for _, r in cases)))
    want = [metric.sentence_score(c, [r]).score / 100 for c, r in cases]
    assert got == pytest.approx(want, abs=1e-12)
    assert chrf(["Анна видит сад."], [""], **refs("Анна видит сад.")) == [1.0]
    assert 0 < got[1] < 0.6  # word order matters: 6-grams span the words (spaces removed)
    assert 0.6 < got[2] < 1 and got[3] == got[4] == 0.0  # case matters a little


def test_prefix_counts_bytes_of_whole_characters() -> None:
    completions = ["кот", "abc", "а", "кошка!", "x", "anything"]
    references = ["кошка", "abв", "б", "кошка", "", "xyz"]
    got = prefix(completions, [""] * 6, **refs(*references))
    # "ко" = 4 of 10 bytes; "ab" = 2 of 4; а/б share their first byte (d0) but not the letter;
    # the whole reference; an empty reference has nothing to match; no common start.
    assert got == pytest.approx([0.4, 0.5, 0.0, 1.0, 0.0, 0.0])


def test_repetition_is_minus_the_share_of_repeated_word_trigrams() -> None:
    got = repetition(["a b c a b c a b c", "Кошка тихо видит дом", "да да",
                      "Да да, ДА да!", ""], [""] * 5)
    # 7 trigrams, 3 distinct → 4/7; all distinct; fewer than three words; case-folded: 2
    # trigrams (да да да) twice → 1/2; nothing.
    assert got == pytest.approx([-4 / 7, 0.0, 0.0, -0.5, 0.0])
    assert all(math.copysign(1, v) == 1 for v in got[1:3])  # a clean text is 0.0, not -0.0


def test_length_penalises_far_too_short_or_long_softly() -> None:
    r = "abcd"  # 4 characters
    completions = ["abcd", "abc", "ab", "", "abcde", "abcdef", "abcdefgh", "x" * 20]
    got = length(completions, [""] * 8, **refs(*[r] * 8))
    assert got == pytest.approx([0, 0, -1 / 3, -1, 0, -1 / 3, -1, -1])
    assert length(["", "x"], ["", ""], **refs("", "")) == [0.0, -1.0]  # the text ended there


def test_vocab_is_the_old_corpus_words() -> None:
    corpus = {"кошка", "дом", "видит"}
    got = vocab(["Кошка видит дом", "кошка бежит", "", "дом дом дом дом"], [""] * 4,
                corpus_words=corpus)
    assert got == pytest.approx([1.0, 0.5, 0.0, 0.5])  # the last: all real, half repeated
    assert reward.vocab_score("кошка бежит", corpus) == 0.5
    with pytest.raises(UserError, match="vocab.*corpus_words"):
        vocab(["кошка"], [""])


def test_words_split_as_the_corpus_word_list_is() -> None:
    text = make_text(3000, seed=4) + " ёлка Ёлка e\u0301 don't 42 snake_case"
    assert set(reward.words(text)) == words_in(text)


def test_reference_functions_need_references() -> None:
    for fn in (chrf, prefix, length):
        with pytest.raises(UserError, match="references"):
            fn(["a"], ["p"])
        with pytest.raises(UserError, match="one reference per completion"):
            fn(["a", "b"], ["p", "q"], references=["a"])


# ---- specs ------------------------------------------------------------------------------------
def test_spec_parses_names_and_weights() -> None:
    spec = RewardSpec.parse(" chrf:1 , repetition:0.5,prefix ")
    assert spec.names == ["chrf", "repetition", "prefix"]
    assert [t.weight for t in spec.terms] == [1.0, 0.5, 1.0]
    assert str(spec) == "chrf:1,repetition:0.5,prefix:1"
    assert str(RewardSpec.parse()) == DEFAULT_SPEC == "chrf:1,ngram:1,bigrams:1,repetition:0.5"
    assert str(RewardSpec.parse(str(spec))) == str(spec)  # the canonical text round-trips


def test_spec_score_is_the_weighted_sum_with_each_functions_scores() -> None:
    spec = RewardSpec.parse("chrf:2,repetition:0.5,length:1")
    completions = ["кошка видит дом", "a b c a b c a b c", ""]
    references = ["кошка видит дом", "a b c d e f g h i", "собака"]
    scores = spec.score(completions, ["p"] * 3, references)
    c = chrf(completions, [], references=references)
    r = repetition(completions, [])
    n = length(completions, [], references=references)
    assert scores.functions == {"chrf": c, "repetition": r, "length": n}
    assert scores.total == pytest.approx([2 * c[i] + 0.5 * r[i] + n[i] for i in range(3)])
    summary = scores.summary()
    assert summary["reward"] == pytest.approx(sum(scores.total) / 3)
    assert summary["reward_std"] == pytest.approx(
        math.sqrt(sum((t - summary["reward"]) ** 2 for t in scores.total) / 3))
    assert summary["rewards/chrf"] == pytest.approx(sum(c) / 3)
    assert set(summary) == {"reward", "reward_std", "rewards/chrf", "rewards/repetition",
                            "rewards/length"}


@pytest.mark.parametrize("text, match", [
    ("", "empty"),
    ("  ", "empty"),
    ("chrf,,repetition", "empty term"),
    ("chrff", "unknown reward 'chrff'; did you mean 'chrf'"),
    ("bleu:1", "unknown reward 'bleu'"),
    ("chrf:x", "weight 'x'"),
    ("chrf:", "weight ''"),
    ("chrf:0", "weight '0'"),
    ("chrf:-1", "weight '-1'"),
    ("chrf:nan", "weight 'nan'"),
    ("chrf:inf", "weight 'inf'"),
    ("json:loads:x", "weight 'x'"),
    (":1", "no name"),
    ("chrf,repetition,chrf:2", "'chrf' appears twice"),
    ("corpus_words", "now called 'vocab'"),
    ("distinct", "use 'repetition'"),
    ("no_such_module_xyz:fn", "cannot import module 'no_such_module_xyz'.*PYTHONPATH"),
    ("json:no_such_fn", "module 'json' has no 'no_such_fn'"),
    ("os:sep", "is a str, not a function"),
    ("json:loads", "cannot be called as fn\\(completions, prompts, \\*\\*kwargs\\)"),
])
def test_bad_specs_are_one_line_user_errors(text, match) -> None:
    with pytest.raises(UserError, match=match) as info:
        RewardSpec.parse(text)
    assert info.value.field == "reward" and "\n" not in str(info.value)


def write_module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(body, encoding="utf-8")


@pytest.fixture
def user_modules(tmp_path, monkeypatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_user_functions_drop_in_with_trls_signature(user_modules) -> None:
    write_module(user_modules, "rw_trl", (
        "def share_a(completions, **kwargs):\n"
        "    return [c.count('а') / max(1, len(c)) for c in completions]\n"
        "def exact(completions, references):\n"  # names only what it uses
        "    return [float(c == r) for c, r in zip(completions, references)]\n"
        "class Scorer:\n"
        "    def __call__(self, prompts, completions, **kwargs):\n"
        "        return [len(p) for p in prompts]\n"
        "scorer = Scorer()\n"))
    spec = RewardSpec.parse("rw_trl:share_a:2,rw_trl:exact,rw_trl:scorer:0.1")
    assert spec.names == ["rw_trl:share_a", "rw_trl:exact", "rw_trl:scorer"]
    scores = spec.score(["аб", "x"], ["pp", "q"], ["аб", "y"], corpus_words=set())
    assert scores.functions == {"rw_trl:share_a": [0.5, 0.0], "rw_trl:exact": [1.0, 0.0],
                                "rw_trl:scorer": [2.0, 1.0]}
    assert scores.total == pytest.approx([2 * 0.5 + 1 + 0.2, 0.1])
    spec.check()


@pytest.mark.parametrize("body, match", [
    ("def f(completions, **kw):\n    raise KeyError('answer')\n",
     "reward 'rw_bad:f' failed on 2 completions \\(KeyError: 'answer'\\); fix the function"),
    ("def f(completions, **kw):\n    return [1.0]\n",
     "'rw_bad:f' returned 1 scores for 2 completions; make it return one finite float"),
    ("def f(completions, **kw):\n    return [1.0, float('nan')]\n",
     "'rw_bad:f' returned nan for completion 2"),
    ("def f(completions, **kw):\n    return [None, 1.0]\n", "returned None for completion 1"),
    ("def f(completions, **kw):\n    return ['1', '2']\n", "returned '1' for completion 1"),
    ("def f(completions, **kw):\n    return 0.5\n", "returned a float, not a list of numbers"),
    ("def f(completions, **kw):\n    return [1 / len(c) for c in completions]\n",
     "ZeroDivisionError"),  # the empty completion in check()'s tiny input
])
def test_a_broken_function_is_caught_by_check(user_modules, body, match) -> None:
    name = f"rw_bad_{abs(hash(body))}"  # a fresh module per case (imports are cached)
    write_module(user_modules, name, body)
    spec = RewardSpec.parse(f"chrf,{name}:f")  # parses: the problem shows when it runs
    match = match.replace("rw_bad", name)
    with pytest.raises(UserError, match=match) as info:
        spec.check()
    assert info.value.field == "reward" and "\n" not in str(info.value)


def test_a_function_without_completions_is_refused(user_modules) -> None:
    write_module(user_modules, "rw_nocomp", "def f(prompts, references):\n    return []\n"
                                           "def old(text, ctx):\n    return 0.0\n")
    with pytest.raises(UserError, match="'rw_nocomp:f' takes no 'completions' argument"):
        RewardSpec.parse("rw_nocomp:f")
    with pytest.raises(UserError, match="'rw_nocomp:old' cannot be called as fn"):
        RewardSpec.parse("rw_nocomp:old")  # the old single-text signature


def test_a_module_that_fails_to_import_is_named(user_modules) -> None:
    write_module(user_modules, "rw_crash", "raise RuntimeError('no config')\n")
    with pytest.raises(UserError, match="importing 'rw_crash'.*RuntimeError: no config.*fix"):
        RewardSpec.parse("rw_crash:f")


def test_pythonpath_advice_works_in_an_isolated_child(tmp_path) -> None:
    write_module(tmp_path, "rw_child", "def f(completions, prompts, **kw):\n"
                                       "    return [1.0] * len(completions)\n")
    code = ("from slavik_tui.engine.reward import RewardSpec; "
            "print(RewardSpec.parse('rw_child:f').check().total)")
    env = {**os.environ, "PYTHONPATH": f"{REPO}"}
    run = subprocess.run([sys.executable, "-P", "-c", code], env=env, capture_output=True,
                         text=True, cwd=tmp_path)
    assert "put its folder on PYTHONPATH" in run.stderr  # trainers never import from the cwd
    env["PYTHONPATH"] += os.pathsep + str(tmp_path)
    run = subprocess.run([sys.executable, "-P", "-c", code], env=env, capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.strip() == "[1.0, 1.0]", run.stderr


def test_check_runs_every_builtin_once() -> None:
    scores = RewardSpec.parse("chrf,prefix,repetition,length,vocab").check()
    # check()'s tiny input: a perfect completion and an empty one
    assert scores.functions["chrf"] == [1.0, 0.0]
    assert scores.functions["prefix"] == [1.0, 0.0]
    assert scores.functions["length"] == [0.0, -1.0]
    assert scores.functions["vocab"] == [1.0, 0.0]
    with pytest.raises(UserError, match="vocab"):
        RewardSpec.parse("vocab").check(corpus_words=None)


def test_score_wants_one_prompt_and_reference_per_completion() -> None:
    with pytest.raises(ValueError):
        RewardSpec.parse().score(["a", "b"], ["p"], ["r", "s"])


# ---- held-out pairs ---------------------------------------------------------------------------
class ByteTokenizer:
    """A fake tokenizer with chosen token bytes: id 0 is end-of-text."""

    eot_id = 0

    def __init__(self, table: list[bytes]) -> None:
        self.table = [b"<|endoftext|>"] + table

    def token_bytes(self, i: int) -> bytes:
        return self.table[i]


def test_pairs_start_at_a_line_and_cut_the_reference_at_end_of_text() -> None:
    tok = ByteTokenizer([b"half", b" word", b"\n", b"\n", b"Line", b" two", b" three", b".",
                         b" more"])
    window = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 2]  # "half word\n\nLine two three. more" EOT
    (pair,) = text_pairs([window], tok, prompt_tokens=2, reference_tokens=4)
    assert pair == Pair("Line two", " three. more")  # blank line skipped; stops at EOT
    (pair,) = text_pairs([window], tok, prompt_tokens=2, reference_tokens=9)
    assert pair == Pair("half word", "\n\nLine two three. more")  # no room to move: start 0
    with pytest.raises(ValueError):
        text_pairs([window[:2]], tok, prompt_tokens=2)


def test_pairs_never_split_a_character() -> None:
    # "к" is d0 ba: the prompt's last token holds its first byte, the reference its second;
    # the reference's last token is the first byte of "о" (d0 be) — incomplete, dropped.
    tok = ByteTokenizer([b" a", b"\xd0", b"\xba\xd1\x82", b" b", b"\xd0"])
    (pair,) = text_pairs([[1, 2, 3, 4, 5]], tok, prompt_tokens=2, reference_tokens=3)
    assert pair == Pair(" aк", "т b")
    (pair,) = text_pairs([[3, 4, 2, 3]], tok, prompt_tokens=2, reference_tokens=2)
    assert pair == Pair("т b", "кт")  # the window starts with the last byte of a "к": dropped


def test_pairs_of_real_tokens_are_the_held_out_text() -> None:
    from slavik_tui.engine.tokenizer import Tokenizer

    text = make_text(6000, seed=7)
    tok = Tokenizer.train([make_text(20_000, seed=8)], vocab_size=300)
    ids = tok.encode(text)
    windows = [ids[s : s + 60] for s in range(1, len(ids) - 60, 97)]
    pairs = text_pairs(windows, tok, prompt_tokens=10, reference_tokens=20)
    assert len(pairs) == len(windows) > 10
    lines = 0
    for window, p in zip(windows, pairs):
        assert p.prompt + p.reference in text and "\ufffd" not in p.prompt + p.reference
        before = text[text.index(p.prompt + p.reference) - 1]
        # 30 tokens of room before the prompt: a line start there is taken, else a word start
        if any(tok.token_bytes(t).endswith(b"\n") for t in window[:29]):
            assert before == "\n", p
            lines += 1
        else:
            assert p.prompt.startswith(" ") or before in " \n", p
    assert 0 < lines < len(pairs)  # both cases were seen


# ---- the old names ----------------------------------------------------------------------------
def test_old_names_map_to_todays_with_a_note() -> None:
    assert upgrade_legacy(DEFAULT_SPEC) == (DEFAULT_SPEC, None)
    assert upgrade_legacy("corpus_words") == (
        "vocab", "reward 'corpus_words' is now 'vocab': scoring with --reward vocab")
    text, note = upgrade_legacy("chrf:1, distinct:0.5,corpus_words:2")
    assert text == "chrf:1,repetition:0.5,vocab:2"
    assert note == ("reward 'distinct' is now 'repetition', 'corpus_words' is now 'vocab': "
                    "scoring with --reward chrf:1,repetition:0.5,vocab:2")
    assert str(RewardSpec.parse(text)) == "chrf:1,repetition:0.5,vocab:2"
    assert upgrade_legacy("mod:distinct") == ("mod:distinct", None)  # a user's function


def test_the_default_spec_is_the_train_flags_default() -> None:
    from slavik_tui.spec.options import DEFAULT_REWARD, FLAG, TrainOptions

    assert DEFAULT_REWARD == DEFAULT_SPEC == TrainOptions().reward
    help_text = FLAG["reward"].help_text
    assert all(name in help_text for name in reward.BUILTIN)
    assert "module:function" in help_text and DEFAULT_SPEC in help_text
