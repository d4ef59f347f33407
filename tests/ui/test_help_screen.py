"""What `?` says reward is agrees with what the default spec scores: below 0 for a text that
repeats itself (the reward lab showed −0.076 for "repeated" while help said "a 0–1 score")."""

from __future__ import annotations

from slavik_tui.engine.reward import RewardSpec
from slavik_tui.engine.reward.spec import DEFAULT_SPEC
from slavik_tui.ui.screens.help import FIGURES


def test_the_reward_line_gives_the_default_specs_real_range():
    text = dict(FIGURES)["reward"]
    assert "0–1 score" not in text
    spec = RewardSpec.parse(DEFAULT_SPEC)
    reference = "Городничий. Я пригласил вас, господа, с тем, чтобы сообщить вам пренеприятное"
    looped = " ".join(["и вот и вот и вот"] * 12)
    scores = spec.score([reference, looped], ["", ""], [reference, reference])
    best, worst = scores.total
    assert best <= 1.0 and worst < 0.0  # a repeating text scores below 0
    assert "−0.5 to 1" in text and "w on Models" in text
    assert min(scores.total) >= -0.5
