"""Training on real photos: the loss falls, the schedule halves, runs resume exactly and survive kills."""

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from huenet.checkpoints import load_model, read_checkpoint
from huenet.runtime import cpu_has_native_bf16
from huenet.config import TrainConfig, load_recipe
from huenet.data import lab_batch, prepare_pack
from huenet.training import NonFiniteLossError, Trainer, resume, train

from conftest import DATA, HED_FILE, REPO, run_cli

SMALL = {"encoder": "vgg16", "width": 0.125}


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """64 real training photos (flowers + ImageNet samples) and 16 validation photos, 72 px."""
    root = tmp_path_factory.mktemp("photos")
    for sub, n in [("flowers/train/roses", 24), ("flowers/train/sunflowers", 24), ("imagenet-samples", 16)]:
        (root / "train").mkdir(exist_ok=True)
        for p in sorted((DATA / sub).glob("*.jpg"))[:n]:
            shutil.copy(p, root / "train" / p.name)
    (root / "val").mkdir()
    for p in sorted((DATA / "flowers" / "val").rglob("*.jpg"))[::24][:16]:
        shutil.copy(p, root / "val" / p.name)
    out = tmp_path_factory.mktemp("pack") / "p"
    report = prepare_pack([root], out, size=72, workers=2, progress=False)
    assert report.counts["train"] >= 60 and report.counts["val"] >= 14
    return out


def small_cfg(pack, out, **kw) -> TrainConfig:
    base = dict(data=str(pack), out=str(out), model_config=SMALL, batch_size=8, size=64, epochs=2,
                log_every=1, samples=2, progress=False, device="cpu", workers=0)
    return TrainConfig(**{**base, **kw})


def metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_real_training_lowers_validation_loss(pack, tmp_path):
    cfg = small_cfg(pack, tmp_path / "run", model_config={"encoder": "vgg16", "stem_init": "gray"},
                    encoder_weights=f"hed:{HED_FILE}", epochs=3, lr=3e-4, lr_halving_epochs=0)
    trainer = Trainer(cfg)
    before = trainer.validate()
    run = trainer.fit()
    vals = [r["val_loss"] for r in metrics(run) if "val_loss" in r]
    assert len(vals) == 3 and min(vals) < before * 0.97, (before, vals)
    files = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}
    assert {"config.json", "metrics.jsonl", "checkpoints/last.safetensors", "checkpoints/last.json",
            "checkpoints/best.safetensors", "checkpoints/best.json", "samples/epoch_003.png"} <= files
    best, meta = load_model(run / "checkpoints" / "best.safetensors")
    assert meta["training"]["recipe"]["lr"] == 3e-4 and meta["encoder_weights"]["source"] == "hed"
    assert meta["data"]["counts"]["train"] >= 60
    # bf16 autocast where this CPU has it natively (then this test shows bf16 training learns)
    assert meta["training"]["precision"] == ("bf16" if cpu_has_native_bf16() else "fp32")
    a, b = meta["data"]["mean_ab"]  # recorded for evaluation's mean-ab baseline
    assert -30 < a < 30 and -30 < b < 60 and (a, b) != (0, 0)
    train_rows = [r for r in metrics(run) if "train_loss" in r]
    assert all(r["images_per_s"] > 0 for r in train_rows)


def test_learning_rate_halves_every_three_epochs(pack, tmp_path):
    # 64 photos, batch 32 -> 2 steps an epoch; 7 epochs
    run = train(small_cfg(pack, tmp_path / "run", batch_size=32, epochs=7, samples=0, val_max=8))
    lr_by_epoch = {int(r["epoch"] - 1e-9): r["lr"] for r in metrics(run) if "train_loss" in r}
    assert [lr_by_epoch[e] for e in range(7)] == [1e-4] * 3 + [5e-5] * 3 + [2.5e-5]
    state = read_checkpoint(run / "checkpoints" / "last.safetensors")[1]["train_state"]
    assert state["scheduler"]["last_epoch"] == 7 and state["epoch"] == 7


