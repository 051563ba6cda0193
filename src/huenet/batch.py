"""Colorizing many files: outputs mirror the inputs' folders, bad files are reported and skipped."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TextIO

from tqdm import tqdm

from .colorize import Colorizer, gray_input, output_path_for
from .figures import triptych
from .images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, ImageLoadError, find_images, load_photo, pil_from_u8, save_image


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
) -> BatchReport:
    """Colorize files, folders (recursive) and globs into ``out``.

    ``out`` is a file when there is one input file and ``out`` has an image extension; otherwise a
    folder where each output keeps its path below the input folder it came from. One line per bad
    input goes to ``log`` (stderr by default); the other files are still written. An output that
    would replace an input file is refused.
    """
    log = log or sys.stderr
    report = BatchReport()
    found, problems = find_images(inputs)
    for line in problems:
        report.failed.append(line)
        print(f"skipped {line}", file=log)
    out = Path(out)
    single_file = len(found) == 1 and out.suffix.lower() in IMAGE_EXTENSIONS and not out.is_dir()
    inputs_resolved = {f.path.resolve() for f in found if f.path.exists()}

    def target_for(rel: Path) -> Path:
        return out if single_file else output_path_for(rel, out, fmt)

    bar = tqdm(total=len(found), unit="img", disable=(not sys.stderr.isatty()) if progress is None else not progress)
    try:
        for start in range(0, len(found), batch_size):
            chunk = found[start:start + batch_size]
            photos, targets = [], []
            for item in chunk:
                try:
                    photo = load_photo(item.path, max_pixels=max_pixels)
                except ImageLoadError as e:
                    _fail(report, str(e), log, bar)
                    continue
                target = target_for(item.relative)
                if photo.alpha is not None and target.suffix.lower() in (".jpg", ".jpeg"):
                    target = target.with_suffix(".png")  # keep the transparency JPEG cannot hold
                if target.resolve() in inputs_resolved:
                    _fail(report, f"{item.path}: output {target} would overwrite an input; choose another -o", log, bar)
                    continue
                photos.append(photo)
                targets.append(target)
            if photos:
                try:
                    results = colorizer.colorize_photos(photos, batch_size=batch_size)
                except Exception as e:  # keep going with the next batch, say which files failed
                    for p in photos:
                        _fail(report, f"{p.source}: colorizing failed ({type(e).__name__}: {e})", log, bar)
                    continue
                for photo, target, result in zip(photos, targets, results):
                    try:
                        save_image(result, target)
                        if compare:
                            sheet = triptych(gray_input(photo), result, pil_from_u8(photo.u8))
                            save_image(sheet, target.with_name(f"{target.stem}_compare.png"))
                    except (OSError, ValueError) as e:
                        _fail(report, f"{photo.source}: cannot write {target} ({e.strerror if isinstance(e, OSError) and e.strerror else e})", log, bar)
                        continue
                    report.written.append(target)
            bar.update(len(chunk))
    finally:
        bar.close()
    return report


def _fail(report: BatchReport, line: str, log: TextIO, bar: tqdm) -> None:
    report.failed.append(line)
    bar.write(f"skipped {line}", file=log)
