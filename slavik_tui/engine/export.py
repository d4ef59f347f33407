"""Export a trained model: weights-only files, or a Hugging Face `transformers` folder.

    export(model_dir, out, "weights")   fp32 safetensors, weights only (≈ 1/3 of a checkpoint)
    export(model_dir, out, "bf16")      the same in bfloat16 (≈ 1/6)
    export(model_dir, out, "hf")        a folder that `AutoModelForCausalLM.from_pretrained(out)`
                                        and `AutoTokenizer.from_pretrained(out)` load, with our
                                        chat template (`apply_chat_template` gives our ids)
    export(model_dir, out, "gguf", quant="f16"|"q8_0")
                                        one GGUF file for llama.cpp (engine/gguf.py), with the
                                        chat template and <|end|> as its end-of-turn token

"weights" and "bf16" keep our parameter names (`GPT.load_state_dict(..., strict=False)` reads
them back; a tied LM head is stored once, as `embed_tokens.weight`) and carry the model config
as JSON in the safetensors metadata, so the file alone describes the model.

"hf" is a `LlamaForCausalLM`: our parameter names are Hugging Face's minus the `model.`
prefix, and our RoPE uses HF's rotate-half layout, so the weights go over unchanged (no q/k
permutation) and HF's logits equal ours to float rounding. From there the usual tools apply
(llama.cpp's convert_hf_to_gguf.py, vLLM, `transformers` pipelines). `transformers` itself is
not needed to export — the JSON files are written here.

Every file is written atomically (temp file + os.replace, never over anything but a regular
file); the "hf" folder is built under a temporary name beside `out` (`.OUT.PID.XXXX.tmp`,
removed by the next export there if a kill left it) and renamed into place, so an interrupted
export leaves nothing half-written behind. The folder's mode follows the umask like any other
file. A full disk is one line (`DiskFull`) and leaves no temp file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from slavik_tui.atomic import (
    atomic_write_bytes,
    dir_mode,
    fsync_dir,
    on_disk_full,
    remove_stale_temps,
    temp_prefix,
    write_file_synced,
)
from slavik_tui.spec.config import ModelConfig
from slavik_tui.engine.tokenizer import EOT
from slavik_tui.errors import UserError

FORMATS = {
    "weights": "safetensors file, fp32 weights only",
    "bf16": "safetensors file, bfloat16 weights only (half the size)",
    "hf": "Hugging Face transformers folder (LlamaForCausalLM + tokenizer)",
    "gguf": "GGUF file for llama.cpp (f16, or q8_0 with --quant q8_0)",
}


def export(model_dir: str | os.PathLike, out: str | os.PathLike, fmt: str,
           quant: str = "f16") -> Path:
    """Export the model in `model_dir` to `out` as `fmt` (one of FORMATS); returns `out`.
    `quant` is the GGUF tensor type (f16 or q8_0); other formats refuse anything but f16."""
    from slavik_tui.engine.checkpoint import load_weights

    _check_format(fmt, quant)
    model_dir = Path(model_dir)
    cfg = ModelConfig.load(model_dir / "config.json")
    _check_out(Path(out), fmt)  # before the (slower) weight load and checksum
    state = load_weights(model_dir)  # UserError "train it first" when never trained
    return export_state(state, cfg, model_dir / "tokenizer.json", out, fmt, quant=quant,
                        name=model_dir.name)


def export_state(state_dict: dict, cfg: ModelConfig, tokenizer_json: str | os.PathLike,
                 out: str | os.PathLike, fmt: str, quant: str = "f16",
                 name: str | None = None) -> Path:
    """Export a GPT state dict (our names; a tied `lm_head.weight` may be absent)."""
    import torch
    from safetensors.torch import save

    _check_format(fmt, quant)
    out = Path(out)
    _check_out(out, fmt)
    if fmt == "gguf":
        from slavik_tui.engine.chat.template import CHAT_TEMPLATE
        from slavik_tui.engine.gguf import export_gguf
        from slavik_tui.engine.tokenizer import END_OF_TURN

        return export_gguf(state_dict, cfg, tokenizer_json, out, quant=quant,
                           chat_template=CHAT_TEMPLATE, name=name, end_of_turn=END_OF_TURN)
    tensors = _our_tensors(state_dict, cfg)
    if fmt in ("weights", "bf16"):
        dtype = torch.float32 if fmt == "weights" else torch.bfloat16
        metadata = {
            "format": "pt",
            "producer": "slavik-tui",
            "dtype": str(dtype).removeprefix("torch."),
            "config": json.dumps(cfg.to_dict()),
        }
        blob = save({k: v.to(dtype) for k, v in tensors.items()}, metadata)
        with on_disk_full(out.parent, f"the export {out.name}", needed=len(blob)):
            atomic_write_bytes(out, blob)
        return out
    return _export_hf(tensors, cfg, Path(tokenizer_json), out)


# ---- checks -------------------------------------------------------------------------------
def _check_format(fmt: str, quant: str = "f16") -> None:
    if fmt not in FORMATS:
        valid = ", ".join(f"{name} ({what})" for name, what in FORMATS.items())
        raise UserError(f"unknown export format {fmt!r}; choose one of: {valid}")
    if fmt == "gguf":
        from slavik_tui.engine.gguf import QUANTS

        if quant not in QUANTS:
            valid = ", ".join(f"{q} ({what})" for q, what in QUANTS.items())
            raise UserError(f"unknown GGUF quantisation {quant!r}; choose one of: {valid}",
                            field="quant")
    elif quant != "f16":
        raise UserError(f"--quant applies to the gguf format only; drop it for {fmt}",
                        field="quant")


def _check_out(out: Path, fmt: str) -> None:
    if out.is_symlink():
        raise UserError(f"{out} is a symbolic link; refusing to write through it: choose "
                        "another path")
    if fmt == "hf":
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UserError(
                f"{out} already exists and is not an empty folder; choose another path for "
                "the Hugging Face export (it writes a new folder)"
            )
    elif out.is_dir():
        raise UserError(f"{out} is a folder; give a file path such as {out / 'model.safetensors'}")
    if not out.parent.is_dir():
        raise UserError(f"folder {out.parent} does not exist; create it or choose another path")


def _our_tensors(state_dict: dict, cfg: ModelConfig) -> dict:
    """The parameters to store: contiguous CPU float32, a tied head stored once, nothing else.

    Checks the names and shapes against the config, so a mismatched state dict is caught here
    rather than producing a file no loader accepts.
    """
    import torch

    from slavik_tui.engine.model import GPT

    with torch.device("meta"):
        expected = {k: v.shape for k, v in GPT(cfg).state_dict().items()}
    if cfg.tie_embeddings:
        expected.pop("lm_head.weight")
    tensors = {}
    for name, shape in expected.items():
        value = state_dict.get(name)
        if value is None or tuple(value.shape) != tuple(shape):
            got = "missing" if value is None else f"shape {tuple(value.shape)}"
            raise UserError(
                f"the weights do not fit config.json ({name}: {got}, expected {tuple(shape)}); "
                "restore the matching config.json and weights"
            )
        tensors[name] = value.detach().to("cpu", torch.float32).contiguous()
    return tensors


# ---- Hugging Face folder ------------------------------------------------------------------
def hf_name(name: str) -> str:
    """Our parameter name → LlamaForCausalLM's."""
    return name if name == "lm_head.weight" else f"model.{name}"


