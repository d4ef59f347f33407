"""What `?` says reward is agrees with what the default spec scores: little for a text that
repeats itself (the reward lab once showed −0.076 for "repeated" while help said "a 0–1
score"), at most 3 for the real text."""

from __future__ import annotations

from corpus import make_text
from slavik_tui.engine.reward import CharNgram, RewardSpec, WordPairs
from slavik_tui.engine.reward.spec import DEFAULT_SPEC
from slavik_tui.ui.screens.help import FIGURES


def test_the_reward_line_gives_the_default_specs_real_range():
    text = dict(FIGURES)["reward"]
    assert "0–1 score" not in text
    spec = RewardSpec.parse(DEFAULT_SPEC)
    reference = "Городничий. Я пригласил вас, господа, с тем, чтобы сообщить вам пренеприятное"
    looped = " ".join(["и вот и вот и вот"] * 12)
    corpus = make_text(20_000) + (reference + "\n") * 3 + make_text(4_000, seed=1)
    scores = spec.score([reference, looped], ["", ""], [reference, reference],
                        corpus_ngram=CharNgram.from_text(corpus),
                        corpus_pairs=WordPairs.from_text(corpus))
    best, worst = scores.total
    # a loop scores far below (its word pairs and characters do not read like the corpus,
    # and the repetition penalty takes back the rest)
    assert 2.4 < best <= 3.0 and worst < 0.5
    assert "−0.5 to 3" in text and "w on Models" in text
    assert min(scores.total) >= -0.5
