"""The headless engine: model, tokenizer, data, trainer, generation, export.

Imports torch and tokenizers, never textual, rich or plotext (tests/test_import_hygiene.py).
Submodules are imported explicitly (`from slavik_tui.engine import model`), so importing
this package alone stays cheap.
"""
