"""numba kernels of the fused color path (imported by ``fused.py`` only when it is used: importing
numba costs ~0.3 s, compiling a few seconds once per machine, then numba's cache)."""

import math

import numba


@numba.njit(cache=True, inline="always")
def _lab_to_lin(L, a, b, m):
    fy = (L + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = fy - b / 200.0
    if fz < 0.0:
        fz = 0.0
    d = 6.0 / 29.0
    x = fx * fx * fx if fx > d else (fx - 16.0 / 116.0) * 3.0 * d * d
    y = fy * fy * fy if fy > d else (fy - 16.0 / 116.0) * 3.0 * d * d
    z = fz * fz * fz if fz > d else (fz - 16.0 / 116.0) * 3.0 * d * d
    r = m[0, 0] * x + m[0, 1] * y + m[0, 2] * z
    g = m[1, 0] * x + m[1, 1] * y + m[1, 2] * z
    bl = m[2, 0] * x + m[2, 1] * y + m[2, 2] * z
    return r, g, bl


@numba.njit(cache=True, inline="always")
def _encode(v, lut, bounds):
    """Linear value -> 8-bit sRGB code, exactly ``round(255 * srgb(v))``: a 64 K table gives the
    code at the start of v's cell, and the code boundaries inside the cell (at most one: codes
    are >= 20 cells apart) are checked one by one. A scalar pow per channel cost more than
    the whole tensor path's vectorised one."""
    if v <= 0.0:
        return 0
    if v >= 1.0:
        return 255
    k = lut[int(v * 65535.0)]
    while k < 255 and v >= bounds[k]:
        k += 1
    return k


@numba.njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract", "arcp", "nsz"})
def srgb_u8_kernel(L, ab, out, m, lut, bounds, steps, tol):  # pragma: no cover - compiled; tested through fused_srgb_u8
    h, w = L.shape
    hs, ws = ab.shape[1], ab.shape[2]
    sy, sx = hs / h, ws / w
    for i in numba.prange(h):
        # the source row, as F.interpolate(mode="bilinear", align_corners=False) places it
        y = (i + 0.5) * sy - 0.5
        if y < 0.0:
            y = 0.0
        y0 = min(int(math.floor(y)), hs - 1)
        y1 = min(y0 + 1, hs - 1)
        wy = y - y0
        for j in range(w):
            x = (j + 0.5) * sx - 0.5
            if x < 0.0:
                x = 0.0
            x0 = min(int(math.floor(x)), ws - 1)
            x1 = min(x0 + 1, ws - 1)
            wx = x - x0
            a_top = ab[0, y0, x0] + (ab[0, y0, x1] - ab[0, y0, x0]) * wx
            a_bot = ab[0, y1, x0] + (ab[0, y1, x1] - ab[0, y1, x0]) * wx
            b_top = ab[1, y0, x0] + (ab[1, y0, x1] - ab[1, y0, x0]) * wx
            b_bot = ab[1, y1, x0] + (ab[1, y1, x1] - ab[1, y1, x0]) * wx
            a = a_top + (a_bot - a_top) * wy
            b = b_top + (b_bot - b_top) * wy
            lv = L[i, j]
            r, g, bl = _lab_to_lin(lv, a, b, m)
            if (r < -tol or r > 1.0 + tol or g < -tol or g > 1.0 + tol or bl < -tol or bl > 1.0 + tol):
                lo, hi = 0.0, 1.0  # the largest chroma factor that is displayable, same L and hue
                for _ in range(steps):
                    mid = (lo + hi) * 0.5
                    r2, g2, b2 = _lab_to_lin(lv, a * mid, b * mid, m)
                    if (r2 >= -tol and r2 <= 1.0 + tol and g2 >= -tol and g2 <= 1.0 + tol
                            and b2 >= -tol and b2 <= 1.0 + tol):
                        lo = mid
                    else:
                        hi = mid
                r, g, bl = _lab_to_lin(lv, a * lo, b * lo, m)
            out[i, j, 0] = _encode(r, lut, bounds)
            out[i, j, 1] = _encode(g, lut, bounds)
            out[i, j, 2] = _encode(bl, lut, bounds)


