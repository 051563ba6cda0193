"""``huenet evaluate``: colorize photos from their L channel and score them against the originals,
beside baselines computed by the same code (``gray``: ab = 0; ``mean-ab``: the training set's mean
ab everywhere). A model is only interesting by its distance to those rows.

Protocols: ``full`` scores at each photo's original resolution; ``256`` first resizes every photo
to 256 x 256 (bicubic), as DDColor and ColorFormer report on ImageNet.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm
from PIL import Image

from .figures import contact_sheet, save_figure, triptych
from .errors import SettingsError
from .color import lab_to_rgb, rgb_to_lab
from .colorize import Colorizer
from .images import DEFAULT_MAX_PIXELS, ImageLoadError, display_name, find_images, load_photo
from .metrics import RebalancedAuC, ab_errors, ab_rmse, auc, colorfulness, psnr, ssim

PROTOCOLS = {"full": "original resolution", "256": "resized to 256x256 (bicubic)"}
COLUMNS = ["psnr", "ssim", "ab_rmse", "auc", "auc_rebalanced", "cf", "dcf"]


def _u8(rgb: torch.Tensor) -> np.ndarray:
    """``3 x H x W`` float in [0, 1] -> ``H x W x 3`` uint8."""
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def _lab(u8: np.ndarray) -> torch.Tensor:
    return rgb_to_lab(torch.tensor(u8).permute(2, 0, 1).float().div(255)[None])[0]


def mean_delta_ab(u8_a: np.ndarray, u8_b: np.ndarray) -> float:
    """The mean Delta ab (Euclidean, Lab) between two 8-bit renderings of one photo (``H x W x 3``):
    how far apart their colors are, whatever their lightness."""
    lab_a, lab_b = _lab(u8_a), _lab(u8_b)
    return float(ab_errors(lab_a[1:].permute(1, 2, 0).numpy(), lab_b[1:].permute(1, 2, 0).numpy()).mean())


@dataclass
class Evaluation:
    protocol: str
    size: int
    rows: list[dict] = field(default_factory=list)  # one per (image, method)
    skipped: list[str] = field(default_factory=list)
    rebalanced: dict[str, RebalancedAuC] = field(default_factory=dict)
    mean_ab: tuple[float, float] | None = None

    def methods(self) -> list[str]:
        seen = []
        for r in self.rows:
            if r["method"] not in seen:
                seen.append(r["method"])
        return seen

    def summary(self) -> dict:
        out = {"protocol": self.protocol, "protocol_description": PROTOCOLS[self.protocol],
               "working_size": self.size, "images": len({r["image"] for r in self.rows}),
               "skipped": len(self.skipped), "mean_ab_baseline": self.mean_ab, "methods": {}}
        for m in self.methods():
            rows = [r for r in self.rows if r["method"] == m]
            s = _means(rows)
            s["auc_rebalanced"] = self.rebalanced[m].value()
            s["dcf"] = abs(s["cf"] - s["cf_gt"])
            out["methods"][m] = s
        sources = sorted({r["source"] for r in self.rows})
        if len(sources) > 1:  # a regression on faces or buildings shows even when the mean looks fine
            out["by_source"] = {
                src: {"images": len({r["image"] for r in self.rows if r["source"] == src}),
                      **{m: _means([r for r in self.rows if r["method"] == m and r["source"] == src])
                         for m in self.methods()}}
                for src in sources}
        return out


def _means(rows: list[dict]) -> dict:
    # PSNR is infinite for a perfect image and SSIM undefined for tiny ones: finite values only
    s = {k: float(np.mean([r[k] for r in rows if np.isfinite(r[k])] or [np.nan]))
         for k in ("psnr", "ssim", "ab_rmse", "auc")}
    s["cf"] = float(np.mean([r["cf"] for r in rows]))
    s["cf_gt"] = float(np.mean([r["cf_gt"] for r in rows]))
    return s


def source_of(name: str) -> str:
    """Which collection a photo comes from: the part of its file name before ``__``
    (``utkface__1_0_0.jpg`` -> ``utkface``), else its first folder, else ``-``."""
    parts = name.replace("\\", "/").split("/")
    stem = parts[-1]
    if "__" in stem:
        return stem.split("__", 1)[0]
    return parts[0] if len(parts) > 1 else "-"


def score_photo(ev: Evaluation, name: str, gt: np.ndarray, preds: dict[str, np.ndarray],
                gt_lab: torch.Tensor | None = None) -> list[dict]:
    """Add one photo's rows (one per method) to ``ev``: ``gt`` and each prediction ``H x W x 3`` uint8
    (``gt_lab``: gt's Lab, ``3 x H x W``, when the caller has it already)."""
    gt_ab = (_lab(gt) if gt_lab is None else gt_lab)[1:].permute(1, 2, 0).numpy()
    cf_gt = colorfulness(gt)
    rows = []
    for method, pred in preds.items():
        pred_ab = _lab(pred)[1:].permute(1, 2, 0).numpy()
        errors = ab_errors(pred_ab, gt_ab)
        row = {"image": name, "source": source_of(name), "method": method, "width": gt.shape[1],
               "height": gt.shape[0], "psnr": psnr(pred, gt), "ssim": ssim(pred, gt),
               "ab_rmse": ab_rmse(pred_ab, gt_ab), "auc": auc(errors), "cf": colorfulness(pred), "cf_gt": cf_gt}
        ev.rows.append(row)
        ev.rebalanced.setdefault(method, RebalancedAuC()).add(pred_ab, gt_ab)
        rows.append(row)
    return rows


def baseline_predictions(L: torch.Tensor, mean_ab: tuple[float, float] | None) -> dict[str, np.ndarray]:
    """``gray`` (ab = 0) and, given the training mean, ``mean-ab``, on the photo's own L (``1 x H x W``)."""
    zeros = torch.zeros(2, *L.shape[1:])
    out = {"gray": _u8(lab_to_rgb(torch.cat([L, zeros])))}
    if mean_ab is not None:
        const = torch.tensor(mean_ab, dtype=torch.float32).view(2, 1, 1).expand_as(zeros)
        out["mean-ab"] = _u8(lab_to_rgb(torch.cat([L, const])))
    return out


def evaluate_arrays(
    colorizer: Colorizer | None, photos: np.ndarray, names: Sequence[str],
    mean_ab: tuple[float, float] | None = None, batch_size: int = 64, baselines: bool = True,
) -> Evaluation:
    """Score same-size photos held in memory (``N x H x W x 3`` uint8, e.g. a pack's val split)
    with the same rows as ``evaluate`` (protocol ``full``): for model selection inside a training
    job, where photos are already decoded."""
    ev = Evaluation("full", colorizer.size if colorizer else 0, mean_ab=mean_ab)
    for start in range(0, len(photos), batch_size):
        chunk = photos[start:start + batch_size]
        pred = None
        if colorizer is not None:
            rgb = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2).float().div(255)
            pred = colorizer.colorize_rgb(rgb).clamp(0, 1).mul(255).round().to(torch.uint8)
            pred = pred.permute(0, 2, 3, 1).cpu().numpy()
        for j, gt in enumerate(chunk):
            preds = {"model": pred[j]} if pred is not None else {}
            gt_lab = _lab(gt)  # once a photo: the baselines' L and the truth's ab
            if baselines:
                preds.update(baseline_predictions(gt_lab[:1], mean_ab))
            score_photo(ev, names[start + j], gt, preds, gt_lab)
    return ev


