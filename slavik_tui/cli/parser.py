"""The command line's grammar: every sub-command and flag.

The `train` flags come from `TrainOptions`' metadata (spec/options.py) and the `new` flags from
`ModelConfig`'s (spec/config.py), so the parser, the app's training form, the detached trainer's
argv and the README cannot drift apart. Numbers are parsed by spec/numbers.py, the parser the
forms use, so a mistyped number reads the same everywhere.
"""

from __future__ import annotations

import argparse

from slavik_tui import __version__
from slavik_tui.errors import UserError
from slavik_tui.spec.config import NEW_FLAGS, ModelConfig
from slavik_tui.spec.numbers import parse_number, parse_whole
from slavik_tui.spec.options import DEFAULT_REWARD, TrainOptions, flags_of
from slavik_tui.spec.sft_options import SFTOptions
from slavik_tui.spec.rl_options import RLOptions

PROG = "slavik-tui"
EXPORT_FORMATS = ("weights", "bf16", "hf", "gguf")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit 2), not a usage dump."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _whole(flag: str):
    return lambda text: parse_whole(text, flag)


def _number(flag: str):
    return lambda text: parse_number(text, flag)


def add_train_flags(parser: argparse.ArgumentParser, cls: type = TrainOptions) -> None:
    """One argument per field of `cls` (TrainOptions or a stage's subclass), as its metadata
    says."""
    for flag in flags_of(cls):
        common = dict(dest=flag.key, default=flag.default, help=flag.help_text)
        if flag.kind == "bool":
            parser.add_argument(flag.flag, action="store_true", **common)
        elif flag.kind == "list":
            parser.add_argument(flag.flag, action="append", metavar=flag.metavar, **common)
        else:
            parser.add_argument(flag.flag, type=flag.parse, metavar=flag.metavar, **common)


def train_options(args: argparse.Namespace, cls: type = TrainOptions) -> TrainOptions:
    """The parsed flags as `cls` options (checked by the trainer's rules)."""
    opts = cls(**{flag.key: getattr(args, flag.key) for flag in flags_of(cls)})
    opts.validate()
    return opts


def add_stage_parser(sub, common: argparse.ArgumentParser, command: str, help_text: str,
                     cls: type) -> None:
    """`train`, `sft`, `rl`: NAME, the stage's options' flags, --detach and --dry-run."""
    p = sub.add_parser(command, parents=[common], help=help_text)
    p.add_argument("name")
    add_train_flags(p, cls)
    p.add_argument("--detach", action="store_true",
                   help="run in the background, surviving the terminal; prints the run id")
    p.add_argument("--dry-run", action="store_true",
                   help="print the command that would run (torchrun with --nproc/--nnodes)")


def add_sampling_flags(parser: argparse.ArgumentParser, seed_help: str | None = None) -> None:
    """How `generate` and `chat` sample: length, temperature, top-k/top-p, penalty, seed, device."""
    parser.add_argument("--max-tokens", type=_whole("--max-tokens"), default=200)
    parser.add_argument("--temperature", type=_number("--temperature"), default=0.8)
    parser.add_argument("--top-k", type=_whole("--top-k"), default=50)
    parser.add_argument("--top-p", type=_number("--top-p"), default=0.95)
    parser.add_argument("--repetition-penalty", type=_number("--repetition-penalty"),
                        default=1.0)
    parser.add_argument("--seed", type=_whole("--seed"), help=seed_help)
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), auto, cuda, cuda:N or mps")
    parser.add_argument("--quantize", choices=("auto", "none", "int8"), default="auto",
                        help="decode with int8 weights: auto (on a CPU; ~2x faster, bits/byte "
                             "within 0.1%%), none (the model's own weights), int8")


def new_config(args: argparse.Namespace) -> ModelConfig:
    """The parsed `new` flags as a ModelConfig; errors name the flags."""
    return ModelConfig.checked(NEW_FLAGS, **{key: getattr(args, key) for key in NEW_FLAGS})


