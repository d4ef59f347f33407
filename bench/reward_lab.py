"""Does a reward spec rank real text above damaged text? The reward lab, by hand.

    python bench/reward_lab.py MODEL_DIR [--reward SPEC ...] [--samples 16] [--seed 0]
    python bench/reward_lab.py --texts [--reward SPEC ...] [--samples 64] [--seed 0]
    python bench/reward_lab.py --train [FILE ...] [--iters 400] [--reward SPEC ...] [--out DIR]

With a model folder: loads it (trains nothing) and prints the lab's table — real, model,
shuffled, repeated, random — on its held-out prompts (engine/reward_lab.py).

With `--texts`: no model. For each text in ../shared/data, the last 10% is held out; a
byte-level BPE tokenizer (vocab 4000), the `ngram` reward's character model and the `bigrams`
reward's word pairs are built on the rest (both calibrated on the held-out part), the
held-out part is cut into
`--samples` evenly spaced windows of 257 tokens (the seed config's context 256 + 1), and each
window gives a 16-token prompt and its 32-token reference. The lab scores real, shuffled,
repeated and random text of those pairs with each `--reward` spec (default: the default spec,
chrF, ngram and bigrams alone and the old `vocab`), and prints the table and the margin real − best
of the bad kinds per text.

With `--train`: for each FILE (default: every text in ../shared/data) a small model — d_model
128, 4 layers, 4 heads, vocab 2000, context 128 — is created in a temporary folder and trained
`--iters` steps with the engine's own `create_model` and `train`, then the lab runs on it with
each spec (`--samples` prompts, default 64), so the `model` column shows where a trained
model's samples fall. A few minutes per text on two idle cores; the time is printed, not
asserted. The last lines summarise, per spec and text: real, model, and the best bad kind.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slavik_tui.engine import reward_lab  # noqa: E402
from slavik_tui.engine.data import read_documents, words_in  # noqa: E402
from slavik_tui.engine.reward import DEFAULT_SPEC, CharNgram, WordPairs, text_pairs  # noqa: E402
from slavik_tui.engine.tokenizer import Tokenizer  # noqa: E402
from slavik_tui.errors import UserError  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
WINDOW = 257
NGRAM_CHARS = 2_000_000
SMALL = dict(vocab_size=2000, context=128, d_model=128, n_layers=4, n_heads=4)


def shared_texts() -> list[Path]:
    files = sorted(p for p in DATA.glob("*.txt")) if DATA.is_dir() else []
    if not files:
        sys.exit(f"no texts in {DATA}: this mode reads ../shared/data")
    return files


def spans(text: str, max_chars: int, span: int = 8192) -> list[str]:
    """All of `text`, or evenly spaced spans of it adding up to about `max_chars`."""
    if len(text) <= max_chars:
        return [text]
    starts = np.linspace(0, len(text) - span, num=max_chars // span).round().astype(int)
    return [text[s : s + span] for s in starts]


def held_out_pairs(path: Path, samples: int):
    text = "\n".join(read_documents(path))
    cut = int(len(text) * 0.9)
    train, held = text[:cut], text[cut:]
    tokenizer = Tokenizer.train([train], vocab_size=4000)
    ids = tokenizer.encode(held)
    starts = np.linspace(0, len(ids) - WINDOW, num=samples).round().astype(int)
    windows = [ids[s : s + WINDOW] for s in starts]
    ctx = {"corpus_words": words_in(train),
           "corpus_ngram": CharNgram.fit(spans(train, NGRAM_CHARS), [held]),
           "corpus_pairs": WordPairs.fit(spans(train, NGRAM_CHARS), [held])}
    return text_pairs(windows, tokenizer, 16, 32), tokenizer, ctx


def print_margins(margins: dict[str, dict[str, float]], names: list[str]) -> None:
    width = max(len(s) for s in margins) + 2
    print("margin real − best of shuffled / repeated / random")
    print(" " * width + "".join(n.removesuffix(".txt")[:14].rjust(16) for n in names))
    for spec, row in margins.items():
        print(spec.ljust(width) + "".join(f"{row[n]:16.3f}" for n in names))


def run_texts(specs: list[str], samples: int, seed: int) -> None:
    files = shared_texts()
    margins: dict[str, dict[str, float]] = {}
    for path in files:
        pairs, tokenizer, ctx = held_out_pairs(path, samples)
        for spec in specs:
            result = reward_lab.lab(spec, pairs, tokenizer, seed=seed, **ctx)
            print(f"== {path.name}")
            print(reward_lab.format_table(result), end="\n\n")
            margins.setdefault(result["reward"], {})[path.name] = reward_lab.margin(result)
    print_margins(margins, [p.name for p in files])


def train_small(path: Path, root: Path, iters: int) -> Path:
    from slavik_tui.engine.create import create_model
    from slavik_tui.engine.trainer import TrainOptions, train
    from slavik_tui.spec.config import ModelConfig
    from slavik_tui.store.workspace import Workspace

    models = root / "models"
    models.mkdir(parents=True, exist_ok=True)
    name = path.stem.replace("_", "-")[:40]
    model_dir = create_model(Workspace(models), name, [str(path)], ModelConfig(**SMALL),
                             report=lambda line: None)
    train(model_dir, TrainOptions(iters=iters, lr=2e-3, batch_size=16, eval_every=iters,
                                  save_every=iters), report=lambda line: None)
    return model_dir


def excess_nats(model_dir: Path, samples: int, seed: int) -> str:
    """H − H_ref of each kind under the model's `ngram` character model, nats per character:
    the raw numbers `ngram` maps to exp(−max(0, ·) / scale)."""
    from slavik_tui.engine.checkpoint import load_model
    from slavik_tui.engine.data import TokenData
    from slavik_tui.engine.reward import corpus_context, held_out_pairs

    model, tokenizer, cfg = load_model(model_dir)
    data = TokenData(model_dir, context=cfg.context)
    lm = corpus_context(model_dir, data, reward_lab.RewardSpec.parse("ngram"))["corpus_ngram"]
    pairs = [p for p in held_out_pairs(data, tokenizer, samples) if p.reference.strip()]
    texts = reward_lab.kind_texts(pairs, tokenizer, seed, model)
    prompts = [p.prompt for p in pairs]
    row = {k: np.nanmean(lm.cross_entropy(t, prompts)) - lm.reference_nats
           for k, t in texts.items()}
    return (f"{lm}; H − H_ref, nats/char: "
            + "  ".join(f"{k} {v:+.2f}" for k, v in row.items()))


def run_train(files: list[Path], specs: list[str], iters: int, samples: int, seed: int,
              out: Path | None) -> None:
    summary: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="reward-lab-") as tmp:
        for path in files:
            t0 = time.perf_counter()
            model_dir = train_small(path, out or Path(tmp), iters)
            took = time.perf_counter() - t0
            print(f"== {path.name}: {SMALL}, {iters} steps in {took:.0f} s")
            print(excess_nats(model_dir, samples, seed))
            for spec in specs:
                result = reward_lab.run_lab(model_dir, spec, samples=samples, seed=seed)
                print(reward_lab.format_table(result), end="\n\n")
                summary.setdefault(result["reward"], {})[path.name] = result["scores"]
    print("real / model / best bad kind (real > model > bad wanted)")
    for spec, rows in summary.items():
        print(spec)
        for name, s in rows.items():
            bad = max(s[k] for k in reward_lab.BAD_KINDS)
            which = max(reward_lab.BAD_KINDS, key=lambda k: s[k])
            ok = "ok" if s["real"] > s["model"] > bad else "NOT ORDERED"
            print(f"  {name:24s} {s['real']:7.3f} {s['model']:7.3f} {bad:7.3f} ({which}) {ok}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", nargs="?", help="a model folder (trained)")
    ap.add_argument("--texts", action="store_true", help="score ../shared/data's texts, no model")
    ap.add_argument("--train", nargs="*", metavar="FILE", default=None,
                    help="train a small model per text (default: ../shared/data) and run the lab")
    ap.add_argument("--iters", type=int, default=400, help="training steps for --train")
    ap.add_argument("--out", type=Path, help="--train keeps its models in OUT/models (for "
                    "rerunning the lab on them by folder) instead of a temporary folder")
    ap.add_argument("--reward", action="append", help="a reward spec (repeatable)")
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.texts:
        specs = args.reward or [DEFAULT_SPEC, "chrf", "ngram", "bigrams", "vocab"]
        run_texts(specs, args.samples or 64, args.seed)
    elif args.train is not None:
        files = [Path(f) for f in args.train] or shared_texts()
        run_train(files, args.reward or [DEFAULT_SPEC], args.iters, args.samples or 64,
                  args.seed, args.out)
    elif args.model_dir:
        for spec in args.reward or [DEFAULT_SPEC]:
            result = reward_lab.run_lab(args.model_dir, spec, samples=args.samples or 16,
                                        seed=args.seed)
            print(reward_lab.format_table(result), end="\n\n")
    else:
        ap.error("give a model folder, --texts or --train")


if __name__ == "__main__":
    try:
        main()
    except UserError as exc:
        sys.exit(f"error: {exc}")
