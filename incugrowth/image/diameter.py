"""Estimate the typical nucleus diameter of a fluorescence frame from the frame itself."""

from __future__ import annotations

import cv2
import numpy as np

from incugrowth.image._distance import inscribed_radius
from incugrowth.image._labels import label_count
from incugrowth.image._util import (
    as_float_image,
    background_grid,
    gaussian,
    gaussian_laplace,
    label,
    max_filter,
    threshold_otsu,
    upsample,
)

__all__ = ["estimate_diameter"]

#: Ratio of the equivalent diameter of a nucleus to the diameter of its largest inscribed
#: circle, for the typical aspect ratio of about 1.2 (an ellipse of axes a, b has equivalent
#: diameter 2 sqrt(ab) and inscribed diameter 2b).
ELONGATION = 1.1

#: Nucleus diameter (pixels) on the reduced copy of the frame on which sizes are measured:
#: large enough for the distance transform to resolve the size to about a pixel, small
#: enough that each round costs little whatever the magnification.
MEASURE_DIAMETER = 16.0

#: Longest side (pixels) of the copy on which the first, coarse estimate is made.
COARSE_SIDE = 512

#: A diameter above 24 px resting on at most this many objects of about that size is
#: checked against a smaller scale (see :func:`estimate_diameter`).
FEW = 5

#: Frames larger than twice this many pixels are measured on a central window of about this
#: size first (a quarter of a 1408 x 1040 IncuCyte frame), which holds enough nuclei to
#: measure their typical size at a fraction of the cost ...
WINDOW_PIXELS = 360_000

#: ... when at least this many objects of about the measured size lie in it; otherwise the
#: whole frame is measured.
ENOUGH = 30

#: Most rounds of each fixed-point search (they stop once the estimate changes by < 10 %).
ROUNDS = 6


def inscribed_diameter(mask: np.ndarray) -> float:
    """Typical largest inscribed diameter of the objects of `mask`.

    Touching nuclei form one object whose largest inscribed circle is still about one
    nucleus wide. The typical value is the median over objects weighted by the square root
    of their area: specks of debris weigh little, and one huge bright structure (a clump, an
    embryo, a fold of the dish) does not outweigh the many nuclei around it, as it would
    with area weights. Returns NaN when `mask` is empty.
    """
    return _typical_size(mask)[0]


def _typical_size(mask: np.ndarray) -> tuple[float, int]:
    """:func:`inscribed_diameter` and the number of objects at least 2/3 that wide."""
    labels, n = label(mask)
    if n == 0:
        return float("nan"), 0
    diameter = 2 * inscribed_radius(mask, labels, n)[1:]
    weight = np.sqrt(label_count(labels, n)[1:])
    order = np.argsort(diameter)
    weight = np.cumsum(weight[order])
    typical = float(diameter[order][np.searchsorted(weight, weight[-1] / 2)])
    return typical, int(np.sum(diameter >= typical / 1.5))


