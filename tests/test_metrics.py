"""Metrics against hand-computed values and scikit-image; evaluation and figures end to end."""

import json

import numpy as np
import pytest
from PIL import Image
from skimage import color as skcolor
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from huenet.metrics import RebalancedAuC, ab_rmse, auc, colorfulness, psnr, ssim, within_curve

from conftest import DATA, run_cli


def test_psnr_by_hand_and_against_skimage():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 10  # MSE = 100 / 12
    assert psnr(b, a) == pytest.approx(10 * np.log10(255**2 / (100 / 12)))
    assert psnr(a, a) == float("inf")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8), rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    assert psnr(x, y) == pytest.approx(peak_signal_noise_ratio(y, x, data_range=255))


def test_ssim_is_scikit_images_and_handles_tiny_images(real_photos):
    gt = np.asarray(Image.open(real_photos[0]).convert("RGB"))
    pred = np.clip(gt.astype(int) + 12, 0, 255).astype(np.uint8)
    assert ssim(pred, gt) == pytest.approx(structural_similarity(gt, pred, channel_axis=2, data_range=255))
    assert ssim(gt, gt) == pytest.approx(1.0)
    assert np.isnan(ssim(gt[:2, :2], gt[:2, :2])) and 0 < ssim(pred[:5, :300], gt[:5, :300]) <= 1


def test_ab_rmse_and_auc_by_hand():
    gt = np.zeros((1, 4, 2))
    pred = np.zeros((1, 4, 2))
    pred[0, 1] = [3, 4]  # error 5
    pred[0, 2] = [0, 200]  # error 200, beyond every threshold
    assert ab_rmse(pred, gt) == pytest.approx(np.sqrt((25 + 40000) / 4))
    errors = np.sqrt(((pred - gt) ** 2).sum(-1))
    curve = within_curve(errors)
    assert curve[0] == 0.5 and curve[4] == 0.5 and curve[5] == 0.75 and curve[150] == 0.75
    # trapezoid by hand: 0.5 on [0, 4], a ramp to 0.75 on [4, 5], 0.75 on [5, 150]
    expected = (0.5 * 4 + (0.5 + 0.75) / 2 + 0.75 * 145) / 150
    assert auc(errors) == pytest.approx(expected)
    assert auc(np.zeros((3, 3))) == pytest.approx(1.0)  # perfect prediction


def test_rebalanced_auc_weights_rare_colors_up():
    # 9 pixels of a common color predicted perfectly, 1 pixel of a rare color predicted badly
    gt = np.zeros((1, 10, 2))
    gt[0, 9] = [60, 60]
    pred = gt.copy()
    pred[0, 9] = [60, -90]  # error 150 on the rare pixel
    plain = auc(np.sqrt(((pred - gt) ** 2).sum(-1)))
    r = RebalancedAuC()
    r.add(pred, gt)
    # two bins, equal total weight after rebalancing: half the mass is perfect, half is wrong
    assert plain == pytest.approx(0.9 + 0.1 * 0.5 / 150)
    assert r.value() == pytest.approx(0.5 + 0.5 * 0.5 / 150)
    perfect = RebalancedAuC()
    perfect.add(gt, gt)
    assert perfect.value() == pytest.approx(1.0)


def test_colorfulness_by_hand_and_gray_is_zero(real_photos):
    gray = np.repeat(np.asarray(Image.open(real_photos[0]).convert("L"))[..., None], 3, axis=2)
    assert colorfulness(gray) == 0.0
    img = np.zeros((1, 2, 3))
    img[0, 0] = [255, 0, 0]  # rg = 255, yb = 127.5; the other pixel is black
    rg, yb = np.array([255.0, 0.0]), np.array([127.5, 0.0])
    expected = np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    assert colorfulness(img) == pytest.approx(expected)


