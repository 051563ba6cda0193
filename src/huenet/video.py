"""Colorizing video clips: frames streamed through the colorizer, color carried along the motion,
audio copied unchanged, the output written under a temporary name and renamed at the end.

Decoding and encoding use PyAV (FFmpeg bundled in its wheels); optical flow uses OpenCV's DIS.
Both come with the optional extra ``huenet[video]``.

The data flow per clip::

    packets -> frames (rgb24, H x W x 3 uint8) -> batches of frames -> L (full size)
      -> network -> ab at the working size -> ColorCarrier (one frame after the other)
      -> ab joined to the full-size L (the photo path) -> encoder -> muxer <- audio packets (copied)

Only a batch of frames is in memory at a time, so memory stays flat however long the clip.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import numpy as np
import torch
from tqdm import tqdm

from .errors import MissingExtraError, SettingsError
from .settings import DEFAULT_BATCH_SIZE, DEFAULT_STABILITY, DEFAULT_VIDEO_PRESET
from .images import display_name
from .video_io import (
    DEFAULT_CRF, ENCODERS, OUTPUT_CONTAINERS, VIDEO_EXTENSIONS, ClipInfo, VideoError, audio_flush, audio_packet,
    audio_streams, av_module, check_output, clip_info, colorspace_code, ff_reason, frame_step, is_video_path, open_clip,
    output_path_for_video, read_frames, temp_path, video_stream,
)

DEFAULT_BATCH = DEFAULT_BATCH_SIZE


def _cv2():
    try:
        import cv2
    except ImportError as e:
        raise MissingExtraError(f"temporal stability needs OpenCV: pip install 'huenet[video]' ({e})") from None
    return cv2


class FrameColorizer(Protocol):
    """The stage methods of ``colorize.Colorizer`` that the video loop uses (any object with them will do)."""

    device: torch.device
    size: int

    def lightness(self, px: torch.Tensor) -> torch.Tensor: ...
    def working_lightness(self, L: torch.Tensor, size: int | None = None) -> torch.Tensor: ...
    def scale_sizes(self, size: int | None = None) -> list[int]: ...
    def predict_ab_small(self, L: torch.Tensor, size: int | None = None, temperature: float | None = None,
                         restraint: float | None = None, others: list[torch.Tensor] | None = None) -> torch.Tensor: ...
    def to_srgb_u8(self, L: torch.Tensor, ab_small: torch.Tensor) -> torch.Tensor: ...


# -- temporal stability ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Stability:
    """How the previous frame's color is carried along the motion into the next.

    ``strength``: the weight of the carried ab where the motion is reliable (0: off, every frame on
    its own; 1: color never changes where tracked). The network's ab keeps weight 1 - strength, so
    a wrong first guess fades within a few frames and new objects get their own color.
    """

    strength: float = DEFAULT_STABILITY
    # forward-backward consistency (Sundaram et al.; Ruder et al.'s occlusion test, as Lai et al.
    # use it): |f + b|^2 <= fb_relative (|f|^2 + |b|^2) + fb_absolute, in working-size pixels
    fb_relative: float = 0.01
    fb_absolute: float = 0.5
    # a pixel whose lightness changed more than this (L units) after warping is not carried
    max_l_change: float = 10.0
    # a scene cut: fewer than this fraction of pixels carried -> start afresh
    min_tracked: float = 0.3

    def __post_init__(self):
        if not 0.0 <= self.strength <= 1.0:
            raise SettingsError(f"stability strength must be between 0 and 1, not {self.strength}")

    @property
    def on(self) -> bool:
        return self.strength > 0


def dis_flow(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Dense flow ``H x W x 2`` (x, y) such that ``src(p) ~ dst(p + flow(p))``: OpenCV's DIS
    (Kroeger et al. 2016), preset medium, on two ``H x W`` uint8 images."""
    cv2 = _cv2()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(src, dst, None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (``H x W`` or ``H x W x C`` float32) sampled at ``p + flow(p)`` (bilinear, edges
    replicated): the previous frame moved onto this one when ``flow`` points from this one to it."""
    cv2 = _cv2()
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def consistent(back: np.ndarray, fwd: np.ndarray, relative: float = 0.01, absolute: float = 0.5) -> np.ndarray:
    """Where the backward flow (this frame -> previous) and the forward flow (previous -> this),
    followed one after the other, come back to the start: ``H x W`` bool (False = occluded or
    unreliable). The test of Sundaram et al. (2010), used by Ruder et al. and Lai et al."""
    fwd_at = warp(fwd, back)  # the forward flow where each pixel's backward flow lands
    s = back + fwd_at
    return (s**2).sum(-1) <= relative * ((back**2).sum(-1) + (fwd_at**2).sum(-1)) + absolute


class ColorCarrier:
    """Blends each frame's predicted ab with the previous frame's output ab, carried along the
    motion, where the motion is reliable. One per clip; call ``step`` frame after frame.

    All work is at the working size (the network's ab resolution), on L as 8-bit for the flow.
    """

    def __init__(self, stability: Stability = Stability()):
        self.stability = stability
        self.prev_l: np.ndarray | None = None  # H x W uint8 (L * 2.55)
        self.prev_ab: np.ndarray | None = None  # H x W x 2 float32
        self.cuts = 0  # frames where tracking was lost and color started afresh (after the first)
        self.tracked: list[float] = []  # fraction of pixels carried, per frame after the first

    def step(self, L: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """``L``: ``H x W`` float in [0, 100]; ``ab``: ``H x W x 2`` float32, the network's.
        Returns the ab to show, ``H x W x 2`` float32."""
        s = self.stability
        l8 = np.clip(L * 2.55 + 0.5, 0, 255).astype(np.uint8)
        out = ab
        if s.on and self.prev_l is not None and self.prev_l.shape == l8.shape:
            back = dis_flow(l8, self.prev_l)
            fwd = dis_flow(self.prev_l, l8)
            ok = consistent(back, fwd, s.fb_relative, s.fb_absolute)
            l_prev = warp(self.prev_l.astype(np.float32), back) / 2.55
            ok &= np.abs(l_prev - L) <= s.max_l_change
            frac = float(ok.mean())
            self.tracked.append(frac)
            if frac >= s.min_tracked:
                wgt = (ok * s.strength).astype(np.float32)[..., None]
                out = wgt * warp(self.prev_ab, back) + (1 - wgt) * ab
            else:
                self.cuts += 1
        self.prev_l, self.prev_ab = l8, np.ascontiguousarray(out, dtype=np.float32)
        return self.prev_ab


# -- the colorizer on frames ------------------------------------------------------------------------
@dataclass
class FrameBatch:
    """A batch of frames and what the network made of them: ``L`` full size ``N x 1 x H x W``
    (colorizer's device), ``L_small`` and ``ab_small`` at the working size (numpy, ``N x h x w``
    and ``N x h x w x 2``)."""

    frames: list[np.ndarray]
    L: torch.Tensor
    L_small: np.ndarray
    ab_small: np.ndarray


def network_batches(colorizer: FrameColorizer, frames: Iterable[np.ndarray], batch_size: int = DEFAULT_BATCH,
                    rotation: int = 0, size: int | None = None, temperature: float | None = None,
                    restraint: float | None = None) -> Iterator[FrameBatch]:
    """Run the network on batches of same-size frames. A rotated clip (``rotation`` from its
    display matrix) is shown to the network upright, and its ab turned back to the stored frames."""
    k = (rotation // 90) % 4
    batch: list[np.ndarray] = []

    def run(chunk: list[np.ndarray]) -> FrameBatch:
        px = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).to(colorizer.device)
        L = colorizer.lightness(px)
        upright = L.rot90(k, dims=(-2, -1)) if k else L
        L_small = colorizer.working_lightness(upright, size)
        others = [colorizer.working_lightness(upright, s) for s in colorizer.scale_sizes(size)]
        ab = colorizer.predict_ab_small(L_small, size, temperature, restraint, others or None)
        if k:
            L_small, ab = L_small.rot90(-k, dims=(-2, -1)), ab.rot90(-k, dims=(-2, -1))
        return FrameBatch(chunk, L, L_small[:, 0].float().cpu().numpy(),
                          ab.float().permute(0, 2, 3, 1).contiguous().cpu().numpy())

    for frame in frames:
        if batch and frame.shape != batch[0].shape:  # a size change mid-clip: finish the batch first
            yield run(batch)
            batch = []
        batch.append(frame)
        if len(batch) >= batch_size:
            yield run(batch)
            batch = []
    if batch:
        yield run(batch)


def render(colorizer: FrameColorizer, batch: FrameBatch, ab_small: np.ndarray) -> np.ndarray:
    """The batch's full-size L joined with ``ab_small`` (``N x h x w x 2``): ``N x H x W x 3`` uint8."""
    ab = torch.from_numpy(np.ascontiguousarray(ab_small)).permute(0, 3, 1, 2).to(colorizer.device)
    return colorizer.to_srgb_u8(batch.L, ab).permute(0, 2, 3, 1).cpu().numpy()


def colorized_frames(colorizer: FrameColorizer, frames: Iterable[np.ndarray], stability: Stability = Stability(),
                     batch_size: int = DEFAULT_BATCH, rotation: int = 0, carrier: ColorCarrier | None = None,
                     **decode) -> Iterator[np.ndarray]:
    """Colorize a stream of ``H x W x 3`` uint8 frames: yields uint8 frames of the same size."""
    carrier = carrier or ColorCarrier(stability)
    for b in network_batches(colorizer, frames, batch_size, rotation, **decode):
        ab = np.stack([carrier.step(b.L_small[i], b.ab_small[i]) for i in range(len(b.frames))])
        yield from render(colorizer, b, ab)


# -- writing -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoSettings:
    """How clips are written: see ``colorize_video``."""

    stability: Stability = Stability()
    codec: str | None = None  # h264 | vp9; default: the container's (VP9 for .webm, else H.264)
    crf: int | None = None  # quality: lower is better and larger; default 18 (H.264), 31 (VP9)
    preset: str = DEFAULT_VIDEO_PRESET  # x264's speed/size trade-off
    batch_size: int = DEFAULT_BATCH
    max_frames: int | None = None

    def kwargs(self) -> dict:
        """``colorize_video``'s keyword arguments (shallow: ``stability`` stays a ``Stability``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class VideoReport:
    source: str
    output: Path
    frames: int
    seconds: float
    audio: list[str] = field(default_factory=list)  # one line per audio stream: copied or re-encoded
    notes: list[str] = field(default_factory=list)  # streams left out
    cuts: int = 0
    tracked: float = float("nan")  # mean fraction of pixels carried from frame to frame

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


def colorize_video(
    colorizer: FrameColorizer, src: str | os.PathLike, dst: str | os.PathLike, *, stability: Stability = Stability(),
    codec: str | None = None, crf: int | None = None, preset: str = DEFAULT_VIDEO_PRESET,
    batch_size: int = DEFAULT_BATCH, progress: bool | None = None, size: int | None = None,
    temperature: float | None = None, restraint: float | None = None, max_frames: int | None = None,
) -> VideoReport:
    """Colorize the clip ``src`` into ``dst`` (container from its extension: .mp4, .mov, .m4v,
    .mkv, .webm). Frame rate, time stamps, size and rotation are kept; the video is H.264 yuv420p
    (VP9 in .webm) at quality ``crf``; audio streams are copied packet for packet where ``dst``'s
    container holds their codec, else re-encoded (AAC, Opus in .webm) with a line in the report.
    The file appears under its name only when complete. ``max_frames`` refuses longer clips."""
    av = av_module()
    dst = check_output(dst, src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dst)
    opts = dict(stability=stability, codec=codec, crf=crf, preset=preset, batch_size=batch_size, progress=progress,
                size=size, temperature=temperature, restraint=restraint, max_frames=max_frames)
    try:
        report = _transcode(colorizer, src, display_name(src), lambda: av.open(str(tmp), "w"), dst.suffix.lower(),
                            **opts)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    report.output = dst
    return report


def colorize_video_bytes(colorizer: FrameColorizer, data: bytes, *, name: str = "<upload>", ext: str = ".mp4",
                         **options) -> tuple[bytes, VideoReport]:
    """As ``colorize_video`` for a clip held in memory (an upload): returns the encoded output
    (``ext``'s container, MP4 by default) and the report. Nothing touches the disk."""
    import io

    av = av_module()
    if ext not in OUTPUT_CONTAINERS:
        raise SettingsError(f"cannot write video as {ext!r}; use one of {', '.join(sorted(OUTPUT_CONTAINERS))}")
    buf = io.BytesIO()
    fmt = {".mkv": "matroska", ".webm": "webm", ".mov": "mov"}.get(ext, "mp4")
    # (no +faststart: it reopens the output by file name; a player given the whole file does not need it)
    report = _transcode(colorizer, data, name, lambda: av.open(buf, "w", format=fmt), ext, **options)
    return buf.getvalue(), report


def _encoder_settings(codec: str | None, crf: int | None, ext: str) -> tuple[str, int]:
    """(codec, CRF) for an output of extension ``ext``: the container's defaults, checked."""
    codec = codec or OUTPUT_CONTAINERS[ext]
    if codec not in ENCODERS:
        raise SettingsError(f"unknown video codec {codec!r}; use one of {sorted(ENCODERS)}")
    if codec == "h264" and ext == ".webm":
        raise SettingsError(f"{ext}: WebM holds VP8/VP9/AV1, not H.264; use .mp4 or .mkv, or the vp9 codec")
    crf = DEFAULT_CRF[codec] if crf is None else crf
    if not 0 <= crf <= 63:
        raise SettingsError(f"video quality (CRF) must be 0-63, not {crf}")
    return codec, crf


def _checked_clip(src, name: str, max_frames: int | None, max_seconds: float | None,
                  max_frame_pixels: int | None) -> ClipInfo:
    """The clip's description; a ``too_large`` ``VideoError`` beyond any of the limits."""
    info = clip_info(src, name)
    if max_frames is not None and info.frames > max_frames:
        raise VideoError(name, f"{info.frames} frames exceeds the limit of {max_frames}", "too_large")
    if max_seconds is not None and info.duration_s > max_seconds:
        raise VideoError(name, f"clip too long: {info.duration_s:.1f} s; the limit is {max_seconds:g} s", "too_large")
    if max_frame_pixels is not None and info.width * info.height > max_frame_pixels:
        raise VideoError(name, f"frames too large: {info.width}x{info.height}; the limit is {max_frame_pixels:,} "
                               "pixels a frame", "too_large")
    return info


def _transcode(colorizer: FrameColorizer, src, name: str, open_output, ext: str, *, stability: Stability = Stability(),
               codec: str | None = None, crf: int | None = None, preset: str = DEFAULT_VIDEO_PRESET,
               batch_size: int = DEFAULT_BATCH, progress: bool | None = None, size: int | None = None,
               temperature: float | None = None, restraint: float | None = None,
               max_frames: int | None = None, max_seconds: float | None = None,
               max_frame_pixels: int | None = None) -> VideoReport:
    """Decode ``src``, colorize, encode into the container ``open_output()`` opens; audio copied.
    A clip beyond ``max_frames``, ``max_seconds`` or ``max_frame_pixels`` is a ``too_large`` error."""
    av = av_module()
    codec, crf = _encoder_settings(codec, crf, ext)
    info = _checked_clip(src, name, max_frames, max_seconds, max_frame_pixels)
    container, vin = open_clip(src, name)
    report = VideoReport(name, Path(), 0, 0.0)
    carrier = ColorCarrier(stability)
    t0 = time.perf_counter()
    bar = tqdm(total=info.frames or None, unit="frame", desc=Path(name).name[:30],
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    out = None
    try:
        out = open_output()
        vout = video_stream(out, vin, info, codec, crf, preset)
        audio_map = audio_streams(out, container, ext, report.audio)
        for s in info.other_streams:
            report.notes.append(f"{s} not copied (only video and audio streams are written)")
        in_colorspace = None
        pts_queue: list[int | None] = []
        last_pts, step = None, frame_step(vin)

        def frames() -> Iterator[np.ndarray]:
            nonlocal in_colorspace
            n = 0
            try:
                for packet in container.demux([vin, *audio_map]):
                    if packet.stream.type == "audio":
                        audio_packet(out, packet, audio_map[packet.stream])
                        continue
                    for frame in packet.decode():
                        if in_colorspace is None:
                            in_colorspace = frame.colorspace
                        pts_queue.append(frame.pts)
                        n += 1
                        if max_frames is not None and n > max_frames:
                            raise VideoError(name, f"more than {max_frames} frames (the limit)", "too_large")
                        yield frame.to_ndarray(format="rgb24")
            except av.error.FFmpegError as e:
                raise VideoError(name, f"corrupt or truncated video after {n} frames ({ff_reason(e)})") from None
            for plan in audio_map.values():  # flush re-encoders
                if plan[0] == "encode":
                    audio_flush(out, plan)
            if n == 0:
                raise VideoError(name, "has no decodable video frames (zero-length or corrupt clip)", "not_video")

        for rgb in colorized_frames(colorizer, frames(), stability, batch_size, info.rotation, carrier,
                                    size=size, temperature=temperature, restraint=restraint):
            pts = pts_queue.pop(0)
            if pts is None:  # streams without time stamps: one frame duration after the last
                pts = 0 if last_pts is None else last_pts + step
            elif last_pts is not None and pts <= last_pts:  # repeated stamps would make the muxer fail
                pts = last_pts + 1
            last_pts = pts
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame = frame.reformat(format=vout.codec_context.pix_fmt, dst_colorspace=colorspace_code(in_colorspace))
            frame.pts, frame.time_base = pts, vin.time_base
            for p in vout.encode(frame):
                out.mux(p)
            report.frames += 1
            bar.update(1)
        for p in vout.encode():
            out.mux(p)
        out.close()
        out = None
    except av.error.FFmpegError as e:
        raise VideoError(name, f"cannot write the colorized clip ({ff_reason(e)})") from None
    finally:
        if out is not None:
            try:
                out.close()
            except Exception:
                pass
        container.close()
        bar.close()
    report.seconds = time.perf_counter() - t0
    report.cuts = carrier.cuts
    report.tracked = float(np.mean(carrier.tracked)) if carrier.tracked else float("nan")
    return report


__all__ = [
    "VIDEO_EXTENSIONS", "VideoError", "ClipInfo", "Stability", "ColorCarrier", "VideoReport", "clip_info",
    "read_frames", "colorize_video", "colorized_frames", "network_batches", "dis_flow", "warp", "consistent",
    "is_video_path", "VideoSettings", "output_path_for_video", "colorize_video_bytes", "open_clip",
]
