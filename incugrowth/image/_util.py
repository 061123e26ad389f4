"""Shared helpers of the image module: input checks, float conversion, background."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.util import img_as_float

__all__ = [
    "as_float_image",
    "background",
    "background_grid",
    "boundary_pairs",
    "distance_squared",
    "label_max",
    "max_filter",
    "noise_sigma",
    "upsample",
]


def as_float_image(image, name: str = "image") -> np.ndarray:
    """Check that `image` is a 2-D numeric array and return a float32 copy scaled to [0, 1].

    The scaling maps the frame minimum to 0 and its maximum to 1, so that thresholds and
    floors below are relative to the frame and any dtype (uint8, uint16, float) behaves alike.
    A constant frame becomes all zeros. Non-finite values are replaced by the frame minimum.
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-dimensional array, got shape {array.shape}")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"`{name}` must be a numeric array, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise ValueError(f"`{name}` must be a real-valued array, got dtype {array.dtype}")
    if array.dtype.kind == "f":
        out = np.array(array, dtype=np.float32)
    else:
        out = img_as_float(array).astype(np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        out[~finite] = out[finite].min() if finite.any() else 0.0
    low, high = float(out.min()), float(out.max())
    if high > low:
        out -= low
        out /= high - low
    else:
        out[:] = 0.0
    return out


def background(image: np.ndarray, diameter: float) -> np.ndarray:
    """Smooth background under objects of about `diameter` pixels (grey opening, coarse grid).

    The opening removes anything narrower than twice the diameter; it runs on a grid subsampled
    by a quarter of the diameter, which keeps it cheap for large nuclei, and the result is
    smoothed and interpolated back to full size.
    """
    _, bg = background_grid(image, diameter)
    return upsample(bg, image.shape)


def background_grid(image: np.ndarray, diameter: float) -> tuple[np.ndarray, np.ndarray]:
    """`image` subsampled by a quarter of `diameter`, and the background on that grid."""
    step = max(1, int(diameter // 4))
    small = image[::step, ::step]
    size = max(3, int(round(2 * diameter / step)) | 1)
    return small, ndi.uniform_filter(ndi.grey_opening(small, size=(size, size)), size)


def upsample(grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of a grid subsampled from an image of `shape` back to `shape`.

    Each grid cell stands for an equal block of the image (pixel centres aligned as in
    ``scipy.ndimage.zoom(..., order=1, grid_mode=True, mode="nearest")``, which gives the
    same values); the interpolation runs one axis at a time.
    """
    if grid.shape == tuple(shape):
        return grid
    lo, hi, weight = _interpolation(grid.shape[0], shape[0])
    rows = grid[lo] + (grid[hi] - grid[lo]) * weight[:, None]
    lo, hi, weight = _interpolation(grid.shape[1], shape[1])
    # the step to the next column, on the narrow array (the last column steps to itself)
    step = np.zeros_like(rows)
    np.subtract(rows[:, 1:], rows[:, :-1], out=step[:, :-1])
    return rows[:, lo] + step[:, lo] * weight


def _interpolation(n_in: int, n_out: int):
    """Neighbours and weight of the upper one for linear interpolation of n_in -> n_out cells."""
    position = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    lo = np.floor(position).astype(np.intp)
    return lo, np.minimum(lo + 1, n_in - 1), (position - lo).astype(np.float32)


def distance_squared(mask: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance (int32) from each pixel of `mask` to the nearest pixel outside.

    The exact transform of :func:`scipy.ndimage.distance_transform_edt`, kept in integers
    (no float64 copy of the frame); take the square root only where it is needed. Masks
    whose objects are thin (nuclei, their cores) take :func:`_short_distance_squared`.
    """
    mask = np.asarray(mask, dtype=bool)
    short = _short_distance_squared(mask)
    if short is not None:
        return short
    nearest = ndi.distance_transform_edt(mask, return_distances=False, return_indices=True)
    dy = nearest[0]
    dy -= np.arange(mask.shape[0], dtype=np.int32)[:, None]
    dx = nearest[1]
    dx -= np.arange(mask.shape[1], dtype=np.int32)[None, :]
    dy *= dy
    dx *= dx
    dy += dx
    return dy


def max_filter(image: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a `size` x `size` square around each pixel, edges mirrored.

    The same values as ``scipy.ndimage.maximum_filter(image, size=size)`` (mode "reflect"),
    computed one axis at a time by doubling windows (maxima of 1, 2, 4, ... pixels), which
    takes a few whole-array maxima per axis instead of a sliding-window pass.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"`size` must be a positive integer, got {size}")
    if size == 1:
        return image.copy()
    before = size // 2
    after = size - 1 - before
    out = np.pad(image, ((before, after), (0, 0)), mode="symmetric")
    out = _running_max(out, size, axis=0)
    out = np.pad(out, ((0, 0), (before, after)), mode="symmetric")
    return _running_max(out, size, axis=1)


def _running_max(array: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Maxima of `size` consecutive entries along `axis` (the axis shrinks by size - 1)."""
    width = 1
    while 2 * width <= size:
        head = [slice(None)] * 2
        tail = [slice(None)] * 2
        head[axis], tail[axis] = slice(None, -width), slice(width, None)
        array = np.maximum(array[tuple(head)], array[tuple(tail)])
        width *= 2
    if width < size:  # overlap two windows of `width` to cover `size`
        shift = size - width
        head = [slice(None)] * 2
        tail = [slice(None)] * 2
        head[axis], tail[axis] = slice(None, -shift), slice(shift, None)
        array = np.maximum(array[tuple(head)], array[tuple(tail)])
    return array


#: Largest distance (pixels) that :func:`_short_distance_squared` handles.
SHORT_DISTANCE = 16

#: Largest distance along a column it handles (its squares stay in int16).
SHORT_COLUMN = 170


def _short_distance_squared(mask: np.ndarray) -> np.ndarray | None:
    """:func:`distance_squared` when no pixel is farther than SHORT_DISTANCE from the outside.

    Separable and exact: first the distance ``g`` to the nearest outside pixel in the same
    column (running maximum/minimum of the outside rows above/below), then
    ``min over k of g(x + k)**2 + k**2`` along each row for k = 0, 1, 2, ... until
    ``k**2`` reaches the largest squared distance found so far, past which no term can win.
    Short distances keep every array in int16, a fraction of the cost of the general
    transform. Returns None (the caller takes the general transform) when a column has a
    run of more than SHORT_COLUMN pixels or a distance exceeds SHORT_DISTANCE.
    """
    height = mask.shape[0]
    if height >= 16_000:
        return None
    rows = np.arange(height, dtype=np.int16)[:, None]
    above = np.where(mask, np.int16(-16_000), rows)  # last outside row at or above
    np.maximum.accumulate(above, axis=0, out=above)
    below = np.where(mask, np.int16(32_000), rows)[::-1]  # first outside row at or below
    np.minimum.accumulate(below, axis=0, out=below)
    column = np.minimum(rows - above, below[::-1] - rows)
    if column.size == 0 or column.max() > SHORT_COLUMN:
        return None
    column *= column
    out = column.copy()
    # bands of rows small enough to stay in cache, each stopping at its own largest distance
    for start in range(0, height, 128):
        band, squares = out[start : start + 128], column[start : start + 128]
        for k in range(1, SHORT_DISTANCE + 2):
            if k * k >= band.max():
                break
            if k > SHORT_DISTANCE:
                return None
            np.minimum(band[:, k:], squares[:, :-k] + np.int16(k * k), out=band[:, k:])
            np.minimum(band[:, :-k], squares[:, k:] + np.int16(k * k), out=band[:, :-k])
    return out.astype(np.int32)


def noise_sigma(image: np.ndarray) -> float:
    """Robust standard deviation of pixel noise (median absolute deviation of a Laplacian).

    The 4-neighbour Laplacian of white noise with deviation s has deviation sqrt(20) s; smooth
    structure contributes little to it, so its median absolute deviation measures the noise.
    """
    # a sample of a quarter of a million pixels (every `step`-th, row by row) measures the
    # deviation to well under 1 %: the Laplacian is computed at those pixels only, with the
    # frame's edges mirrored as in scipy.ndimage.laplace
    height, width = image.shape
    step = max(1, image.size // 250_000)
    if step == 1:
        return _mad_sigma(ndi.laplace(image).ravel())
    index = np.arange(0, image.size, step)
    row, col = np.divmod(index, width)
    flat = image.ravel()
    centre = flat[index].astype(np.float64)
    up = flat[np.where(row > 0, index - width, index)]
    down = flat[np.where(row < height - 1, index + width, index)]
    left = flat[np.where(col > 0, index - 1, index)]
    right = flat[np.where(col < width - 1, index + 1, index)]
    lap = (up - 2 * centre + down).astype(image.dtype) + (left - 2 * centre + right).astype(
        image.dtype
    )
    return _mad_sigma(lap)


def _mad_sigma(lap: np.ndarray) -> float:
    """Noise deviation from the median absolute deviation of its Laplacian `lap`."""
    mad = np.median(np.abs(lap - np.median(lap)))
    return float(1.4826 * mad / np.sqrt(20.0))


def label_max(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Maximum of `values` over each label 1..n (-inf for label 0 and absent labels)."""
    # np.maximum.at is many times faster when `out` has the dtype of `values`
    values = np.asarray(values)
    if values.dtype.kind == "f":
        out = np.full(n + 1, -np.inf, dtype=values.dtype)
        lowest = None
    else:
        lowest = np.iinfo(values.dtype).min if values.dtype.kind == "i" else None
        if lowest is None:
            values = values.astype(np.float64)
            out = np.full(n + 1, -np.inf)
        else:
            out = np.full(n + 1, lowest, dtype=values.dtype)
    inside = labels > 0
    np.maximum.at(out, labels[inside], values[inside])
    result = out.astype(np.float64)
    if lowest is not None:
        result[out == lowest] = -np.inf
    return result


def boundary_pairs(labels: np.ndarray, values: np.ndarray):
    """Pairs of touching labels, with the highest value along their shared boundary.

    Two labels touch where they are 4-neighbours; a boundary pixel pair scores the lower
    of its two values, so the highest score along the boundary is the pass (saddle)
    between the two objects. Returns ``(a, b, saddle, length)``: arrays with one entry per
    touching pair ``a < b``, ``length`` being the number of 4-neighbour contacts.
    """
    firsts, seconds, scores = [], [], []
    for axis in (0, 1):
        head = [slice(None)] * 2
        tail = [slice(None)] * 2
        head[axis], tail[axis] = slice(None, -1), slice(1, None)
        a, b = labels[tuple(head)], labels[tuple(tail)]
        touch = (a != b) & (a > 0) & (b > 0)
        firsts.append(a[touch])
        seconds.append(b[touch])
        scores.append(np.minimum(values[tuple(head)][touch], values[tuple(tail)][touch]))
    a, b = np.concatenate(firsts), np.concatenate(seconds)
    score = np.concatenate(scores).astype(np.float64)
    n = int(labels.max()) + 1
    keys, inverse = np.unique(
        np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b), return_inverse=True
    )
    saddle = np.full(keys.size, -np.inf)
    np.maximum.at(saddle, inverse, score)
    length = np.bincount(inverse, minlength=keys.size)
    return keys // n, keys % n, saddle, length
