"""A reward spec: reward functions with weights, written `chrf:1,repetition:0.5`.

Each comma-separated term is `NAME` or `NAME:WEIGHT` (weight 1 when left out). NAME is a
built-in (engine/reward/functions.py) or `module:function` — the user's own function, imported
by name because they asked for it by name (`mypkg.rewards:fluency:0.5`; the module must be
importable: installed, or its folder on PYTHONPATH, since trainers start with `python -P`).
A term splits at its last colon only when what follows is a number, so `mod:fn` is a function
with weight 1 and `mod:fn:2` the same with weight 2.

Everything that can go wrong with a spec is a one-line `UserError(field="reward")` naming the
term and the fix: an unknown name, a bad weight, an object that is not a function of TRL's
signature, and — at `score` — a function that raises or returns the wrong number of scores or
a value that is not a finite number. `check()` runs every function once on a tiny input, so a
trainer can reject a broken spec before it records a run.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from slavik_tui.engine.reward.functions import BUILTIN
from slavik_tui.engine.reward.ngram import CharNgram
from slavik_tui.engine.reward.text import words
from slavik_tui.errors import UserError

# The default: chrF against the true continuation (is it the text that follows?), two
# reference-free terms — the corpus character n-gram plausibility (does it read like the
# corpus?) and its word pairs (are the words in an order the corpus uses?) — and the
# repetition penalty (a loop of a plausible phrase must not pay: RL's easiest trick). chrF
# alone ranks shuffled words (0.64) far above a trained model's own samples (0.15): they keep
# the reference's letters; ngram alone let shuffled words of a small play (Revizor) score
# 0.71. Range −0.5..3. bench/reward_lab.py, models of d 128 × 4 layers trained 1,150 steps,
# 32 held-out prompts, real / model / shuffled: Anna Karenina 2.65 / 2.08 / 1.45, Tiny
# Shakespeare 2.83 / 2.14 / 1.59, Revizor 2.63 / 2.06 / 1.69, Koziev QA 2.76 / 2.36 / 0.79
# (repeated ≤ 1.02, random ≤ 0.23). chrF keeps a third of the weight so that GRPO has
# something to raise once the text is fluent (the reference-free terms then sit near 1):
# with chrf at 0.2 of the weight, 150 RL steps moved the held-out reward by noise only.
DEFAULT_SPEC = "chrf:1,ngram:1,bigrams:1,repetition:0.5"

# Names of the old single-text API, so an old command line gets advice instead of "unknown".
RENAMED = {
    "corpus_words": "it is now called 'vocab' (e.g. --reward vocab)",
    "distinct": f"use 'repetition', its penalty form (e.g. --reward {DEFAULT_SPEC})",
}

# What each old name became, for `upgrade_legacy` (a saved plan or command line of before).
LEGACY = {"corpus_words": "vocab", "distinct": "repetition"}

RewardFn = Callable[..., list[float]]


def _error(message: str) -> UserError:
    return UserError(message, field="reward")


@dataclass(frozen=True)
class RewardTerm:
    """One function of a spec. `keywords` is None when `fn` takes **kwargs; else the names of
    the keyword arguments it accepts (the others are not passed, so a TRL function that names
    only what it uses still works)."""

    name: str
    weight: float
    fn: RewardFn
    keywords: frozenset[str] | None = None

    def __call__(self, completions: list[str], prompts: list[str], kwargs: dict) -> list[float]:
        kw = {"completions": completions, "prompts": prompts, **kwargs}
        if self.keywords is not None:
            kw = {k: v for k, v in kw.items() if k in self.keywords}
        return self.fn(**kw)  # by keyword, as TRL calls them


@dataclass(frozen=True)
class RewardScores:
    """Scores of one batch of completions: the weighted sum and each function's own."""

    total: list[float]
    functions: dict[str, list[float]]

    def summary(self) -> dict[str, float]:
        """Means for the history: reward, reward_std (population std), rewards/NAME."""
        total = np.asarray(self.total, dtype=np.float64)
        out = {"reward": float(total.mean()) if total.size else math.nan,
               "reward_std": float(total.std()) if total.size else math.nan}
        for name, values in self.functions.items():
            out[f"rewards/{name}"] = float(np.mean(values)) if values else math.nan
        return out


