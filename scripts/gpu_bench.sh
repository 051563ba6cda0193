#!/usr/bin/env bash
# The prepared CUDA measurements of issue 7 (speed), for a session that is lent a GPU through the
# device tool (15 minutes in all, one call): inference at 256 and 12 MP, training images/s at 128,
# each against the card's own matmul peak (fp32 and bf16) measured in the same run.
#
# Here, first: ../shared does not travel, so the few photos the benchmarks use go in gpu/data
# (ignored by git through .git/info/exclude, ~2 MB; the repo with its 35 MiB weights stays under the
# 64 MiB a call carries):
#   bash scripts/gpu_bench.sh --stage
# Then: run(command="bash scripts/gpu_bench.sh", carry=["gpu"], timeout_s=420)
# Results come back under $OUT: paste them into benchmarks/RESULTS.md with the card's name.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--stage" ]; then
  rm -rf gpu/data && mkdir -p gpu/data/bsds500/test gpu/data/flowers/train
  first=$(ls ../shared/data/bsds500/test/*.jpg | sort | head -1)
  cp "$first" gpu/data/bsds500/test/
  python3 - <<'PY'
import shutil
from pathlib import Path
src = sorted(Path("../shared/data/flowers/train").rglob("*.jpg"))[:128]  # what bench_train --photos 128 reads
for p in src:
    dst = Path("gpu/data/flowers/train") / p.relative_to("../shared/data/flowers/train")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(p, dst)
PY
  grep -qx "gpu/" .git/info/exclude 2>/dev/null || echo "gpu/" >> .git/info/exclude
  du -sh gpu/data
  exit 0
fi
out=${OUT:-gpu-bench}
mkdir -p "$out"
python3 -m pip install -q --no-deps -e . 2>/dev/null || true
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$out/gpu.txt"
timeout 240 python benchmarks/bench_infer.py --device cuda --no-onnx --tune-malloc --data gpu/data 2>&1 | tee "$out/bench_infer_cuda.txt"
timeout 150 python benchmarks/bench_train.py --device cuda --steps 10 --photos 128 --data gpu/data 2>&1 | tee "$out/bench_train_cuda.txt"
