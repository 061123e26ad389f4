"""Rendering of red (nuclear), dead-cell and phase frames, with camera artefacts."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from incugrowth.errors import IncugrowthError
from incugrowth.simulate._common import (
    _STREAM_FRAME,
    _STREAM_PLATE,
    REFERENCE_SHAPE,
    _check_shape,
    _rng,
)
from incugrowth.simulate.layout import _layout_for

DIVIDING_FRACTION = 0.02  # share of a frame's nuclei that were born last, drawn as pairs

# Red channel (16-bit counts): camera offset, autofluorescence, median nucleus peak, noise.
RED_OFFSET = 100.0
RED_AUTOFLUORESCENCE = 40.0
RED_PEAK = 900.0
RED_READ_NOISE = 6.0

# Phase channel (8-bit).
PHASE_BACKGROUND = 128.0
PHASE_NOISE = 3.0

_RADIUS_BINS = np.round(np.arange(3.5, 8.01, 0.25), 2)
_ASPECT_BINS = np.array([1.0, 1.15, 1.3, 1.45])
_N_ANGLES = 12
_CELL_RADIUS_BINS = np.arange(8.0, 26.01, 1.0)
_CELL_ASPECT_BINS = np.array([1.0, 1.4, 1.9, 2.5])


def _ellipse_rho(a: float, b: float, angle: float, half: int) -> np.ndarray:
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    c, s = math.cos(angle), math.sin(angle)
    u = xx * c + yy * s
    v = -xx * s + yy * c
    return np.sqrt((u / a) ** 2 + (v / b) ** 2)


@functools.lru_cache(maxsize=1)
def _nucleus_bank() -> dict:
    """Gaussian nucleus profiles (8 % of the peak at the nucleus edge), peak 1 at the centre."""
    bank = {}
    for i, r in enumerate(_RADIUS_BINS):
        for j, asp in enumerate(_ASPECT_BINS):
            a, b = r * math.sqrt(asp), r / math.sqrt(asp)
            half = int(math.ceil(1.6 * a))
            for k in range(_N_ANGLES):
                rho = _ellipse_rho(a, b, math.pi * k / _N_ANGLES, half)
                bank[i, j, k] = np.exp(-2.5 * rho**2).astype(np.float32)
    return bank


@functools.lru_cache(maxsize=1)
def _cell_bank() -> dict:
    """Binary cell footprints for the phase channel."""
    bank = {}
    for i, r in enumerate(_CELL_RADIUS_BINS):
        for j, asp in enumerate(_CELL_ASPECT_BINS):
            a, b = r * math.sqrt(asp), r / math.sqrt(asp)
            half = int(math.ceil(a)) + 1
            for k in range(_N_ANGLES):
                bank[i, j, k] = _ellipse_rho(a, b, math.pi * k / _N_ANGLES, half) <= 1.0
    return bank


def _nearest(bins: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(values)[:, None] - bins[None, :]).argmin(axis=1)


def _angle_index(angle: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(angle) / math.pi * _N_ANGLES).astype(int) % _N_ANGLES


def _stamp(image: np.ndarray, kernel: np.ndarray, y: int, x: int, amp: float | None):
    """Add ``amp * kernel`` (or OR a mask when ``amp`` is None) centred at (y, x), clipped."""
    hy, hx = kernel.shape[0] // 2, kernel.shape[1] // 2
    y0, x0 = y - hy, x - hx
    y1, x1 = y0 + kernel.shape[0], x0 + kernel.shape[1]
    cy0, cx0 = max(y0, 0), max(x0, 0)
    cy1, cx1 = min(y1, image.shape[0]), min(x1, image.shape[1])
    if cy0 >= cy1 or cx0 >= cx1:
        return
    patch = kernel[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    if amp is None:
        image[cy0:cy1, cx0:cx1] |= patch
    else:
        image[cy0:cy1, cx0:cx1] += amp * patch


@functools.lru_cache(maxsize=8)
def _illumination(shape: tuple[int, int], window: tuple[int, int, int, int], seed: int):
    """Smooth vignetting (1 at the brightest point) of the full frame, cut to the window."""
    g = _rng(seed, _STREAM_PLATE)
    h, w = shape
    cy = h / 2 * (1 + g.uniform(-0.15, 0.15))
    cx = w / 2 * (1 + g.uniform(-0.15, 0.15))
    strength = g.uniform(0.25, 0.35)
    y0, x0, hh, ww = window
    yy = (np.arange(y0, y0 + hh, dtype=np.float32)[:, None] - cy) / (h / 2)
    xx = (np.arange(x0, x0 + ww, dtype=np.float32)[None, :] - cx) / (w / 2)
    r2 = (yy**2 + xx**2) / 2.0
    return (1.0 - strength * r2).astype(np.float32)


def _frame_nuclei(layout: dict, n: int, window) -> dict:
    """The first ``n`` nuclei, with dividing pairs marked, inside the window (window coords)."""
    y0, x0, hh, ww = window
    idx = np.arange(n)
    dividing = np.zeros(n, dtype=bool)
    k = int(round(DIVIDING_FRACTION * n))
    if k:
        newest = idx[n - k :]
        parents = layout["parent"][newest]
        born = parents >= 0
        dividing[newest[born]] = True
        dividing[parents[born]] = True
    yi = np.rint(layout["y"][:n]).astype(int) - y0
    xi = np.rint(layout["x"][:n]).astype(int) - x0
    keep = (yi >= 0) & (yi < hh) & (xi >= 0) & (xi < ww)
    radius = layout["radius"][:n] * np.where(dividing, 0.75, 1.0)
    brightness = RED_PEAK * layout["brightness"][:n] * np.where(dividing, 1.5, 1.0)
    out = {
        "y": yi,
        "x": xi,
        "radius": radius,
        "aspect": layout["aspect"][:n],
        "angle": layout["angle"][:n],
        "brightness": brightness,
        "dividing": dividing,
        "cell_scale": layout["cell_scale"][:n],
        "cell_aspect": layout["cell_aspect"][:n],
    }
    return {key: value[keep] for key, value in out.items()}


# Dead-cell channel (Cytotox-like): condensed nuclei, a little smaller and brighter, scattered.
DEAD_RADIUS_SCALE = 0.85
DEAD_BRIGHTNESS = 1.3


def _frame_dead(layout: dict, n: int, window) -> dict:
    """The first ``n`` dead nuclei of a layout inside the window (window coords), drawn by
    :func:`_render_red` as the dead-cell channel's frame."""
    y0, x0, hh, ww = window
    yi = np.rint(layout["y"][:n]).astype(int) - y0
    xi = np.rint(layout["x"][:n]).astype(int) - x0
    keep = (yi >= 0) & (yi < hh) & (xi >= 0) & (xi < ww)
    out = {
        "y": yi,
        "x": xi,
        "radius": layout["radius"][:n] * DEAD_RADIUS_SCALE,
        "aspect": layout["aspect"][:n],
        "angle": layout["angle"][:n],
        "brightness": RED_PEAK * DEAD_BRIGHTNESS * layout["brightness"][:n],
    }
    return {key: value[keep] for key, value in out.items()}