def _weight(name: str, text: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        weight = math.nan
    if not math.isfinite(weight) or weight <= 0:
        raise _error(
            f"reward '{name}' has weight '{text}', which is not a positive number; write it "
            f"as {name}:0.5 (or leave out ':WEIGHT' for 1)"
        )
    return weight


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split_term(term: str) -> tuple[str, float]:
    """(name, weight) of one term; `mod:fn` has no weight, `chrf:x` and `mod:fn:x` a bad one."""
    head, sep, tail = (part.strip() for part in term.rpartition(":"))
    if not sep:
        return term, 1.0
    if _is_number(tail) or head in BUILTIN or head in RENAMED or ":" in head:
        return head, _weight(head, tail)
    return term, 1.0  # module:function


def _signature_keywords(name: str, fn) -> frozenset[str] | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # some C callables have none: the first call decides
        return None
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        accepted = None
    else:
        accepted = frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                                   p.KEYWORD_ONLY))
    probe = {"completions": [], "prompts": [], "references": []}
    try:
        sig.bind(**{k: v for k, v in probe.items() if accepted is None or k in accepted})
    except TypeError as exc:
        raise _error(
            f"reward '{name}' cannot be called as fn(completions, prompts, **kwargs) ({exc}); "
            "give it TRL's signature: def fn(completions, prompts, **kwargs) -> list[float]"
        ) from None
    if accepted is not None and "completions" not in accepted:
        raise _error(
            f"reward '{name}' takes no 'completions' argument; give it TRL's signature: "
            "def fn(completions, prompts, **kwargs) -> list[float]"
        )
    return accepted


