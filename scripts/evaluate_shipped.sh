#!/usr/bin/env bash
# Reproduces the evaluation tables of weights/MODEL_CARD.md and the README (deterministic on CPU):
# issue 25's gates on diverse/val and bsds500/test (protocol full, the shipped defaults), then
# bsds500/val and flowers/val. The mean-ab baseline comes from the checkpoint (training recorded it).
#   bash scripts/evaluate_shipped.sh [OUT=eval/shipped] [MODEL (default: the shipped weights)]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-eval/shipped}
model=()
[ -n "${2:-}" ] && model=(--model "$2")
data=../shared/data
for set in diverse/val bsds500/test bsds500/val flowers/val; do
  huenet evaluate "$data/$set" "${model[@]}" --protocol full --out "$out/${set//\//-}"
done
# the README's and model card's `--restraint 0` rows (bolder colors)
for set in diverse/val bsds500/test; do
  huenet evaluate "$data/$set" "${model[@]}" --restraint 0 --protocol full --out "$out/restraint0/${set//\//-}"
done
python scripts/model_card_tables.py "$out"
# issue 25's scale gate: how much the colors move between --size 128 and --size 256 (bsds500/test)
python scripts/scale_consistency.py "$data/bsds500/test" "${model[@]}" | tee "$out/scale_consistency.txt"
