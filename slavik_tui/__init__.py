"""slavik-tui: train small GPT-style language models from scratch in the terminal."""

__version__ = "0.1.0"