def load_function(name: str) -> RewardTerm:
    """A weight-1 term for `module:function` (dots allowed on both sides of the colon)."""
    module_name, _, attr = name.partition(":")
    if not module_name.strip() or not attr.strip():
        raise _error(
            f"reward '{name}' is not of the form module:function; e.g. mypkg.rewards:fluency"
        )
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise _error(
            f"cannot import module '{module_name}' for reward '{name}' ({exc}); install it or "
            "put its folder on PYTHONPATH"
        ) from None
    except Exception as exc:  # the user's module ran and failed
        raise _error(
            f"importing '{module_name}' for reward '{name}' failed ({type(exc).__name__}: "
            f"{exc}); fix the module"
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise _error(
                f"module '{module_name}' has no '{attr}'; check the name in reward '{name}'"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise _error(f"reward '{name}' is a {type(obj).__name__}, not a function; name a function")
    return RewardTerm(name, 1.0, obj, _signature_keywords(name, obj))


def _resolve(name: str, weight: float) -> RewardTerm:
    if name in BUILTIN:
        return RewardTerm(name, weight, BUILTIN[name])
    if name in RENAMED:
        raise _error(f"reward '{name}' is gone: {RENAMED[name]}")
    if ":" in name:
        term = load_function(name)
        return RewardTerm(term.name, weight, term.fn, term.keywords)
    near = difflib.get_close_matches(name, list(BUILTIN), n=1)
    hint = f"did you mean '{near[0]}'? " if near else ""
    raise _error(
        f"unknown reward '{name}'; {hint}use {', '.join(BUILTIN)} or module:function, "
        f"e.g. --reward {DEFAULT_SPEC}"
    )


def upgrade_legacy(text: str) -> tuple[str, str | None]:
    """A spec that may name the old single-text rewards (`corpus_words`, `distinct`, with or
    without a weight) in today's names, and a one-line note saying what changed (None when
    nothing did). `distinct` was 1 − the repeated share, `repetition` is minus it: the same
    ranking, shifted by 1. Anything else is left for `parse` to judge."""
    if not isinstance(text, str):
        return text, None
    terms, changed = [], []
    for raw in text.split(","):
        term = raw.strip()
        name, sep, weight = term.partition(":")
        if name.strip() in LEGACY:
            new = LEGACY[name.strip()]
            changed.append(f"'{name.strip()}' is now '{new}'")
            term = new + sep + weight
        terms.append(term)
    if not changed:
        return text, None
    upgraded = ",".join(terms)
    return upgraded, f"reward {', '.join(changed)}: scoring with --reward {upgraded}"


# A tiny input for check(): a perfect completion and an empty one (functions that divide by
# the completion's length fail here rather than in the middle of a run).
_CHECK_PROMPTS = ["Утром кошка ", "The old man "]
_CHECK_REFERENCES = ["тихо видит дом и сад.", "sees the sea."]
_CHECK_COMPLETIONS = ["тихо видит дом и сад.", ""]


@dataclass(frozen=True)
class RewardSpec:
    """Weighted reward functions; `str(spec)` is the canonical text (`chrf:1,repetition:0.5`)."""

    terms: tuple[RewardTerm, ...]

    @classmethod
    def parse(cls, text: str = DEFAULT_SPEC) -> RewardSpec:
        if not isinstance(text, str) or not text.strip():
            raise _error(f"the reward spec is empty; use e.g. --reward {DEFAULT_SPEC}")
        terms: list[RewardTerm] = []
        for raw in text.split(","):
            if not raw.strip():
                raise _error(
                    f"the reward spec '{text}' has an empty term; separate terms with single "
                    f"commas, e.g. {DEFAULT_SPEC}"
                )
            name, weight = _split_term(raw.strip())
            if not name:
                raise _error(f"a term of the reward spec '{text}' has no name; e.g. {DEFAULT_SPEC}")
            if any(t.name == name for t in terms):
                raise _error(
                    f"reward '{name}' appears twice in '{text}'; list it once with one weight"
                )
            terms.append(_resolve(name, weight))
        return cls(tuple(terms))

    def __str__(self) -> str:
        return ",".join(f"{t.name}:{t.weight:g}" for t in self.terms)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.terms]

    def score(self, completions: list[str], prompts: list[str], references: list[str],
              **ctx) -> RewardScores:
        """Each function on the batch; total[i] = Σ weight × score. `ctx` (e.g. corpus_words)
        reaches every function as keyword arguments beside `references`."""
        n = len(completions)
        if len(prompts) != n or len(references) != n:
            raise ValueError(
                f"{n} completions, {len(prompts)} prompts, {len(references)} references"
            )
        completions, prompts, references = list(completions), list(prompts), list(references)
        kwargs = {"references": references, **ctx}
        functions = {t.name: _run(t, completions, prompts, kwargs) for t in self.terms}
        total = [math.fsum(t.weight * functions[t.name][i] for t in self.terms) for i in range(n)]
        return RewardScores(total, functions)

    def check(self, **ctx) -> RewardScores:
        """Run every function once on a tiny input (with `ctx`; the tiny input's words and its
        n-gram model stand in for corpus_words and corpus_ngram unless given); a broken one
        raises its one-line UserError here."""
        ctx.setdefault("corpus_words", {w for r in _CHECK_REFERENCES for w in words(r)})
        if "corpus_ngram" not in ctx:
            ctx["corpus_ngram"] = CharNgram.fit(_CHECK_REFERENCES, _CHECK_PROMPTS, order=3)
        return self.score(list(_CHECK_COMPLETIONS), list(_CHECK_PROMPTS),
                          list(_CHECK_REFERENCES), **ctx)


def _run(term: RewardTerm, completions: list[str], prompts: list[str], kwargs: dict) -> list[float]:
    """The term's scores, checked: one finite number per completion."""
    n = len(completions)
    try:
        values = term(completions, prompts, kwargs)
    except UserError as exc:
        if exc.field is None:
            exc.field = "reward"
        raise
    except Exception as exc:  # the function's own bug: name it, keep the line short
        detail = " ".join(str(exc).split())[:160]
        raise _error(
            f"reward '{term.name}' failed on {n} completions ({type(exc).__name__}: {detail}); "
            "fix the function or drop it from --reward"
        ) from None
    fix = "make it return one finite float per completion"
    try:
        values = list(values)
    except TypeError:
        raise _error(
            f"reward '{term.name}' returned a {type(values).__name__}, not a list of numbers; {fix}"
        ) from None
    if len(values) != n:
        raise _error(
            f"reward '{term.name}' returned {len(values)} scores for {n} completions; {fix}"
        )
    out = []
    for i, v in enumerate(values):
        try:
            x = float(v)
        except (TypeError, ValueError):
            x = math.nan
        if isinstance(v, (str, bytes)) or not math.isfinite(x):
            raise _error(f"reward '{term.name}' returned {v!r} for completion {i + 1}; {fix}")
        out.append(x)
    return out
