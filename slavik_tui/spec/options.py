"""What a user may ask of a training run: every `train` flag, its default, help and check.

`TrainOptions` is the one source of the training flags. Each field carries its flag's metadata
(help, metavar, the form's label, its plan default, its rule), and everything else is derived
from it: the command line's `train` options (cli), the detached trainer's argv
(`options_argv`), the training form's fields and its command preview (ui), and the README's
list (a test checks they agree). Pure Python (no torch), so the app's form checks values by the
trainer's own rules and words without importing torch.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from typing import Any, Callable

from slavik_tui.errors import UserError
from slavik_tui.spec.numbers import parse_number, parse_whole

DEFAULT_ITERS = 1000
# engine/reward's DEFAULT_SPEC (spec/ may not import the engine; tests/engine/test_reward.py
# keeps them equal)
DEFAULT_REWARD = "chrf:1,ngram:1,bigrams:1,repetition:0.5"
DTYPES = ("auto", "fp32", "bf16")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICES_HINT = "auto, cpu, cuda, cuda:N or mps"


# ---- rules: a value → what is wrong with it (None when fine) -------------------------------
def _positive(v: int) -> str | None:
    return None if v > 0 else f"must be a positive whole number, got {v}"


def _not_negative(v: float) -> str | None:
    return None if v >= 0 else f"must be 0 or more, got {v}"


def _lr(v: float) -> str | None:
    return None if 0 < v < 10 else f"must be a positive number like 6e-4, got {v}"


def _share(v: float) -> str | None:
    return None if 0 <= v <= 1 else f"must be between 0 and 1, got {v}"


def _clip(v: float) -> str | None:
    return None if v >= 0 else f"must be 0 (off) or positive, got {v}"


def _dtype(v: str) -> str | None:
    return None if v in DTYPES else f"must be auto, fp32 or bf16, got {v!r}"


def _device(v: str) -> str | None:
    return None if _DEVICE.match(v) else f"must be {DEVICES_HINT}, got {v!r}"


def _port(v: int) -> str | None:
    return None if 0 < v < 65536 else f"must be a port from 1 to 65535, got {v}"


def _option(default: Any, help: str, kind: str, *, metavar: str | None = None,
            label: str | None = None, plan: Any = None, rule: Callable | None = None,
            example: str = "") -> Any:
    """A TrainOptions field with its flag's metadata (see `Flag` for what each part means)."""
    meta = {"flag": dict(help=help, kind=kind, metavar=metavar, label=label, plan_default=plan,
                         rule=rule, example=example)}
    if kind == "list":
        return field(default_factory=list, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainOptions:
    """What a user may set. None means "continue the saved plan, else the plan default"."""

    iters: int | None = _option(
        None, f"new steps to run (default: finish an unfinished run, else {DEFAULT_ITERS})",
        "int", metavar="N", label="iters", rule=_positive)
    batch_size: int | None = _option(None, "sequences per step", "int", metavar="B",
                                     label="batch size", plan=8, rule=_positive)
    grad_accum: int | None = _option(None, "micro-batches summed into one step", "int",
                                     metavar="N", plan=1, rule=_positive)
    lr: float | None = _option(None, "peak learning rate", "float", metavar="LR", label="lr",
                               plan=6e-4, rule=_lr, example="6e-4")
    min_lr_ratio: float | None = _option(None, "cosine floor as a share of --lr", "float",
                                         metavar="R", plan=0.1, rule=_share, example="0.1")
    warmup: int | None = _option(None, "warm-up steps (default: min(100, iters / 10))", "int",
                                 metavar="N", rule=_not_negative)
    weight_decay: float | None = _option(None, "AdamW weight decay of 2-D weights", "float",
                                         metavar="WD", plan=0.1, rule=_not_negative,
                                         example="0.1")
    grad_clip: float | None = _option(None, "gradient-norm clip, 0 turns it off", "float",
                                      metavar="C", plan=1.0, rule=_clip, example="1.0")
    eval_every: int | None = _option(None, "steps between evaluations", "int", metavar="K",
                                     label="eval every", plan=50, rule=_positive)
    save_every: int | None = _option(None, "steps between checkpoints", "int", metavar="K",
                                     label="save every", plan=100, rule=_positive)
    eval_batches: int | None = _option(None, "batches per evaluation", "int", metavar="N",
                                       plan=8, rule=_positive)
    seed: int | None = _option(None, "random seed", "int", metavar="S", label="seed",
                               plan=1337, rule=_not_negative)
    device: str = _option("auto", f"where to train: {DEVICES_HINT}", "str", metavar="D",
                          label="device", rule=_device)
    dtype: str = _option("auto", "precision: auto (bf16 where fast), fp32 or bf16", "str",
                         metavar="|".join(DTYPES), rule=_dtype)
    compile: bool = _option(False, "torch.compile the model (default: on CUDA, and for bf16 "
                            "CPU runs of 300+ steps of a model of 2M+ params)", "bool")
    no_compile: bool = _option(False, "never torch.compile (not even by default)", "bool")
    reward: str = _option(DEFAULT_REWARD, "reward spec scored at each eval: NAME[:WEIGHT],... "
                          "of chrf, prefix, repetition, length, ngram, bigrams, vocab or "
                          "module:function", "str", metavar="SPEC")
    data: list[str] = _option(None, "add a dataset before training (repeat for several; "
                              "the tokenizer is kept)", "list", metavar="FILE", label="add data")
    encoding: str | None = _option(None, "text encoding of legacy --data files, e.g. cp1251",
                                   "str", metavar="ENC")
    column: str | None = _option(None, "JSONL field / CSV column with the text (default text)",
                                 "str", metavar="COL")
    log_every: int = _option(10, "steps between progress lines", "int", metavar="N",
                             rule=_positive)
    threads: int | None = _option(None, "CPU threads (default: chosen from the free cores; "
                                  "OMP_NUM_THREADS is honoured)", "int", metavar="N",
                                  rule=_positive)
    reset_optimizer: bool = _option(False, "continue from the saved weights with a fresh "
                                    "optimizer (when trainer_state.pt is lost or damaged)",
                                    "bool")
    # ---- the launch (torchrun); never passed on to the ranks themselves ----
    nproc: int = _option(1, "processes on this machine: one per GPU on CUDA, N gloo "
                         "processes on CPU (started by torchrun)", "int", metavar="N",
                         rule=_positive)
    nnodes: int = _option(1, "machines in the run (each starts the same command with its "
                          "--node-rank)", "int", metavar="K", rule=_positive)
    node_rank: int = _option(0, "this machine's number, 0 to K-1 (0 writes the model)", "int",
                             metavar="R", rule=_not_negative)
    master_addr: str | None = _option(None, "host of node 0 (with --nnodes K > 1)", "str",
                                      metavar="HOST")
    master_port: int | None = _option(None, "port on node 0 (default 29500)", "int",
                                      metavar="P", rule=_port)
    rdzv_endpoint: str | None = _option(None, "HOST:PORT of a c10d rendezvous, instead of "
                                        "--master-addr/--node-rank", "str",
                                        metavar="HOST:PORT")

    def validate(self) -> None:
        """UserError (with `field` set) for the first value the trainer would refuse."""
        for flag in flags_of(type(self)):
            flag.check(getattr(self, flag.key))

    @property
    def launched(self) -> bool:
        """Whether these options ask for torchrun (several processes or machines)."""
        return self.nproc > 1 or self.nnodes > 1


LAUNCH_KEYS = ("nproc", "nnodes", "node_rank", "master_addr", "master_port", "rdzv_endpoint")


def check_launch(opts) -> None:
    """The launch flags make one torchrun job: several machines need node 0's address.
    (Checked where a launch is built, `runs.detached.launch_command`: each flag alone is valid.)"""
    if opts.node_rank >= opts.nnodes:
        raise UserError(f"--node-rank {opts.node_rank} must be below --nnodes {opts.nnodes} "
                        f"(0 to {opts.nnodes - 1})", field="node_rank")
    if opts.rdzv_endpoint is not None and not re.match(r"^[\w.\-\[\]:]+:\d+$",
                                                         opts.rdzv_endpoint):
        raise UserError(f"--rdzv-endpoint must be HOST:PORT, got {opts.rdzv_endpoint!r}",
                        field="rdzv_endpoint")
    if opts.nnodes > 1 and not (opts.master_addr or opts.rdzv_endpoint):
        raise UserError(f"--nnodes {opts.nnodes} needs the address of node 0: add "
                        "--master-addr HOST (and the same --master-port on every node), or "
                        "--rdzv-endpoint HOST:PORT", field="master_addr")


@dataclass(frozen=True)
class Flag:
    """One `train` flag, derived from a TrainOptions field."""

    key: str  # the TrainOptions field (and the form input's id, "tf-<key>")
    kind: str  # "int" | "float" | "str" | "bool" (a switch) | "list" (a repeatable flag)
    default: Any  # the field's default: the value when the flag is not given
    help: str
    metavar: str | None
    label: str | None  # the training form's label; None: command line only
    plan_default: Any  # what None means in a new plan (the trainer's PLAN_DEFAULTS)
    rule: Callable[[Any], str | None] | None
    example: str  # a valid value, shown when a number does not parse

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def help_text(self) -> str:
        """The help with the default spelled out (the `--help` line and the README's)."""
        shown = self.plan_default if self.plan_default is not None else self.default
        if self.kind in ("bool", "list") or shown is None or "default" in self.help:
            return self.help
        return f"{self.help} (default {shown:g})" if isinstance(shown, float) else (
            f"{self.help} (default {shown})")

    def parse(self, text: str) -> Any:
        """The value of this flag as typed (on the command line or into the form)."""
        if self.kind == "int":
            return parse_whole(text, self.flag, field=self.key)
        if self.kind == "float":
            return parse_number(text, self.flag, self.example, field=self.key)
        return text

    def check(self, value: Any) -> None:
        """UserError naming the flag (and `field` = key) when the trainer would refuse `value`."""
        if value is None or self.rule is None:
            return
        if self.kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            problem: str | None = f"must be a whole number, got {value!r}"
        elif self.kind == "float" and (not isinstance(value, (int, float))
                                       or isinstance(value, bool)):
            problem = f"must be a number, got {value!r}"
        else:
            problem = self.rule(value)
        if problem:
            raise UserError(f"{self.flag} {problem}", field=self.key)

    def words(self, value: Any) -> list[str]:
        """The argv that gives `value` ([] for the default, which needs no flag)."""
        if value == self.default:
            return []
        if self.kind == "bool":
            return [self.flag] if value else []
        if self.kind == "list":
            return [word for item in value for word in (self.flag, str(item))]
        return [self.flag, repr(value) if isinstance(value, float) else str(value)]


def _flag_of(f) -> Flag:
    default = [] if f.default is MISSING else f.default
    return Flag(key=f.name, default=default, **f.metadata["flag"])


@cache
def flags_of(cls: type) -> tuple[Flag, ...]:
    """The flags of an options class: TrainOptions, or a stage's subclass of it that adds its
    own fields (RL, SFT) with `_option` metadata."""
    return tuple(_flag_of(f) for f in fields(cls))


def plan_defaults(cls: type) -> dict[str, Any]:
    """What None means in a new plan of a stage whose options are `cls`."""
    return {f.key: f.plan_default for f in flags_of(cls) if f.plan_default is not None}


FLAGS: tuple[Flag, ...] = flags_of(TrainOptions)
FLAG = {f.key: f for f in FLAGS}
FORM_FLAGS: tuple[Flag, ...] = tuple(f for f in FLAGS if f.label)
PLAN_DEFAULTS = plan_defaults(TrainOptions)


def options_argv(opts: TrainOptions) -> list[str]:
    """The flags that give `opts` (the detached trainer's argv, the form's preview): parsing
    them gives `opts` back; a value at its default needs no flag and has none."""
    return [word for flag in flags_of(type(opts)) for word in flag.words(getattr(opts, flag.key))]


def check_device_name(name: str) -> None:
    """A device name the trainer understands (whether it exists is checked when training)."""
    FLAG["device"].check(name)
