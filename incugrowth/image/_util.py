"""Shared helpers of the image module: input checks, float conversion, background."""

from __future__ import annotations

import cv2
import numpy as np

from incugrowth.image import _histogram

__all__ = [
    "as_float_image",
    "background",
    "background_grid",
    "gaussian",
    "gaussian_kernel",
    "gaussian_laplace",
    "label",
    "max_filter",
    "noise_sigma",
    "threshold_li",
    "threshold_otsu",
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
    if array.size == 0:
        raise ValueError(f"`{name}` is empty (shape {array.shape})")
    out = np.array(array, dtype=np.float32)
    if array.dtype.kind == "f":
        finite = np.isfinite(out)
        if not finite.all():
            out[~finite] = out[finite].min() if finite.any() else 0.0
    low, high, _, _ = cv2.minMaxLoc(out)
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
    small = _contiguous(small)
    kernel = np.ones((size, size), dtype=np.uint8)
    opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REFLECT)
    return small, cv2.blur(opened, (size, size), borderType=cv2.BORDER_REFLECT)


def upsample(grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of a grid subsampled from an image of `shape` back to `shape`.

    Each grid cell stands for an equal block of the image (pixel centres aligned as in
    ``scipy.ndimage.zoom(..., order=1, grid_mode=True, mode="nearest")``, which gives the
    same values), by OpenCV's resize.
    """
    if grid.shape == tuple(shape):
        return grid
    return cv2.resize(_contiguous(grid), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def max_filter(image: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a `size` x `size` square around each pixel, edges mirrored.

    The same values as ``scipy.ndimage.maximum_filter(image, size=size)`` (mode "reflect"),
    by OpenCV's dilation (van Herk/Gil-Werman, a few operations per pixel whatever the size).
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"`size` must be a positive integer, got {size}")
    if size == 1:
        return image.copy()
    kernel = np.ones((size, size), dtype=np.uint8)
    image = np.ascontiguousarray(image)
    if image.dtype not in (np.uint8, np.uint16, np.int16, np.float32, np.float64):
        image = image.astype(np.float64)
    return cv2.dilate(image, kernel, borderType=cv2.BORDER_REFLECT)


def gaussian(image: np.ndarray, sigma, *, mode: str = "reflect") -> np.ndarray:
    """Gaussian smoothing of a float32 image.

    ``scipy.ndimage.gaussian_filter(image, sigma, mode=mode)`` (kernel to 4 sigma; `sigma`
    one value or one per axis, 0 leaving that axis alone; `mode` "reflect" or "mirror") by
    OpenCV's separable filter, several times faster; values agree to float32 rounding.
    """
    image = _contiguous(image)
    sigma_y, sigma_x = (float(sigma), float(sigma)) if np.isscalar(sigma) else sigma
    if sigma_y <= 0 and sigma_x <= 0:
        return image.copy()
    size_y, size_x = (2 * int(4.0 * max(s, 0.0) + 0.5) + 1 for s in (sigma_y, sigma_x))
    border = {"reflect": cv2.BORDER_REFLECT, "mirror": cv2.BORDER_REFLECT_101}[mode]
    # an axis with a one-tap kernel is left as it is (OpenCV needs a positive sigma there)
    return cv2.GaussianBlur(
        image,
        (size_x, size_y),
        sigmaX=max(sigma_x, 1e-3),
        sigmaY=max(sigma_y, 1e-3),
        borderType=border,
    )


def gaussian_kernel(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The 1-D Gaussian of :func:`gaussian` (to 4 sigma, weights summing to 1) and its
    positions ``x`` (``-radius .. radius``), in float64."""
    radius = int(4.0 * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * x**2 / sigma**2)
    return weights / weights.sum(), x


def gaussian_laplace(image: np.ndarray, sigma: float) -> np.ndarray:
    """Laplacian of Gaussian of a float32 image, edges mirrored.

    ``scipy.ndimage.gaussian_laplace(image, sigma)`` (the sum over both axes of the
    second-derivative Gaussian along one and the Gaussian along the other, kernels to 4
    sigma) by OpenCV's separable filter; values agree to float32 rounding.
    """
    image = _contiguous(image)
    smooth, x = gaussian_kernel(sigma)
    second = smooth * (x**2 - sigma**2) / sigma**4
    along_rows = cv2.sepFilter2D(image, cv2.CV_32F, second, smooth, borderType=cv2.BORDER_REFLECT)
    along_cols = cv2.sepFilter2D(image, cv2.CV_32F, smooth, second, borderType=cv2.BORDER_REFLECT)
    return along_rows + along_cols


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected components (4-neighbours) of `mask`: int32 labels 1..n in raster order, and n.

    As ``scipy.ndimage.label(mask)``, by OpenCV's connected-component labelling.
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.size == 0:
        return np.zeros(mask.shape, dtype=np.int32), 0
    n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    return labels, n - 1


def _contiguous(image: np.ndarray) -> np.ndarray:
    """`image` as a C-contiguous float32 array (no copy when it already is one)."""
    return np.ascontiguousarray(image, dtype=np.float32)


def noise_sigma(image: np.ndarray) -> float:
    """Robust standard deviation of pixel noise (median absolute deviation of a Laplacian).

    The 4-neighbour Laplacian of white noise with deviation s has deviation sqrt(20) s; smooth
    structure contributes little to it, so its median absolute deviation measures the noise.
    The Laplacian is taken with the frame's edges mirrored (as ``scipy.ndimage.laplace``);
    the medians use a regular sample of at most about 100 000 of its pixels, which measures
    the deviation to about 1 %.
    """
    lap = cv2.Laplacian(_contiguous(image), cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)
    step = max(1, int(np.ceil(np.sqrt(lap.size / 100_000))))
    return _mad_sigma(lap[::step, ::step].ravel())


def threshold_li(values: np.ndarray, bins: int = 65536) -> float:
    """Li's minimum cross-entropy threshold of `values`, as ``skimage.filters.threshold_li``.

    The same iteration from the mean, run first on a histogram of `bins` equal bins that
    keeps each bin's exact count and sum (a step is a lookup in cumulative sums, not a pass
    over the values), then finished on the values themselves until it moves by less than
    1e-9 of the range (one or two passes). scikit-image starts by sorting the values to find
    its tolerance, which costs more than the whole iteration here.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    low, high = float(values.min()), float(values.max())
    if not high > low:
        return low
    values = values - low  # as scikit-image: the minimum is 0, so the means are positive
    width = (high - low) / bins
    if not (np.isfinite(width) and width > 0):  # a range beyond float64 or below its step
        from skimage.filters import threshold_li as skimage_li

        return float(skimage_li(values)) + low
    mass, moment = _histogram.histogram_sums(values, width, bins)  # running totals

    def step(threshold, cut):
        back, fore = (
            moment[cut - 1] / mass[cut - 1],
            (moment[-1] - moment[cut - 1]) / (mass[-1] - mass[cut - 1]),
        )
        return (back - fore) / (np.log(back) - np.log(fore)) if back > 0 else threshold

    total = _histogram.pairwise_sum(values)  # values.sum(); the mean is total / size
    threshold, previous = total / values.size, -np.inf
    for _ in range(100):  # on the histogram: to within a bin
        cut = _bins_below(threshold, width, bins)
        if (
            cut <= 0
            or cut >= bins
            or mass[cut - 1] in (0, mass[-1])
            or abs(threshold - previous) <= width / 2
        ):
            break
        previous, threshold = threshold, step(threshold, cut)
    work = np.empty_like(values)
    for _ in range(20):  # on the values: exact
        n_above, fore = _histogram.sum_above(values, threshold, work)
        if n_above in (0, values.size):
            break
        fore /= n_above  # values[values > threshold].mean()
        back = float((total - fore * n_above) / (values.size - n_above))
        if back <= 0:
            break
        previous, threshold = threshold, (back - fore) / (np.log(back) - np.log(fore))
        if abs(threshold - previous) <= 1e-9 * (high - low):
            break
    return threshold + low


def _bins_below(threshold: float, width: float, bins: int) -> int:
    """Number of the upper bin edges ``1..bins`` times `width` at or below `threshold`
    (``np.searchsorted(np.arange(1, bins + 1) * width, threshold, side="right")``, without
    the array of edges)."""
    if not threshold == threshold:  # NaN sorts after every edge
        return bins
    cut = int(min(max(threshold / width, 0.0), float(bins)))
    while cut < bins and float(cut + 1) * width <= threshold:
        cut += 1
    while cut > 0 and float(cut) * width > threshold:
        cut -= 1
    return cut


def threshold_otsu(image: np.ndarray):
    """Otsu's threshold of `image` (256 bins over its range), as
    ``skimage.filters.threshold_otsu(image)``.

    The histogram is counted in one compiled pass on NumPy's own bin edges (scikit-image
    copies the image and bins it with ``np.histogram``); scikit-image then does the rest.
    """
    from skimage.filters import threshold_otsu as skimage_otsu

    image = np.asarray(image)
    low, high = image.min(), image.max()
    if not low < high:  # one value (scikit-image returns it)
        return image.reshape(-1)[0]
    edges = np.histogram_bin_edges(image, bins=256, range=(low, high))
    counts = _histogram.bin_counts(np.ascontiguousarray(image), edges)
    return skimage_otsu(hist=(counts, (edges[:-1] + edges[1:]) / 2.0))


def _mad_sigma(lap: np.ndarray) -> float:
    """Noise deviation from the median absolute deviation of its Laplacian `lap`."""
    _, mad = _histogram.median_deviation(lap)
    return float(1.4826 * mad / np.sqrt(20.0))
