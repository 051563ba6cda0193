"""numba kernels of the fused color path (imported by ``fused.py`` only when it is used: importing
numba costs ~0.3 s, compiling a few seconds once per machine, then numba's cache).

Each kernel works a row at a time in a few loops over small row buffers, every loop written so
that LLVM vectorises it (AVX-512: 16 pixels an instruction): no table lookups in the per-pixel
loops except the 256-entry L table of gray photos (a gather from L1), no branches but selects,
flat ``H x (W * C)`` views of pixel rows. The only scalar loop is the gamut bisection, for the
few pixels outside sRGB. Per-pixel powers (the sRGB curve, its inverse, Lab's cube root) are
polynomials in ``x^(1/4)`` (two square roots, exact and vectorised), fitted once at import at
Chebyshev points, each to within 1/100 of an 8-bit code or better (``_POLY_ERRORS``).
"""

import numba
import numpy as np

_FASTMATH = {"contract", "arcp", "nsz", "reassoc"}  # not "afn" (approximate square roots), "nnan", "ninf"

# Constants of color.py, written out here: numba's cache is keyed on this file alone, so a value
# imported from elsewhere could change without the compiled kernels noticing. A test checks that
# they are color.py's.
_SRGB_TOE = 0.0031308  # linear value where the sRGB curve turns from a line into a power
_LAB_EPS = 0.008856  # (6/29)^3: where Lab's f turns from a line into a cube root
_LAB_KAPPA = 7.787  # the slope of that line
_CODE_TOE = 0.04045  # the 8-bit sRGB value (over 255) where the inverse curve turns into a power


def _fit(fn, lo: float, deg: int) -> tuple[np.ndarray, float]:
    """Power-basis coefficients of a degree-``deg`` polynomial interpolating ``fn`` on [lo, 1] at
    Chebyshev points, and its largest error on a fine grid."""
    cheb = np.polynomial.Chebyshev.interpolate(fn, deg, domain=[lo, 1.0])
    poly = cheb.convert(kind=np.polynomial.Polynomial, domain=[lo, 1.0], window=[lo, 1.0])
    grid = np.linspace(lo, 1.0, 20001)
    return poly.coef, float(np.abs(poly(grid) - fn(grid)).max())


# 8-bit code of linear v, as a function of u = v^(1/4) on the power branch: 255 (1.055 u^(5/3) - 0.055)
_ENC, _ENC_ERR = _fit(lambda u: 255.0 * (1.055 * u ** (5.0 / 3.0) - 0.055), _SRGB_TOE ** 0.25, 6)
# Lab's f(Y) = Y^(1/3) as a function of u = Y^(1/4): u^(4/3)
_CBRT, _CBRT_ERR = _fit(lambda u: u ** (4.0 / 3.0), _LAB_EPS ** 0.25, 6)
# linear value of an sRGB value x in (0.04045, 1]: ((x + 0.055) / 1.055)^2.4
_DEC, _DEC_ERR = _fit(lambda x: ((x + 0.055) / 1.055) ** 2.4, _CODE_TOE, 7)
# in the units that matter: 8-bit codes, L (0..100), linear value
_POLY_ERRORS = {"srgb encode (codes)": _ENC_ERR, "L from Y (L units)": 116 * _CBRT_ERR, "srgb decode": _DEC_ERR}

e0, e1, e2, e3, e4, e5, e6 = (np.float32(c) for c in _ENC)
q0, q1, q2, q3, q4, q5, q6 = (np.float32(c) for c in _CBRT)
d0, d1, d2, d3, d4, d5, d6, d7 = (np.float32(c) for c in _DEC)
# Y's share of linear R, G, B (the Y row of sRGB -> XYZ, white Y = 1)
WR, WG, WB = np.float32(0.212671), np.float32(0.715160), np.float32(0.072169)

# row sources: L as float32, 8-bit gray, 8-bit RGB
SRC_L, SRC_GRAY, SRC_RGB, SRC_RGBX = 0, 1, 3, 4  # RGBX: Pillow's RGB storage, 4 bytes a pixel


