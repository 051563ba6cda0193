"""Process-level tuning the command line applies at start (never on import of the library): the
C allocator (here) and Pillow's block size (``tune_pillow``, below).

glibc hands large freed blocks straight back to the OS (mmap/munmap, heap trimming), so every
megapixel-sized tensor is page-faulted and zeroed afresh. Telling it to keep freed memory
(``M_MMAP_MAX = 0``, ``M_TRIM_THRESHOLD = -1`` via ``mallopt``: the same as the environment
variables ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<large>``) made a 12-megapixel photo 1.8x
faster end to end on this project's 2-core test machine, and 1.3x once the color math ran in bands
of rows; the network and training gained 10-16% (benchmarks/RESULTS.md). The cost: the process
keeps its peak memory until it exits. ``HUENET_MALLOC_TUNING=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


def tune_allocator() -> bool:
    """Apply the glibc settings above; returns whether they were applied."""
    if os.environ.get("HUENET_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok_mmap = mallopt(M_MMAP_MAX, 0)
    ok_trim = mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    return bool(ok_mmap and ok_trim)


# Pillow keeps a large image in blocks of at most 16 MB (its "block allocator"), so a 12 MP photo's
# rows are not one piece of memory and cannot be read in place (``images.pixels_view``) or exported
# through Arrow. One block per image is what images under 16 MB get anyway. The same setting as
# the environment variable ``PILLOW_BLOCK_SIZE=512M``; ``HUENET_PILLOW_TUNING=0`` turns it off.
PILLOW_BLOCK_SIZE = 512 << 20


def tune_pillow() -> bool:
    """Let Pillow keep images of up to ``PILLOW_BLOCK_SIZE`` bytes in one block; returns whether set."""
    if os.environ.get("HUENET_PILLOW_TUNING", "1") == "0" or "PILLOW_BLOCK_SIZE" in os.environ:
        return False
    from PIL import Image

    setter = getattr(Image.core, "set_block_size", None)
    if setter is None:
        return False
    setter(max(PILLOW_BLOCK_SIZE, Image.core.get_block_size()))
    return True
