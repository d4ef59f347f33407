"""engine/export.py: weights-only files, bf16, and a folder that `transformers` loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from corpus import make_text
from slavik_tui.engine import checkpoint as ckpt
from slavik_tui.spec.config import ModelConfig
from slavik_tui.engine.export import FORMATS, export, export_state
from slavik_tui.engine.model import GPT
from slavik_tui.engine.tokenizer import Tokenizer, tokenizer_summary
from slavik_tui.errors import UserError

RUSSIAN = "Старый мельник смотрел на реку — «ёлка», Ёж и 👋 emoji!\n"


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory) -> Path:
    tok = Tokenizer.train([make_text(20_000), RUSSIAN * 20], 400)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(path)
    return path


def make_model(tie: bool = True) -> GPT:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=400, context=48, d_model=64, n_layers=2, n_heads=4,
                      tie_embeddings=tie, rope_theta=5000.0, norm_eps=1e-6)
    model = GPT(cfg)
    with torch.no_grad():  # norm weights off 1, so a dropped or misnamed norm shows
        for p in model.parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("tie", [True, False])
def test_weights_and_bf16_files(tmp_path, tokenizer_json, tie):
    model = make_model(tie)
    cfg = model.cfg
    sd = model.state_dict()
    sizes = {}
    for fmt, dtype, nbytes in (("weights", torch.float32, 4), ("bf16", torch.bfloat16, 2)):
        out = export_state(sd, cfg, tokenizer_json, tmp_path / f"{fmt}.safetensors", fmt)
        sizes[fmt] = out.stat().st_size
        # the tensors are the parameters, each once: size ≈ params × bytes (+ a small header)
        assert 0 <= sizes[fmt] - cfg.n_params * nbytes < 8_000
        loaded = load_file(out)
        assert ("lm_head.weight" in loaded) == (not tie)
        assert sum(t.numel() for t in loaded.values()) == cfg.n_params
        for name, tensor in loaded.items():
            assert tensor.dtype == dtype
            assert torch.equal(tensor, sd[name].to(dtype)), name
        with safe_open(out, "pt") as f:
            meta = f.metadata()
        assert meta["format"] == "pt"
        assert ModelConfig.from_dict(json.loads(meta["config"])) == cfg
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left

    # the fp32 file loads straight back into a model with identical outputs
    again = GPT(ModelConfig.from_dict(json.loads(meta["config"])))
    weights = load_file(tmp_path / "weights.safetensors")
    missing, unexpected = again.load_state_dict(weights, strict=False)
    assert unexpected == [] and missing == (["lm_head.weight"] if tie else [])
    idx = torch.randint(0, cfg.vocab_size, (1, 20))
    assert torch.equal(again.eval()(idx)[0], model(idx)[0])


def test_hf_folder_loads_in_transformers_with_equal_logits(tmp_path, tokenizer_json):
    transformers = pytest.importorskip("transformers")
    ours = Tokenizer.load(tokenizer_json)
    for tie in (True, False):
        model = make_model(tie)
        cfg = model.cfg
        out = export_state(model.state_dict(), cfg, tokenizer_json, tmp_path / f"hf-{tie}", "hf")
        assert {p.name for p in out.iterdir()} == {
            "config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json"}
        conf = json.loads((out / "config.json").read_text())
        assert conf["architectures"] == ["LlamaForCausalLM"] and conf["model_type"] == "llama"
        assert conf["tie_word_embeddings"] is tie and conf["eos_token_id"] == ours.eot_id

        hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
        assert type(hf).__name__ == "LlamaForCausalLM"
        assert sum(p.numel() for p in hf.parameters()) == cfg.n_params
        tied = hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr()
        assert tied == tie
        idx = torch.randint(0, cfg.vocab_size, (2, cfg.context))
        with torch.no_grad():
            theirs = hf(idx).logits
            mine, _ = model(idx)
        assert (theirs - mine).abs().max().item() <= 1e-4

    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    ids = ours.encode(RUSSIAN)
    assert hf_tok(RUSSIAN, add_special_tokens=False)["input_ids"] == ids
    assert hf_tok(RUSSIAN)["input_ids"] == ids  # no BOS/EOS is added by default
    assert hf_tok.decode(ids) == RUSSIAN
    assert hf_tok.eos_token == "<|endoftext|>" and hf_tok.eos_token_id == ours.eot_id


def test_format_and_destination_errors(tmp_path, tokenizer_json):
    model = make_model()
    sd, cfg = model.state_dict(), model.cfg
    with pytest.raises(UserError, match="weights.*bf16.*hf.*gguf"):
        export_state(sd, cfg, tokenizer_json, tmp_path / "x", "onnx")
    with pytest.raises(UserError, match="gguf format only"):
        export_state(sd, cfg, tokenizer_json, tmp_path / "x", "weights", quant="q8_0")
    with pytest.raises(UserError, match="f16.*q8_0"):
        export_state(sd, cfg, tokenizer_json, tmp_path / "x.gguf", "gguf", quant="q4")
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.gguf").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="choose another path"):
        export_state(sd, cfg, tokenizer_json, busy, "hf")
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (export_state(sd, cfg, tokenizer_json, empty, "hf") / "model.safetensors").is_file()
    with pytest.raises(UserError, match="folder"):
        export_state(sd, cfg, tokenizer_json, tmp_path, "weights")
    with pytest.raises(UserError, match="does not exist"):
        export_state(sd, cfg, tokenizer_json, tmp_path / "no" / "such.safetensors", "bf16")
    other = ModelConfig(vocab_size=400, context=48, d_model=32, n_layers=2, n_heads=4)
    with pytest.raises(UserError, match="do not fit"):
        export_state(sd, other, tokenizer_json, tmp_path / "w.safetensors", "weights")


def test_export_from_a_model_folder(tmp_path, tokenizer_json):
    model = make_model()
    model_dir = tmp_path / "models" / "славик"
    model_dir.mkdir(parents=True)
    tok = Tokenizer.load(tokenizer_json)
    tok.save(model_dir / "tokenizer.json")
    (model_dir / "config.json").write_text(json.dumps({
        "format_version": 1, "model": model.cfg.to_dict(), "tokenizer": tokenizer_summary(tok)}))

    with pytest.raises(UserError, match="train"):  # never trained: no weights yet
        export(model_dir, tmp_path / "w.safetensors", "weights")
    with pytest.raises(UserError, match="unknown export format"):
        export(model_dir, tmp_path / "w.safetensors", "onnx")

    ckpt.save_checkpoint(model_dir, ckpt.serialize_weights(model.state_dict()),
                         ckpt.serialize_state({"step": 3}), step=3)
    out = export(model_dir, tmp_path / "w.safetensors", "bf16")
    loaded = load_file(out)
    assert torch.equal(loaded["embed_tokens.weight"], model.embed_tokens.weight.to(torch.bfloat16))
    assert set(FORMATS) == {"weights", "bf16", "hf", "gguf"}


def test_hf_export_carries_our_chat_template(tmp_path, tokenizer_json):
    """transformers' apply_chat_template on the exported folder gives exactly our chat ids."""
    transformers = pytest.importorskip("transformers")
    from slavik_tui.engine.chat.messages import Message
    from slavik_tui.engine.chat.template import CHAT_TEMPLATE, prompt_ids, render_conversation

    model = make_model()
    out = export_state(model.state_dict(), model.cfg, tokenizer_json, tmp_path / "hf", "hf")
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["chat_template"] == CHAT_TEMPLATE
    conv = [Message("system", "Ты помощник."), Message("user", "Привет, как дела?"),
            Message("assistant", "Хорошо — «ёлка» 👋"), Message("user", "А ещё?")]
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    dicts = [{"role": m.role, "content": m.content} for m in conv]

    def ids(messages, **kw):
        got = hf_tok.apply_chat_template(messages, tokenize=True, return_dict=False, **kw)
        return list(got["input_ids"] if hasattr(got, "keys") else got)

    ours = Tokenizer.load(tokenizer_json)
    assert ids(dicts[:3]) == render_conversation(conv[:3], ours)[0]
    assert ids(dicts, add_generation_prompt=True) == prompt_ids(conv, ours)


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_gguf_from_a_model_folder_has_the_chat_template_and_end_of_turn(tmp_path, tokenizer_json,
                                                                        quant, capsys):
    """`slavik-tui export NAME OUT.gguf --format gguf --quant Q`: the file gguf's reader opens
    holds our weights in that type, the chat template and <|end|> as the end-of-turn token."""
    import gguf

    from slavik_tui.cli import main
    from slavik_tui.engine.chat.template import CHAT_TEMPLATE
    from slavik_tui.engine.tokenizer import END_OF_TURN

    model = make_model()
    models = tmp_path / "models"
    model_dir = models / "славик"
    model_dir.mkdir(parents=True)
    tok = Tokenizer.load(tokenizer_json)
    tok.save(model_dir / "tokenizer.json")
    (model_dir / "config.json").write_text(json.dumps({
        "format_version": 1, "model": model.cfg.to_dict(), "tokenizer": tokenizer_summary(tok)}))
    ckpt.save_checkpoint(model_dir, ckpt.serialize_weights(model.state_dict()),
                         ckpt.serialize_state({"step": 3}), step=3)
    out = tmp_path / "m.gguf"
    argv = ["--models-dir", str(models), "export", "славик", str(out), "--format", "gguf",
            "--quant", quant]
    assert main(argv) == 0
    assert f"(gguf, {quant})" in capsys.readouterr().out
    reader = gguf.GGUFReader(out)

    def field(key):
        f = reader.fields[key]
        return f.contents() if hasattr(f, "contents") else f.parts[f.data[0]]

    assert field("tokenizer.chat_template") == CHAT_TEMPLATE
    assert field("tokenizer.ggml.eot_token_id") == tok.special_id(END_OF_TURN)
    assert field("general.name") == "славик"
    embd = next(t for t in reader.tensors if t.name == "token_embd.weight")
    assert embd.tensor_type.name == quant.upper()
    # --quant is refused, in one line, for a format it does not apply to
    assert main(argv[:4] + [str(tmp_path / "w.safetensors"), "--format", "bf16",
                            "--quant", "q8_0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gguf format only" in err[0]
