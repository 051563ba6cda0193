#!/usr/bin/env bash
# The triptych sheets of the README and model card (Input | Predicted | Original), for the shipped
# model and, beside it, the previous default (its weights are in git history):
#   mkdir -p runs/old && for f in huenet-vgg16-cls.json huenet-vgg16-cls{,-2,-3}.safetensors; do
#     git show b67cafb:weights/$f > runs/old/$f; done
#   bash scripts/sheets.sh [OLD_MODEL=runs/old/huenet-vgg16-cls.safetensors]
# The photos follow a fixed rule, not a choice by result: from diverse/val the first photo (by name)
# of forest, mountain, sea and street scenes, faces (utkface) and people (humanseg); from
# bsds500/test every 33rd photo by name.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:-runs/old/huenet-vgg16-cls.safetensors}
d=../shared/data
photos=()
for prefix in intel_scenes__forest intel_scenes__mountain intel_scenes__sea intel_scenes__street utkface__ humanseg__; do
  photos+=("$(ls $d/diverse/val/${prefix}* | sort | head -1)")
done
mapfile -t bsds < <(ls $d/bsds500/test/*.jpg | sort | awk 'NR % 33 == 1')
photos+=("${bsds[@]:0:6}")
huenet figures triptych "${photos[@]}" --limit 12 --height 200 -o docs/triptychs.png
if [ -f "$old" ]; then
  huenet figures triptych "${photos[@]}" --limit 12 --height 200 --model "$old" -o docs/triptychs_old_default.png
fi
