"""Colorization networks, built by name from a config dataclass (a small registry).

Every network maps L in [0, 100] (``N x 1 x H x W``) to ab in Lab units (``N x 2 x H x W``); the
shared ``ColorNet`` base applies the ``LabScaling`` so model code only sees scaled tensors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .color import LabScaling
from .encoders import VGGEncoder, gray_stem_from_rgb, load_encoder_weights

_REGISTRY: dict[str, tuple[type, Callable[..., "ColorNet"]]] = {}


def register_model(name: str, config_cls: type):
    def wrap(cls):
        _REGISTRY[name] = (config_cls, cls)
        cls.model_name = name
        return cls

    return wrap


def model_names() -> list[str]:
    return sorted(_REGISTRY)


def config_from_dict(name: str, values: dict[str, Any] | None = None):
    """Build model ``name``'s config dataclass from plain values (e.g. a checkpoint's JSON)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known: {model_names()}")
    config_cls = _REGISTRY[name][0]
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {name} config fields {sorted(unknown)}; known: {sorted(known)}")
    for f in dataclasses.fields(config_cls):  # JSON/TOML give lists where we keep tuples
        if isinstance(values.get(f.name), list):
            values[f.name] = tuple(values[f.name])
    return config_cls(**values)


def create_model(name: str, config=None, encoder_weights: str | None = None, **overrides) -> "ColorNet":
    """``create_model("vgg_fusion", encoder="vgg16", encoder_weights="imagenet")``."""
    if config is None or isinstance(config, dict):
        config = config_from_dict(name, {**(config or {}), **overrides})
    elif overrides:
        config = dataclasses.replace(config, **overrides)
    model = _REGISTRY[name][1](config)
    if encoder_weights:
        model.load_encoder_weights(encoder_weights)
    return model


class ColorNet(nn.Module):
    """Base: ``forward(L) -> ab`` in Lab units; subclasses implement ``predict(l_net) -> ab_net``."""

    model_name = "base"
    # Sides of the input must be multiples of this; other sizes are padded, then cropped back.
    multiple = 1

    def __init__(self, config, scaling: LabScaling = LabScaling()):
        super().__init__()
        self.config = config
        self.scaling = scaling

    def predict(self, l_net: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        h, w = L.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        # Always pad (by 0 when the sides fit) so that exported graphs keep the padding symbolic.
        x = F.pad(self.scaling.normalize_l(L), (0, pw, 0, ph), mode="replicate")
        ab = self.predict(x)[..., :h, :w]
        return self.scaling.denormalize_ab(ab)

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


@dataclass(frozen=True)
class VGGFusionConfig:
    """The seed design. Defaults follow its README, except where noted.

    - ``encoder``: ``vgg19`` (the README: up to ``relu5_4``) or ``vgg16`` (up to ``relu5_3``).
    - ``kernel_sizes``: the three transposed convolutions (x2, x2, x8). The README says 3x3 for all;
      the original code used 4x4, 4x4, 16x16. We default to 3, 3, 16: a 3x3 kernel at stride 8 leaves
      55 of every 64 output pixels untouched by any kernel tap (they would be the bias alone), so
      the last one takes the code's 16x16, which covers every pixel. A last kernel smaller than
      its stride is refused.
    - ``pool``: the VGG pools and the extra pool5 (``max`` as in VGG, or ``avg``). relu5_x is at
      1/16, so a pool5 (1/32) comes before the first stride-2 transposed conv, as in the code.
    - ``width``: channel multiplier (1.0 = VGG; smaller only for quick experiments, no pretrained).
    - ``stem_init``: ``random`` (the seed) or ``gray``: start the 1->64 stem from the pretrained
      RGB conv1_1 folded for gray input (see ``encoders.gray_stem_from_rgb``).
    """

    encoder: str = "vgg19"
    kernel_sizes: tuple[int, int, int] = (3, 3, 16)
    pool: str = "max"
    width: float = 1.0
    stem_init: str = "random"

    def __post_init__(self):
        if len(self.kernel_sizes) != 3:
            raise ValueError("kernel_sizes needs three sizes (x2, x2, x8 upsamplers)")
        for k, s in zip(self.kernel_sizes, (2, 2, 8)):
            if k < s:
                raise ValueError(
                    f"a transposed conv of kernel {k} at stride {s} leaves output pixels that no "
                    f"kernel tap reaches; use a kernel of at least {s}"
                )
        if self.stem_init not in ("random", "gray"):
            raise ValueError(f"stem_init must be 'random' or 'gray', not {self.stem_init!r}")


def _upsampler(c_in: int, c_out: int, kernel: int, stride: int) -> nn.ConvTranspose2d:
    # out = (in - 1) * stride - 2 * padding + kernel + output_padding = in * stride
    padding = max(0, -(-(kernel - stride) // 2))
    output_padding = 2 * padding - (kernel - stride)
    return nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding=padding, output_padding=output_padding)


@register_model("vgg_fusion", VGGFusionConfig)
class VGGFusion(ColorNet):
    """``L -> conv3x3(1->64) -> ReLU -> VGG conv1_2 .. relu5_x -> pool5 -> up x2 (+pool4) -> up x2
    (+pool3) -> up x8 -> ab``; no non-linearity after any transposed convolution."""

    multiple = 32

    def __init__(self, config: VGGFusionConfig = VGGFusionConfig(), scaling: LabScaling = LabScaling()):
        super().__init__(config, scaling)
        self.encoder = VGGEncoder(config.encoder, in_channels=1, width=config.width, pool=config.pool)
        c3, c4 = self.encoder.channels["pool3"], self.encoder.channels["pool4"]
        c5 = self.encoder.channels["pool5"]
        k1, k2, k3 = config.kernel_sizes
        self.up4 = _upsampler(c5, c4, k1, 2)  # 1/32 -> 1/16, fused with pool4
        self.up3 = _upsampler(c4, c3, k2, 2)  # 1/16 -> 1/8, fused with pool3
        self.head = _upsampler(c3, 2, k3, 8)  # 1/8 -> 1/1: a, b
        # Start from gray (ab = 0) rather than from random colors: on top of pretrained features
        # a random head predicts |ab| ~ 60, a large first loss that shakes the encoder.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def predict(self, l_net: torch.Tensor) -> torch.Tensor:
        f = self.encoder.forward_features(l_net, ["pool3", "pool4", "pool5"])
        x = self.up4(f["pool5"]) + f["pool4"]  # N x 512 x H/16 x W/16
        x = self.up3(x) + f["pool3"]  # N x 256 x H/8 x W/8
        return self.head(x)  # N x 2 x H x W

    def load_encoder_weights(self, spec: str) -> dict:
        """Load a pretrained VGG trunk (all convs but conv1_1, which the L stem replaces)."""
        if self.config.width != 1.0:
            raise ValueError("pretrained encoder weights need width 1.0")
        weights = load_encoder_weights(spec, self.config.encoder)
        sd = dict(weights.state_dict)
        w0, b0 = sd.pop("features.0.weight"), sd.pop("features.0.bias")
        if self.config.stem_init == "gray":
            w, b = gray_stem_from_rgb(w0, b0, weights.norm, l_offset=-self.scaling.normalize_l(torch.tensor(0.0)).item())
            sd["features.0.weight"], sd["features.0.bias"] = w, b
        missing, unexpected = self.encoder.load_state_dict(sd, strict=False)
        assert not unexpected and set(missing) <= {"features.0.weight", "features.0.bias"}, (missing, unexpected)
        self.encoder_provenance = {**weights.provenance, "stem_init": self.config.stem_init}
        return self.encoder_provenance
