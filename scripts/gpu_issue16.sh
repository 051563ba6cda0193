#!/usr/bin/env bash
# Issue 16's GPU work as two device calls (15 minutes of device time in all). Here, once:
#   python scripts/hed_to_safetensors.py $(python scripts/pretrained.py hed) -o gpu/hed_vgg16.safetensors
#   python scripts/stage_gpu_photos.py          # gpu/photos_1.zip, gpu/photos_2.zip (~33 MB each)
#   mv weights/*.safetensors /tmp/               # the shipped weights would not fit beside them (64 MiB a call)
# Then, back to back (the machine stays warm ~30 s between calls; /tmp/stage survives while it does):
#   run(command="bash scripts/gpu_issue16.sh compare", carry=["gpu/hed_vgg16.safetensors", "gpu/photos_1.zip"], timeout_s=330)
#   run(command="bash scripts/gpu_issue16.sh long",    carry=["gpu/hed_vgg16.safetensors", "gpu/photos_2.zip"], timeout_s=...)
# The long call trains on both halves when the first call's are still there, else on its own half.
# SMOKE=1 runs the same steps on a CPU with tiny budgets.
set -euo pipefail
phase=$1
shift
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_out}
mkdir -p /tmp/stage "$OUT"
python3 -c "from PIL import features; assert features.check('webp'), 'Pillow without WebP'"
cp gpu/photos_*.zip /tmp/stage/
rm -rf /tmp/photos /tmp/pack
ls -la /tmp/stage
for z in /tmp/stage/photos_*.zip; do python3 -m zipfile -e "$z" /tmp/photos; done
workers=16; device=cuda; extra=()
if [ "${SMOKE:-0}" = 1 ]; then workers=2; device=cpu; extra=(--smoke --batch 8 --size 64 --val-max 16); fi
python3 -m huenet.cli prepare /tmp/photos -o /tmp/pack --size 128 --workers $workers
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv 2>/dev/null || true
python3 scripts/gpu_issue16.py --phase "$phase" --pack /tmp/pack --encoder gpu/hed_vgg16.safetensors --out "$OUT" \
    --device $device "${extra[@]}" "$@" 2>&1 | tee "$OUT/log_$phase.txt"
