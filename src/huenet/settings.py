"""Every colorizing option and its default, in one place.

``ColorizerSettings`` says how a ``Colorizer`` is built and runs (model, backend, device,
arithmetic, working size, vividness...); ``OutputSettings`` says how a batch of photos is read and
written (batch size, pixel limit, format, PNG level, comparison sheets). The command line
(``cli.add_colorizer_args`` / ``cli.settings_from_args``), the web app and the Ray actors all build
these, so a default is written here and nowhere else, and an option cannot be dropped on the way.

Values are checked when a settings object is made: a value out of range, or a combination that
cannot be honored (several scales on an exported ONNX graph, a temperature for an ``.onnx`` file
whose temperature is built in), is a ``SettingsError`` that names the option.

``ServerSettings`` holds the web server's limits (``huenet serve``).

This module needs neither PyTorch nor Pillow (``huenet --help`` stays fast).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import SettingsError

BACKENDS = ("torch", "onnxruntime")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
OUTPUT_FORMATS = ("png", "jpg", "webp", "tiff")
# the annealed mean's T (lower: bolder; 1: the muted mean) and restraint (less chroma where the
# likely colors disagree in hue): the ranges every entry point accepts
TEMPERATURE_RANGE = (0.01, 10.0)
RESTRAINT_RANGE = (0.0, 10.0)
MIN_WORKING_SIZE = 32
DEFAULT_WORKING_SIZE = 256  # for checkpoints that do not record the size they work best at
DEFAULT_MAX_PIXELS = 100_000_000  # larger images are refused (decompression bombs)
DEFAULT_PNG_LEVEL = 1  # zlib level: writes a 12 MP photo ~4x faster than Pillow's 6 for ~13% more bytes
DEFAULT_BATCH_SIZE = 8  # photos (or video frames) of one size that share a network batch
DEFAULT_STABILITY = 0.9  # video: weight of the color carried along the motion (0: every frame on its own)
DEFAULT_VIDEO_PRESET = "medium"  # x264's speed/size trade-off


def _in_range(name: str, value: float | None, bounds: tuple[float, float]) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise SettingsError(f"{name} must be between {bounds[0]:g} and {bounds[1]:g}, not {value:g}")


def _one_of(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingsError(f"unknown {name} {value!r}; use one of {', '.join(choices)}")


def refuse_for_onnx(scales=None, compile: bool = False, flip: bool | None = False) -> None:
    """The one rule for what an exported ONNX graph cannot do (the settings check it, and so does a
    Colorizer handed an onnxruntime runner directly)."""
    if scales is not None and len(scales) > 1:
        raise SettingsError("several scales need the PyTorch backend (an exported ONNX graph takes one size)")
    if compile:
        raise SettingsError("--compile applies to the PyTorch backend, not onnxruntime")
    if flip:
        raise SettingsError("flip averaging needs the PyTorch backend")


@dataclass(frozen=True)
class ColorizerSettings:
    """How a ``Colorizer`` is built; ``None`` means "the model's own value" (its checkpoint says)."""

    model: str | None = None  # checkpoint (.safetensors + .json, a run folder) or .onnx; None: the shipped weights
    backend: str = "torch"  # or "onnxruntime" (the network exported to ONNX; an .onnx model implies it)
    device: str = "auto"  # auto: CUDA, then MPS, then the CPU
    precision: str = "auto"  # the network's arithmetic: auto = bf16 where the device has it natively, else fp32
    compile: bool = False  # torch.compile the network (long GPU runs)
    size: int | None = None  # working size: the short side the network sees (default: the model's, else 256)
    temperature: float | None = None  # classification models: lower is bolder (default: the model's)
    restraint: float | None = None  # classification models: less color where unsure (default: the model's)
    saturation: float | None = None  # gain on the predicted ab (any model; default: the model's, else 1: as trained)
    scales: tuple[float, ...] | None = None  # also run at these multiples of the working size (default: the model's)
    crop_borders: bool | None = None  # keep uniform frames gray (default: the model's, else on)
    flip: bool | None = None  # also run on the mirrored photo and average (default: the model's, else off)
    fused: bool | None = None  # numba's one-pass color path: None = from 1 MP where numba is installed
    band_pixels: int | None = None  # full-resolution color math in bands of this many pixels (default by device)

    def __post_init__(self) -> None:
        if self.model is not None and not isinstance(self.model, str):
            object.__setattr__(self, "model", str(self.model))  # a Path
        if self.scales is not None:
            object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))
        _one_of("backend", self.backend, BACKENDS)
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise SettingsError(f"unknown device {self.device!r}; use one of {', '.join(DEVICES)}")
        _one_of("precision", self.precision, PRECISIONS)
        if self.size is not None and self.size < MIN_WORKING_SIZE:
            raise SettingsError(f"working size must be at least {MIN_WORKING_SIZE} pixels, not {self.size}")
        _in_range("temperature", self.temperature, TEMPERATURE_RANGE)
        _in_range("restraint", self.restraint, RESTRAINT_RANGE)
        if self.saturation is not None and not self.saturation > 0:
            raise SettingsError(f"saturation must be > 0, not {self.saturation:g}")
        if self.scales is not None and (not self.scales or self.scales[0] != 1.0 or min(self.scales) <= 0):
            raise SettingsError(f"scales start with 1 (the working size) and are > 0, not {list(self.scales)}")
        if self.onnx:
            refuse_for_onnx(scales=self.scales, compile=self.compile, flip=self.flip)
        if self.model is not None and self.model.endswith(".onnx") and (
                self.temperature is not None or self.restraint is not None):
            raise SettingsError(f"{self.model}: an exported model has its temperature and restraint built in; "
                                "export again with --temperature to change it")

    @property
    def onnx(self) -> bool:
        """Whether the network runs on onnxruntime (asked for, or an ``.onnx`` model)."""
        return self.backend == "onnxruntime" or (self.model or "").endswith(".onnx")

    def replace(self, **changes) -> "ColorizerSettings":
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class OutputSettings:
    """How a batch of photos is read and written (local threads and Ray alike)."""

    batch_size: int = DEFAULT_BATCH_SIZE  # photos of one size that share a network batch
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger images are refused (decompression bombs)
    format: str | None = None  # png, jpg, webp, tiff; None: the input's, PNG for others
    png_level: int = DEFAULT_PNG_LEVEL  # zlib level of PNG outputs, 0-9
    compare: bool = False  # also write NAME_compare.png: Input | Predicted | Original

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise SettingsError(f"batch size must be at least 1, not {self.batch_size}")
        if self.max_pixels < 1:
            raise SettingsError(f"max pixels must be at least 1, not {self.max_pixels}")
        if self.format is not None:
            fmt = self.format.lower().lstrip(".")
            object.__setattr__(self, "format", {"jpeg": "jpg", "tif": "tiff"}.get(fmt, fmt))
            _one_of("output format", self.format, OUTPUT_FORMATS)
        if not 0 <= self.png_level <= 9:
            raise SettingsError(f"PNG compression level must be 0 to 9, not {self.png_level}")


@dataclass(frozen=True)
class ServerSettings:
    """The web server's limits (``huenet serve``; ``web/app.py``)."""

    max_upload_bytes: int = 25 * 1000 * 1000  # 25 MB
    max_pixels: int = 50_000_000  # decompression-bomb guard for uploads (stricter than for local files)
    workers: int = 1  # photos colorized at the same time
    queue: int = 8  # requests allowed to wait beyond those running; beyond that: 503
    retry_after_s: int = 2
    min_size: int = 64  # the working sizes a request may ask for
    max_size: int = 1024
    # short clips only: a request holds a worker for the whole clip (about 3-10 frames/s on 2 cores)
    max_video_seconds: float = 20.0
    max_video_frames: int = 600
    max_video_pixels: int = 1920 * 1080  # per frame
