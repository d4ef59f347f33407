#!/usr/bin/env bash
# The one short check to run on a lent GPU (issue 10), at most ~10 minutes:
#   1. what the machine is (nvidia-smi, torch's view of CUDA);
#   2. the trainer's CUDA-path tests, and one real tiny training on CUDA (bf16, compile);
#   3. a 2-minute train at d 768 / 12 layers / ctx 1024 / batch 32 (the GPU-sized config):
#      its progress lines carry tokens/s, MFU against the GPU's bf16 peak and the NVML
#      readings; SIGTERM after 120 s also checks the graceful stop on CUDA;
#   4. several GPUs, when there are: 40 s of the same model under torchrun (--nproc N, nccl);
#   5. a generate from the trained model, with --stats;
#   6. bench/train_speed.py --device cuda, when that bench takes the flag.
# Run from the repository root: `bash bench/gpu_check.sh` (results under $OUT, else ./gpu_check_out).
set -u
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
export SLAVIK_NO_AUTOSAVE=1 PYTHONUNBUFFERED=1
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && PY=.venv/bin/python
WS=$(mktemp -d)
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

log "machine"
nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt" | head -15
$PY - <<'EOF' 2>&1 | tee -a "$OUT/summary.txt"
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(i, p.name, f"{p.total_memory / 2**30:.0f} GiB", "bf16", torch.cuda.is_bf16_supported())
try:
    import pynvml  # noqa: F401
    print("nvidia-ml-py: installed")
except ImportError:
    print("nvidia-ml-py: missing (pip install nvidia-ml-py for the GPU readings)")
EOF

log "tests (CUDA path, DDP)"
timeout 240 $PY -m pytest -q tests/engine/test_trainer.py tests/engine/test_ddp.py \
    -k "out_of_memory or compile or cannot_fit or mfu or nnodes or global_batch or lock" \
    2>&1 | tail -5 | tee -a "$OUT/summary.txt"

log "corpus"
$PY - "$WS/corpus.txt" <<'EOF'
import sys
sys.path.insert(0, "tests")
from corpus import make_text
open(sys.argv[1], "w", encoding="utf-8").write(make_text(6_000_000))
EOF

log "tiny CUDA run (bf16, torch.compile by default)"
$PY -m slavik_tui --models-dir "$WS" new tiny --data "$WS/corpus.txt" --d-model 64 --layers 2 \
    --heads 2 --context 64 --vocab-size 400 >/dev/null 2>&1
timeout 180 $PY -m slavik_tui --models-dir "$WS" train tiny --iters 60 --device cuda \
    --log-every 20 --eval-every 60 2>&1 | tee "$OUT/tiny.log" | tail -4 | tee -a "$OUT/summary.txt"

log "GPU-sized train: d 768 / 12 layers / ctx 1024 / batch 32, 120 s"
$PY -m slavik_tui --models-dir "$WS" new big --data "$WS/corpus.txt" --d-model 768 --layers 12 \
    --heads 12 --context 1024 2>&1 | tail -1 | tee -a "$OUT/summary.txt"
timeout -s TERM 120 $PY -m slavik_tui --models-dir "$WS" train big --iters 100000 \
    --batch-size 32 --device cuda --log-every 10 --eval-every 100 --save-every 100000 \
    2>&1 | tee "$OUT/big.log" | grep -E "^(run|step|eval|torch|received)" | tail -6 \
    | tee -a "$OUT/summary.txt"
sleep 2
grep -o "MFU [0-9.]*%" "$OUT/big.log" | tail -3 | tee -a "$OUT/summary.txt"

NGPU=$($PY -c "import torch; print(torch.cuda.device_count())")
if [ "$NGPU" -gt 1 ]; then
    log "torchrun over $NGPU GPUs, 40 s"
    timeout -s TERM 60 $PY -m slavik_tui --models-dir "$WS" train big --iters 100000 \
        --batch-size 32 --device cuda --nproc "$NGPU" --log-every 10 --eval-every 100 \
        2>&1 | tee "$OUT/ddp.log" | grep -E "^(run|step)" | tail -4 | tee -a "$OUT/summary.txt"
fi

log "generate"
timeout 60 $PY -m slavik_tui --models-dir "$WS" generate big "Анна видит" --max-tokens 100 \
    --stats 2>&1 | tail -4 | tee -a "$OUT/summary.txt"

if $PY bench/train_speed.py --help 2>/dev/null | grep -q -- "--device"; then
    log "bench/train_speed.py --device cuda"
    timeout 180 $PY bench/train_speed.py --device cuda --quick 2>&1 | tail -15 \
        | tee -a "$OUT/summary.txt"
fi
rm -rf "$WS"
log "done"
