#!/usr/bin/env bash
# Issue 25's GPU run as one device call (15 minutes of device time in all). Here, once:
#   python scripts/stage_gpu_photos.py                      # gpu/photos.zip (30,500 AVIF photos, ~36 MiB)
#   python scripts/gpu_train.sh --stage                    # gpu/lite0.pth (fp16, no classifier), gpu/data, Pillow wheel
#   mkdir -p /tmp/held && mv weights/*.safetensors /tmp/held/   # the shipped weights would not fit beside them
# Then:
#   run(command="bash scripts/gpu_train.sh", carry=["gpu"], timeout_s=560)
# and move the weights back (git checkout weights/). SMOKE=1 runs the same steps on a CPU in a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--stage" ]; then
  python3 - <<'PY'
import torch
from huenet.efficientnet import lite_weights_file
sd = torch.load(lite_weights_file("lite0"), weights_only=True)
torch.save({k: v.half() if v.is_floating_point() else v for k, v in sd.items() if not k.startswith("_fc.")}, "gpu/lite0.pth")
PY
  rm -rf gpu/data gpu/whl && mkdir -p gpu/data/bsds500/test gpu/whl
  cp "$(ls ../shared/data/bsds500/test/*.jpg | sort | head -1)" gpu/data/bsds500/test/
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d gpu/whl pillow==13.0.0
  grep -qx "gpu/" .git/info/exclude 2>/dev/null || echo "gpu/" >> .git/info/exclude
  du -sh gpu/*
  exit 0
fi
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
if ! python3 -c "from PIL import features; assert features.check('avif')" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site gpu/whl/*.whl
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
python3 -c "import PIL; from PIL import features; print('Pillow', PIL.__version__, 'AVIF', features.check('avif'))"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>/dev/null || true
extra=()
if [ "${SMOKE:-0}" = 1 ]; then extra=(--smoke --device cpu --batch 16 --workers 2 --deadline-s 150 --reserve-s 40 --probe-steps 6); fi
python3 scripts/gpu_train.py --zip gpu/photos.zip --encoder-weights gpu/lite0.pth --out "$OUT" "${extra[@]}" "$@" 2>&1 | tee "$OUT/log.txt"