def hf_config(cfg: ModelConfig, eot_id: int) -> dict:
    """config.json of a LlamaConfig. Both the transformers 5 (`rope_parameters`, `dtype`) and
    the 4.x / llama.cpp spellings (`rope_theta`, `torch_dtype`) are written."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.ffn_hidden,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_heads,  # plain multi-head attention (no GQA)
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.context,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": cfg.tie_embeddings,
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "torch_dtype": "float32",
        "dtype": "float32",
    }


def _export_hf(tensors: dict, cfg: ModelConfig, tokenizer_json: Path, out: Path) -> Path:
    from safetensors.torch import save

    from slavik_tui.engine.chat.template import CHAT_TEMPLATE

    if not tokenizer_json.is_file():
        raise UserError(f"{tokenizer_json} is missing; restore the model's tokenizer.json")
    tok = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    eot_id = next((t["id"] for t in tok.get("added_tokens", []) if t.get("content") == EOT), None)
    if eot_id is None:
        raise UserError(f"{tokenizer_json} has no {EOT} token; restore the model's tokenizer.json")

    files = {
        "config.json": hf_config(cfg, eot_id),
        "generation_config.json": {
            "bos_token_id": eot_id,
            "eos_token_id": eot_id,
            "do_sample": True,  # slavik-tui's own defaults
            "temperature": 0.8,
            "top_k": 50,
            "top_p": 0.95,
        },
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": EOT,
            "eos_token": EOT,
            "unk_token": None,
            "model_max_length": cfg.context,
            "add_bos_token": False,
            "add_eos_token": False,
            "clean_up_tokenization_spaces": False,  # keep decode lossless
            "chat_template": CHAT_TEMPLATE,  # apply_chat_template gives our chat ids
        },
        "special_tokens_map.json": {"bos_token": EOT, "eos_token": EOT},
    }
    weights = save({hf_name(k): v for k, v in tensors.items()}, metadata={"format": "pt"})

    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out.parent, out.name)
    tokenizer_bytes = tokenizer_json.read_bytes()
    needed = len(weights) + len(tokenizer_bytes)
    with on_disk_full(out.parent, f"the Hugging Face export {out.name}", needed=needed):
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out), suffix=".tmp", dir=out.parent))
        try:
            os.chmod(tmp, dir_mode())  # mkdtemp makes 0700; give what mkdir would
            # every file fsync'd before the folder goes live under its final name
            write_file_synced(tmp / "model.safetensors", weights)
            write_file_synced(tmp / "tokenizer.json", tokenizer_bytes)
            for name, obj in files.items():
                text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
                write_file_synced(tmp / name, text.encode("utf-8"))
            fsync_dir(tmp)
            os.replace(tmp, out)  # an empty `out` folder is replaced, a non-empty one refused
            tmp = None
            fsync_dir(out.parent)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    return out
