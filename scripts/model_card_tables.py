"""Print the model card's tables from `huenet evaluate` summaries, with issue 16's gates checked
against the gray baseline on the same photos.

    python scripts/model_card_tables.py eval/shipped
"""

import json
import sys
from pathlib import Path

from huenet.evaluate import markdown_table, source_table

from gates import describe  # scripts/gates.py

root = Path(sys.argv[1] if len(sys.argv) > 1 else "eval/shipped")
for folder in sorted(p for p in root.iterdir() if p.is_dir()):
    for path in [folder / "summary.json", *sorted(folder.glob("*/summary.json"))]:
        if not path.is_file():
            continue
        s = json.loads(path.read_text())
        label = "/".join(p.replace("-", "/") if i == len(path.parent.relative_to(root).parts) - 1 else f"({p})"
                         for i, p in enumerate(path.parent.relative_to(root).parts))
        print(f"**{label}**, protocol {s['protocol']} ({s['protocol_description']}), "
              f"{s['images']} photos, working size {s['working_size']}; ground-truth CF "
              f"{s['methods']['gray']['cf_gt']:.2f}\n")
        print(markdown_table(s) + "\n")
        print("Gates: " + "; ".join(describe(s)) + "\n")
        if s.get("by_source"):
            print(source_table(s) + "\n")
