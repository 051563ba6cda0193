"""The stages every batch of photos goes through, whichever engine runs them:

    plan (inputs -> items: where each photo is read and written)
      -> decode (the photo; its output's final name: alpha kept as PNG)
      -> colorize (``Colorizer.colorize_photos``: same-size photos share network batches)
      -> write (encoded and written atomically, with its comparison sheet if asked for)
      -> one line per item that failed, gathered with the written ones in one ``Report``

``local.py`` runs them in this process (decoding and writing in a thread beside the network);
``ray.py`` runs them as a Ray Data pipeline. The rules live here once: output names, what happens
to transparency, which outputs are refused (one that would replace an input), atomic writes.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from PIL import Image

from ..errors import SettingsError
from ..figures import gray_input, triptych
from ..images import (
    IMAGE_EXTENSIONS, ImageLoadError, Photo, encode_image, find_images, load_photo, looks_gray, pil_from_u8, save_image,
)
from ..settings import OutputSettings
from ..video_io import OUTPUT_CONTAINERS, VIDEO_EXTENSIONS, output_path_for_video

# outputs are written as the input's format where it is one of these, else as PNG
WRITABLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")


@dataclass
class Item:
    """One photo to colorize: where it is read (a path or a URI) and where its output goes."""

    input: str
    output: str


@dataclass
class Report:
    """A batch's outcome, from either engine."""

    written: list[Path | str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line each: "<file>: <reason>"
    done_before: int = 0  # Ray: already written by an earlier run (its manifest says so)
    seconds: float = 0.0
    manifest: str | None = None  # Ray: the manifest beside the outputs

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        text = f"{len(self.written)} written, {len(self.failed)} skipped"
        if self.manifest is not None:
            text += f", {self.done_before} already done ({self.seconds:.1f} s; manifest {self.manifest})"
        return text


def is_uri(path: str) -> bool:
    return "://" in path


def output_path_for(found_relative: Path, out: Path | str, fmt: str | None) -> Path:
    """Where a photo found at ``found_relative`` (below the input it was found in) is written:
    the same place below ``out``, with ``fmt``'s extension, else the input's if writable, else PNG."""
    suffix = ("." + fmt.lower().lstrip(".")) if fmt else found_relative.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        suffix = ".png"
    return Path(out) / found_relative.with_suffix(suffix)


def overwrite_problem(item_input: str, target: str | Path) -> str:
    return f"{item_input}: output {target} would overwrite an input; choose another -o"


def plan(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, settings: OutputSettings,
         with_clips: bool = False) -> tuple[list[Item], list[str]]:
    """Items for the photos (and with ``with_clips`` the video clips) under ``inputs`` (files,
    folders recursively, globs), and problem lines. ``out`` is the output file when there is one
    input and ``out`` has its kind's extension, else a folder in which each output keeps its path
    below its input folder. An item whose output would replace an input, or another item's
    output, is a problem line, the same on every engine."""
    found, problems = find_images(inputs, IMAGE_EXTENSIONS | (VIDEO_EXTENSIONS if with_clips else frozenset()))
    out = Path(out)
    items, taken = [], set()
    inputs_resolved = {f.path.resolve() for f in found if f.path.exists()}
    for f in found:
        clip = with_clips and f.path.suffix.lower() in VIDEO_EXTENSIONS
        single = len(found) == 1 and not out.is_dir() and out.suffix.lower() in (
            OUTPUT_CONTAINERS if clip else IMAGE_EXTENSIONS)
        target = out if single else output_path_for_video(f.relative, out) if clip else \
            output_path_for(f.relative, out, settings.format)
        key = target.resolve()
        if key in inputs_resolved:
            problems.append(overwrite_problem(str(f.path), target))
        elif key in taken:
            problems.append(f"{f.path}: output {target} is also another input's; rename one")
        else:
            taken.add(key)
            items.append(Item(str(f.path), str(target)))
    return items, problems


def path_key(path: str) -> str:
    """What two names of one file have in common: a local path resolved, a URI as it is."""
    return path if is_uri(path) else str(Path(path).resolve())


def input_keys(inputs) -> frozenset[str]:
    """The ``path_key`` of every input, once per batch (``decode`` checks outputs against them)."""
    return frozenset(path_key(str(i)) for i in inputs)


def decode(item: Item, settings: OutputSettings, inputs: frozenset[str] = frozenset()) -> tuple[Photo, str]:
    """The item's photo (a local path or a URI) and its output's final name: a photo with
    transparency asked for as JPEG is written as PNG (JPEG cannot hold alpha). ``inputs``: the
    batch's ``input_keys``. Raises ``ImageLoadError`` naming the file, or ``SettingsError`` (a
    ``ValueError``) when that final name is an input."""
    if is_uri(item.input):
        fs, path = _fs(item.input)
        try:
            with fs.open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ImageLoadError(item.input, f"cannot read ({e})", "unreadable") from None
        photo = load_photo(data, max_pixels=settings.max_pixels)
        photo.source = item.input
    else:
        photo = load_photo(item.input, max_pixels=settings.max_pixels)
    target = item.output
    if photo.alpha is not None and Path(target).suffix.lower() in (".jpg", ".jpeg"):
        target = str(Path(target).with_suffix(".png")) if not is_uri(target) else target.rsplit(".", 1)[0] + ".png"
    if path_key(target) in inputs:  # the final name (plan checked the asked-for one before any work)
        raise SettingsError(overwrite_problem(item.input, target))
    return photo, target


def write(photo: Photo, result: Image.Image, target: str, settings: OutputSettings) -> None:
    """Write ``result`` to ``target`` atomically (a temporary name, then a rename: a reader, or a
    run cut off, never sees half a file), and with ``settings.compare`` its sheet
    ``NAME_compare.png`` (Input | Predicted | Original; Input | Predicted for a gray photo)."""
    _write_one(result, target, settings.png_level)
    if settings.compare:
        original = None if looks_gray(photo) else pil_from_u8(photo.u8)
        _write_one(triptych(gray_input(photo), result, original), _compare_name(target), settings.png_level)


def write_problem(source: str, target: str, e: Exception) -> str:
    reason = e.strerror if isinstance(e, OSError) and e.strerror else e
    return f"{source}: cannot write {target} ({reason})"


def _compare_name(target: str) -> str:
    if is_uri(target):
        stem = target.rsplit(".", 1)[0]
        return f"{stem}_compare.png"
    p = Path(target)
    return str(p.with_name(f"{p.stem}_compare.png"))


def _write_one(img: Image.Image, target: str, png_level: int) -> None:
    if not is_uri(target):
        save_image(img, target, png_level=png_level)
        return
    # an object store: encoded in memory as save_image would, written under a temporary name
    # beside the target, then renamed (there a rename is a copy; the target still appears whole)
    fs, path = _fs(target)
    data = encode_image(img, path, png_level=png_level)
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.{Path(path).name}.{uuid.uuid4().hex}.tmp"
    with fs.open(tmp, "wb") as f:
        f.write(data)
    fs.mv(tmp, path)


def _fs(path: str):
    """(fsspec filesystem, path inside it) for a URI or a local path (fsspec comes with huenet[ray])."""
    import fsspec

    return fsspec.core.url_to_fs(path)


def exists(path: str) -> bool:
    if not is_uri(path):
        return Path(path).exists()
    fs, p = _fs(path)
    return fs.exists(p)
