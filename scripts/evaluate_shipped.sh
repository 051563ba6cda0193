#!/usr/bin/env bash
# Reproduces the evaluation tables of weights/MODEL_CARD.md (deterministic on CPU).
#   bash scripts/evaluate_shipped.sh [OUT=eval/shipped]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-eval/shipped}
data=../shared/data
pack=packs/train144
if [ ! -f "$pack/index.json" ]; then  # the training pack gives the mean-ab baseline
  huenet prepare $data/flowers/train $data/imagenet-samples $data/bsds500/train -o "$pack" --size 144
fi
for set in flowers/val bsds500/val bsds500/test; do
  huenet evaluate "$data/$set" --train-pack "$pack" --protocol 256 full --out "$out/${set//\//-}"
done
python scripts/model_card_tables.py "$out"
