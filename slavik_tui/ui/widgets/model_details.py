"""The details pane of the Models screen: where a model's megabytes and parameters come from.

Everything here is read from the model folder with the standard library (config.json,
datasets.json) — no torch — so moving the cursor through the table stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static



def read_datasets(model_dir: Path) -> list[dict]:
    """datasets.json (see docs/CONTRACTS.md); [] when missing or unreadable."""
    try:
        data = json.loads((Path(model_dir) / "datasets.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _mb(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} MB" if value < 10 else f"{value:.1f} MB"


def size_text(info: Any) -> Text:
    """The model's size: its checkpoint (weights + optimizer state), the figure of the size
    column and of the chart's size line."""
    if info.checkpoint_mb is None:
        return Text("no checkpoint yet (train it: weights + optimizer state)", style="dim")
    return Text.assemble(
        (_mb(info.checkpoint_mb), "bold"),
        f" checkpoint = weights {_mb(info.weights_mb)} + optimizer {_mb(info.optimizer_mb)}")


def beside_text(info: Any) -> str:
    """What else the folder holds (not part of the size): the history, the token caches, and
    the whole folder with the tokenizer, logs and charts."""
    return (f"history {_mb(info.history_mb)} · token caches {_mb(info.cache_mb)} · "
            f"whole folder {_mb(info.size_mb)}")


class ModelDetails(Static):
    """Size split, parameter formula, sizes by precision, datasets and trainer of one model."""

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._shown: Any = None  # the ModelInfo shown (None: the empty message)

    def show_empty(self, models_root: Path) -> None:
        self._shown = None
        self.update(Text.assemble(
            ("No models yet", "bold"), f" in {models_root}.\n\n",
            "Press ", ("n", "bold"), " to create one from your text files (.txt, .jsonl, .csv),\n"
            "or from a shell: ", ("slavik-tui new NAME --data FILE", "bold"),
        ))

    def show(self, info: Any) -> None:
        if info == self._shown:
            return
        self._shown = info
        self.update(self._render_info(info))

    def _render_info(self, info: Any):
        parts: list[Any] = []
        title = Text(info.name, style="bold")
        if getattr(info, "running_pid", None):
            title.append(f"  ▶ training now (pid {info.running_pid}) — t to watch",
                         style="bold green")
        elif info.trained:
            title.append("  trained", style="green")
        else:
            title.append("  not trained yet — t to train", style="yellow")
        parts.append(title)

        facts = Table.grid(padding=(0, 1))
        facts.add_column(style="dim", no_wrap=True)
        facts.add_column()
        facts.add_row("size", size_text(info))
        facts.add_row("beside it", Text(beside_text(info), style="dim"))
        cfg = info.config  # a ModelConfig: the listing skips a folder whose config is bad
        facts.add_row("parameters", Text(cfg.param_formula()))
        facts.add_row("", Text("V·d + L·(4·d² + 3·d·ffn + 2·d) + d", style="dim"))
        sizes = cfg.sizes_mb()
        facts.add_row("sizes", Text(
            f"fp32 {_mb(sizes['fp32'])} · bf16 {_mb(sizes['bf16'])} · "
            f"full checkpoint {_mb(sizes['checkpoint'])}"))
        facts.add_row("shape", Text(
            f"{cfg.n_heads} heads of {cfg.head_dim} · SwiGLU ffn {cfg.ffn_hidden} · "
            f"{'tied' if cfg.tie_embeddings else 'separate'} embedding / LM head"))
        steps = f"{info.steps:,}" if info.steps is not None else "-"
        loss = f"{info.last_loss:.4f}" if info.last_loss is not None else "-"
        facts.add_row("training", Text(f"{steps} steps · last loss {loss}"))
        parts.append(facts)

        datasets = read_datasets(Path(info.path))
        parts.append(Text(f"datasets ({len(datasets)})", style="dim"))
        if datasets:
            table = Table.grid(padding=(0, 1))
            table.add_column(no_wrap=True, overflow="ellipsis", max_width=28)
            table.add_column(justify="right", no_wrap=True)
            table.add_column(style="dim", no_wrap=True)
            for entry in datasets:
                tokens = entry.get("tokens")
                table.add_row(
                    Path(str(entry.get("path", "?"))).name,
                    f"{tokens:,} tokens" if isinstance(tokens, int) else "",
                    str(entry.get("added_at", ""))[:10],
                )
            parts.append(table)
        else:
            parts.append(Text("  none recorded", style="dim"))
        return Group(*parts)
