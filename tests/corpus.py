"""A corpus of bad and awkward inputs, generated on the fly (no binary junk committed).

``make_corpus(folder, photo)`` writes them next to each other and returns two dicts:
``colorizable`` (name -> expected output size) and ``bad`` (name -> a word its error must contain).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def make_corpus(folder: Path, photo: Path) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    img = Image.open(photo).convert("RGB")
    w, h = img.size
    ok: dict[str, tuple[int, int]] = {}
    bad: dict[str, str] = {}

    def save(name, im, **kw):
        im.save(folder / name, **kw)
        ok[name] = im.size

    (folder / "zero.jpg").write_bytes(b"")
    bad["zero.jpg"] = "empty"
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    (folder / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 4])
    bad["truncated.jpg"] = "truncated"
    buf = io.BytesIO()
    img.save(buf, "PNG")
    (folder / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    bad["truncated.png"] = "truncated"
    (folder / "random.jpg").write_bytes(np.random.default_rng(1).bytes(4096))
    bad["random.jpg"] = "not an image"
    (folder / "page.png").write_bytes(b"<!doctype html><html><body>not a picture</body></html>")
    bad["page.png"] = "not an image"
    (folder / "bomb.png").write_bytes(bomb_png())
    bad["bomb.png"] = "pixels"

    save("one_pixel.png", Image.new("RGB", (1, 1), (120, 130, 140)))
    save("strip.png", img.resize((20000, 4)))
    gray16 = (np.asarray(img.convert("L"), dtype=np.uint16) * 257)
    save("gray16.png", Image.fromarray(gray16).convert("I;16"))
    save("cmyk.jpg", img.convert("CMYK"))
    pal = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    pal.info["transparency"] = 0
    save("palette_transparent.png", pal, transparency=0)
    la = Image.merge("LA", [img.convert("L"), Image.new("L", img.size, 200)])
    save("gray_alpha.png", la)
    save("bilevel.png", img.convert("1"))
    save("rgba.png", Image.merge("RGBA", [*img.split(), Image.new("L", img.size, 90)]))
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(folder / "rotated.jpg", exif=exif.tobytes())
    ok["rotated.jpg"] = (h, w)
    frames = [img.resize((w // 2, h // 2)), img.resize((w // 2, h // 2)).rotate(90)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    ok["animated.gif"] = frames[0].size
    (folder / "photo.jpg").mkdir()  # a directory with an image's name: walked into, holds nothing
    unreadable = folder / "no_permission.jpg"
    img.save(unreadable)
    os.chmod(unreadable, 0)
    if os.geteuid() == 0:  # root reads anything: then it is a good photo
        ok["no_permission.jpg"] = img.size
    else:
        bad["no_permission.jpg"] = "permission"
    loop = folder / "loop"
    loop.mkdir()
    os.symlink("..", loop / "again")  # a symlink loop
    weird = os.fsencode(folder) + b"/caf\xe9_latin1.png"  # a file name that is not UTF-8
    with open(weird, "wb") as f:
        img.save(f, "PNG")
    ok[os.fsdecode(b"caf\xe9_latin1.png")] = img.size
    return ok, bad
