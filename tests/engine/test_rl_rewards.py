"""Reward functions for the RL tests, importable as `test_rl_rewards:NAME` (pytest puts
tests/engine on sys.path; a detached trainer gets it through PYTHONPATH)."""

from __future__ import annotations


def letter_a(completions, prompts, **kwargs):
    """The share of the Cyrillic letter "а" among a completion's characters: trivial to
    raise (write more а), so a tiny model learns it in a few dozen steps."""
    return [c.count("а") / len(c) if c else 0.0 for c in completions]


def wrong_shape(completions, prompts, **kwargs):
    return [0.5]


def test_letter_a_counts_the_cyrillic_letter_only():
    assert letter_a(["аа", "a", "", "ба"], [""] * 4) == [1.0, 0.0, 0.0, 0.5]