def _reduce(frame: np.ndarray, factor: int) -> np.ndarray:
    """Block mean of `frame` by an integer `factor`, lightly smoothed."""
    if factor > 1:
        h, w = (side // factor for side in frame.shape)
        block = np.ascontiguousarray(frame[: h * factor, : w * factor])
        return gaussian(cv2.resize(block, (w, h), interpolation=cv2.INTER_AREA), 0.5)
    return gaussian(frame, 1.0)


class _Pyramid:
    """Reduced, smoothed copies of one frame by integer factors, made once each."""

    def __init__(self, frame: np.ndarray):
        self.frame = frame
        self.copies: dict[int, np.ndarray] = {}

    def factor_for(self, diameter: float) -> int:
        """Factor at which nuclei of `diameter` are about MEASURE_DIAMETER pixels across.

        An unknown (infinite) diameter gets the copy at most COARSE_SIDE pixels long; no
        copy is shorter than 32 pixels.
        """
        coarsest = max(1, int(np.ceil(max(self.frame.shape) / COARSE_SIDE)))
        finest = int(diameter // MEASURE_DIAMETER) if np.isfinite(diameter) else coarsest
        return int(min(max(1, finest), max(1, min(self.frame.shape) // 32)))

    def __getitem__(self, factor: int) -> np.ndarray:
        if factor not in self.copies:
            self.copies[factor] = _reduce(self.frame, factor)
        return self.copies[factor]


def _bright_mask(smooth: np.ndarray, diameter: float) -> np.ndarray:
    """Pixels above Otsu's threshold and brighter than their surroundings at `diameter`.

    The background under objects of that size is subtracted first; the local comparison
    opens the dim seams between touching nuclei that a global threshold closes. Threshold
    and surroundings vary slowly, so both are computed on the coarse grid of the background
    and the pixels are compared with one interpolated level.
    """
    small, bg = background_grid(smooth, diameter)
    flat = small - bg
    if flat.max() <= flat.min():
        return np.zeros(smooth.shape, dtype=bool)
    step = smooth.shape[0] / small.shape[0]
    local = gaussian(flat, diameter / step)
    return smooth > upsample(bg + np.maximum(local, threshold_otsu(flat)), smooth.shape)


def _fixed_point(pyramid: _Pyramid, diameter: float, largest: float) -> tuple[float, int]:
    """Iterate diameter -> measured size of the objects bright at that scale until stable.

    Returns the diameter and the number of objects of about that size in the last round.
    """
    count = 0
    for _ in range(ROUNDS):
        if not np.isfinite(diameter) or diameter < 2:
            break
        factor = pyramid.factor_for(diameter)
        mask = _bright_mask(pyramid[factor], diameter / factor)
        previous = diameter
        typical, count = _typical_size(mask)
        diameter = min(ELONGATION * factor * typical, largest)
        if abs(diameter / previous - 1) < 0.1:
            break
    return diameter, count


def _blob_energy(pyramid: _Pyramid, diameter: float) -> float:
    """Sum of cubed scale-normalised Laplacian-of-Gaussian responses of blobs of `diameter`.

    Blobs are local maxima of the response in space (within half a diameter) that also beat
    the responses at 1.3 times smaller and larger scales at the same place. Cubing favours
    a scale with many strong blobs over one with a few large ones or many faint ones.
    """
    factor = pyramid.factor_for(diameter)
    smooth = pyramid[factor]
    sigmas = [diameter / factor / (2 * np.sqrt(2)) * step for step in (1 / 1.3, 1.0, 1.3)]
    below, response, above = (-(s**2) * gaussian_laplace(smooth, s) for s in sigmas)
    size = max(3, int(diameter / factor / 2) | 1)
    peaks = (response >= max_filter(response, size)) & (response > 0)
    peaks &= (response > below) & (response > above)
    return float(np.sum(response[peaks].astype(np.float64) ** 3))


def _diameter(frame: np.ndarray) -> float:
    """Equivalent nucleus diameter of a [0, 1] float frame (see :func:`estimate_diameter`);
    NaN for a constant frame (:func:`_search` returns it)."""
    # Uneven illumination or a dense cluster can make the first guess as large as the frame;
    # a nucleus is at most a quarter of the frame's smaller side.
    largest = min(frame.shape) / 4
    window = _central_window(frame)
    if window is not None:
        diameter, count = _search(window, largest)
        if np.isfinite(diameter) and count >= ENOUGH:
            return diameter
    return _search(frame, largest)[0]


def _central_window(frame: np.ndarray) -> np.ndarray | None:
    """The middle of `frame`, about WINDOW_PIXELS large with the frame's aspect, or None
    when the frame is not more than twice that size."""
    if frame.size <= 2 * WINDOW_PIXELS:
        return None
    shrink = np.sqrt(WINDOW_PIXELS / frame.size)
    height, width = (max(32, int(side * shrink)) for side in frame.shape)
    top, left = (frame.shape[0] - height) // 2, (frame.shape[1] - width) // 2
    return frame[top : top + height, left : left + width]


def _search(frame: np.ndarray, largest: float) -> tuple[float, int]:
    """Diameter of :func:`_diameter` on `frame` and the number of objects it rests on."""
    if frame.max() <= frame.min():
        return float("nan"), 0
    pyramid = _Pyramid(frame)
    coarse = pyramid.factor_for(np.inf)
    smooth = pyramid[coarse]
    first = coarse * inscribed_diameter(smooth > threshold_otsu(smooth))
    diameter, count = _fixed_point(pyramid, min(ELONGATION * first, largest), largest)
    if not np.isfinite(diameter) or diameter < 24 or count > FEW:
        return diameter, count
    # A large bright structure with internal detail (an embryo, a dense clump) is also a
    # fixed point, held by few objects; look for a smaller one and keep whichever scale
    # holds the stronger blobs.
    smaller, fewer = _fixed_point(pyramid, diameter / 4, largest)
    if np.isfinite(smaller) and smaller < diameter / 1.5:
        if _blob_energy(pyramid, smaller) > _blob_energy(pyramid, diameter):
            return smaller, fewer
    return diameter, count


def estimate_diameter(image) -> float:
    """Estimate the typical nucleus diameter in pixels from the frame itself.

    Sizes are measured on a reduced copy of the frame (block mean) on which nuclei are
    about :data:`MEASURE_DIAMETER` pixels across, so the cost hardly depends on the
    magnification. At a trial diameter ``d``, the background under objects of size ``d`` is
    subtracted and the pixels above Otsu's threshold that are also brighter than their
    surroundings at scale ``d`` form objects; their typical largest inscribed diameter
    (median weighted by the square root of object area, which is about one nucleus wide
    even for clusters of touching nuclei) scaled by :data:`ELONGATION` to the equivalent
    diameter of typical, slightly elongated nuclei is the next trial. The search starts
    from the objects of a global Otsu threshold and stops when the diameter changes by less
    than 10 %.

    A large bright structure with inner detail can hold the search at its own size; when
    the result is above 24 px and rests on at most :data:`FEW` objects of about that
    size, a second search starts from a quarter of it, and if it
    settles at a clearly smaller size, the one of the two whose scale holds the stronger
    blobs (scale-normalised Laplacian of Gaussian) is kept.

    Parameters
    ----------
    image : (M, N) array
        Fluorescence frame with bright nuclei on a dark background, any real dtype.

    Returns
    -------
    float
        Equivalent diameter in pixels, NaN when the frame holds no objects (constant frame).

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.draw import disk
    >>> frame = np.zeros((120, 120), dtype=np.uint8)
    >>> for centre in [(30, 30), (30, 90), (90, 30), (90, 90)]:
    ...     frame[disk(centre, 10)] = 200
    >>> 17 < estimate_diameter(frame) < 25
    True
    >>> estimate_diameter(np.zeros((50, 50)))
    nan
    """
    return _diameter(as_float_image(image))
