"""``huenet evaluate clip.mp4``: per-frame scores and temporal stability of colorized clips.

A clip's own color frames are the truth. For each clip, the network runs once and gives rows:

- ``gray``: ab = 0 (the input as it is);
- ``per-frame``: every frame colorized on its own (stability off);
- ``stabilized``: the same network output with color carried along the motion (``video.Stability``);
- ``original``: the clip itself, for the warping error only (how much the truth itself changes).

Per frame: PSNR, ab RMSE, AuC (as for photos, ``metrics.py``), colorfulness and its distance to the
truth's. Over time, the warping error of Lai et al. (*Learning Blind Video Temporal Consistency*,
ECCV 2018): each output frame against the previous output frame warped by the flow of the
*original* clip, occlusions masked by forward-backward consistency:

    E_rgb(t) = sum_p M_t(p) ||O_t(p) - warp(O_{t-1})(p)||^2 / sum_p M_t(p)    (RGB in [0, 1])
    E_ab(t)  = sum_p M_t(p) ||ab_t(p) - warp(ab_{t-1})(p)||   / sum_p M_t(p)    (Lab units)

averaged over the frames t >= 1. The output copies its lightness from the input, and in E_rgb the
lightness part (the same in every row) hides the color flicker; E_ab is the color alone.

Frames are scored at a long side of at most ``max_side`` pixels (area downscale of truth and
outputs alike; 0 = full size): flow and Lab conversion of every frame of every row are the cost.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from .evaluate import _lab as lab_of_u8
from .images import display_name
from .metrics import ab_errors, ab_rmse, auc, colorfulness, psnr
from .video import (
    DEFAULT_BATCH, VideoError, ColorCarrier, Stability, clip_info, consistent, dis_flow, network_batches, read_frames,
    render, warp,
)

ROWS = ("gray", "per-frame", "stabilized", "original")
FRAME_METRICS = ("psnr", "ab_rmse", "auc", "cf")
DEFAULT_MAX_SIDE = 640


def _lab(u8: np.ndarray) -> np.ndarray:
    """``H x W x 3`` uint8 -> ``H x W x 3`` float32 Lab (photo evaluation's conversion, channels last)."""
    return lab_of_u8(u8).permute(1, 2, 0).numpy()


def _gray8(u8: np.ndarray) -> np.ndarray:
    """8-bit luma for the flow."""
    import cv2

    return cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY)


def _shrink(u8: np.ndarray, max_side: int) -> np.ndarray:
    h, w = u8.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return u8
    import cv2

    k = max_side / max(h, w)
    return cv2.resize(u8, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)


