"""Colorizing many files: outputs mirror the inputs' folders, bad files are reported and skipped.
Photos and video clips may be mixed; clips (by extension) go through ``video.colorize_video``."""

from __future__ import annotations

import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, TextIO

from tqdm import tqdm

if TYPE_CHECKING:
    from .video import VideoSettings

from .colorize import Colorizer, gray_input, output_path_for
from .figures import triptych
from .images import (
    DEFAULT_MAX_PIXELS, DEFAULT_PNG_LEVEL, IMAGE_EXTENSIONS, ImageLoadError, find_images, load_photo, pil_from_u8, save_image,
)


# A chunk (photos decoded together, then colorized together) stops growing at about this many
# pixels: 8 small photos share network batches, 12-megapixel ones come one at a time.
CHUNK_PIXELS = 1 << 23


@dataclass
class BatchReport:
    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line each: "<file>: <reason>"

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return f"{len(self.written)} written, {len(self.failed)} skipped"


def colorize_files(
    colorizer: Colorizer,
    inputs: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    fmt: str | None = None,
    compare: bool = False,
    batch_size: int = 8,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool | None = None,
    log: TextIO | None = None,
    io_thread: bool = True,
    chunk_pixels: int = CHUNK_PIXELS,
    png_level: int = DEFAULT_PNG_LEVEL,
    video: "VideoSettings | None" = None,
) -> BatchReport:
    """Colorize files, folders (recursive) and globs into ``out``.

    ``out`` is a file when there is one input file and ``out`` has an image extension; otherwise a
    folder where each output keeps its path below the input folder it came from. One line per bad
    input goes to ``log`` (stderr by default); the other files are still written. An output that
    would replace an input file is refused. ``png_level``: zlib level of PNG outputs (0-9). ``io_thread=False`` decodes and encodes in the calling
    thread, one chunk after another; ``chunk_pixels`` caps the pixels decoded and colorized together.
    Video clips (found by extension in folders, or named) are written as clips, one after the
    other, with ``video``'s settings.
    """
    from .video import OUTPUT_CONTAINERS, VIDEO_EXTENSIONS, VideoSettings

    log = log or sys.stderr
    report = BatchReport()
    found, problems = find_images(inputs, IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
    for line in problems:
        report.failed.append(line)
        print(f"skipped {line}", file=log)
    out = Path(out)
    clips = [f for f in found if f.path.suffix.lower() in VIDEO_EXTENSIONS]
    found = [f for f in found if f.path.suffix.lower() not in VIDEO_EXTENSIONS]
    single_file = len(found) + len(clips) == 1 and not out.is_dir() and (
        out.suffix.lower() in (OUTPUT_CONTAINERS if clips else IMAGE_EXTENSIONS))
    inputs_resolved = {f.path.resolve() for f in [*found, *clips] if f.path.exists()}
    if clips:
        _colorize_clips(colorizer, clips, out, single_file, inputs_resolved, video or VideoSettings(), report, log,
                        progress)

    def target_for(rel: Path) -> Path:
        return out if single_file else output_path_for(rel, out, fmt)

    def load_chunk(start: int) -> tuple[list, list, list[str], int]:
        """Decode from ``found[start]`` on until the chunk holds ``batch_size`` photos or about
        ``chunk_pixels``; returns the photos, their targets, failure lines and where to go on."""
        photos, targets, failures, pixels, i = [], [], [], 0, start
        while i < len(found) and len(photos) < batch_size and pixels < chunk_pixels:
            item = found[i]
            i += 1
            try:
                photo = load_photo(item.path, max_pixels=max_pixels)
            except ImageLoadError as e:
                failures.append(str(e))
                continue
            target = target_for(item.relative)
            if photo.alpha is not None and target.suffix.lower() in (".jpg", ".jpeg"):
                target = target.with_suffix(".png")  # keep the transparency JPEG cannot hold
            if target.resolve() in inputs_resolved:
                failures.append(f"{item.path}: output {target} would overwrite an input; choose another -o")
                continue
            photos.append(photo)
            targets.append(target)
            pixels += photo.pixels.shape[0] * photo.pixels.shape[1]
        return photos, targets, failures, i

    def write(photo, target: Path, result) -> str | None:
        try:
            save_image(result, target, png_level=png_level)
            if compare:
                sheet = triptych(gray_input(photo), result, pil_from_u8(photo.u8))
                save_image(sheet, target.with_name(f"{target.stem}_compare.png"), png_level=png_level)
        except (OSError, ValueError) as e:
            return f"{photo.source}: cannot write {target} ({e.strerror if isinstance(e, OSError) and e.strerror else e})"
        return None

    # Decoding the next chunk and encoding the last one run in a thread while the model works on
    # this one (Pillow's codecs release the GIL), so codec time can hide behind the network's where
    # a core is free (about even on 2 cores, benchmarks/RESULTS.md). Chunks hold up to batch_size
    # photos but only about chunk_pixels pixels, so large photos come one or two at a time and the
    # memory stays that of a few; at most one chunk is decoded ahead and one is being written.
    bar = tqdm(total=len(found), unit="img", disable=(not sys.stderr.isatty()) if progress is None else not progress)
    pool = ThreadPoolExecutor(max_workers=1) if io_thread else None
    run = pool.submit if pool else _run_now
    writes: list[tuple[Future, Path]] = []

    def finish_writes() -> None:
        for fut, target in writes:
            problem = fut.result()
            if problem:
                _fail(report, problem, log, bar)
            else:
                report.written.append(target)
            bar.update(1)
        writes.clear()

    try:
        loading = run(load_chunk, 0)
        while loading is not None:
            photos, targets, failures, next_start = loading.result()
            loading = run(load_chunk, next_start) if next_start < len(found) else None
            for line in failures:
                _fail(report, line, log, bar)
            bar.update(len(failures))
            results = []
            if photos:
                try:
                    results = colorizer.colorize_photos(photos, batch_size=batch_size)
                except Exception as e:  # keep going with the next batch, say which files failed
                    for p in photos:
                        _fail(report, f"{p.source}: colorizing failed ({type(e).__name__}: {e})", log, bar)
                    bar.update(len(photos))
                    results = []
            finish_writes()  # the previous chunk's, so that results in memory stay bounded
            for photo, target, result in zip(photos, targets, results):
                writes.append((run(write, photo, target, result), target))
        finish_writes()
    finally:
        if pool:
            pool.shutdown(wait=True)
        bar.close()
    return report


def _colorize_clips(colorizer: Colorizer, clips, out: Path, single_file: bool, inputs_resolved: set, settings,
                    report: BatchReport, log: TextIO, progress: bool | None) -> None:
    """Each clip into its own output (a file that appears only when complete); a bad clip is one
    line in the report and the others are still written."""
    from .video import VideoError, colorize_video, output_path_for_video

    for item in clips:
        target = out if single_file else output_path_for_video(item.relative, out)
        if target.exists() and target.resolve() in inputs_resolved:
            line = f"{item.path}: output {target} would overwrite an input; choose another -o"
            report.failed.append(line)
            print(f"skipped {line}", file=log)
            continue
        try:
            r = colorize_video(colorizer, item.path, target, progress=progress, **settings.kwargs())
        except (VideoError, ValueError, RuntimeError, OSError) as e:
            line = str(e) if isinstance(e, VideoError) else f"{item.path}: {e}"
            report.failed.append(line)
            print(f"skipped {line}", file=log)
            continue
        report.written.append(target)
        for note in r.notes:
            print(f"note {item.path}: {note}", file=log)
        print(f"{target}: {r.frames} frames in {r.seconds:.1f} s ({r.fps:.1f} frames/s)"
              + "".join(f"; {line}" for line in r.audio), file=log)


def _run_now(fn, *args) -> Future:
    """``ThreadPoolExecutor.submit`` without a thread: the work is done when this returns."""
    done: Future = Future()
    done.set_result(fn(*args))
    return done


def _fail(report: BatchReport, line: str, log: TextIO, bar: tqdm) -> None:
    report.failed.append(line)
    bar.write(f"skipped {line}", file=log)