def evaluate(
    colorizer: Colorizer | None,
    inputs: Sequence[str | os.PathLike],
    protocol: str = "full",
    mean_ab: tuple[float, float] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool | None = None,
    keep_images: int = 3,
    log=None,
) -> tuple[Evaluation, dict]:
    """Score ``colorizer`` (and the baselines) on every photo of ``inputs``.

    Returns the evaluation and, for the report, the best and worst ``keep_images`` photos of the
    model by AuC as (name, gray, predicted, original) images."""
    if protocol not in PROTOCOLS:
        raise SettingsError(f"unknown protocol {protocol!r}; use one of {sorted(PROTOCOLS)}")
    log = log or sys.stderr
    found, problems = find_images(inputs)
    ev = Evaluation(protocol, colorizer.size if colorizer else 0, skipped=list(problems), mean_ab=mean_ab)
    scored: list[tuple[float, str, tuple]] = []
    names = {}
    for f in found:  # disambiguate equal file names from different folders
        names[f.path] = display_name(f.relative if len(inputs) == 1 else f.path)
    bar = tqdm(found, unit="img", desc=f"evaluate ({protocol})",
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    for item in bar:
        try:
            photo = load_photo(item.path, max_pixels=max_pixels)
        except ImageLoadError as e:
            ev.skipped.append(str(e))
            bar.write(f"skipped {e}", file=log)
            continue
        gt = photo.u8
        if protocol == "256":
            gt = np.array(Image.fromarray(gt).resize((256, 256), Image.BICUBIC))
        preds: dict[str, np.ndarray] = {}
        if colorizer is not None:
            preds["model"] = _u8(colorizer.colorize_rgb(torch.from_numpy(gt).permute(2, 0, 1)[None].float() / 255)[0])
        gt_lab = _lab(gt)  # once a photo: the baselines' L and the truth's ab
        preds.update(baseline_predictions(gt_lab[:1], mean_ab))
        rows = score_photo(ev, names[item.path], gt, preds, gt_lab)
        if "model" in preds and keep_images:
            model_auc = rows[0]["auc"]
            scored.append((model_auc, names[item.path], (preds["gray"], preds["model"], gt)))
            scored.sort(key=lambda s: s[0])
            if len(scored) > 2 * keep_images:  # keep only the extremes in memory
                scored = scored[:keep_images] + scored[-keep_images:]
    bar.close()
    worst = scored[:keep_images]
    best = list(reversed(scored[-keep_images:])) if len(scored) > keep_images else []
    return ev, {"best": best, "worst": worst}


def format_table(summary: dict) -> str:
    head = f"{'method':<10} {'PSNR':>7} {'SSIM':>7} {'abRMSE':>7} {'AuC':>7} {'AuC-rb':>7} {'CF':>7} {'dCF':>7}"
    lines = [
        f"protocol {summary['protocol']} ({summary['protocol_description']}), {summary['images']} images"
        + (f", model working size {summary['working_size']}" if summary["working_size"] else "")
        + (f", {summary['skipped']} skipped" if summary["skipped"] else ""),
        head, "-" * len(head),
    ]
    for m, s in summary["methods"].items():
        lines.append(f"{m:<10} {s['psnr']:7.2f} {s['ssim']:7.4f} {s['ab_rmse']:7.2f} {s['auc']:7.4f} "
                     f"{s['auc_rebalanced']:7.4f} {s['cf']:7.2f} {s['dcf']:7.2f}")
    any_method = next(iter(summary["methods"].values()), None)
    if any_method:
        lines.append(f"ground-truth colorfulness (CF): {any_method['cf_gt']:.2f}")
    return "\n".join(lines)


def markdown_table(summary: dict) -> str:
    lines = ["| method | PSNR | SSIM | ab RMSE | AuC | AuC (rebalanced) | CF | dCF |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m, s in summary["methods"].items():
        lines.append(f"| {m} | {s['psnr']:.2f} | {s['ssim']:.4f} | {s['ab_rmse']:.2f} | {s['auc']:.4f} | "
                     f"{s['auc_rebalanced']:.4f} | {s['cf']:.2f} | {s['dcf']:.2f} |")
    return "\n".join(lines)


def source_table(summary: dict) -> str:
    """Markdown: per source, the model's AuC and PSNR beside gray's, and colorfulness."""
    by = summary.get("by_source")
    if not by:
        return ""
    lines = ["| source | images | AuC | gray AuC | AuC - gray | PSNR | gray PSNR | CF | truth CF |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for src, s in by.items():
        m, g = s.get("model"), s.get("gray")
        if m is None or g is None:
            continue
        lines.append(f"| {src} | {s['images']} | {m['auc']:.4f} | {g['auc']:.4f} | {m['auc'] - g['auc']:+.4f} | "
                     f"{m['psnr']:.2f} | {g['psnr']:.2f} | {m['cf']:.1f} | {m['cf_gt']:.1f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def write_outputs(ev: Evaluation, extremes: dict, out: str | os.PathLike, model_name: str = "") -> dict:
    """metrics.csv (per image and method), summary.json, report.md with best/worst triptychs."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = ev.summary()
    fields = ["image", "source", "method", "width", "height", "psnr", "ssim", "ab_rmse", "auc", "cf", "cf_gt"]
    with open(out / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in ev.rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    (out / "summary.json").write_text(json.dumps({"model": model_name, **summary}, indent=2) + "\n")
    md = [f"# Evaluation{': ' + model_name if model_name else ''}", "",
          f"Protocol **{ev.protocol}** ({PROTOCOLS[ev.protocol]}), {summary['images']} images"
          + (f", model working size {ev.size}" if ev.size else "") + ".", "", markdown_table(summary), "",
          "PSNR and SSIM on 8-bit RGB; ab RMSE and AuC (thresholds 0..150, Zhang et al. 2016) in Lab; "
          "AuC-rebalanced weights pixels by the inverse frequency of their true ab bin (10x10) in this set; "
          "CF is Hasler-Suesstrunk colorfulness, dCF its distance to the ground truth's.", ""]
    by_source = source_table(summary)
    if by_source:
        md += ["## By source", "", "Source: the part of a file name before `__`, or its first folder.", "",
               by_source, ""]
    if ev.skipped:
        md += ["Skipped:", ""] + [f"- {s}" for s in ev.skipped] + [""]
    for kind in ("best", "worst"):
        items = extremes.get(kind) or []
        if not items:
            continue
        rows = [triptych(*(Image.fromarray(a) for a in ims), height=200, caption=f"{name}  AuC {score:.3f}")
                for score, name, ims in items]
        save_figure(contact_sheet(rows), out / f"{kind}.png")
        md += [f"## {kind.capitalize()} {len(items)} by AuC", "", f"![{kind}]({kind}.png)", ""]
    (out / "report.md").write_text("\n".join(md))
    return summary
