"""Issue 25's gates for a model against the gray baseline on the same photos, in one place for the
scripts that check them (working_size.py, model_card_tables.py): AuC +0.02, rebalanced AuC +0.05,
PSNR +1.2 dB, dCF <= 10, and no source more than 0.005 below gray (issue 16's were AuC +0.01 and
PSNR +0.3 dB; scripts/gpu_issue16.py, which picked the previous default, scored with those).
"""

# metric -> (the lead over gray it needs, name)
LEADS = {"auc": (0.02, "AuC"), "auc_rebalanced": (0.05, "rebalanced AuC"), "psnr": (1.2, "PSNR")}
MAX_DCF = 10.0
SOURCE_SLACK = 0.005


def margins(model: dict, gray: dict) -> dict:
    """Each gate's margin in units of its own threshold: > 0 met, < 0 missed by that many thresholds."""
    m = {k: (model[k] - gray[k] - lead) / lead for k, (lead, _) in LEADS.items()}
    m["dcf"] = (MAX_DCF - model["dcf"]) / MAX_DCF
    return m


def worst_margin(model: dict, gray: dict) -> float:
    return min(margins(model, gray).values())


def describe(summary: dict) -> list[str]:
    """One line per gate for an ``huenet evaluate`` summary (with its by-source breakdown)."""
    m, g = summary["methods"]["model"], summary["methods"]["gray"]
    out = [f"{name} {m[k] - g[k]:+.4f} vs gray (needs {lead:+g}): {'pass' if m[k] - g[k] >= lead else 'FAIL'}"
           for k, (lead, name) in LEADS.items()]
    out.append(f"dCF {m['dcf']:.2f} (needs <= {MAX_DCF:g}): {'pass' if m['dcf'] <= MAX_DCF else 'FAIL'}")
    if "by_source" in summary:
        worst = min((v["model"]["auc"] - v["gray"]["auc"], k) for k, v in summary["by_source"].items())
        out.append(f"worst source {worst[1]} {worst[0]:+.4f} AuC vs gray (needs >= {-SOURCE_SLACK:g}): "
                   f"{'pass' if worst[0] >= -SOURCE_SLACK else 'FAIL'}")
    return out
