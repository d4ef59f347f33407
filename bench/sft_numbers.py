"""Issue 12's numbers: pretrain on a novel, fine-tune on the CC0 Q&A set, talk to the result.

    python bench/sft_numbers.py [--tiny] [--device auto] [--models-dir DIR] [--out FILE.json]
           [--pretrain-iters N] [--sft-iters N] [--batch-size B] [--novel FILE] [--qa FILE]

1. `slavik-tui new` on the novel (default ../shared/data/anna_karenina.txt) and `train` it
   (`--pretrain-iters`, default 2000, batch 16): d_model 256, 6 layers, 8 heads, vocab 8000,
   context 256.
2. The held-out dialogues of the Q&A set (../shared/data/koziev_qa_neg4_1s.txt, T:/Q:/A:
   records, CC0) are packed as `sft` packs them (one in ten held out by a hash of its text);
   their val loss (the mean over every reply token, engine/sft.held_out_loss — the number the
   sft evals log) is measured on the pretrained model: **before**.
3. `slavik-tui sft NAME --data QA --iters N` (default 300, batch 16, lr 2e-4 as sft's
   default), then the same val loss on the same rows: **after**; the run's own evals are
   printed beside it as a check. (The set packs into ~470 rows of 256 tokens, ~750 dialogues
   held out: 300 steps of 16 rows are ~10 passes; most answers are one word, "ты" or "нет".)
4. Three exchanges through `slavik-tui chat NAME` with stdin piped: three held-out questions
   (the premise and the question joined by a space: one line is one turn), one process each,
   `--seed 1 --temperature 0.5`, printed with the true answers.

`--tiny` only checks that the script works (minutes on a laptop CPU, numbers meaningless):
d_model 32, 1 layer, vocab 400, context 64, the first 200 KB of the novel and 40 KB of the
Q&A set, 30 pretraining and 20 sft steps. The commands run are printed; everything is in a
temporary models folder (kept with `--models-dir DIR`). Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slavik_tui.engine.checkpoint import load_model  # noqa: E402
from slavik_tui.engine.sft import held_out_loss, pack_files  # noqa: E402
from slavik_tui.engine.tokenizer import Tokenizer  # noqa: E402
from slavik_tui.spec.folder import ModelFolder  # noqa: E402
from slavik_tui.store.history import History  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
NAME = "sft-bench"
EVAL_BATCHES = 8
FULL = dict(model=["--d-model", "256", "--layers", "6", "--heads", "8", "--vocab-size", "8000",
                   "--context", "256"], pretrain=2000, sft=300, batch=16, novel_chars=None,
            qa_chars=None)
TINY = dict(model=["--d-model", "32", "--layers", "1", "--heads", "2", "--vocab-size", "400",
                   "--context", "64"], pretrain=30, sft=20, batch=8, novel_chars=200_000,
            qa_chars=40_000)


def run(root: Path, *args: str, stdin: str | None = None) -> str:
    argv = [sys.executable, "-m", "slavik_tui", "--models-dir", str(root), *args]
    print("$", shlex.join(["slavik-tui", *args]), flush=True)
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def head(src: Path, dst: Path, chars: int | None, cut: str) -> Path:
    """`src`, or its first `chars` characters cut at the last `cut` before them."""
    if chars is None:
        return src
    text = src.read_text(encoding="utf-8", errors="replace")[:chars]
    dst.write_text(text[: text.rfind(cut) + len(cut)], encoding="utf-8")
    return dst


def dialogue_loss(model_dir: Path, data, batch: int, device: str) -> float:
    model, _tok, _cfg = load_model(model_dir, device=device)
    return held_out_loss(model, data, EVAL_BATCHES, batch, model.embed_tokens.weight.device)


def sft_evals(model_dir: Path) -> list[tuple[int, float]]:
    with History(ModelFolder(model_dir).history, readonly=True) as h:
        run_ = max((r for r in h.runs() if r.kind == "sft"), key=lambda r: r.id)
        ev = h.evals_arrays(run_.id)
    return list(zip(ev["step"].tolist(), ev["val_loss"].tolist()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--tiny", action="store_true", help="a smoke run with tiny settings")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models-dir", type=Path, help="keep the models here (default: a temp dir)")
    ap.add_argument("--novel", type=Path, default=DATA / "anna_karenina.txt")
    ap.add_argument("--qa", type=Path, default=DATA / "koziev_qa_neg4_1s.txt")
    ap.add_argument("--pretrain-iters", type=int)
    ap.add_argument("--sft-iters", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--out", type=Path, help="also write the numbers as JSON here")
    a = ap.parse_args()
    cfg = TINY if a.tiny else FULL
    for path in (a.novel, a.qa):
        if not path.is_file():
            sys.exit(f"{path} is missing: this benchmark reads ../shared/data (see its SOURCES.md)")
    pretrain = a.pretrain_iters or cfg["pretrain"]
    sft_iters, batch = a.sft_iters or cfg["sft"], a.batch_size or cfg["batch"]
    tmp = tempfile.TemporaryDirectory(prefix="sft-bench-")
    root = a.models_dir or Path(tmp.name) / "models"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tmp.name)
    novel = head(a.novel, work / "novel.txt", cfg["novel_chars"], "\n")
    qa = head(a.qa, work / "qa.txt", cfg["qa_chars"], "\n\n")
    model_dir = root / NAME
    started = time.time()
    common = ["--batch-size", str(batch), "--device", a.device]

    run(root, "new", NAME, "--data", str(novel), *cfg["model"])
    run(root, "train", NAME, "--iters", str(pretrain), "--eval-every", str(max(1, pretrain // 4)),
        "--save-every", str(max(1, pretrain // 4)), *common)
    pretrained_s = time.time() - started

    folder = ModelFolder(model_dir)
    tokenizer = Tokenizer.load(folder.tokenizer)
    context = folder.read_config().context
    data = pack_files(folder, [str(qa)], tokenizer, context, None, None, print)  # = sft's rows
    before = dialogue_loss(model_dir, data, batch, a.device)
    print(f"held-out dialogue val loss before sft: {before:.4f}", flush=True)

    run(root, "sft", NAME, "--data", str(qa), "--iters", str(sft_iters), "--eval-every",
        str(max(1, sft_iters // 4)), "--save-every", str(max(1, sft_iters // 4)),
        "--eval-batches", str(EVAL_BATCHES), *common)
    after = dialogue_loss(model_dir, data, batch, a.device)
    evals = sft_evals(model_dir)
    print(f"held-out dialogue val loss after sft: {after:.4f} (the run's evals: "
          + ", ".join(f"step {s}: {v:.4f}" for s, v in evals) + ")", flush=True)

    exchanges = []
    for probe in data.probes[:3]:
        question = " ".join(probe.prompt[-1].content.split())
        reply = run(root, "chat", NAME, "--seed", "1", "--temperature", "0.5", "--max-tokens",
                    "40", "--device", a.device, stdin=question + "\n").rstrip("\n")
        exchanges.append({"question": question, "reply": reply, "true_answer": probe.answer})
        print(f"  you> {question}\n  {NAME}> {reply}\n  (held-out answer: {probe.answer})",
              flush=True)

    numbers = {
        "tiny": a.tiny, "novel": a.novel.name, "qa": a.qa.name, "model": cfg["model"],
        "pretrain_iters": pretrain, "sft_iters": sft_iters, "batch_size": batch,
        "train_rows": data.rows("train"), "val_rows": data.rows("val"),
        "val_loss_before": before, "val_loss_after": after, "sft_evals": evals,
        "exchanges": exchanges, "pretrain_seconds": round(pretrained_s, 1),
        "total_seconds": round(time.time() - started, 1),
    }
    print(json.dumps(numbers, ensure_ascii=False, indent=1))
    if a.out:
        a.out.write_text(json.dumps(numbers, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