def test_evaluate_command_writes_table_files_and_baselines(small_checkpoint, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sorted((DATA / "bsds500" / "test").glob("*.jpg"))[:4]:
        (photos / p.name).write_bytes(p.read_bytes())
    from huenet.data import prepare_pack

    prepare_pack([DATA / "flowers" / "val" / "roses"], tmp_path / "pack", size=32, workers=1, progress=False)
    r = run_cli("evaluate", photos, "--model", small_checkpoint, "--train-pack", tmp_path / "pack",
                "--protocol", "full", "256", "--out", tmp_path / "ev")
    assert r.returncode == 0, r.stderr
    for proto in ("full", "256"):
        assert f"protocol {proto}" in r.stdout
        summary = json.loads((tmp_path / "ev" / proto / "summary.json").read_text())
        assert set(summary["methods"]) == {"model", "gray", "mean-ab"} and summary["images"] == 4
        gray = summary["methods"]["gray"]
        assert gray["cf"] == pytest.approx(0.0, abs=0.5)  # gray really is gray
        assert gray["dcf"] == pytest.approx(gray["cf_gt"] - gray["cf"])
        assert 0.5 < gray["auc"] < 1.0
        rows = (tmp_path / "ev" / proto / "metrics.csv").read_text().splitlines()
        assert len(rows) == 1 + 4 * 3
        assert (tmp_path / "ev" / proto / "report.md").read_text().count("| gray |") == 1
        assert (tmp_path / "ev" / proto / "best.png").is_file()
    import csv

    first_row = next(csv.DictReader(rows))
    w, h = int(first_row["width"]), int(first_row["height"])
    assert (w, h) == (256, 256)  # protocol 256 resizes
    # the gray baseline computed by hand on one photo
    first = sorted(photos.iterdir())[0]
    gt = np.asarray(Image.open(first).convert("RGB"))
    lab = skcolor.rgb2lab(gt / 255.0)
    lab[..., 1:] = 0
    gray_rgb = np.clip(np.rint(skcolor.lab2rgb(lab) * 255), 0, 255).astype(np.uint8)
    table = csv.DictReader((tmp_path / "ev" / "full" / "metrics.csv").read_text().splitlines())
    row = next(r for r in table if r["image"] == first.name and r["method"] == "gray")
    assert float(row["psnr"]) == pytest.approx(psnr(gray_rgb, gt), abs=0.05)


def test_figures_command_writes_all_three_kinds(small_checkpoint, tmp_path):

    photo = sorted((DATA / "flowers" / "val" / "daisy").glob("*.jpg"))[0]
    r = run_cli("figures", "lab-split", photo, "--model", small_checkpoint, "-o", tmp_path / "split.png")
    assert r.returncode == 0, r.stderr
    r = run_cli("figures", "triptych", DATA / "bsds500" / "val", "--limit", "3", "--model", small_checkpoint,
                "-o", tmp_path / "sheet.png")
    assert r.returncode == 0, r.stderr
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.height > 3 * 256
    r = run_cli("figures", "triptych", photo, "--no-truth", "--model", small_checkpoint, "-o", tmp_path / "bw.png")
    assert r.returncode == 0
    r = run_cli("figures", "triptych", photo, "--model", small_checkpoint, "-o", tmp_path / "three.png")
    two, three = Image.open(tmp_path / "bw.png"), Image.open(tmp_path / "three.png")
    assert two.height == three.height and two.width < 0.75 * three.width  # Input | Predicted only
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"step": s, "epoch": s / 10, "lr": 1e-4 if s < 30 else 5e-5, "train_loss": 0.05 / s} for s in range(1, 50)]
    rows += [{"step": s, "epoch": s / 10, "lr": 1e-4 if s < 30 else 5e-5, "val_loss": 0.04 / s} for s in (10, 20, 30, 40)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run_cli("figures", "loss", run, "-o", tmp_path / "loss.png")
    assert r.returncode == 0 and Image.open(tmp_path / "loss.png").size[0] > 500
    assert Image.open(tmp_path / "split.png").size[0] > 500


def test_evaluation_by_source_shows_each_collection(tmp_path, small_checkpoint):
    """Photos named SOURCE__*.jpg (or in sub-folders) are also scored per source."""
    from huenet.colorize import Colorizer
    from huenet.evaluate import evaluate, source_of, write_outputs

    assert source_of("utkface__1_0_0.jpg") == "utkface" and source_of("roses/a.jpg") == "roses"
    assert source_of("a.jpg") == "-"
    photos = tmp_path / "p"
    photos.mkdir()
    val = sorted((DATA / "diverse" / "val").glob("*.jpg"))
    chosen = [p for p in val if p.name.startswith("utkface__")][:2] + [p for p in val if p.name.startswith("houses__")][:3]
    for p in chosen:
        (photos / p.name).write_bytes(p.read_bytes())
    ev, extremes = evaluate(Colorizer.load(small_checkpoint, device="cpu"), [photos], progress=False)
    summary = write_outputs(ev, extremes, tmp_path / "ev")
    by = summary["by_source"]
    assert set(by) == {"utkface", "houses"} and by["utkface"]["images"] == 2 and by["houses"]["images"] == 3
    # a source's means are the means of its own rows
    rows = [r for r in ev.rows if r["source"] == "houses" and r["method"] == "gray"]
    assert by["houses"]["gray"]["auc"] == pytest.approx(np.mean([r["auc"] for r in rows]))
    report = (tmp_path / "ev" / "report.md").read_text()
    assert "## By source" in report and "| utkface | 2 |" in report
    assert json.loads((tmp_path / "ev" / "summary.json").read_text())["by_source"]["houses"]["images"] == 3


def test_mean_delta_ab_between_two_renderings_of_a_real_photo():
    """0 for the same rendering; against the photo's gray version, its mean chroma (checked with
    scikit-image's Lab); symmetric."""
    from huenet.evaluate import mean_delta_ab

    path = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[0]
    rgb = np.asarray(Image.open(path).convert("RGB"))
    lab = skcolor.rgb2lab(rgb)
    gray = (np.clip(skcolor.lab2rgb(np.dstack([lab[..., :1], np.zeros_like(lab[..., 1:])])), 0, 1) * 255).round()
    gray = gray.astype(np.uint8)
    chroma = float(np.hypot(lab[..., 1], lab[..., 2]).mean())
    assert mean_delta_ab(rgb, rgb) == 0.0
    d = mean_delta_ab(rgb, gray)
    assert chroma > 5 and abs(d - chroma) < 0.05 * chroma, (d, chroma)
    assert abs(mean_delta_ab(gray, rgb) - d) < 1e-9