@numba.njit(cache=True, inline="always", fastmath=_FASTMATH)
def _code(v):
    """Linear value -> 8-bit sRGB code (round half up) from the fitted curve (within 0.002 of a code)."""
    v = min(max(v, np.float32(0.0)), np.float32(1.0))
    u = np.sqrt(np.sqrt(v))
    p = (((((e6 * u + e5) * u + e4) * u + e3) * u + e2) * u + e1) * u + e0
    p = p if v > np.float32(_SRGB_TOE) else v * np.float32(255.0 * 12.92)
    return np.uint8(np.int32(p + np.float32(0.5)))


@numba.njit(cache=True, inline="always", fastmath=_FASTMATH)
def _linear(c):
    """8-bit sRGB code -> linear value."""
    x = np.float32(c) * np.float32(1.0 / 255.0)
    p = ((((((d7 * x + d6) * x + d5) * x + d4) * x + d3) * x + d2) * x + d1) * x + d0
    return p if x > np.float32(_CODE_TOE) else x * np.float32(1.0 / 12.92)


@numba.njit(cache=True, inline="always", fastmath=_FASTMATH)
def _fy_row(src, row8, rowf, fy, fy_gray):
    """One row of Lab's fy = (L + 16) / 116 from the row's source pixels."""
    w = fy.shape[0]
    if src == SRC_L:
        for j in range(w):
            fy[j] = (rowf[j] + np.float32(16.0)) * np.float32(1.0 / 116.0)
    elif src == SRC_GRAY:
        for j in range(w):
            fy[j] = fy_gray[row8[j]]
    elif src == SRC_RGB:
        for j in range(w):
            _fy_from_rgb(fy, j, row8[3 * j], row8[3 * j + 1], row8[3 * j + 2])
    else:  # the stride is a constant in each loop, so LLVM vectorises both
        for j in range(w):
            _fy_from_rgb(fy, j, row8[4 * j], row8[4 * j + 1], row8[4 * j + 2])


@numba.njit(cache=True, inline="always", fastmath=_FASTMATH)
def _fy_from_rgb(fy, j, r, g, b):
    y = WR * _linear(r) + WG * _linear(g) + WB * _linear(b)
    u = np.sqrt(np.sqrt(max(y, np.float32(0.0))))
    p = (((((q6 * u + q5) * u + q4) * u + q3) * u + q2) * u + q1) * u + q0
    fy[j] = p if y > np.float32(_LAB_EPS) else y * np.float32(_LAB_KAPPA) + np.float32(16.0 / 116.0)


@numba.njit(cache=True, parallel=True, fastmath=_FASTMATH)
def working_l_kernel(src, px8, fy_gray, x_min, x_w, y_min, y_w, tmp, out):  # pragma: no cover - compiled
    """8-bit pixels (``H x (W * C)``) -> L at the working size (``out``, ``hs x ws``), resized as
    ``F.interpolate(..., mode="bilinear", antialias=True)`` does (the weights come from
    ``fused._aa_weights``). Heights first, vectorised along the full-width rows into ``tmp``
    (``hs x W``), each source row's L computed once per block of output rows; then widths."""
    hs, ky = y_w.shape
    ws, kx = x_w.shape
    w = tmp.shape[1]
    blocks = min(hs, 16)
    for c in numba.prange(blocks):
        p0, p1 = c * hs // blocks, (c + 1) * hs // blocks
        fy = np.empty(w, np.float32)
        for p in range(p0, p1):
            tmp[p, :] = 0.0
        for i in range(y_min[p0], y_min[p1 - 1] + ky):
            _fy_row(src, px8[i], fy, fy, fy_gray)
            for p in range(p0, p1):
                k = i - y_min[p]
                if k >= 0 and k < ky and y_w[p, k] != 0.0:
                    wt = y_w[p, k]
                    t = tmp[p]
                    for j in range(w):
                        t[j] += wt * fy[j]
        for p in range(p0, p1):
            t = tmp[p]
            for q in range(ws):
                s = np.float32(0.0)
                x0 = x_min[q]
                for k in range(kx):
                    s += x_w[q, k] * t[x0 + k]
                out[p, q] = np.float32(116.0) * s - np.float32(16.0)


