import json
import pickle
import sys

import pytest
import torch

from huenet.checkpoints import CheckpointError, load_model, read_checkpoint, save_checkpoint
from huenet.models import create_model

from conftest import run_cli


def test_save_load_round_trip_with_sidecar(tmp_path):
    torch.manual_seed(1)
    model = create_model("vgg_fusion", encoder="vgg16", width=0.125, kernel_sizes=(4, 4, 16))
    path = save_checkpoint(tmp_path / "m.safetensors", model, meta={"training": {"epochs": 2}})
    side = json.loads((tmp_path / "m.json").read_text())
    assert side["model"] == "vgg_fusion" and side["config"]["kernel_sizes"] == [4, 4, 16]
    assert side["training"] == {"epochs": 2} and side["color_scaling"]["ab_scale"] == 110.0
    loaded, meta = load_model(path)
    L = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        assert torch.equal(model.eval()(L), loaded(L))
    assert not list(tmp_path.glob(".*tmp"))  # no temp files left behind


def test_loads_in_a_fresh_process(tmp_path):
    model = create_model("vgg_fusion", encoder="vgg16", width=0.125)
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    code = (
        "import torch, sys; from huenet.checkpoints import load_model; "
        f"m, meta = load_model({str(path)!r}); print(m.num_parameters(), meta['config']['width'])"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(model.num_parameters()), "0.125"]


def test_fp16_storage_halves_size_and_stays_close(tmp_path):
    torch.manual_seed(2)
    model = create_model("vgg_fusion", encoder="vgg16", width=0.25).eval()
    p32 = save_checkpoint(tmp_path / "a.safetensors", model)
    p16 = save_checkpoint(tmp_path / "b.safetensors", model, dtype=torch.float16)
    assert p16.stat().st_size < 0.55 * p32.stat().st_size
    m16, meta = load_model(p16)
    assert meta["stored_dtype"] == "float16" and next(m16.parameters()).dtype == torch.float32
    L = torch.rand(1, 1, 64, 64) * 100
    with torch.no_grad():
        assert (m16(L) - model(L)).abs().max() < 0.05


def test_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="pickle"):
        load_model(bad)
    zipped = tmp_path / "model.pt"
    torch.save({"x": Evil()}, zipped)
    with pytest.raises(CheckpointError, match="unpickling"):
        load_model(zipped)
    assert not marker.exists()


def test_corrupt_and_foreign_files_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        read_checkpoint(junk)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="no huenet config"):
        load_model(tmp_path / "plain.safetensors")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.safetensors")
    r = run_cli("info", "--model", str(junk))
    assert r.returncode == 2 and "junk.safetensors" in r.stderr and "Traceback" not in r.stderr


def test_weights_that_do_not_fit_are_refused_and_nothing_is_left_unloaded(tmp_path):
    """Models are built without memory (meta device) and filled from the file: a missing or
    misshapen tensor is a clear error, never a model with uninitialised parts."""
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    model = create_model("vgg_fusion", encoder="vgg16", width=0.125)
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    loaded, _ = load_model(path)
    tensors = [*loaded.named_parameters(), *loaded.named_buffers()]
    assert tensors and not any(t.is_meta for _, t in tensors)
    assert all(torch.equal(t, dict(model.state_dict())[n]) for n, t in loaded.state_dict().items())
    meta = json.loads((tmp_path / "m.json").read_text())
    state = load_file(str(path))
    for broken in ({k: v for k, v in state.items() if k != "head.weight"}, {**state, "head.bias": torch.zeros(7)}):
        bad = tmp_path / "bad.safetensors"
        save_file(broken, str(bad), metadata={"huenet": json.dumps(meta)})
        (tmp_path / "bad.json").write_text(json.dumps(meta))
        with pytest.raises(CheckpointError, match="bad.safetensors.*do not fit"):
            load_model(bad)


def test_split_files_stay_under_the_limit_and_load_as_one(tmp_path):
    """Shipped weights (and a GPU call's results) go in files under 16 MiB: the first file names the rest."""
    torch.manual_seed(0)
    model = create_model("vgg_fusion", encoder="vgg16", head="smooth", head_stride=4, output="bins")
    path = save_checkpoint(tmp_path / "m.safetensors", model, dtype=torch.float16, max_file_bytes=15 * 2**20)
    files = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    assert files == ["m-2.safetensors", "m-3.safetensors", "m.safetensors"]
    assert all((tmp_path / f).stat().st_size <= 15 * 2**20 for f in files)
    loaded, meta = load_model(path)
    assert meta["shards"] == ["m-2.safetensors", "m-3.safetensors"]
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a.half().float(), b), k
    (tmp_path / "m-3.safetensors").unlink()
    with pytest.raises(CheckpointError, match="m-3.safetensors"):
        load_model(path)
