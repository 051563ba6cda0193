"""The seed's result figures: loss curve, Lab channel splits, triptychs and contact sheets.

matplotlib (Agg backend, no window) draws the plots; Pillow assembles image sheets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .errors import MissingExtraError, SettingsError
from .color import lab_to_rgb, lightness_of, rgb_to_lab
from .images import Photo, pil_from_rgb, save_image, tensor_view


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("figures need matplotlib: pip install 'huenet[eval]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no metrics.jsonl (is it a run folder?)")
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a last line cut short by a kill
    return rows


def _loss_name(run: Path) -> str:
    """What the run minimized (its config.json), for the axis label."""
    import json

    try:
        cfg = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        cfg = {}
    if cfg.get("objective") == "classification":
        return f"rebalanced cross-entropy (lambda {cfg.get('rebalance_lambda', 0.5):g}), nats"
    return "MSE on ab / 110"


def loss_curve(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Train and validation loss against step, learning-rate changes marked; PNG."""
    plt = _pyplot()
    rows = read_metrics(run_dir)
    train = [(r["step"], r["train_loss"]) for r in rows if "train_loss" in r]
    val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    if not train and not val:
        raise SettingsError(f"{run_dir}: metrics.jsonl has no loss rows yet")
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    if train:
        ax.plot(*zip(*train), label="train", color="#1f77b4", lw=1.2)
    if val:
        ax.plot(*zip(*val), label="validation", color="#d62728", marker="o", ms=3, lw=1.2)
    prev = None
    for r in sorted(rows, key=lambda r: r["step"]):
        lr = r.get("lr")
        if prev is not None and lr is not None and lr != prev:
            ax.axvline(r["step"], color="gray", ls=":", lw=1)
            ax.text(r["step"], 0.98, f" lr {lr:.2g}", transform=ax.get_xaxis_transform(),
                    va="top", fontsize=8, color="gray")
        prev = lr if lr is not None else prev
    ax.set_xlabel("step")
    ax.set_ylabel(_loss_name(Path(run_dir)))
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"loss: {Path(run_dir).name}")
    fig.tight_layout()
    out = Path(out) if out else Path(run_dir) / "loss.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def lab_split(original: Image.Image, predicted: Image.Image, out: str | os.PathLike, title: str = "") -> Path:
    """L, a, b of the original (top row) and of the prediction (bottom row); a and b on one
    diverging color scale shared by all four panels."""
    plt = _pyplot()

    def lab(img):
        t = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)[None]
        return rgb_to_lab(t)[0].numpy()

    o, p = lab(original), lab(predicted)
    lim = max(np.abs(o[1:]).max(), np.abs(p[1:]).max(), 1.0)
    fig, axes = plt.subplots(2, 3, figsize=(10, 10 * original.height / original.width * 2 / 3 + 0.8), dpi=110)
    for row, (name, lab_) in enumerate([("original", o), ("predicted", p)]):
        for col, ch in enumerate("Lab"):
            ax = axes[row, col]
            if ch == "L":
                im = ax.imshow(lab_[0], cmap="gray", vmin=0, vmax=100)
            else:
                im = ax.imshow(lab_[col], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"{name} {ch}", fontsize=10)
            ax.axis("off")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def labelled_row(images: Sequence[Image.Image], labels: Sequence[str], height: int | None = None,
                 gap: int = 6, caption: str = "") -> Image.Image:
    """Images side by side at one height with a label above each (``Input | Predicted | Original``)."""
    height = height or max(im.height for im in images)
    scaled = [im.convert("RGB").resize((max(1, round(im.width * height / im.height)), height), Image.LANCZOS)
              for im in images]
    font = _font(max(12, height // 18))
    band = font.size + 10 if hasattr(font, "size") else 22
    cap = band if caption else 0
    w = sum(im.width for im in scaled) + gap * (len(scaled) - 1)
    sheet = Image.new("RGB", (w, height + band + cap), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for im, label in zip(scaled, labels):
        sheet.paste(im, (x, band))
        draw.text((x + im.width // 2, band // 2), label, fill="black", font=font, anchor="mm")
        x += im.width + gap
    if caption:
        draw.text((4, band + height + cap // 2), caption, fill="black", font=font, anchor="lm")
    return sheet


def triptych(gray: Image.Image, predicted: Image.Image, original: Image.Image | None = None,
             height: int | None = None, caption: str = "") -> Image.Image:
    """``Input | Predicted | Original``, or ``Input | Predicted`` when there is no ground truth."""
    if original is None:
        return labelled_row([gray, predicted], ["Input", "Predicted"], height, caption=caption)
    return labelled_row([gray, predicted, original], ["Input", "Predicted", "Original"], height, caption=caption)


def contact_sheet(rows: Sequence[Image.Image], gap: int = 8) -> Image.Image:
    """Stack rows (e.g. triptychs) vertically, centred."""
    w = max(r.width for r in rows)
    h = sum(r.height for r in rows) + gap * (len(rows) - 1)
    sheet = Image.new("RGB", (w, h), "white")
    y = 0
    for r in rows:
        sheet.paste(r, ((w - r.width) // 2, y))
        y += r.height + gap
    return sheet


def save_figure(img: Image.Image, out: str | os.PathLike) -> Path:
    save_image(img, out)
    return Path(out)


def gray_input(photo: Photo) -> Image.Image:
    """What the network sees: the photo's lightness, shown as an 8-bit gray image."""
    L = lightness_of(tensor_view(photo.pixels).permute(2, 0, 1)[None])  # as colorizing finds it
    gray = lab_to_rgb(torch.cat([L, torch.zeros_like(L), torch.zeros_like(L)], dim=1))
    return pil_from_rgb(gray[0].permute(1, 2, 0).numpy())