def build_parser() -> argparse.ArgumentParser:
    common = OneLineParser(add_help=False)
    common.add_argument("--models-dir", default=argparse.SUPPRESS, metavar="DIR",
                        help="models workspace (default: $SLAVIK_MODELS_DIR, else ./models)")

    parser = OneLineParser(
        prog=PROG, parents=[common],
        description="Train small GPT-style language models on your own text, watch them learn, "
                    "talk to them. Without a command, opens the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)

    p = sub.add_parser("new", parents=[common], help="create a model from text files")
    p.add_argument("name")
    p.add_argument("--data", action="append", required=True, metavar="FILE",
                   help="a .txt, .jsonl or .csv file (repeat for several)")
    defaults = ModelConfig()
    for key, flag in NEW_FLAGS.items():
        p.add_argument(flag, dest=key, type=_whole(flag), default=getattr(defaults, key),
                       metavar="N", help=f"{key} (default {getattr(defaults, key)})")
    p.add_argument("--encoding", metavar="ENC", help="text encoding of legacy files, e.g. cp1251")
    p.add_argument("--column", metavar="COL",
                   help="JSONL field / CSV column with the text (default: text)")

    add_stage_parser(sub, common, "train", "train (or resume) a model", TrainOptions)

    add_stage_parser(sub, common, "rl",
                     "raise a trained model's reward with GRPO (or resume that run)", RLOptions)

    p = sub.add_parser("stop", parents=[common], help="stop a model's training gracefully")
    p.add_argument("name")

    p = sub.add_parser("generate", parents=[common], help="stream text from a model")
    p.add_argument("name")
    p.add_argument("prompt")
    add_sampling_flags(p)
    p.add_argument("--stats", action="store_true",
                   help="print prompt and new tokens, time to first token and tok/s on stderr")

    add_stage_parser(sub, common, "sft", "fine-tune a model on dialogues (or resume that run)",
                     SFTOptions)

    p = sub.add_parser("chat", parents=[common],
                       help="talk to a model (one reply per line when stdin is a pipe)")
    p.add_argument("name")
    p.add_argument("--system", metavar="TEXT", help="a system prompt that opens the conversation")
    add_sampling_flags(p, seed_help="reply i samples with seed S + i")

    p = sub.add_parser("reward", parents=[common],
                       help="the reward lab: score real, model, damaged text with a spec")
    p.add_argument("name")
    p.add_argument("--reward", default=DEFAULT_REWARD, metavar="SPEC",
                   help="reward spec: NAME[:WEIGHT],... of chrf, prefix, repetition, length, "
                        f"ngram, bigrams, vocab or module:function (default {DEFAULT_REWARD})")
    p.add_argument("--samples", type=_whole("--samples"), default=16, metavar="N",
                   help="held-out prompts to score (default 16)")
    p.add_argument("--seed", type=_whole("--seed"), default=0, metavar="S")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N or mps")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("models", parents=[common], help="list models (damaged ones on stderr)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("runs", parents=[common], help="list a model's runs, export one as CSV")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv", nargs=2, metavar=("RUN_ID", "OUT.csv"))
    p.add_argument("--force", action="store_true", help="replace OUT.csv if it exists")

    p = sub.add_parser("export", parents=[common],
                       help="export weights (safetensors / HF / GGUF for llama.cpp)")
    p.add_argument("name")
    p.add_argument("out")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--quant", default="f16", choices=("f16", "q8_0"),
                   help="GGUF tensor type: f16 (default) or q8_0 (about half the size)")
    p.add_argument("--force", action="store_true", help="replace OUT if it is an existing file")

    p = sub.add_parser("report", parents=[common],
                       help="a run's report as Markdown (with --out: FILE.md + its chart FILE.svg)")
    p.add_argument("name")
    p.add_argument("--run", metavar="ID", help="the run (default: the latest)")
    p.add_argument("--out", metavar="FILE.md", help="write the report and its chart beside it "
                   "(default: print the Markdown)")
    p.add_argument("--force", action="store_true", help="replace FILE.md / FILE.svg if they exist")

    p = sub.add_parser("delete", parents=[common], help="delete a model and all its files")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")

    p = sub.add_parser("rename", parents=[common], help="rename a model")
    p.add_argument("old")
    p.add_argument("new")

    p = sub.add_parser("watch", parents=[common], help="open the app on a model's training chart")
    p.add_argument("name")
    return parser