def _render_red(nuc: dict, shape, illum, rng, out_of_focus: bool):
    """The red frame (uint16) and the noise-free nuclear signal alone (float32)."""
    from scipy.ndimage import gaussian_filter

    h, w = shape
    signal = np.zeros(shape, dtype=np.float32)
    bank = _nucleus_bank()
    ri = _nearest(_RADIUS_BINS, nuc["radius"])
    ai = _nearest(_ASPECT_BINS, nuc["aspect"])
    ki = _angle_index(nuc["angle"])
    for y, x, i, j, k, amp in zip(nuc["y"], nuc["x"], ri, ai, ki, nuc["brightness"]):
        _stamp(signal, bank[i, j, k], y, x, amp)
    nuclei = signal.copy()

    area = h * w / (REFERENCE_SHAPE[0] * REFERENCE_SHAPE[1])
    speck = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]], np.float32)
    for _ in range(rng.poisson(6 * area)):  # bright specks, 1-3 px, between the nuclei
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        amp = float(RED_PEAK * rng.uniform(1.5, 3.0))
        if nuclei[max(y - 6, 0) : y + 7, max(x - 6, 0) : x + 7].max(initial=0.0) < 0.05 * RED_PEAK:
            _stamp(signal, speck, y, x, amp)
    for _ in range(rng.poisson(1.5 * area)):  # large dim debris
        rad = rng.uniform(15.0, 40.0)
        half = int(2 * rad)
        rho = _ellipse_rho(rad * rng.uniform(1.0, 1.5), rad, rng.uniform(0, np.pi), half)
        blob = np.exp(-0.5 * (rho / 0.6) ** 2).astype(np.float32)
        y, x = rng.integers(0, h), rng.integers(0, w)
        _stamp(signal, blob, int(y), int(x), float(RED_PEAK * rng.uniform(0.06, 0.15)))
    if out_of_focus:
        signal = gaussian_filter(signal, 3.5)

    light = (signal + RED_AUTOFLUORESCENCE) * illum
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise *= np.sqrt(light + RED_READ_NOISE**2)  # shot (Poisson, Gaussian limit) + read noise
    light += noise
    light += RED_OFFSET
    return np.clip(np.rint(light), 0, 65535).astype(np.uint16), nuclei


