"""Print the model card's evaluation tables from `huenet evaluate` summaries.

    python scripts/model_card_tables.py eval/shipped
"""

import json
import sys
from pathlib import Path

from huenet.evaluate import markdown_table

root = Path(sys.argv[1] if len(sys.argv) > 1 else "eval/shipped")
for folder in sorted(p for p in root.iterdir() if p.is_dir()):
    for proto in ("256", "full"):
        path = folder / proto / "summary.json"
        if path.is_file():
            s = json.loads(path.read_text())
            print(f"**{folder.name.replace('-', '/')}**, protocol {proto} ({s['protocol_description']}), "
                  f"{s['images']} photos; ground-truth CF {s['methods']['gray']['cf_gt']:.2f}\n")
            print(markdown_table(s) + "\n")
