"""Estimate the typical nucleus diameter of a fluorescence frame from the frame itself."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

from incugrowth.image._distance import inscribed_radius
from incugrowth.image._histogram import median_deviation
from incugrowth.image._labels import label_count
from incugrowth.image._util import (
    as_float_image,
    background_grid,
    gaussian,
    gaussian_laplace,
    label,
    max_filter,
    noise_sigma,
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

#: Longest side (pixels) of the reduced copy on which faint nuclei are looked for.
FAINT_SIDE = 384

#: Number of pixels of the regular sample on which the faint objects' medians are taken.
SAMPLE = 20_000

#: Below this signal-to-noise ratio per pixel, nuclei are faint: the objects bright at
#: their own scale are chromatin and noise, and the size of the faint objects is taken when
#: it is at least SPOTS times theirs ...
FAINT_SNR = 3.0
SPOTS = 1.5

#: ... and up to SPOTS_SNR too, when the faint objects are bright between the bright ones
#: (above SPOTS_GAP, see :func:`_spots_in_nuclei`).
SPOTS_SNR = 10.0
SPOTS_GAP = 0.15

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
    diameter = _bright_diameter(frame, largest)
    if not np.isfinite(diameter):
        return diameter
    faint, snr, mask = _faint_diameter(frame)
    if not (np.isfinite(faint) and faint > SPOTS * diameter and snr < SPOTS_SNR):
        return diameter
    if snr < FAINT_SNR or _spots_in_nuclei(frame, diameter, mask) > SPOTS_GAP:
        return min(faint, largest)
    return diameter


def _bright_diameter(frame: np.ndarray, largest: float) -> float:
    """The size of the objects bright at their own scale (the first search of
    :func:`estimate_diameter`), on a central window when that holds enough of them."""
    window = _central_window(frame)
    if window is not None:
        diameter, count = _search(window, largest)
        if np.isfinite(diameter) and count >= ENOUGH:
            return diameter
    return _search(frame, largest)[0]


def _faint_copy(frame: np.ndarray) -> tuple[np.ndarray, int]:
    """`frame` reduced by block means to at most FAINT_SIDE pixels a side, and the factor."""
    factor = max(1, int(round(max(frame.shape) / FAINT_SIDE)))
    if factor == 1:
        return frame, 1
    h, w = (side // factor for side in frame.shape)
    block = np.ascontiguousarray(frame[: h * factor, : w * factor])
    return cv2.resize(block, (w, h), interpolation=cv2.INTER_AREA), factor


def _faint_diameter(frame: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Size of the objects that stand out of the noise once smoothed, their signal-to-noise
    ratio per pixel, and their mask on the reduced copy of :func:`_faint_copy`.

    The objects are those of :func:`_faint_mask` with the copy smoothed by a Gaussian of
    1.5 pixels (holes that chromatin texture leaves in them filled). The ratio is
    the median of the objects less the median of the rest, over the frame's pixel noise.
    """
    small, factor = _faint_copy(frame)
    every = max(1, int(np.sqrt(small.size / SAMPLE)))  # medians of a regular sample
    sigma = noise_sigma(frame)
    copy_sigma = sigma if factor == 1 else noise_sigma(small)
    mask = _faint_mask(small, 1.5, copy_sigma, every)
    if not mask.any() or mask.all():
        return float("nan"), float("inf"), mask
    typical, _ = _typical_size(mask)
    level = _median_in(small, mask, every) - _median_in(small, ~mask, every)
    snr = level / sigma if sigma > 0 else float("inf")
    return ELONGATION * factor * typical, snr, mask


def _faint_mask(small: np.ndarray, smoothing: float, noise: float, every: int) -> np.ndarray:
    """Pixels of `small` smoothed by a Gaussian of `smoothing` that lie above its median by
    4 times the smoothed pixel `noise` (and 3 robust deviations), opened by a 3 x 3 square
    against specks, holes filled."""
    smooth = gaussian(small, smoothing)
    middle, spread = map(float, median_deviation(smooth[::every, ::every]))
    noise = noise / (2 * np.sqrt(np.pi) * smoothing)
    mask = smooth > middle + max(4 * noise, 3 * 1.4826 * spread)
    mask = cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return ndi.binary_fill_holes(mask.view(bool))


def _median_in(values: np.ndarray, mask: np.ndarray, every: int) -> float:
    """Median of `values` in `mask`, from every `every`-th row and column (all of them when
    that sample misses the mask)."""
    sample = values[::every, ::every][mask[::every, ::every]]
    if sample.size == 0:
        sample = values[mask]
    return float(np.median(sample))


def _spots_in_nuclei(frame: np.ndarray, diameter: float, mask: np.ndarray) -> float:
    """How bright the faint objects (`mask`) are between the bright objects at `diameter`
    within them, relative to those: about 0.1 or below when the faint objects are small
    nuclei joined by their dim surroundings, 0.2 or more when they are nuclei and the
    bright objects their chromatin."""
    small, _ = _faint_copy(frame)
    smooth = gaussian(small, 1.5)
    every = max(1, int(np.sqrt(small.size / SAMPLE)))
    pyramid = _Pyramid(frame)
    factor = pyramid.factor_for(diameter)
    bright = _bright_mask(pyramid[factor], diameter / factor).view(np.uint8)
    bright = cv2.resize(bright, mask.shape[::-1], interpolation=cv2.INTER_NEAREST).view(bool)
    inside, between = bright & mask, mask & ~bright
    if not inside.any() or not between.any():
        return 0.0
    background = _median_in(smooth, ~mask, every)
    level = _median_in(smooth, inside, every) - background
    return (_median_in(smooth, between, every) - background) / level if level > 0 else 0.0


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

    Dim nuclei with chromatin texture hold the search at the size of their bright spots.
    So the frame is also reduced to at most :data:`FAINT_SIDE` pixels a side and smoothed,
    and the objects above its background by 4 times the smoothed noise (holes filled) are
    measured the same way. Their size is taken when it is at least :data:`SPOTS` times the
    first estimate and either the objects stand out of the pixel noise by less than
    :data:`FAINT_SNR` (the bright objects are then chromatin and noise), or by less than
    :data:`SPOTS_SNR` while they stay bright between the bright objects they hold (at
    least :data:`SPOTS_GAP` of their level above the background: nucleoplasm between
    chromocentres, where small nuclei joined by their dim surroundings fall to about 0.1).

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
