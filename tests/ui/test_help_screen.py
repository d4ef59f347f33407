"""What `?` says reward is agrees with what the default spec scores: about 0 or less for a text
that repeats itself (the reward lab once showed −0.076 for "repeated" while help said "a 0–1
score"), at most 1.5 for the real text."""

from __future__ import annotations

from corpus import make_text
from slavik_tui.engine.reward import CharNgram, RewardSpec
from slavik_tui.engine.reward.spec import DEFAULT_SPEC
from slavik_tui.ui.screens.help import FIGURES


def test_the_reward_line_gives_the_default_specs_real_range():
    text = dict(FIGURES)["reward"]
    assert "0–1 score" not in text
    spec = RewardSpec.parse(DEFAULT_SPEC)
    reference = "Городничий. Я пригласил вас, господа, с тем, чтобы сообщить вам пренеприятное"
    looped = " ".join(["и вот и вот и вот"] * 12)
    corpus = CharNgram.from_text(make_text(20_000) + (reference + "\n") * 20)
    scores = spec.score([reference, looped], ["", ""], [reference, reference],
                        corpus_ngram=corpus)
    best, worst = scores.total
    # a loop of a plausible phrase scores about 0: the repetition penalty takes back what the
    # n-gram plausibility gave it
    assert 1.2 < best <= 1.5 and worst < 0.1
    assert "−1 to 1.5" in text and "w on Models" in text
    assert min(scores.total) >= -1.0
