"""Does a reward spec rank real text above damaged text? The reward lab, by hand.

    python bench/reward_lab.py MODEL_DIR [--reward SPEC] [--samples 16] [--seed 0]
    python bench/reward_lab.py --texts [--reward SPEC ...] [--samples 64] [--seed 0]

With a model folder: loads it (trains nothing) and prints the lab's table — real, model,
shuffled, repeated, random — on its held-out prompts (engine/reward_lab.py).

With `--texts`: no model. For each text in ../shared/data, the last 10% is held out; a
byte-level BPE tokenizer (vocab 4000) is trained on the rest, the held-out part is cut into
`--samples` evenly spaced windows of 257 tokens (the seed config's context 256 + 1), and each
window gives a 16-token prompt and its 32-token reference. The lab scores real, shuffled,
repeated and random text of those pairs with each `--reward` spec (default: the default spec,
chrF alone, and the old `vocab`), and prints the table and the margin real − best of the bad
kinds per text. Reads only CPU; nothing is timed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slavik_tui.engine import reward_lab  # noqa: E402
from slavik_tui.engine.data import read_documents, words_in  # noqa: E402
from slavik_tui.engine.reward import DEFAULT_SPEC, text_pairs  # noqa: E402
from slavik_tui.engine.tokenizer import Tokenizer  # noqa: E402
from slavik_tui.errors import UserError  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
WINDOW = 257


def held_out_pairs(path: Path, samples: int):
    text = "\n".join(read_documents(path))
    cut = int(len(text) * 0.9)
    train, held = text[:cut], text[cut:]
    tokenizer = Tokenizer.train([train], vocab_size=4000)
    ids = tokenizer.encode(held)
    starts = np.linspace(0, len(ids) - WINDOW, num=samples).round().astype(int)
    windows = [ids[s : s + WINDOW] for s in starts]
    return text_pairs(windows, tokenizer, 16, 32), tokenizer, words_in(train)


def run_texts(specs: list[str], samples: int, seed: int) -> None:
    files = sorted(p for p in DATA.glob("*.txt")) if DATA.is_dir() else []
    if not files:
        sys.exit(f"no texts in {DATA}: the --texts mode reads ../shared/data")
    margins: dict[str, dict[str, float]] = {}
    for path in files:
        pairs, tokenizer, corpus_words = held_out_pairs(path, samples)
        for spec in specs:
            result = reward_lab.lab(spec, pairs, tokenizer, seed=seed, corpus_words=corpus_words)
            print(f"== {path.name}")
            print(reward_lab.format_table(result), end="\n\n")
            margins.setdefault(result["reward"], {})[path.name] = reward_lab.margin(result)
    names = [p.name for p in files]
    width = max(len(s) for s in margins) + 2
    print("margin real − best of shuffled / repeated / random")
    print(" " * width + "".join(n.removesuffix(".txt")[:14].rjust(16) for n in names))
    for spec, row in margins.items():
        print(spec.ljust(width) + "".join(f"{row[n]:16.3f}" for n in names))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", nargs="?", help="a model folder (trained)")
    ap.add_argument("--texts", action="store_true", help="score ../shared/data's texts, no model")
    ap.add_argument("--reward", action="append", help="a reward spec (repeatable)")
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.texts:
        specs = args.reward or [DEFAULT_SPEC, "chrf", "vocab"]
        run_texts(specs, args.samples or 64, args.seed)
    elif args.model_dir:
        for spec in args.reward or [DEFAULT_SPEC]:
            result = reward_lab.run_lab(args.model_dir, spec, samples=args.samples or 16,
                                        seed=args.seed)
            print(reward_lab.format_table(result), end="\n\n")
    else:
        ap.error("give a model folder or --texts")


if __name__ == "__main__":
    try:
        main()
    except UserError as exc:
        sys.exit(f"error: {exc}")