@functools.lru_cache(maxsize=16)
def _interpolator(n: int, scale: int) -> np.ndarray:
    """Linear interpolation matrix from ``n // scale + 2`` knots to ``n`` pixels."""
    pos = np.arange(n) / scale
    lo = np.floor(pos).astype(int)
    frac = (pos - lo).astype(np.float32)
    mat = np.zeros((n, n // scale + 2), dtype=np.float32)
    mat[np.arange(n), lo] = 1.0 - frac
    mat[np.arange(n), lo + 1] = frac
    return mat


def _smooth_noise(rng, shape, scale: int) -> np.ndarray:
    """A random field of roughly unit amplitude varying over about ``scale`` pixels."""
    ay, ax = _interpolator(shape[0], scale), _interpolator(shape[1], scale)
    coarse = rng.standard_normal((ay.shape[1], ax.shape[1]), dtype=np.float32)
    return (ay @ coarse) @ ax.T


@functools.lru_cache(maxsize=8)
def _texture_bank(shape: tuple[int, int], scale: int, seed: int) -> np.ndarray:
    """A smooth random field twice the frame's size; frames take shifted windows of it."""
    return _smooth_noise(_rng(seed, _STREAM_PLATE, scale), (2 * shape[0], 2 * shape[1]), scale)


def _texture(shape, scale: int, seed: int, rng) -> np.ndarray:
    bank = _texture_bank(tuple(shape), scale, seed)
    oy, ox = int(rng.integers(0, shape[0])), int(rng.integers(0, shape[1]))
    return bank[oy : oy + shape[0], ox : ox + shape[1]]


def _render_phase(nuc: dict, nuclei: np.ndarray, shape, illum, rng, out_of_focus: bool, seed=0):
    """The phase frame (uint8) and its true confluence (percent of the frame covered)."""
    from scipy.ndimage import gaussian_filter, uniform_filter

    mask = np.zeros(shape, dtype=bool)
    bank = _cell_bank()
    ci = _nearest(_CELL_RADIUS_BINS, nuc["radius"] * nuc["cell_scale"])
    ai = _nearest(_CELL_ASPECT_BINS, nuc["cell_aspect"])
    ki = _angle_index(nuc["angle"])
    for y, x, i, j, k in zip(nuc["y"], nuc["x"], ci, ai, ki):
        _stamp(mask, bank[i, j, k], y, x, None)
    # Ragged cell borders: the union of footprints, softened and cut with fine noise; only
    # the border band is perturbed, so there are no specks or holes.
    soft = uniform_filter(mask.astype(np.float32), 5)
    band = soft * (1.0 - soft)
    band *= 1.4 * _texture(shape, 6, seed, rng)
    band += soft
    cells = (band > 0.5).astype(np.float32)
    edge = uniform_filter(cells, 5)
    edge -= cells  # > 0 just outside a cell (bright halo), < 0 just inside (dark rim)
    img = PHASE_BACKGROUND * (0.85 + 0.15 * illum)
    img += 4.0 * _texture(shape, 48, seed, rng)
    img += 130.0 * edge
    img -= 8.0 * cells  # cell bodies slightly dark
    img -= 14.0 * np.minimum(nuclei * (1.0 / RED_PEAK), 1.5)
    if out_of_focus:
        img = gaussian_filter(img, 2.5)
    # Pixel noise outside cells, stronger granular texture inside.
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise *= PHASE_NOISE + 3.7 * cells
    img += noise
    np.rint(img, out=img)
    return np.clip(img, 0, 255).astype(np.uint8), float(cells.mean() * 100.0)


def truth_columns(nuc: dict) -> dict:
    """The truth of a frame's nuclei, as written to ``truth.csv`` (rounded for the file)."""
    return {
        "y": nuc["y"],
        "x": nuc["x"],
        "radius": np.round(nuc["radius"], 2),
        "axis_ratio": np.round(nuc["aspect"], 3),
        "angle_deg": np.round(np.degrees(nuc["angle"]), 1),
        "brightness": np.round(nuc["brightness"], 1),
        "dividing": nuc["dividing"],
    }


def synthetic_frame(
    count: int,
    *,
    shape: tuple[int, int] = (256, 256),
    seed: int = 0,
    out_of_focus: bool = False,
) -> tuple[np.ndarray, pd.DataFrame]:
    """One red (nuclear) frame with ``count`` clustered nuclei, and its truth.

    The same renderer as :func:`simulate_experiment`, for tests and benchmarks of counting.

    Returns
    -------
    image : ndarray of uint16
    truth : DataFrame
        One row per nucleus: ``y``, ``x`` (pixel of the centre), ``radius``, ``axis_ratio``,
        ``angle_deg``, ``brightness``, ``dividing``.

    Examples
    --------
    >>> img, truth = synthetic_frame(40, seed=1)
    >>> img.shape, img.dtype, len(truth)
    ((256, 256), dtype('uint16'), 40)
    """
    shape = _check_shape(shape, "shape")
    count = int(count)
    if count < 0:
        raise IncugrowthError(f"count must be >= 0, got {count}")
    layout = _layout_for(seed, 0, 0, count, max(1, count // 4), shape)
    window = (0, 0, shape[0], shape[1])
    nuc = _frame_nuclei(layout, count, window)
    rng = _rng(seed, _STREAM_FRAME, 0, 0, 0)
    image, _ = _render_red(nuc, shape, _illumination(shape, window, seed), rng, out_of_focus)
    truth = pd.DataFrame(truth_columns(nuc))
    return image, truth
