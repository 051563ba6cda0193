"""Video files through PyAV (FFmpeg bundled in its wheels; the optional extra ``huenet[video]``):
what we read and write, opening and describing clips, reading frames, and the encoder and audio
streams of an output. ``video.py`` runs the colorizer on the frames in between."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import HuenetError, missing_extra
from .images import display_name, file_problem

VIDEO_EXTENSIONS = frozenset(".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .wmv .flv .ogv .3gp".split())
# containers we write, and the video encoder each gets by default
OUTPUT_CONTAINERS = {".mp4": "h264", ".m4v": "h264", ".mov": "h264", ".mkv": "h264", ".webm": "vp9"}
# audio codecs each output container holds as they are (copied packet for packet); others are re-encoded
AUDIO_COPYABLE = {
    ".mp4": {"aac", "mp3", "opus", "alac", "ac3", "eac3", "flac"},
    ".m4v": {"aac", "mp3", "opus", "alac", "ac3", "eac3", "flac"},
    ".mov": {"aac", "mp3", "opus", "alac", "ac3", "eac3", "flac", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    ".webm": {"vorbis", "opus"},
    ".mkv": None,  # Matroska holds any codec
}
AUDIO_FALLBACK = {".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".webm": "libopus", ".mkv": "aac"}
# the formats FFmpeg opens still images with: a JPEG renamed .mp4 is not a clip
STILL_IMAGE_FORMATS = ("image2", "_pipe", "gif", "apng", "webp")
# quality: x264's CRF 18 is close to visually lossless; libvpx-vp9's scale differs (31 ~ similar)
DEFAULT_CRF = {"h264": 18, "vp9": 31}
ENCODERS = {"h264": "libx264", "vp9": "libvpx-vp9"}


class VideoError(HuenetError):
    """A clip that cannot be used (or written); ``str()`` is one line: ``<file>: <reason>``.
    ``kind`` as for ``ImageLoadError``: ``not_video``, ``corrupt``, ``too_large``, ``unreadable``."""

    def __init__(self, source: str, reason: str, kind: str = "corrupt"):
        super().__init__(f"{source}: {reason}")
        self.source, self.reason, self.kind = source, reason, kind


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def av_module():
    """PyAV, or a ``MissingExtraError`` that says how to install it."""
    try:
        import av
    except ImportError as e:
        raise missing_extra("video needs PyAV and OpenCV", "video", e) from None
    return av


# -- reading ------------------------------------------------------------------------------------
@dataclass
class ClipInfo:
    """What a clip is, as its container says (``frames`` may be an estimate; 0 if unknown)."""

    source: str
    container: str
    codec: str
    width: int
    height: int
    rate: Fraction  # frames per second (average)
    time_base: Fraction
    frames: int
    duration_s: float
    rotation: int  # degrees counter-clockwise the player turns the frames (display matrix)
    audio: list[str] = field(default_factory=list)  # codec names, in stream order
    other_streams: list[str] = field(default_factory=list)  # data, subtitle, attachment streams


def open_clip(source: str | os.PathLike | bytes, name: str | None = None):
    """Open a clip (a path, or the bytes of an upload) for reading; returns (container, video
    stream). Every way a file can fail to be a clip is a ``VideoError`` naming it and the problem."""
    av = av_module()
    if isinstance(source, (bytes, bytearray)):
        import io

        name = name or "<upload>"
        if not source:
            raise VideoError(name, "empty file (0 bytes)", "not_video")
        target = io.BytesIO(source)
    else:
        name = name or display_name(source)
        p = Path(source)
        problem = file_problem(p, "video")
        if problem:
            raise VideoError(name, *problem)
        target = str(p)
    try:
        container = av.open(target, "r")
    except av.error.FFmpegError as e:
        raise VideoError(name, f"not a video FFmpeg can read ({ff_reason(e)})", "not_video") from None
    try:
        fmt = container.format.name
        if any(s in fmt for s in STILL_IMAGE_FORMATS):
            raise VideoError(name, f"is a still image ({fmt}), not a video; give it an image extension to "
                                   "colorize it as a photo", "not_video")
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoError(name, f"has no video stream (streams: {', '.join(kinds)})", "not_video")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or not ctx.name or ctx.name == "none":
            raise VideoError(name, "its video codec is unknown to FFmpeg (cannot decode it)", "not_video")
        if not stream.width or not stream.height:
            raise VideoError(name, "its video stream has no frame size (corrupt header?)")
    except BaseException:
        container.close()
        raise
    return container, stream


def ff_reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(": '")[0].strip() or type(e).__name__


def clip_info(source: str | os.PathLike | bytes, name: str | None = None) -> ClipInfo:
    """What ``source`` holds (``VideoError`` if it is not a clip); decodes its first frame for the
    rotation, which lives in the frames' display matrix."""
    container, stream = open_clip(source, name)
    try:
        return _info(name or (display_name(source) if not isinstance(source, (bytes, bytearray)) else "<upload>"),
                     container, stream)
    finally:
        container.close()


def _info(name: str, container, stream) -> ClipInfo:
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    duration = (float(stream.duration * stream.time_base) if stream.duration
                else (container.duration or 0) / 1e6)
    frames = stream.frames or int(round(duration * rate))
    return ClipInfo(
        source=name, container=container.format.name, codec=stream.codec_context.name,
        width=stream.width, height=stream.height, rate=Fraction(rate), time_base=stream.time_base,
        frames=frames, duration_s=duration, rotation=_rotation(container, stream),
        audio=[s.codec_context.name for s in container.streams.audio if s.codec_context],
        other_streams=[f"{s.type} #{s.index}" for s in container.streams if s.type not in ("video", "audio")],
    )


