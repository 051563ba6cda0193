"""Colorizing photos at their original resolution: ``preprocess -> network -> postprocess``.

1. Keep the photo's full-resolution L (from its RGB, or its gray values).
2. Run the network on L resized to the working size (short side ``size``).
3. Upsample the predicted ab to the original size and join it to the original L.

So the output has exactly the input's size and lightness; only the color comes from the network.
All color math runs on the model's device, in batches of same-size photos, and at full resolution
in bands of rows (bounded, reused memory), or on CPUs with numba, for large photos, in fused kernels
from the 8-bit pixels to the 8-bit output (``fused.py``); the network runs in bf16 where the
hardware has it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .borders import frame_box
from .color import lab_to_rgb_keep_lightness, lab_to_srgb_u8, lightness_of
from . import fused, video
from . import hints as H
from .errors import SettingsError
from .images import (
    DEFAULT_MAX_PIXELS, Photo, image_from_rgbx, load_photo, photo_from_pil, pil_from_u8, tensor_view, working_size,
)
from .onnx_backend import onnx_metadata, onnx_runner
from .checkpoints import load_model
from .runtime import pick_device, pick_precision
from .settings import DEFAULT_BATCH_SIZE, DEFAULT_WORKING_SIZE, ColorizerSettings, refuse_for_onnx
from .weights import default_weights_path

# the fused color path (fused.py) from this many pixels up: below ~1 MP the tensor path is already
# fast, and a fresh install's first fused call spends seconds compiling
FUSED_MIN_PIXELS = 1 << 20


class Colorizer:
    """Colorize photos with a trained model.

    >>> c = Colorizer.load("weights/huenet-vgg16.safetensors")   # or Colorizer.load() for the shipped model
    >>> color = c.colorize(Image.open("old.jpg"))                   # same size as the input
    """

    def __init__(self, model: torch.nn.Module | None, settings: ColorizerSettings | None = None, *,
                 meta: dict | None = None, runner: Callable[..., torch.Tensor] | None = None, **options):
        """``model`` (or ``runner``, an exported graph's function ``L -> ab``) with ``settings``;
        keyword ``options`` are ``ColorizerSettings`` fields that override them. ``meta``: the
        checkpoint's JSON (its ``inference`` table gives the defaults for ``None`` settings)."""
        if isinstance(options.get("device"), torch.device):
            options["device"] = str(options["device"])
        settings = settings or ColorizerSettings()
        settings = settings.replace(**options) if options else settings
        if runner is None and model is None:
            raise ValueError("a Colorizer needs a model or a runner")
        self.settings = settings
        meta = meta or {}
        inference = meta.get("inference") or {}
        self.meta = meta
        self.backend = "onnxruntime" if runner is not None else "torch"
        self.device = pick_device(settings.device) if self.backend == "torch" else torch.device("cpu")
        # the working size the model was measured best at (its checkpoint says), else 256
        self.size = settings.size or inference.get("size") or DEFAULT_WORKING_SIZE
        # MSE-trained models predict safe, desaturated colors (the mean of the plausible ones);
        # a gain on ab > 1 counters that. The gamut mapping keeps boosted colors displayable.
        self.saturation = float(inference.get("saturation", 1.0)) if settings.saturation is None else settings.saturation
        # full-resolution color math runs in bands of about this many pixels (see colorize_rgb):
        # 256 K on CPUs (the fastest of 64 K..1 M here), larger on GPUs (fewer kernel launches)
        self.band_pixels = settings.band_pixels or (1 << 18 if self.device.type == "cpu" else 1 << 22)
        apply_decode_settings(model, settings)  # the model's defaults from now on (per-call values override them)
        # the network's arithmetic; the color math around it always runs in fp32
        self.precision = pick_precision(settings.precision, self.device) if self.backend == "torch" else "fp32"
        self.model = model.to(self.device).eval() if model is not None else None
        # channels_last: +21% network throughput on this project's 2-core CPU (benchmarks/RESULTS.md)
        self.channels_last = self.device.type in ("cpu", "cuda")
        if self.model is not None and self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # torch.compile: for long GPU runs. On this project's CPU it was no faster than eager
        # (bf16 110 vs 114 ms at 256) after 9-14 s of compiling (benchmarks/RESULTS.md)
        # bf16: the network runs on a copy whose parameters are stored in bf16 (made here, after the
        # decode settings above; the model given is left as it is), so that autocast does not cast
        # every weight again on every call: bit-identical output, 11% less network time at the
        # shipped working size on this project's CPU (benchmarks/RESULTS.md)
        net = _with_bf16_parameters(self.model) if self.model is not None and self.precision == "bf16" else self.model
        self._net = torch.compile(net, dynamic=True) if settings.compile and net is not None else net
        # flip averaging: the network also sees the mirrored photo and the two predictions are
        # averaged (2x the network's work at the working size); the checkpoint says if it pays
        self.flip = bool(inference.get("flip", False)) if settings.flip is None else settings.flip
        # uniform frames (scans, film edges) are kept gray and the network sees the picture inside
        # (borders.py); on unless the checkpoint or the caller says otherwise
        self.crop_borders = bool(inference.get("crop_borders", True)) if settings.crop_borders is None \
            else settings.crop_borders
        # multi-scale: the network also sees the photo at size * s for each further s, and the
        # logits are averaged (less blotchy, steadier across working sizes; docs/comparison.md).
        # An exported graph takes one size: ONNX runs the first scale alone unless told otherwise
        default_scales = inference.get("scales") if runner is None else None
        self.scales = tuple(float(x) for x in (settings.scales or default_scales or (1.0,)))
        if runner is not None:
            refuse_for_onnx(scales=self.scales)
        # the fused full-resolution color path (numba, CPU): None = where numba is installed and the
        # photo has at least fused.MIN_PIXELS; True = always on the CPU (an error without numba); False = never
        self.fused = settings.fused
        self._runner = runner or self._run_torch

    @property
    def network(self) -> torch.nn.Module | None:
        """The module that runs: ``model`` itself, or under bf16 its copy with bf16 parameters
        (hooks and inspection of what runs go here)."""
        net = self._net
        return getattr(net, "_orig_mod", net)  # torch.compile's wrapper holds the module

    @property
    def restraint(self) -> float | None:
        return getattr(self.model, "restraint", None) if self.model is not None else None

    def _use_fused(self, px: torch.Tensor) -> bool:
        """Whether the per-pixel work on ``px`` (photo pixels or their L, ``N x C x H x W``) takes the
        fused CPU kernels: only for a colorizer on the CPU (a GPU one keeps its color math on the
        GPU, even for pixels that are still in CPU memory), by size unless ``fused`` says."""
        if self.fused is False or self.device.type != "cpu" or px.device.type != "cpu":
            return False
        if self.fused:
            return True
        return px.shape[-2] * px.shape[-1] >= FUSED_MIN_PIXELS and fused.available()

    def _color_path(self, px: torch.Tensor, as_uint8: bool = True) -> str:
        """The one place the full-resolution work is routed, for ``px`` (8-bit or float photo pixels,
        or L, ``N x C x H x W``) and an 8-bit (``as_uint8``) or float output: ``"pixels"``, the fused
        kernels straight from 8-bit pixels to the 8-bit output (no full-resolution L); ``"lightness"``,
        the fused kernel from a full-resolution L (float pixels, hints, video frames); ``"tensor"``,
        torch in bands of rows (``_use_fused`` says when the kernels pay)."""
        if not as_uint8 or not self._use_fused(px):
            return "tensor"
        return "pixels" if px.dtype == torch.uint8 else "lightness"

    @property
    def temperature(self) -> float | None:
        return getattr(self.model, "temperature", None) if self.model is not None else None

    def describe(self) -> dict:
        """The model (its checkpoint's name, config, provenance, parameter count) and what
        ``colorize`` does with it by default under these settings: working size and further scales,
        decoding, frames, flip, and where and in what precision the network runs. ``huenet info``
        prints it; the web app's ``/api/model`` serves it."""
        meta = self.meta
        parameters = self.model.num_parameters() if self.model is not None else meta.get("parameters")
        return {
            "model": meta.get("model"), "config": meta.get("config"), "parameters": parameters,
            "encoder_weights": meta.get("encoder_weights"), "training": meta.get("training"),
            "data": meta.get("data"),
            "inference": {"working_size": self.size, "scales": list(self.scales),
                          "scale_sizes": self.scale_sizes(), "temperature": self.temperature,
                          "restraint": self.restraint, "crop_borders": self.crop_borders, "flip": self.flip,
                          "saturation": self.saturation},
            "runtime": {"backend": self.backend, "device": self.device.type, "precision": self.precision,
                        "torch": torch.__version__, "threads": torch.get_num_threads()},
        }

    @classmethod
    def load(cls, settings: ColorizerSettings | str | os.PathLike | None = None, **options) -> "Colorizer":
        """A colorizer from ``settings`` (``ColorizerSettings``; or a checkpoint's path, or ``None``
        for the shipped weights), keyword ``options`` being ``ColorizerSettings`` fields on top:
        ``Colorizer.load()``, ``Colorizer.load("run/best.safetensors", size=192)``,
        ``Colorizer.load(ColorizerSettings(temperature=0.6))``. See ``ColorizerSettings`` for what
        each option does and its default; an ``.onnx`` model runs on onnxruntime."""
        if not isinstance(settings, ColorizerSettings):
            settings = ColorizerSettings(model=None if settings is None else str(settings))
        settings = settings.replace(**options) if options else settings
        path = default_weights_path() if settings.model is None else settings.model
        if str(path).endswith(".onnx"):  # an exported model runs on onnxruntime
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path}: no such ONNX file")
            return cls(None, settings, meta=onnx_metadata(path), runner=onnx_runner(path))
        model, meta = load_model(path, device=pick_device(settings.device) if not settings.onnx else "cpu")
        if not settings.onnx:
            return cls(model, settings, meta=meta)
        apply_decode_settings(model, settings)  # built into the graph the onnxruntime runner exports
        return cls(model.cpu(), settings, meta=meta, runner=onnx_runner(model, meta))

    # -- the network at working size ---------------------------------------------------------
    @torch.inference_mode()
    def _run_torch(self, L: torch.Tensor, **decode) -> torch.Tensor:
        if self.flip:  # one batch of photos and their mirror images, averaged back
            n = L.shape[0]
            if decode.get("others"):
                decode["others"] = [torch.cat([o, o.flip(-1)]) for o in decode["others"]]
            ab = self._run_network(torch.cat([L, L.flip(-1)]), **decode)
            return (ab[:n] + ab[n:].flip(-1)) * 0.5
        return self._run_network(L, **decode)

    def _run_network(self, L: torch.Tensor, **decode) -> torch.Tensor:
        if self.channels_last:
            L = L.contiguous(memory_format=torch.channels_last)
            if decode.get("others"):
                decode["others"] = [o.contiguous(memory_format=torch.channels_last) for o in decode["others"]]
        kw = {k: v for k, v in decode.items() if v is not None}
        if self.precision == "bf16":
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                return self._net(L, **kw).float().contiguous()
        return self._net(L, **kw).contiguous()

    def _check_decode(self, temperature: float | None, restraint: float | None) -> None:
        if (temperature is not None or restraint is not None) and self.backend != "torch":
            raise SettingsError("an exported (ONNX) model has its temperature and restraint built in")
        check_decode_settings(self.model, temperature, restraint)

    @torch.inference_mode()
    def predict_ab_small(self, L: torch.Tensor, size: int | None = None, temperature: float | None = None,
                         restraint: float | None = None, others: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``N x 1 x H x W`` L in [0, 100] (any size) -> ab at the working size (short side ``size``,
        default the colorizer's), saturation gain applied. ``temperature`` and ``restraint`` override
        the model's annealed-mean settings for this call (classification models). With several
        ``scales``, ``others`` are L at ``scale_sizes()`` (default: resized from ``L``; pass them
        when ``L`` is already small, so they come from the full-resolution photo)."""
        self._check_decode(temperature, restraint)
        small = self.working_lightness(L, size)
        boxes = [frame_box(x[0]) for x in small] if self.crop_borders else []
        if any(b is not None for b in boxes):  # framed photos: one at a time, the network sees the inside
            return torch.cat([self._framed(L[i:i + 1], small[i:i + 1], b, size, temperature, restraint)
                              for i, b in enumerate(boxes)])
        ab = self._network_ab(small, others if others is not None else
                              [self.working_lightness(L, s) for s in self.scale_sizes(size)], temperature, restraint)
        return ab * self.saturation if self.saturation != 1.0 else ab

    def _network_ab(self, small: torch.Tensor, others: list[torch.Tensor], temperature: float | None,
                    restraint: float | None) -> torch.Tensor:
        decode = {} if temperature is None and restraint is None else {"temperature": temperature, "restraint": restraint}
        if others:
            decode["others"] = [o.to(self.device) for o in others]
        return self._runner(small.to(self.device), **decode)

    def _framed(self, L: torch.Tensor, small: torch.Tensor, box, size: int | None, temperature: float | None,
                restraint: float | None) -> torch.Tensor:
        """ab at the working size for one photo: gray on its frame (``borders.frame_box``), the
        network's colors for the picture inside, which it sees at the working size as if it had no
        frame. The frame found on the working-size L is found again on L at up to ~1 MP, so that
        the picture is cropped to within a pixel or two of its edge."""
        if box is None:
            return self._network_ab(small, [self.working_lightness(L, s) for s in self.scale_sizes(size)],
                                    temperature, restraint)
        H, W = L.shape[-2:]
        k = min(1.0, (1 << 20) / (H * W)) ** 0.5
        fine = L if k == 1.0 else F.interpolate(L, size=(max(32, round(H * k)), max(32, round(W * k))),
                                                 mode="bilinear", align_corners=False, antialias=True)
        refined = frame_box(fine[0, 0])
        if refined is not None:
            box, (sy, sx) = refined, (H / fine.shape[-2], W / fine.shape[-1])
        else:
            sy, sx = H / small.shape[-2], W / small.shape[-1]
        t, b, left, r = round(box[0] * sy), round(box[1] * sy), round(box[2] * sx), round(box[3] * sx)
        inside = L[..., t:b, left:r]
        ab_in = self._network_ab(self.working_lightness(inside, size),
                                 [self.working_lightness(inside, s) for s in self.scale_sizes(size)],
                                 temperature, restraint)
        # the working-size grid over the whole photo, read from the inside's ab (zero beyond it)
        h, w = small.shape[-2:]
        ys = ((torch.arange(h, device=self.device) + 0.5) * H / h - t) / (b - t) * 2 - 1
        xs = ((torch.arange(w, device=self.device) + 0.5) * W / w - left) / (r - left) * 2 - 1
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1)[None].to(ab_in.dtype)
        ab = F.grid_sample(ab_in, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return ab * self.saturation if self.saturation != 1.0 else ab

    def scale_sizes(self, size: int | None = None) -> list[int]:
        """The working sizes of the further scales (``scales`` after the first)."""
        return [max(32, round((size or self.size) * s)) for s in self.scales[1:]]

    def working_lightness(self, L: torch.Tensor, size: int | None = None) -> torch.Tensor:
        """``N x 1 x H x W`` L -> L at the working size (short side ``size``), as the network sees
        it; L already at that size (a video frame's, resized once for the flow too) is kept."""
        wh, ww = working_size(*L.shape[-2:], size or self.size)
        if tuple(L.shape[-2:]) == (wh, ww):
            return L
        return F.interpolate(L, size=(wh, ww), mode="bilinear", align_corners=False, antialias=True)

    @torch.inference_mode()
    def predict_ab(self, L: torch.Tensor, size: int | None = None, temperature: float | None = None,
                   restraint: float | None = None) -> torch.Tensor:
        """``N x 1 x H x W`` L in [0, 100] (any size) -> ``N x 2 x H x W`` ab at the same size.
        ``size`` overrides the working size for this call."""
        ab = self.predict_ab_small(L, size, temperature, restraint)
        return F.interpolate(ab.to(L.device), size=tuple(L.shape[-2:]), mode="bilinear", align_corners=False)

    @torch.inference_mode()
    def colorize_rgb(self, rgb: torch.Tensor, size: int | None = None, as_uint8: bool = False,
                     temperature: float | None = None, restraint: float | None = None) -> torch.Tensor:
        """``N x 3 x H x W`` RGB or ``N x 1 x H x W`` gray (float in [0, 1], or uint8) -> colorized
        ``N x 3 x H x W`` RGB in [0, 1] (or uint8 0..255 with ``as_uint8``, stored channels last),
        same size and lightness."""
        if self._color_path(rgb, as_uint8) == "pixels":
            # 8-bit pixels straight to 8-bit output: no full-resolution L (fused.py)
            return fused.srgb_u8_from_pixels(rgb, self._ab_from_pixels(rgb, size, temperature, restraint))
        L = self.lightness(rgb.to(self.device))
        ab = self.predict_ab_small(L, size, temperature, restraint)
        return self.to_srgb_u8(L, ab) if as_uint8 else self.to_rgb(L, ab)

    def _ab_from_pixels(self, px: torch.Tensor | np.ndarray, size: int | None, temperature: float | None,
                        restraint: float | None) -> torch.Tensor:
        """The network's ab for 8-bit pixels (either layout ``fused`` takes), from L at the working
        size computed straight from the pixels (no full-resolution L)."""
        h, w = fused.pixel_size(px)
        small = fused.working_lightness_u8(px, working_size(h, w, size or self.size))
        others = [fused.working_lightness_u8(px, working_size(h, w, s)) for s in self.scale_sizes(size)]
        return self.predict_ab_small(small, size, temperature, restraint, others if others else None)

    # The full-resolution work runs in bands of rows. Each band's temporaries are small and reused,
    # where whole-photo temporaries (~1 GB for 12 MP) would be fresh memory that the OS must fault
    # in page by page on every photo: 2.2x slower with glibc's default settings (benchmarks/RESULTS.md).
    def _bands(self, h: int, w: int) -> list[tuple[int, int]]:
        rows = max(1, self.band_pixels // w)
        return [(r, min(r + rows, h)) for r in range(0, h, rows)]

    @torch.inference_mode()
    def lightness(self, px: torch.Tensor) -> torch.Tensor:
        """``N x 3 x H x W`` RGB or ``N x 1 x H x W`` gray (uint8, or float in [0, 1]) -> L, in bands."""
        n, _, h, w = px.shape
        L = torch.empty(n, 1, h, w, device=px.device)
        for r0, r1 in self._bands(h, w):
            L[:, :, r0:r1] = lightness_of(px[:, :, r0:r1])
        return L

    def _band_inputs(self, L: torch.Tensor, ab_small: torch.Tensor):
        """Yield ``(r0, r1, L rows, ab rows)``: ab resized bilinearly to L's size, a band at a time."""
        h, w = L.shape[-2:]
        ab = ab_small.to(L.device)
        ab = F.interpolate(ab, size=(ab.shape[-2], w), mode="bilinear", align_corners=False)  # widths only
        for r0, r1 in self._bands(h, w):
            yield r0, r1, L[:, :, r0:r1], _upsample_rows(ab, r0, r1, h)  # heights, for these rows

    @torch.inference_mode()
    def to_srgb_u8(self, L: torch.Tensor, ab_small: torch.Tensor) -> torch.Tensor:
        """Full-resolution L and working-size ab -> ``N x 3 x H x W`` uint8 sRGB (stored channels
        last): ab resized bilinearly, joined to L, gamut mapped, in bands; on CPUs with numba, for
        large photos, in one fused pass per pixel (``fused.py``; the same codes up to float rounding)."""
        n, _, h, w = L.shape
        if self._color_path(L) == "lightness":
            return fused.fused_srgb_u8(L, ab_small)
        out = torch.empty(n, h, w, 3, dtype=torch.uint8, device=L.device)
        for r0, r1, L_rows, ab_rows in self._band_inputs(L, ab_small):
            out[:, r0:r1] = lab_to_srgb_u8(L_rows, ab_rows).permute(0, 2, 3, 1)
        return out.permute(0, 3, 1, 2)

    @torch.inference_mode()
    def to_rgb(self, L: torch.Tensor, ab_small: torch.Tensor) -> torch.Tensor:
        """As ``to_srgb_u8``, to float RGB in [0, 1] through the reference color functions."""
        n, _, h, w = L.shape
        out = torch.empty(n, 3, h, w, device=L.device)
        for r0, r1, L_rows, ab_rows in self._band_inputs(L, ab_small):
            out[:, :, r0:r1] = lab_to_rgb_keep_lightness(torch.cat([L_rows, ab_rows], dim=1))
        return out

    # -- photos --------------------------------------------------------------------------------
    @torch.inference_mode()
    def colorize_photos(self, photos: Sequence[Photo], batch_size: int = DEFAULT_BATCH_SIZE, size: int | None = None,
                        temperature: float | None = None, restraint: float | None = None) -> list[Image.Image]:
        """Colorize decoded photos; photos of the same size share network batches (but large 8-bit
        ones on the fused CPU path go one at a time, in place: ``_colorize_u8_photo``)."""
        results: list[Image.Image | None] = [None] * len(photos)
        groups: dict[tuple, list[int]] = defaultdict(list)  # (H, W, channels), dtype -> photos
        for i, p in enumerate(photos):
            groups[(p.pixels.shape, p.pixels.dtype.str)].append(i)
        for idx in groups.values():
            first = tensor_view(photos[idx[0]].pixels).permute(2, 0, 1)  # a view: C x H x W
            if self._color_path(first) == "pixels":
                for i in idx:  # large 8-bit photos: one at a time, in place (no batch to copy them into)
                    results[i] = self._colorize_u8_photo(photos[i], size, temperature, restraint)
                continue
            for start in range(0, len(idx), batch_size):
                chunk = idx[start:start + batch_size]
                arrays = [tensor_view(photos[i].pixels) for i in chunk]
                # N x H x W x C -> N x C x H x W (C = 3, or 1 for gray); a single photo is viewed, not copied
                rgb = (arrays[0][None] if len(arrays) == 1 else torch.stack(arrays)).permute(0, 3, 1, 2)
                # 8-bit on the device: no float sRGB curve, and 4x less to copy back than float32
                u8 = self.colorize_rgb(rgb, size, as_uint8=True, temperature=temperature,
                                       restraint=restraint).permute(0, 2, 3, 1).cpu().numpy()
                for j, i in enumerate(chunk):
                    results[i] = pil_from_u8(u8[j], photos[i].alpha)
        return results  # type: ignore[return-value]

    def _colorize_u8_photo(self, photo: Photo, size: int | None, temperature: float | None,
                           restraint: float | None) -> Image.Image:
        """An 8-bit photo through the fused kernels with no full-size copy on either side: the
        pixels read where Pillow decoded them (``photo.storage``, when it could be viewed), the
        output written in the RGBX layout Pillow keeps RGB images in and handed to Pillow as it is
        (``images.image_from_rgbx``): 12 MP, 25 ms less than copying in and out (RESULTS.md)."""
        px = (photo.storage if photo.storage is not None else photo.pixels)[None]
        rgbx = fused.rgbx_from_pixels(px, self._ab_from_pixels(px, size, temperature, restraint))[0]
        return image_from_rgbx(rgbx) if photo.alpha is None else pil_from_u8(rgbx[..., :3], photo.alpha)

    def colorize(self, image: Image.Image | str | os.PathLike, temperature: float | None = None,
                 restraint: float | None = None, hints=None, hint_image: str | os.PathLike | None = None) -> Image.Image:
        """A Pillow image of any mode (or a photo's path) -> colorized RGB (RGBA if it had alpha), same size.
        ``temperature`` (lower: bolder) and ``restraint`` (higher: less color where the model is
        unsure): a classification model's vividness for this call. ``hints``: colors the user
        knows, as ``hints.Point``s or ``"x,y,#rrggbb[,radius]"`` strings (photo pixels), and/or
        ``hint_image``, a PNG of the photo's size, transparent but for colored marks (``hints.py``)."""
        photo = load_photo(image) if isinstance(image, (str, os.PathLike)) else photo_from_pil(image)
        if hints or hint_image is not None:
            return self.colorize_hinted(photo, hints or [], hint_image, temperature=temperature, restraint=restraint)
        return self.colorize_photos([photo], temperature=temperature, restraint=restraint)[0]

    @torch.inference_mode()
    def colorize_hinted(self, photo: Photo, hints, hint_image: str | os.PathLike | None = None,
                        size: int | None = None, temperature: float | None = None, restraint: float | None = None,
                        prior: float | None = None, reach: float | None = None,
                        sigma: float | None = None) -> Image.Image:
        """One photo with color hints: the network's ab at the working size, the hints spread over
        their regions (``hints.blend``), then the usual full-resolution output. ``reach``: how far a
        hint spreads (fraction of the diagonal; default ``hints.DEFAULT_REACH``), ``sigma`` how much a
        lightness step stops it (L units; default ``hints.DEFAULT_SIGMA``, 0: Levin's adaptive one); ``prior=0`` ignores
        the network (the hints alone fill the photo)."""
        px = tensor_view(photo.pixels).permute(2, 0, 1)[None]
        height, width = px.shape[-2:]
        # the hints on the solve's grid, checked before any other work
        hint_ab, weight = H.hints_on_grid(hints, hint_image, (height, width),
                                          working_size(height, width, size or self.size))
        L = self.lightness(px.to(self.device))
        use_net = prior is None or prior > 0
        ab_small = self.predict_ab_small(L, size, temperature, restraint) if use_net else None
        L_work = self.working_lightness(L, size)[0, 0].cpu()
        ab = H.blend(L_work, ab_small[0].cpu() if use_net else None, hint_ab, weight,
                     reach=H.DEFAULT_REACH if reach is None else reach,
                     sigma=H.DEFAULT_SIGMA if sigma is None else (sigma or None))
        u8 = self.to_srgb_u8(L, ab[None].to(self.device)).permute(0, 2, 3, 1).cpu().numpy()
        return pil_from_u8(u8[0], photo.alpha)

    def colorize_video(self, src: str | os.PathLike, dst: str | os.PathLike, **options):  # -> video.VideoReport
        """Colorize a clip into ``dst`` (.mp4, .mov, .m4v, .mkv, .webm), frames streamed, color
        carried along the motion (``stability=video.Stability(strength)``; 0 turns it off), audio
        copied unchanged; returns a ``video.VideoReport``. Options: see ``video.colorize_video``."""
        return video.colorize_video(self, src, dst, **options)

    def colorize_file(self, path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
        return self.colorize_photos([load_photo(path, max_pixels=max_pixels)])[0]

    def colorize_array(self, array: np.ndarray) -> np.ndarray:
        """``H x W`` gray or ``H x W x 3`` RGB (or a batch ``N x H x W x 3``), uint8, uint16 or float
        in [0, 1] -> uint8 ``... x H x W x 3``: the same path as ``colorize`` on the equivalent image."""
        a = np.asarray(array)
        batched = a.ndim == 4
        a = a if batched else a[None]
        if a.ndim == 3:  # N x H x W gray: one channel
            a = a[..., None]
        if a.dtype == np.uint16:
            a = a.astype(np.float32) / 65535.0
        elif a.dtype != np.uint8:
            a = np.clip(a.astype(np.float32), 0.0, 1.0)
        px = tensor_view(np.ascontiguousarray(a)).permute(0, 3, 1, 2)
        u8 = self.colorize_rgb(px, as_uint8=True).permute(0, 2, 3, 1).cpu().numpy()
        return u8 if batched else u8[0]


def apply_decode_settings(model: torch.nn.Module | None, settings: ColorizerSettings) -> None:
    """Make ``settings``' temperature and restraint (where given) the model's own, after checking them."""
    check_decode_settings(model, settings.temperature, settings.restraint)
    if settings.temperature is not None:
        model.temperature = float(settings.temperature)
    if settings.restraint is not None:
        model.restraint = float(settings.restraint)


def check_decode_settings(model: torch.nn.Module | None, temperature: float | None, restraint: float | None) -> None:
    """Temperature (the annealed mean's T: lower is bolder, 1 the muted mean) and restraint apply
    to classification models only, within sane ranges; anything else is a clear error."""
    if temperature is None and restraint is None:
        return
    if model is None or not hasattr(model, "ab_bins"):
        raise SettingsError("temperature and restraint need a classification model (output 'bins'); this model "
                         "predicts ab directly: use --saturation to change its colorfulness")
    if temperature is not None and not 0.01 <= temperature <= 10:
        raise SettingsError(f"temperature must be between 0.01 and 10, not {temperature}")
    if restraint is not None and not 0 <= restraint <= 10:
        raise SettingsError(f"restraint must be between 0 and 10, not {restraint}")


def _with_bf16_parameters(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose convolutions and linear layers (what bf16 autocast runs in bf16,
    casting their weights on every call) keep their weights in bf16. Normalisation layers, whose
    statistics autocast leaves in fp32, and buffers such as the ab bins stay as they are."""
    import copy

    net = copy.deepcopy(model)
    for m in net.modules():
        if isinstance(m, (torch.nn.modules.conv._ConvNd, torch.nn.Linear)):
            for p in m.parameters(recurse=False):
                p.data = p.data.to(torch.bfloat16)
    return net


def _upsample_rows(ab: torch.Tensor, r0: int, r1: int, h: int) -> torch.Tensor:
    """Rows ``r0:r1`` of ``ab`` (``N x C x h_small x W``) bilinearly resized to ``h`` rows, as
    ``F.interpolate(..., mode="bilinear", align_corners=False)`` places them: together with a
    first pass along the width, the same ab as one 2-D resize, computed one band at a time."""
    hs = ab.shape[-2]
    y = (torch.arange(r0, r1, device=ab.device, dtype=torch.float64) + 0.5) * (hs / h) - 0.5
    y = y.clamp(min=0.0)
    y0 = y.floor().long().clamp(max=hs - 1)
    y1 = (y0 + 1).clamp(max=hs - 1)
    wy = (y - y0).to(ab.dtype).view(1, 1, -1, 1)
    return torch.lerp(ab[:, :, y0], ab[:, :, y1], wy)
