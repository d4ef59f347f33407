"""ModelConfig: every value read from config.json is checked (type included) and an error names
the field (and, from a file, the file), never a command-line flag; the CLI's names are its own."""

from __future__ import annotations

import json

import pytest

from slavik_tui.errors import UserError
from slavik_tui.spec.config import NEW_FLAGS, ModelConfig
from slavik_tui.spec.folder import ModelFolder

TINY = dict(vocab_size=400, context=32, d_model=32, n_layers=1, n_heads=2)


@pytest.mark.parametrize("key, value, words", [
    ("rope_theta", "big", "rope_theta must be a positive number, got 'big'"),
    ("rope_theta", float("inf"), "rope_theta must be a positive number"),
    ("norm_eps", True, "norm_eps must be a positive number, got True"),
    ("d_model", "x", "d_model must be a positive whole number, got 'x'"),
    ("d_model", True, "d_model must be a positive whole number, got True"),
    ("n_layers", 2.0, "n_layers must be a positive whole number, got 2.0"),
    ("n_heads", None, "n_heads must be a positive whole number, got None"),
    ("vocab_size", [1], "vocab_size must be a positive whole number, got [1]"),
    ("ffn_hidden", "wide", "ffn_hidden must be a positive whole number"),
    ("format_version", "1", "format_version must be a positive whole number"),
    ("tie_embeddings", "yes", "tie_embeddings must be true or false, got 'yes'"),
    ("vocab_size", 12, "vocab_size 12 is too small"),
    ("n_heads", 3, "d_model 32 is not divisible by 3 heads"),
])
def test_from_dict_checks_every_value_and_names_the_field(key, value, words):
    with pytest.raises(UserError) as exc:
        ModelConfig.from_dict({**TINY, key: value})
    message = str(exc.value)
    assert words in message and "--" not in message, message
    assert exc.value.field == ("n_heads" if "divisible" in words else key)


def test_from_dict_keeps_loading_older_and_newer_folders():
    cfg = ModelConfig.from_dict({**TINY, "some_future_key": 1})
    assert cfg == ModelConfig(**TINY)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(UserError):
        ModelConfig.from_dict([1])


def test_load_and_read_config_name_the_file(tmp_path):
    folder = ModelFolder(tmp_path / "m")
    folder.path.mkdir()
    folder.config.write_text(json.dumps({"model": {**TINY, "rope_theta": "big"}}))
    for call in (lambda: ModelConfig.load(folder.config), folder.read_config):
        with pytest.raises(UserError) as exc:
            call()
        message = str(exc.value)
        assert message.startswith(f"{folder.config}: rope_theta must be a positive number")
        assert "--" not in message and exc.value.field == "rope_theta"
    folder.config.write_text(json.dumps({"model": [1]}))
    with pytest.raises(UserError) as exc:
        folder.read_config()
    assert str(folder.config) in str(exc.value)
    folder.config.write_text(json.dumps({"model": TINY}))
    assert folder.read_config() == ModelConfig(**TINY)


def test_checked_names_the_fields_as_asked():
    with pytest.raises(UserError) as exc:
        ModelConfig.checked(NEW_FLAGS, **{**TINY, "n_layers": 0})
    assert str(exc.value) == "--layers must be a positive whole number, got 0"
    assert exc.value.field == "n_layers"
    with pytest.raises(UserError) as exc:
        ModelConfig.checked(NEW_FLAGS, **{**TINY, "d_model": 250, "n_heads": 8})
    assert "pick --d-model a multiple of 8 or another --heads" in str(exc.value)
    with pytest.raises(UserError) as exc:
        ModelConfig.checked(NEW_FLAGS, **{**TINY, "vocab_size": 12})
    assert str(exc.value).startswith("--vocab-size 12 is too small")
    assert ModelConfig.checked(NEW_FLAGS, **TINY) == ModelConfig(**TINY)