@numba.njit(cache=True, inline="always", fastmath=_FASTMATH)
def _lin(fy, a, b, m):
    """Lab (as fy, a, b) -> linear RGB, not clipped: f's inverse with its line, white point in ``m``."""
    d = np.float32(6.0 / 29.0)
    k3 = np.float32(3.0 * (6.0 / 29.0) ** 2)
    f0 = np.float32(16.0 / 116.0)
    fx = fy + a * np.float32(1.0 / 500.0)
    fz = max(fy - b * np.float32(1.0 / 200.0), np.float32(0.0))
    x = fx * fx * fx if fx > d else (fx - f0) * k3
    y = fy * fy * fy if fy > d else (fy - f0) * k3
    z = fz * fz * fz if fz > d else (fz - f0) * k3
    return (m[0, 0] * x + m[0, 1] * y + m[0, 2] * z, m[1, 0] * x + m[1, 1] * y + m[1, 2] * z,
            m[2, 0] * x + m[2, 1] * y + m[2, 2] * z)


@numba.njit(cache=True, parallel=True, fastmath=_FASTMATH)
def srgb_u8_kernel(src, px8, Lf, abw, out, fy_gray, m, steps, tol):  # pragma: no cover - compiled
    """Full-resolution lightness (8-bit pixels ``px8`` as ``H x (W * C)``, or float L ``Lf``, as
    ``src`` says) and ab already resized along the width (``2 x hs x W``) -> 8-bit sRGB
    (``out``, ``H x 3W``, or ``H x 4W`` for RGBX): ab resized along the height as ``F.interpolate(bilinear,
    align_corners=False)`` places it, Lab -> linear RGB, the hue- and L-keeping gamut bisection
    for pixels outside sRGB, the sRGB curve."""
    h = out.shape[0]
    w = abw.shape[2]
    cout = out.shape[1] // w  # 3 (RGB) or 4 (RGBX, Pillow's own layout: written as R, G, B, 255)
    hs = abw.shape[1]
    sy = hs / h
    lo_t = np.float32(-tol)
    hi_t = np.float32(1.0 + tol)
    blocks = min(h, 64)
    for c in numba.prange(blocks):
        fy = np.empty(w, np.float32)
        rr = np.empty(w, np.float32)
        gg = np.empty(w, np.float32)
        bb = np.empty(w, np.float32)
        for i in range(c * h // blocks, (c + 1) * h // blocks):
            yy = max((i + 0.5) * sy - 0.5, 0.0)
            y0 = min(int(yy), hs - 1)
            y1 = min(y0 + 1, hs - 1)
            wy = np.float32(yy - y0)
            a0, a1, b0, b1 = abw[0, y0], abw[0, y1], abw[1, y0], abw[1, y1]
            _fy_row(src, px8[min(i, px8.shape[0] - 1)], Lf[min(i, Lf.shape[0] - 1)], fy, fy_gray)
            bad = 0
            for j in range(w):
                a = a0[j] + (a1[j] - a0[j]) * wy
                b = b0[j] + (b1[j] - b0[j]) * wy
                r, g, bl = _lin(fy[j], a, b, m)
                rr[j] = r
                gg[j] = g
                bb[j] = bl
                bad += (min(r, min(g, bl)) < lo_t) | (max(r, max(g, bl)) > hi_t)
            if bad:
                for j in range(w):
                    if min(rr[j], min(gg[j], bb[j])) < lo_t or max(rr[j], max(gg[j], bb[j])) > hi_t:
                        # the largest chroma factor that is displayable, same L and hue
                        a = a0[j] + (a1[j] - a0[j]) * wy
                        b = b0[j] + (b1[j] - b0[j]) * wy
                        lo, hi = np.float32(0.0), np.float32(1.0)
                        for _ in range(steps):
                            mid = (lo + hi) * np.float32(0.5)
                            r2, g2, b2 = _lin(fy[j], a * mid, b * mid, m)
                            if min(r2, min(g2, b2)) >= lo_t and max(r2, max(g2, b2)) <= hi_t:
                                lo = mid
                            else:
                                hi = mid
                        rr[j], gg[j], bb[j] = _lin(fy[j], a * lo, b * lo, m)
            o = out[i]
            if cout == 3:
                for j in range(w):
                    o[3 * j] = _code(rr[j])
                    o[3 * j + 1] = _code(gg[j])
                    o[3 * j + 2] = _code(bb[j])
            else:
                for j in range(w):
                    o[4 * j] = _code(rr[j])
                    o[4 * j + 1] = _code(gg[j])
                    o[4 * j + 2] = _code(bb[j])
                    o[4 * j + 3] = 255
