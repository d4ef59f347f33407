"""Export a model as one GGUF file that llama.cpp (and what is built on it) loads and runs.

    export_gguf(state_dict, cfg, tokenizer_json_path, "model.gguf", quant="f16" | "q8_0",
                chat_template=None)

Written with the `gguf` package (llama.cpp's own Python writer), as architecture "llama":
our model *is* a Llama (RMSNorm, RoPE, SwiGLU, no biases), so only three things need care.

- **Names.** Ours are Hugging Face's; llama.cpp's are `token_embd`, `blk.N.attn_q`, … (the
  table `_LAYER_NAMES`). A tied LM head is simply left out: llama.cpp then scores with
  token_embd, the same matrix.
- **RoPE layout.** We (like HF) rotate dimension i of a head with i + head_dim/2; llama.cpp's
  llama graph rotates adjacent pairs (2j, 2j+1). Both use frequency j for the pair, so
  reordering the rows of W_q and W_k within each head — row j → 2j, row j + head_dim/2 →
  2j + 1 (`interleave_rope_rows`, the reordering llama.cpp's converter applies to HF
  Llama checkpoints) — gives every pair the same rotation. Attention scores are dot
  products of q and k, which a common reordering of their dimensions leaves unchanged; v and
  the output projection are untouched.
- **Tokenizer.** Our byte-level BPE goes over as a "gpt2" vocabulary with the "gpt-2"
  pre-tokenizer (engine/gguf_vocab.py says why that split is ours).

Quantisation: "f16" stores every matrix as float16; "q8_0" as blocks of 32 int8 values with
one float16 scale (≈ 8.5 bits per weight), except a matrix whose rows are not a multiple of
32 long, which stays f16 (llama.cpp's converter does the same). Norm weights stay float32
in both, as llama.cpp expects.

The file is written under a temporary name beside `out_path` and renamed into place when whole.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

import numpy as np

from slavik_tui.atomic import fsync_dir
from slavik_tui.engine.gguf_vocab import PRE_TOKENIZER, read_vocab
from slavik_tui.engine.tokenizer import EOT
from slavik_tui.errors import UserError
from slavik_tui.spec.config import ModelConfig

QUANTS = {
    "f16": "16-bit floats (half the size of fp32, practically lossless)",
    "q8_0": "8-bit blocks of 32 with a float16 scale (about a quarter of fp32)",
}
Q8_BLOCK = 32  # values per Q8_0 block: a row must be a multiple of this long

# our per-layer parameter name → llama.cpp's (after "blk.{i}.")
_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_ROPE_ROWS = ("self_attn.q_proj.weight", "self_attn.k_proj.weight")


def export_gguf(state_dict: dict, cfg: ModelConfig, tokenizer_json_path: str | os.PathLike,
                out_path: str | os.PathLike, quant: str = "f16",
                chat_template: str | None = None, *, name: str | None = None,
                end_of_turn: str | None = None) -> Path:
    """Write the model (`state_dict` with our names; a tied `lm_head.weight` may be absent)
    to the GGUF file `out_path`; returns it as a Path.

    `chat_template`: a Jinja template stored as `tokenizer.chat_template` (llama.cpp's chat
    mode uses it). `end_of_turn`: the text of a special token that ends an assistant's turn,
    stored as `tokenizer.ggml.eot_token_id` so llama.cpp stops there. `name`: general.name
    (default: the file name without its suffix).
    """
    import gguf

    if quant not in QUANTS:
        valid = ", ".join(f"{q} ({what})" for q, what in QUANTS.items())
        raise UserError(f"unknown GGUF quantisation {quant!r}; choose one of: {valid}",
                        field="quant")
    if chat_template is not None and (not isinstance(chat_template, str) or not chat_template):
        raise UserError("the chat template must be non-empty text (a Jinja template)")
    out = Path(out_path)
    _check_out(out)
    tokenizer_json = Path(tokenizer_json_path)
    vocab = read_vocab(tokenizer_json, cfg.vocab_size)
    eot_id = vocab.ids.get(EOT)
    if eot_id is None:
        raise UserError(f"{tokenizer_json} has no {EOT} token; restore the model's tokenizer.json")
    turn_id = None
    if end_of_turn is not None:
        turn_id = vocab.ids.get(end_of_turn)
        if turn_id is None:
            raise UserError(f"{tokenizer_json} has no {end_of_turn!r} token for the end of a turn")
    tensors = list(gguf_tensors(state_dict, cfg))

    writer = gguf.GGUFWriter(None, "llama")
    _add_model_keys(writer, cfg, quant, name or out.stem)
    _add_tokenizer_keys(writer, vocab.tokens, vocab.types, vocab.merges, eot_id, turn_id,
                        chat_template)
    for tensor_name, array in tensors:
        data, qtype = _encode(array, quant)
        writer.add_tensor(tensor_name, data, raw_dtype=qtype)
    _write_atomically(writer, out)
    return out


def _add_model_keys(writer, cfg: ModelConfig, quant: str, name: str) -> None:
    import gguf

    writer.add_name(name)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_context_length(cfg.context)
    writer.add_embedding_length(cfg.d_model)
    writer.add_block_count(cfg.n_layers)
    writer.add_feed_forward_length(cfg.ffn_hidden)
    writer.add_head_count(cfg.n_heads)
    writer.add_head_count_kv(cfg.n_heads)  # plain multi-head attention
    writer.add_rope_dimension_count(cfg.head_dim)
    writer.add_rope_freq_base(float(cfg.rope_theta))
    writer.add_layer_norm_rms_eps(float(cfg.norm_eps))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if quant == "f16"
                         else gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _add_tokenizer_keys(writer, tokens: list[str], types: list[int], merges: list[str],
                        eot_id: int, turn_id: int | None, chat_template: str | None) -> None:
    writer.add_tokenizer_model("gpt2")  # llama.cpp's byte-level BPE
    writer.add_tokenizer_pre(PRE_TOKENIZER)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(eot_id)  # in training a document starts after EOT
    writer.add_eos_token_id(eot_id)
    writer.add_pad_token_id(eot_id)
    writer.add_add_bos_token(False)  # prompts are encoded bare, as slavik-tui encodes them
    writer.add_add_eos_token(False)
    if turn_id is not None:
        writer.add_eot_token_id(turn_id)
    if chat_template is not None:
        writer.add_chat_template(chat_template)


# ---- tensors ------------------------------------------------------------------------------
def interleave_rope_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Reorder the rows of a q or k projection (n_heads·head_dim, d) from rotate-half RoPE
    (pairs i, i + hd/2) to interleaved RoPE (pairs 2j, 2j+1): within each head, row j goes
    to 2j and row j + hd/2 to 2j + 1."""
    rows = w.shape[0]
    half = rows // n_heads // 2
    return w.reshape(n_heads, 2, half, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tensors(state_dict: dict, cfg: ModelConfig):
    """(llama.cpp name, float32 NumPy array) for every tensor of the file, in file order.

    Checks names, shapes and values against `cfg`, so a mismatched or diverged state dict
    is a one-line error rather than a file no loader accepts.
    """
    d, f, v = cfg.d_model, cfg.ffn_hidden, cfg.vocab_size
    shapes = {
        "input_layernorm.weight": (d,), "post_attention_layernorm.weight": (d,),
        "self_attn.q_proj.weight": (d, d), "self_attn.k_proj.weight": (d, d),
        "self_attn.v_proj.weight": (d, d), "self_attn.o_proj.weight": (d, d),
        "mlp.gate_proj.weight": (f, d), "mlp.up_proj.weight": (f, d),
        "mlp.down_proj.weight": (d, f),
    }
    yield "token_embd.weight", _array(state_dict, "embed_tokens.weight", (v, d))
    for i in range(cfg.n_layers):
        for ours, theirs in _LAYER_NAMES.items():
            w = _array(state_dict, f"layers.{i}.{ours}", shapes[ours])
            if ours in _ROPE_ROWS:
                w = interleave_rope_rows(w, cfg.n_heads)
            yield f"blk.{i}.{theirs}", w
    yield "output_norm.weight", _array(state_dict, "norm.weight", (d,))
    if not cfg.tie_embeddings:
        yield "output.weight", _array(state_dict, "lm_head.weight", (v, d))


def _array(state_dict: dict, key: str, shape: tuple[int, ...]) -> np.ndarray:
    value = state_dict.get(key)
    if value is None or tuple(value.shape) != shape:
        got = "missing" if value is None else f"shape {tuple(value.shape)}"
        raise UserError(
            f"the weights do not fit config.json ({key}: {got}, expected {shape}); "
            "restore the matching config.json and weights"
        )
    array = value.detach().to("cpu").float().numpy()
    if not np.isfinite(array).all():
        raise UserError(
            f"the weights contain NaN or infinity ({key}): training diverged; restore an "
            "earlier checkpoint or retrain with a lower learning rate"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def _encode(array: np.ndarray, quant: str):
    """(data, GGML type) for one tensor: vectors float32, matrices f16 or Q8_0."""
    import gguf
    from gguf.quants import quantize

    if array.ndim == 1:
        return array, gguf.GGMLQuantizationType.F32
    if quant == "q8_0" and array.shape[-1] % Q8_BLOCK == 0:
        qtype = gguf.GGMLQuantizationType.Q8_0
        return quantize(array, qtype), qtype
    half = array.astype(np.float16)
    if not np.isfinite(half).all():
        raise UserError(
            "a weight is too large for 16-bit floats; export with --quant q8_0, whose "
            "blocks are scaled"
        )
    return half, gguf.GGMLQuantizationType.F16


# ---- the file -----------------------------------------------------------------------------
def _check_out(out: Path) -> None:
    if out.is_dir():
        raise UserError(f"{out} is a folder; give a file path such as {out / 'model.gguf'}")
    if out.is_symlink() or (out.exists() and not out.is_file()):
        raise UserError(f"{out} exists and is not a regular file; choose another path")
    if not out.parent.is_dir():
        raise UserError(f"folder {out.parent} does not exist; create it or choose another path")


def _write_atomically(writer, out: Path) -> None:
    """Write to a new file beside `out` (created exclusively, with the usual mode), fsync
    it, and rename it over `out`: readers see the old file or the whole new one."""
    tmp = out.parent / f".{out.name}.{secrets.token_hex(6)}.tmp"
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise _cannot_write(out, exc) from None
    try:
        writer.write_header_to_file(tmp)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, out)
    except OSError as exc:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise _cannot_write(out, exc) from None
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(out.parent)


def _cannot_write(out: Path, exc: OSError) -> UserError:
    why = exc.strerror or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        return UserError(f"cannot write {out}: the disk is full; free some space or choose "
                         "another folder")
    return UserError(f"cannot write {out} ({why}); choose a folder you can write to")


__all__ = ["QUANTS", "export_gguf", "gguf_tensors", "interleave_rope_rows"]