def warping_errors(prev: tuple[np.ndarray, np.ndarray], cur: tuple[np.ndarray, np.ndarray],
                   back: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(E_rgb, E_ab) between two consecutive output frames, each given as (uint8 RGB, Lab),
    with the original clip's backward flow (this frame -> previous) and its non-occlusion mask."""
    n = mask.sum()
    if n == 0:
        return float("nan"), float("nan")
    rgb_prev = warp(prev[0].astype(np.float32) / 255.0, back)
    d_rgb = ((cur[0].astype(np.float32) / 255.0 - rgb_prev) ** 2).sum(-1)
    ab_prev = warp(np.ascontiguousarray(prev[1][..., 1:]), back)
    d_ab = np.sqrt(((cur[1][..., 1:] - ab_prev) ** 2).sum(-1))
    return float(d_rgb[mask].sum() / n), float(d_ab[mask].sum() / n)


@dataclass
class ClipScores:
    """Per-frame values of each row of one clip."""

    name: str
    width: int
    height: int
    frames: int = 0
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # row -> metric -> per frame
    cuts: int = 0
    tracked: float = float("nan")

    def add(self, row: str, metric: str, value: float) -> None:
        self.values.setdefault(row, {}).setdefault(metric, []).append(value)

    def summary(self) -> dict:
        out = {}
        for row, metrics in self.values.items():
            s = {m: float(np.nanmean(v)) if len(v) else float("nan") for m, v in metrics.items()}
            if "cf" in s and "cf_gt" in s:
                s["dcf"] = abs(s["cf"] - s["cf_gt"])
            out[row] = s
        return out


def score_clip(colorizer, path: str | os.PathLike, stability: Stability = Stability(),
               max_side: int = DEFAULT_MAX_SIDE, batch_size: int = DEFAULT_BATCH, limit: int | None = None,
               progress: bool | None = None) -> ClipScores:
    """Colorize ``path`` frame by frame and stabilized (one network pass) and score both, with the
    gray row and the original clip's own warping error."""
    info = clip_info(path)
    scores = ClipScores(display_name(path), info.width, info.height)
    carrier = ColorCarrier(stability)
    prev: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    prev_gray8 = None
    total = min(info.frames, limit) if limit else info.frames
    bar = tqdm(total=total or None, unit="frame", desc=Path(path).name[:30],
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    frames = read_frames(path, limit=limit)
    for b in network_batches(colorizer, frames, batch_size, info.rotation):
        stab = np.stack([carrier.step(b.L_small[i], b.ab_small[i]) for i in range(len(b.frames))])
        outs = {"per-frame": render(colorizer, b, b.ab_small), "stabilized": render(colorizer, b, stab),
                "gray": render(colorizer, b, np.zeros_like(b.ab_small))}
        for i, truth in enumerate(b.frames):
            gt = _shrink(truth, max_side)
            gt_lab = _lab(gt)
            cur = {"original": (gt, gt_lab)}
            cf_gt = colorfulness(gt)
            for row, arr in outs.items():
                o = _shrink(arr[i], max_side)
                o_lab = _lab(o)
                cur[row] = (o, o_lab)
                scores.add(row, "psnr", psnr(o, gt))
                scores.add(row, "ab_rmse", ab_rmse(o_lab[..., 1:], gt_lab[..., 1:]))
                scores.add(row, "auc", auc(ab_errors(o_lab[..., 1:], gt_lab[..., 1:])))
                scores.add(row, "cf", colorfulness(o))
                scores.add(row, "cf_gt", cf_gt)
            g8 = _gray8(gt)
            if prev_gray8 is not None and prev_gray8.shape == g8.shape:
                back, fwd = dis_flow(g8, prev_gray8), dis_flow(prev_gray8, g8)
                mask = consistent(back, fwd)
                for row in ROWS:
                    e_rgb, e_ab = warping_errors(prev[row], cur[row], back, mask)
                    scores.add(row, "warp_rgb", e_rgb)
                    scores.add(row, "warp_ab", e_ab)
            prev, prev_gray8 = cur, g8
            scores.frames += 1
            bar.update(1)
    bar.close()
    scores.cuts = carrier.cuts
    scores.tracked = float(np.mean(carrier.tracked)) if carrier.tracked else float("nan")
    return scores


@dataclass
class VideoEvaluation:
    clips: list[ClipScores] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stability: Stability = Stability()
    max_side: int = DEFAULT_MAX_SIDE
    working_size: int = 0

    def summary(self) -> dict:
        per_clip = {c.name: {"frames": c.frames, "width": c.width, "height": c.height, "cuts": c.cuts,
                             "tracked": c.tracked, "rows": c.summary()} for c in self.clips}
        overall: dict[str, dict] = {}
        for row in ROWS:  # the mean over clips of each clip's mean (every clip counts once)
            keys = sorted({k for c in per_clip.values() for k in c["rows"].get(row, {})})
            overall[row] = {k: float(np.nanmean([c["rows"][row][k] for c in per_clip.values()
                                                 if k in c["rows"].get(row, {})])) for k in keys}
        return {"clips": per_clip, "overall": overall, "skipped": self.skipped,
                "stability": {"strength": self.stability.strength}, "max_side": self.max_side,
                "working_size": self.working_size}


def evaluate_videos(colorizer, paths: Sequence[str | os.PathLike], stability: Stability = Stability(),
                    max_side: int = DEFAULT_MAX_SIDE, batch_size: int = DEFAULT_BATCH, limit: int | None = None,
                    progress: bool | None = None, log=None) -> VideoEvaluation:
    """Score every clip; a clip that cannot be read is a line in ``skipped`` and the rest go on."""
    log = log or sys.stderr
    ev = VideoEvaluation(stability=stability, max_side=max_side, working_size=colorizer.size)
    for p in paths:
        try:
            ev.clips.append(score_clip(colorizer, p, stability, max_side, batch_size, limit, progress))
        except VideoError as e:
            ev.skipped.append(str(e))
            print(f"skipped {e}", file=log)
    return ev


def video_table(summary: dict) -> str:
    """Markdown: one block of rows per clip and the overall means."""
    head = ("| clip | row | PSNR | AuC | CF | dCF | warp err. RGB (x1000) | warp err. ab |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|")
    lines = [head]

    def fmt(clip: str, rows: dict) -> None:
        for row in ROWS:
            s = rows.get(row)
            if not s:
                continue
            cells = ["", "", "", ""] if row == "original" else [
                f"{s['psnr']:.2f}", f"{s['auc']:.4f}", f"{s['cf']:.1f}", f"{s['dcf']:.1f}"]
            lines.append(f"| {clip} | {row} | " + " | ".join(cells)
                         + f" | {s.get('warp_rgb', float('nan')) * 1000:.2f} | {s.get('warp_ab', float('nan')):.3f} |")

    for name, c in summary["clips"].items():
        fmt(f"{Path(name).name} ({c['frames']} frames)", c["rows"])
    fmt("**all clips** (mean of clip means)", summary["overall"])
    return "\n".join(lines)


def write_video_outputs(ev: VideoEvaluation, out: str | os.PathLike, model_name: str = "") -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = ev.summary()
    (out / "video_summary.json").write_text(json.dumps({"model": model_name, **summary}, indent=2) + "\n")
    o = summary["overall"]
    ratio = o["stabilized"].get("warp_ab", np.nan) / o["per-frame"].get("warp_ab", np.nan) if ev.clips else np.nan
    md = [f"# Video evaluation{': ' + model_name if model_name else ''}", "",
          f"{len(ev.clips)} clips, stability strength {ev.stability.strength:g}, working size {ev.working_size}, "
          f"scored at long side <= {ev.max_side or 'full'} px.", "", video_table(summary), "",
          f"Stabilized / per-frame ab warping error: {ratio:.3f}; AuC change: "
          f"{o['stabilized'].get('auc', np.nan) - o['per-frame'].get('auc', np.nan):+.4f}.", "",
          "Warping error (Lai et al. 2018): each frame against the previous one warped by the original clip's "
          "flow (DIS), occlusions masked by forward-backward consistency; RGB in [0, 1] (squared, summed over "
          "channels), ab in Lab units (mean distance).", ""]
    if ev.skipped:
        md += ["Skipped:", ""] + [f"- {s}" for s in ev.skipped] + [""]
    (out / "video_report.md").write_text("\n".join(md))
    return summary


def format_video_table(summary: dict) -> str:
    o = summary["overall"]
    lines = [f"{'row':<11} {'PSNR':>7} {'AuC':>7} {'CF':>6} {'dCF':>6} {'warpRGB':>9} {'warp ab':>8}"]
    for row in ROWS:
        s = o.get(row, {})
        if row == "original":
            lines.append(f"{row:<11} {'':>7} {'':>7} {'':>6} {'':>6} {s.get('warp_rgb', np.nan) * 1000:9.3f} "
                         f"{s.get('warp_ab', np.nan):8.3f}")
        else:
            lines.append(f"{row:<11} {s['psnr']:7.2f} {s['auc']:7.4f} {s['cf']:6.1f} {s['dcf']:6.1f} "
                         f"{s.get('warp_rgb', np.nan) * 1000:9.3f} {s.get('warp_ab', np.nan):8.3f}")
    lines.append("(mean over clips; warp RGB x 1000)")
    return "\n".join(lines)