def _weights(run):
    tensors, meta = read_checkpoint(run / "checkpoints" / "last.safetensors")
    return tensors, meta["train_state"]


def test_resume_equals_straight(pack, tmp_path):
    # 8 steps an epoch: stop at step 5 (mid-epoch), resume to 12 (crossing an epoch boundary)
    straight = train(small_cfg(pack, tmp_path / "a", max_steps=12, deterministic=True))
    half = train(small_cfg(pack, tmp_path / "b", max_steps=5, deterministic=True))
    assert _weights(half)[1]["step"] == 5 and _weights(half)[1]["step_in_epoch"] == 5
    resumed = resume(half, max_steps=12)
    (ta, sa), (tb, sb) = _weights(straight), _weights(resumed)
    assert sa["step"] == sb["step"] == 12 and sa["epoch"] == sb["epoch"] == 1
    assert set(ta) == set(tb)
    for k in ta:
        if k != "rng/torch":
            assert torch.equal(ta[k], tb[k]), k
    # the resumed run's log holds each step once
    steps = [r["step"] for r in metrics(resumed) if "train_loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 12


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(pack, tmp_path):
    cfg = small_cfg(pack, tmp_path / "run", lr=1e12, save_every=1, samples=0)
    with pytest.raises(NonFiniteLossError, match=r"at step \d+ .*last good checkpoint") as info:
        train(cfg)
    failed_step = int(str(info.value).split("at step ")[1].split()[0])
    tensors, state = _weights(tmp_path / "run")
    assert state["step"] == failed_step - 1
    load_model(tmp_path / "run" / "checkpoints" / "last.safetensors")  # still loads


def _train_cmd(pack, out, steps):
    return [sys.executable, "-m", "huenet.cli", "train", "--data", str(pack), "--out", str(out),
            "--encoder", "vgg16", "--batch-size", "8", "--size", "64", "--epochs", "10", "--max-steps", str(steps),
            "--save-every", "1", "--device", "cpu", "--deterministic"]


def _saved_step(run) -> int:
    """The step of a run's last complete checkpoint (0 before the first)."""
    try:
        return json.loads((run / "checkpoints" / "last.json").read_text())["train_state"]["step"]
    except (OSError, ValueError, KeyError):
        return 0


def _small_recipe(tmp_path):
    recipe = tmp_path / "small.toml"
    recipe.write_text('[model]\nencoder = "vgg16"\nwidth = 0.125\n[train]\nsamples = 0\nprogress = false\nlog_every = 1\n')
    return recipe


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_matches_straight(pack, tmp_path):
    recipe = _small_recipe(tmp_path)
    steps = 40
    straight = tmp_path / "straight"
    subprocess.run(_train_cmd(pack, straight, steps) + ["--config", str(recipe)], check=True, capture_output=True)
    run = tmp_path / "killed"
    rng = random.Random(0)
    cmd = _train_cmd(pack, run, steps) + ["--config", str(recipe)]
    kills, saved = 0, 0
    while True:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill at a random moment (inside a step, a save or between them) once this attempt has
        # gone a few steps past the last kill; after three kills, let it finish. Waiting on the
        # run's own progress, not on wall time, keeps the kill count independent of machine load.
        if kills < 3:
            target = saved + rng.randint(3, 8)
            while proc.poll() is None and _saved_step(run) < target:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
        if kills >= 3 or proc.poll() is not None:
            proc.wait(timeout=600)
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        ckpt = run / "checkpoints" / "last.safetensors"
        if ckpt.exists():  # every checkpoint on disk is complete and loadable
            read_checkpoint(ckpt)
            load_model(ckpt)
            cmd = [sys.executable, "-m", "huenet.cli", "train", "--resume", str(run)]
        saved = _saved_step(run)
    assert proc.returncode == 0 and kills >= 3
    assert not list((run / "checkpoints").glob(".*.tmp"))  # half-written files of killed runs are cleared
    (ta, sa), (tb, sb) = _weights(straight), _weights(run)
    assert sa["step"] == sb["step"] == steps
    for k in ta:
        if k != "rng/torch":
            assert torch.equal(ta[k], tb[k]), k


@pytest.mark.slow
def test_ctrl_c_saves_and_exits_cleanly(pack, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(_train_cmd(pack, run, 200) + ["--config", str(_small_recipe(tmp_path))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "last.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "stopped at step" in err and "--resume" in err
    step = json.loads((run / "checkpoints" / "last.json").read_text())["train_state"]["step"]
    assert 1 <= step < 200


@pytest.mark.slow
def test_ddp_two_processes_match_single_process(pack, tmp_path):
    recipe = _small_recipe(tmp_path)
    # fp32: in bf16 the two halves of a batch round differently from the whole (the comparison
    # below is of the arithmetic of gradient averaging, not of bf16)
    common = ["--data", str(pack), "--encoder", "vgg16", "--batch-size", "8", "--size", "64", "--epochs", "1",
              "--max-steps", "4", "--device", "cpu", "--config", str(recipe), "--no-amp"]
    single = tmp_path / "single"
    r = run_cli("train", "--out", single, *common)
    assert r.returncode == 0, r.stderr
    ddp = tmp_path / "ddp"
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "huenet.cli", "train", "--out", str(ddp), *common],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (ta, sa), (tb, sb) = _weights(single), _weights(ddp)
    assert sa["step"] == sb["step"] == 4
    meta = read_checkpoint(ddp / "checkpoints" / "last.safetensors")[1]
    assert meta["training"]["world_size"] == 2
    for k in ta:
        if not k.startswith(("rng/", "optim/")):
            scale = ta[k].abs().max().clamp(min=1e-3)
            assert (ta[k] - tb[k]).abs().max() / scale < 1e-4, k
    assert len([ln for ln in (ddp / "metrics.jsonl").read_text().splitlines() if "train_loss" in ln]) == 4


def test_recipes_parse_and_cli_overrides_them(tmp_path):
    for name in ("flowers", "lamem"):
        cfg = load_recipe(REPO / "configs" / f"{name}.toml")
        assert cfg.lr == 1e-4 and cfg.lr_halving_epochs == 3 and cfg.batch_size == 16 and cfg.size == 128
        assert cfg.model == "vgg_fusion" and cfg.model_config["encoder"] == "vgg19"
        assert cfg.epochs == 25 and cfg.betas == (0.9, 0.999)
    # the shipped weights' recipes say what the shipped checkpoint records: the H200 run (its earlier
    # stage), then the CPU fine-tune from it
    meta = json.loads((REPO / "weights" / "huenet-lite0-cls.json").read_text())
    stages = [(configs, stage["training"]["recipe"]) for configs, stage in
              (("default-weights", meta["earlier_stages"][0]), ("scale-consistency", meta))]
    for name, run in stages:
        recipe = load_recipe(REPO / "configs" / f"{name}.toml")
        for field in ("objective", "rebalance_lambda", "batch_size", "size", "lr", "freeze_through",
                      "lr_halving_epochs", "epochs", "crop_scale", "crop_aspect", "train_sizes", "scale_consistency"):
            value = getattr(recipe, field)
            assert (list(value) if isinstance(value, tuple) else value) == run.get(field, 0.0), (name, field)
    shipped = load_recipe(REPO / "configs" / "default-weights.toml")
    assert {k: meta["config"][k] for k in shipped.model_config} == shipped.model_config
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlearning_rate = 1\n")
    with pytest.raises(ValueError, match="learning_rate"):
        load_recipe(bad)


def test_pack_without_val_split_holds_out_a_fraction(tmp_path):
    photos = sorted((DATA / "flowers" / "train" / "tulips").glob("*.jpg"))[:30]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(str(p) for p in photos))
    prepare_pack([listing], tmp_path / "pack", size=40, workers=1, progress=False)
    run = train(small_cfg(tmp_path / "pack", tmp_path / "run", size=32, epochs=1, val_fraction=0.2, batch_size=8))
    meta = read_checkpoint(run / "checkpoints" / "best.safetensors")[1]
    held = meta["data"]["held_out_for_val"]
    assert held == round(meta["data"]["counts"]["train"] * 0.2)
    assert any("val_loss" in r for r in metrics(run)) and (run / "samples" / "epoch_001.png").is_file()


# --- issue 16: the classification objective, the residual net, wall-clock budgets ----------------

CLS = {"encoder": "vgg16", "width": 0.125, "head": "smooth", "head_stride": 4}


def test_classification_learns_and_its_prior_travels_with_the_checkpoint(pack, tmp_path):
    cfg = small_cfg(pack, tmp_path / "run", model_config=CLS, objective="classification", rebalance_lambda=0.5,
                    epochs=3, lr=1e-3, lr_halving_epochs=0, samples=2)
    trainer = Trainer(cfg)
    assert trainer.model.output_channels == 261 and trainer.model.config.output == "bins"
    before = trainer.validate()
    run = trainer.fit()
    vals = [r["val_loss"] for r in metrics(run) if "val_loss" in r]
    assert min(vals) < before * 0.97, (before, vals)  # from a uniform distribution toward real colors
    for name in ("last", "best"):
        tensors, meta = read_checkpoint(run / "checkpoints" / f"{name}.safetensors")
        prior = tensors["objective/prior"]
        assert prior.shape == (261,) and abs(prior.sum().item() - 1) < 1e-4
        assert meta["training"]["objective"] == {"name": "classification", "rebalance_lambda": 0.5, "soft_neighbours": 5,
                                                 "soft_sigma": 5.0, "prior_sigma": 5.0, "bins": 261}
    model, _ = load_model(run / "checkpoints" / "best.safetensors")  # loads as a colorizer would
    with torch.no_grad():
        ab = model(torch.rand(1, 1, 64, 80) * 100)
    assert ab.shape == (1, 2, 64, 80) and ab.abs().mean() > 0.5


def assert_resume_equals_straight(pack, tmp_path, **kw):
    """10 steps straight == 4 steps, then resumed to 10: every tensor bit for bit (the prior of a
    classification run is read back, not counted again)."""
    straight = train(small_cfg(pack, tmp_path / "a", max_steps=10, deterministic=True, samples=0, **kw))
    half = train(small_cfg(pack, tmp_path / "b", max_steps=4, deterministic=True, samples=0, **kw))
    resumed = resume(half, max_steps=10)
    (ta, sa), (tb, sb) = _weights(straight), _weights(resumed)
    assert sa["step"] == sb["step"] == 10
    for k in ta:
        if k != "rng/torch":
            assert torch.equal(ta[k], tb[k]), k


def test_classification_resume_equals_straight(pack, tmp_path):
    assert_resume_equals_straight(pack, tmp_path, model_config=CLS, objective="classification")


def test_classification_needs_a_bins_model(pack, tmp_path):
    with pytest.raises(ValueError, match="output = 'bins'"):
        Trainer(small_cfg(pack, tmp_path / "run", model_config={**CLS, "output": "ab"}, objective="classification"))
    with pytest.raises(ValueError, match="objective"):
        Trainer(small_cfg(pack, tmp_path / "run", objective="perceptual"))
    from huenet.weights import default_weights_path  # the shipped model predicts bins: no MSE on it

    with pytest.raises(ValueError, match="classification"):
        Trainer(small_cfg(pack, tmp_path / "run", init_from=str(default_weights_path()), objective="mse"))


def test_residual_network_trains_from_scratch(pack, tmp_path):
    cfg = small_cfg(pack, tmp_path / "run", model="resnet_johnson", model_config={"width": 8, "blocks": 2},
                    epochs=2, lr=1e-3, samples=0)
    trainer = Trainer(cfg)
    before = trainer.validate()
    run = trainer.fit()
    vals = [r["val_loss"] for r in metrics(run) if "val_loss" in r]
    assert min(vals) < before, (before, vals)
    model, meta = load_model(run / "checkpoints" / "best.safetensors")
    assert meta["model"] == "resnet_johnson"
    with pytest.raises(ValueError, match="no encoder to freeze"):
        train(small_cfg(pack, tmp_path / "r2", model="resnet_johnson", model_config={"width": 8, "blocks": 2},
                        freeze_through="pool3"))


def test_time_limit_stops_cleanly_with_a_best_checkpoint_and_resumes(pack, tmp_path):
    # 0.0005 min = 30 ms: the first step already runs past it; the run stops mid-epoch
    run = train(small_cfg(pack, tmp_path / "run", epochs=5, time_limit_min=0.0005, samples=0))
    state = _weights(run)[1]
    assert 1 <= state["step"] < 8 and state["epoch"] == 0  # stopped inside the first epoch
    assert (run / "checkpoints" / "best.safetensors").is_file()  # validated before stopping
    assert any("val_loss" in r for r in metrics(run))
    resumed = resume(run, time_limit_min=0.0)  # no limit: finish all 5 epochs
    assert _weights(resumed)[1]["epoch"] == 5


def test_scale_consistency_trains_and_needs_classification(pack, tmp_path):
    """With scale_consistency each batch is also seen at half size and the two views are pulled
    together (the full-size view toward the half-size one, or with reference "large" the other
    way): the same run with a faint pull ends with the two views further apart."""
    from huenet.objectives import scale_consistency

    divergence, losses = {}, {}
    for weight, reference in ((0.01, "small"), (5.0, "small"), (5.0, "large")):  # all also train on the half-size view
        cfg = small_cfg(pack, tmp_path / f"run{weight}{reference}", model_config=CLS, objective="classification",
                        epochs=3, lr=1e-3, lr_halving_epochs=0, samples=0, scale_consistency=weight,
                        scale_consistency_reference=reference, deterministic=True)
        trainer = Trainer(cfg)
        run = trainer.fit()
        losses[weight, reference] = [r["train_loss"] for r in metrics(run) if "train_loss" in r]
        L = torch.cat([lab_batch(rgb)[0] for rgb in trainer._val_batches(16)])
        half = torch.nn.functional.interpolate(L, scale_factor=0.5, mode="bilinear", antialias=True)
        with torch.no_grad():
            raw_half, raw = trainer.model.raw(half), trainer.model.raw(L)
            divergence[weight, reference] = {ref: scale_consistency(raw_half, raw, ref).item() for ref in ("small", "large")}
    for reference in ("small", "large"):  # each pull lowers the divergence it trains
        assert losses[5.0, reference] and all(math.isfinite(x) for x in losses[5.0, reference])
    # the large view can copy the small one's coarser colors at once (0.31 -> 7e-5 here); the small
    # view can only approach the large one's detail (0.24 -> 0.20), and the large view is left free
    assert divergence[5.0, "small"]["small"] < 0.01 * divergence[0.01, "small"]["small"], divergence
    assert divergence[5.0, "large"]["large"] < 0.9 * divergence[0.01, "small"]["large"], divergence
    assert divergence[5.0, "large"]["small"] > 100 * divergence[5.0, "small"]["small"], divergence
    with pytest.raises(ValueError, match="scale_consistency_reference"):
        Trainer(small_cfg(pack, tmp_path / "ref", model_config=CLS, objective="classification", scale_consistency=1.0,
                          scale_consistency_reference="both"))
    with pytest.raises(ValueError, match="scale_consistency"):
        Trainer(small_cfg(pack, tmp_path / "mse", scale_consistency=1.0))
