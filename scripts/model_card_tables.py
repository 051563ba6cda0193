"""Print the model card's tables from `huenet evaluate` summaries, with issue 16's gates checked
against the gray baseline on the same photos.

    python scripts/model_card_tables.py eval/shipped
"""

import json
import sys
from pathlib import Path

from huenet.evaluate import markdown_table, source_table

GATES = [("auc", 0.01, "AuC"), ("auc_rebalanced", 0.05, "rebalanced AuC"), ("psnr", 0.3, "PSNR")]


def gates(s: dict) -> list[str]:
    m, g = s["methods"]["model"], s["methods"]["gray"]
    out = [f"{name} {m[k] - g[k]:+.4f} vs gray (needs {d:+g}): {'pass' if m[k] - g[k] >= d else 'FAIL'}"
           for k, d, name in GATES]
    out.append(f"dCF {m['dcf']:.2f} (needs <= 10): {'pass' if m['dcf'] <= 10 else 'FAIL'}")
    if "by_source" in s:
        worst = min((v["model"]["auc"] - v["gray"]["auc"], k) for k, v in s["by_source"].items())
        out.append(f"worst source {worst[1]} {worst[0]:+.4f} AuC vs gray (needs >= -0.005): "
                   f"{'pass' if worst[0] >= -0.005 else 'FAIL'}")
    return out


root = Path(sys.argv[1] if len(sys.argv) > 1 else "eval/shipped")
for folder in sorted(p for p in root.iterdir() if p.is_dir()):
    for path in [folder / "summary.json", *sorted(folder.glob("*/summary.json"))]:
        if not path.is_file():
            continue
        s = json.loads(path.read_text())
        print(f"**{folder.name.replace('-', '/')}**, protocol {s['protocol']} ({s['protocol_description']}), "
              f"{s['images']} photos, working size {s['working_size']}; ground-truth CF "
              f"{s['methods']['gray']['cf_gt']:.2f}\n")
        print(markdown_table(s) + "\n")
        print("Gates: " + "; ".join(gates(s)) + "\n")
        if s.get("by_source"):
            print(source_table(s) + "\n")
