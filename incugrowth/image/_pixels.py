"""Compiled per-pixel passes of the segmenter: the relief, the core mask, the marker tops
and a sample of the background."""

from __future__ import annotations

import numpy as np

from incugrowth.image._jit import compiled as _compiled

__all__ = ["above_fraction", "local_tops", "relief_of", "sample_outside"]


@_compiled
def relief_of(depth, bright, foreground, radius):
    """``min(depth / radius, 1) * max(bright, 0)`` within `foreground`, 0 outside (float32
    arithmetic, as NumPy does it on float32 arrays), in one pass."""
    out = np.zeros(depth.shape, np.float32)
    radius = np.float32(radius)
    one, zero = np.float32(1.0), np.float32(0.0)
    for i in range(depth.shape[0]):
        for j in range(depth.shape[1]):
            if foreground[i, j]:
                out[i, j] = min(depth[i, j] / radius, one) * max(bright[i, j], zero)
    return out


@_compiled
def above_fraction(values, reference, fraction, mask):
    """``mask & (values > fraction * reference)`` (float32 arithmetic), in one pass."""
    out = np.zeros(values.shape, np.bool_)
    fraction = np.float32(fraction)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            out[i, j] = mask[i, j] and values[i, j] > fraction * reference[i, j]
    return out


@_compiled
def local_tops(relief, top, foreground):
    """``(relief >= top) & foreground & (relief > 0)``, in one pass."""
    out = np.zeros(relief.shape, np.bool_)
    for i in range(relief.shape[0]):
        for j in range(relief.shape[1]):
            value = relief[i, j]
            out[i, j] = foreground[i, j] and value > 0 and value >= top[i, j]
    return out


def sample_outside(values: np.ndarray, mask: np.ndarray, most: int) -> np.ndarray:
    """Every k-th value outside `mask` in raster order, k = max(1, count // `most`):
    ``values[~mask][::k]`` without the copy of all of them."""
    count = mask.size - int(np.count_nonzero(mask))
    return _every_outside(values, mask, max(1, count // most), count)


@_compiled
def _every_outside(values, mask, step, count):
    out = np.empty((count + step - 1) // step, values.dtype)
    k = 0
    wait = 0  # outside pixels to pass before the next one taken
    for i in range(mask.shape[0]):
        for j in range(mask.shape[1]):
            if not mask[i, j]:
                if wait == 0:
                    out[k] = values[i, j]
                    k += 1
                    wait = step
                wait -= 1
    return out
