"""Colorizing many files in this process: the stages of ``stages.py``, with decoding and writing
in a thread beside the network. Outputs mirror the inputs' folders; a bad file is one line in the
report and the others are still written. Photos and video clips may be mixed; clips (by
extension) go through ``video.colorize_video``, one after the other."""

from __future__ import annotations

import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, TextIO

from tqdm import tqdm

from ..colorize import Colorizer
from ..images import ImageLoadError
from ..settings import OutputSettings
from ..video import VideoSettings, colorize_video
from ..video_io import VIDEO_EXTENSIONS, VideoError
from .stages import Item, Report, decode, input_keys, plan, write, write_problem

# A chunk (photos decoded together, then colorized together) stops growing at about this many
# pixels: 8 small photos share network batches, 12-megapixel ones come one at a time.
CHUNK_PIXELS = 1 << 23


def colorize_files(
    colorizer: Colorizer,
    inputs: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    settings: OutputSettings = OutputSettings(),
    *,
    video: VideoSettings | None = None,
    progress: bool | None = None,
    log: TextIO | None = None,
    io_thread: bool = True,
    chunk_pixels: int = CHUNK_PIXELS,
) -> Report:
    """Colorize files, folders (recursive) and globs into ``out`` (see ``stages.plan`` for where
    each output goes). One line per bad input goes to ``log`` (stderr by default); the other files
    are still written; an output that would replace an input is refused. ``io_thread=False``
    decodes and encodes in the calling thread, one chunk after another; ``chunk_pixels`` caps the
    pixels decoded and colorized together. Video clips are written as clips with ``video``'s settings.
    """
    log = log or sys.stderr
    inputs = [os.fspath(i) for i in inputs]
    report = Report()
    items, problems = plan(inputs, out, settings, with_clips=True)
    clips = [i for i in items if Path(i.input).suffix.lower() in VIDEO_EXTENSIONS]
    photos = [i for i in items if Path(i.input).suffix.lower() not in VIDEO_EXTENSIONS]
    for line in problems:
        report.failed.append(line)
        print(f"skipped {line}", file=log)
    if clips:
        _colorize_clips(colorizer, clips, video or VideoSettings(), report, log, progress)
    if photos:
        _colorize_photos(colorizer, photos, input_keys(i.input for i in items), settings, report, log, progress,
                         io_thread, chunk_pixels)
    return report


def _colorize_photos(colorizer: Colorizer, items: list[Item], inputs: frozenset[str], settings: OutputSettings,
                     report: Report, log: TextIO, progress: bool | None, io_thread: bool, chunk_pixels: int) -> None:
    """Decoding the next chunk and writing the last one run in a thread while the model works on
    this one (Pillow's codecs release the GIL), so codec time can hide behind the network's where a
    core is free (about even on 2 cores, benchmarks/RESULTS.md). Chunks hold up to ``batch_size``
    photos but only about ``chunk_pixels`` pixels, so large photos come one or two at a time and
    the memory stays that of a few; at most one chunk is decoded ahead and one is being written."""
    bar = tqdm(total=len(items), unit="img", disable=(not sys.stderr.isatty()) if progress is None else not progress)
    pool = ThreadPoolExecutor(max_workers=1) if io_thread else None
    run = pool.submit if pool else _run_now
    writes: list[tuple[Future, str]] = []

    def load_chunk(start: int) -> tuple[list, list[str], list[str], int]:
        """Decode from ``items[start]`` on until the chunk holds ``batch_size`` photos or about
        ``chunk_pixels``; returns the photos, their targets, failure lines and where to go on."""
        photos, targets, failures, pixels, i = [], [], [], 0, start
        while i < len(items) and len(photos) < settings.batch_size and pixels < chunk_pixels:
            item = items[i]
            i += 1
            try:
                photo, target = decode(item, settings, inputs)
            except (ImageLoadError, ValueError) as e:
                failures.append(str(e))
                continue
            photos.append(photo)
            targets.append(target)
            pixels += photo.pixels.shape[0] * photo.pixels.shape[1]
        return photos, targets, failures, i

    def write_one(photo, target: str, result) -> str | None:
        try:
            write(photo, result, target, settings)
        except (OSError, ValueError) as e:
            return write_problem(photo.source, target, e)
        return None

    def finish_writes() -> None:
        for fut, target in writes:
            problem = fut.result()
            if problem:
                _fail(report, problem, log, bar)
            else:
                report.written.append(Path(target))
            bar.update(1)
        writes.clear()

    try:
        loading = run(load_chunk, 0)
        while loading is not None:
            photos, targets, failures, next_start = loading.result()
            loading = run(load_chunk, next_start) if next_start < len(items) else None
            for line in failures:
                _fail(report, line, log, bar)
            bar.update(len(failures))
            results = []
            if photos:
                try:
                    results = colorizer.colorize_photos(photos, batch_size=settings.batch_size)
                except Exception as e:  # keep going with the next batch, say which files failed
                    for p in photos:
                        _fail(report, f"{p.source}: colorizing failed ({type(e).__name__}: {e})", log, bar)
                    bar.update(len(photos))
                    results = []
            finish_writes()  # the previous chunk's, so that results in memory stay bounded
            for photo, target, result in zip(photos, targets, results):
                writes.append((run(write_one, photo, target, result), target))
        finish_writes()
    finally:
        if pool:
            pool.shutdown(wait=True)
        bar.close()


def _colorize_clips(colorizer: Colorizer, clips: list[Item], settings: VideoSettings, report: Report, log: TextIO,
                    progress: bool | None) -> None:
    """Each clip into its own output (a file that appears only when complete); a bad clip is one
    line in the report and the others are still written."""
    for item in clips:
        target = Path(item.output)
        try:
            r = colorize_video(colorizer, item.input, target, progress=progress, **settings.kwargs())
        except (VideoError, ValueError, RuntimeError, OSError) as e:
            line = str(e) if isinstance(e, VideoError) else f"{item.input}: {e}"
            report.failed.append(line)
            print(f"skipped {line}", file=log)
            continue
        report.written.append(target)
        for note in r.notes:
            print(f"note {item.input}: {note}", file=log)
        print(f"{target}: {r.frames} frames in {r.seconds:.1f} s ({r.fps:.1f} frames/s)"
              + "".join(f"; {line}" for line in r.audio), file=log)


def _run_now(fn, *args) -> Future:
    """``ThreadPoolExecutor.submit`` without a thread: the work is done when this returns."""
    done: Future = Future()
    done.set_result(fn(*args))
    return done


def _fail(report: Report, line: str, log: TextIO, bar: tqdm) -> None:
    report.failed.append(line)
    bar.write(f"skipped {line}", file=log)