def _rotation(container, stream) -> int:
    """The display rotation (degrees, a multiple of 90) from the first frame's display matrix.
    Reads the container: open it again to read the clip from its start."""
    try:
        for frame in container.decode(stream):
            return int(round((frame.rotation or 0) / 90.0)) * 90 % 360
    except Exception:  # a clip whose first frame cannot be decoded fails later with its own error
        pass
    return 0


def read_frames(path: str | os.PathLike, limit: int | None = None) -> Iterator[np.ndarray]:
    """The clip's frames as ``H x W x 3`` uint8 RGB (stored orientation), streamed."""
    container, stream = open_clip(path)
    name = display_name(path)
    try:
        stream.thread_type = "AUTO"
        n = 0
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
                n += 1
                if limit is not None and n >= limit:
                    return
        except av_module().error.FFmpegError as e:
            raise VideoError(name, f"corrupt or truncated video after {n} frames ({ff_reason(e)})") from None
        if n == 0:
            raise VideoError(name, "has no decodable video frames (zero-length or corrupt clip)", "not_video")
    finally:
        container.close()


def output_path_for_video(found_relative: Path, out: Path) -> Path:
    """Where a clip found in a folder goes below ``out``: its container if we write it, else .mp4."""
    suffix = found_relative.suffix.lower()
    return out / found_relative.with_suffix(suffix if suffix in OUTPUT_CONTAINERS else ".mp4")


def temp_path(dst: Path) -> Path:
    # the real extension last, so FFmpeg picks the container from it
    return dst.with_name(f".{dst.stem}.part-{os.getpid()}{dst.suffix}")


def check_output(dst: str | os.PathLike, src: str | os.PathLike | None = None) -> Path:
    dst = Path(dst)
    if dst.is_dir():
        raise VideoError(display_name(dst), "is a folder; name the output video file (e.g. out.mp4)", "unreadable")
    if dst.suffix.lower() not in OUTPUT_CONTAINERS:
        raise VideoError(display_name(dst), f"cannot write video as {dst.suffix or 'a file without extension'!r}; "
                                            f"use one of {', '.join(sorted(OUTPUT_CONTAINERS))}", "unreadable")
    if src is not None and dst.exists() and dst.resolve() == Path(src).resolve():
        raise VideoError(display_name(dst), "the output would overwrite the input; choose another output", "unreadable")
    return dst


def frame_step(stream) -> int:
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    return max(1, int(round(1 / (rate * stream.time_base))))


def colorspace_code(cs) -> int | None:
    # 2 = unspecified: swscale's default (BT.601) then, as FFmpeg itself would do
    return cs if cs not in (None, 2) else None


def video_stream(out, vin, info: ClipInfo, codec: str, crf: int, preset: str):
    ctx_in = vin.codec_context
    odd = info.width % 2 or info.height % 2
    vout = out.add_stream(ENCODERS[codec], rate=info.rate)
    vout.width, vout.height = info.width, info.height
    # 4:2:0 needs even sizes; an odd-sized clip keeps its size in 4:4:4 (fewer players show it)
    vout.pix_fmt = "yuv444p" if odd else "yuv420p"
    vout.time_base = vin.time_base
    vout.codec_context.time_base = vin.time_base
    for attr in ("color_range", "color_primaries", "color_trc", "colorspace"):
        try:
            setattr(vout.codec_context, attr, getattr(ctx_in, attr))
        except (AttributeError, ValueError, TypeError):
            pass
    if vin.sample_aspect_ratio:
        vout.codec_context.sample_aspect_ratio = vin.sample_aspect_ratio
    if codec == "h264":
        vout.options = {"crf": str(crf), "preset": preset}
    else:  # libvpx-vp9 in constant-quality mode; cpu-used 4 is its "good, fast" speed
        vout.options = {"crf": str(crf), "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
    vout.thread_type = "AUTO"
    if info.rotation:
        vout.set_display_rotation(info.rotation)
    return vout


def audio_streams(out, container, ext: str, lines: list[str]) -> dict:
    """How each audio stream goes into ``out`` (copied, or re-encoded); one line each appended to ``lines``."""
    """For each input audio stream, a plan: ("copy", output stream), or ("encode", output
    stream) when the container cannot hold the codec as it is (the input stream decodes)."""
    plans = {}
    copyable = AUDIO_COPYABLE.get(ext)
    for a in container.streams.audio:
        cname = a.codec_context.name if a.codec_context else "unknown"
        if copyable is None or cname in copyable:
            plans[a] = ("copy", out.add_stream_from_template(a))
            lines.append(f"audio #{a.index} ({cname}): copied unchanged")
            continue
        fallback = AUDIO_FALLBACK[ext]
        o = out.add_stream(fallback, rate=a.rate or 48000)
        try:
            o.layout = a.layout
        except (AttributeError, ValueError):
            pass
        plans[a] = ("encode", o)
        line = (f"audio #{a.index} ({cname}): {ext} cannot hold {cname} as it is; re-encoded to "
                f"{fallback.replace('lib', '')} (write .mkv to keep it unchanged)")
        lines.append(line)
    return plans


def audio_packet(out, packet, plan) -> None:
    if packet.dts is None:  # the demuxer's end-of-stream marker
        return
    if plan[0] == "copy":
        packet.stream = plan[1]
        out.mux(packet)
        return
    for frame in packet.decode():
        frame.pts = None  # the encoder's resampler re-times the samples
        for p in plan[1].encode(frame):
            out.mux(p)


def audio_flush(out, plan) -> None:
    for p in plan[1].encode(None):
        out.mux(p)
