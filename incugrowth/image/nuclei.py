"""Count and segment nuclei in a fluorescence frame (marker-controlled watershed)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_li
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from incugrowth.image._util import as_float_image, background, label_max, noise_sigma
from incugrowth.image.diameter import _diameter

__all__ = ["count_nuclei", "segment_nuclei"]


def segment_nuclei(image, *, diameter=None, segmenter=None, **options) -> np.ndarray:
    """Label each nucleus of a fluorescence frame.

    The built-in segmenter, with ``d`` the nucleus diameter (estimated by
    :func:`~incugrowth.image.estimate_diameter` when not given):

    1. smooth with a Gaussian of ``d / 10`` and subtract the background under objects of
       size ``d`` (grey opening), which flattens uneven illumination;
    2. foreground: Li's minimum cross-entropy threshold, low enough to keep dim nuclei;
    3. markers: regional maxima deeper than ``split`` of a function that adds the distance to
       the edge (in nucleus radii, from pixels brighter than their surroundings at scale ``d``)
       and the logarithm of intensity smoothed at ``d / 6``. The logarithm makes the split
       depend on relative, not absolute, brightness, so dim and bright nuclei split alike;
    4. watershed of that function from the markers within the foreground;
    5. each nucleus keeps its pixels brighter than ``cut`` times its own peak, so a bright
       nucleus loses its halo and a dim one keeps its extent;
    6. drop objects smaller than ``min_area`` times the area of a disk of diameter ``d``, and
       objects whose peak does not stand out of the background by ``snr`` times the noise.

    Parameters
    ----------
    image : (M, N) array
        Fluorescence frame, nuclei bright on dark, any real dtype. Not modified.
    diameter : float, optional
        Typical nucleus diameter in pixels; estimated from the frame when None.
    segmenter : callable, optional
        ``segmenter(image, **options) -> labels`` replaces the built-in segmenter (e.g. a
        wrapper around Cellpose or StarDist); `diameter` is then ignored, pass it to the
        callable with :func:`functools.partial` if it needs one.
    **options
        For the built-in segmenter: ``split`` (0.05), ``cut`` (0.3), ``min_area`` (0.15),
        ``snr`` (5.0), as described above.

    Returns
    -------
    (M, N) ndarray of int32
        0 for background, 1..n for the nuclei. An empty frame gives all zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.draw import disk
    >>> frame = np.zeros((100, 100), dtype=np.uint16)
    >>> frame[disk((30, 30), 8)] = 3000
    >>> frame[disk((70, 60), 8)] = 500
    >>> labels = segment_nuclei(frame)
    >>> labels.dtype, int(labels.max())
    (dtype('int32'), 2)
    """
    if segmenter is not None:
        if not callable(segmenter):
            raise ValueError(f"`segmenter` must be callable, got {type(segmenter).__name__}")
        array = np.asarray(image)
        if array.ndim != 2:
            raise ValueError(f"`image` must be a 2-dimensional array, got shape {array.shape}")
        labels = np.asarray(segmenter(array.copy(), **options))
        if labels.shape != array.shape or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"`segmenter` must return an integer label image of shape {array.shape}, "
                f"got {labels.dtype} of shape {labels.shape}"
            )
        return labels.astype(np.int32)
    frame = as_float_image(image)
    if diameter is None:
        diameter = _diameter(ndi.gaussian_filter(frame, 1.0))
    elif not (np.isscalar(diameter) and np.isfinite(diameter) and diameter > 0):
        raise ValueError(f"`diameter` must be a positive number of pixels, got {diameter!r}")
    if not np.isfinite(diameter):
        return np.zeros(frame.shape, dtype=np.int32)
    return _segment(frame, float(max(diameter, 3.0)), **options)


def _segment(frame, diameter, *, split=0.05, cut=0.3, min_area=0.15, snr=5.0, dim=0.1):
    radius = diameter / 2
    smooth = ndi.gaussian_filter(frame, max(0.7, diameter / 10))
    flat = smooth - background(smooth, diameter)
    empty = np.zeros(frame.shape, dtype=np.int32)
    if flat.max() <= flat.min():
        return empty
    cutoff = threshold_li(flat)
    foreground = flat > cutoff
    if dim:
        foreground |= _dim_nuclei(flat, foreground, cutoff, dim, radius)
    if not foreground.any() or foreground.all():
        return empty

    # Distance to the edge of the locally bright pixels, in nucleus radii.
    core = foreground & (flat > ndi.gaussian_filter(flat, diameter))
    distance = ndi.gaussian_filter(ndi.distance_transform_edt(core), max(1.0, diameter / 10))
    bright = ndi.gaussian_filter(frame, diameter / 6)
    bright -= bright[~foreground].mean()
    floor = max(float(bright.max()) * 1e-3, 1e-6)
    relief = distance / radius + np.log(np.maximum(bright, floor))
    relief[~core] = relief[core].min() if core.any() else 0.0
    markers = _markers(relief, core, split, max(1, int(diameter // 8)))
    labels = watershed(-relief, markers, mask=foreground)

    index = np.arange(labels.max() + 1)
    peak = label_max(flat, labels, index.size - 1)
    peak[0] = np.inf
    labels[flat < cut * peak[labels]] = 0
    area = np.bincount(labels.ravel(), minlength=index.size)
    sigma = noise_sigma(frame)
    drop = (area < min_area * np.pi * radius**2) | (peak < snr * sigma)
    drop[0] = False
    labels[drop[labels]] = 0
    return _relabel(labels)


def _markers(relief, core, split, step):
    """Labelled regional maxima of `relief` deeper than `split`, found on a grid `step` apart.

    The relief is smooth at the scale of a nucleus, so its maxima survive subsampling by an
    eighth of the diameter, which makes the morphological reconstruction faster for large
    nuclei.
    """
    small = np.ascontiguousarray(relief[::step, ::step], dtype=np.float64)
    peaks = h_maxima(small, split) & core[::step, ::step]
    markers = np.zeros(relief.shape, dtype=np.int32)
    rows, cols = np.nonzero(peaks)
    small_labels, _ = ndi.label(peaks)
    markers[rows * step, cols * step] = small_labels[rows, cols]
    return markers


def _dim_nuclei(flat, foreground, cutoff, dim, radius):
    """Nucleus-like objects above `dim` times the threshold (and the noise), apart from
    `foreground`.

    A nucleus several times dimmer than most is below a global threshold; it is taken back
    when a lower threshold shows it as an object that touches none of the foreground (so
    halos of bright nuclei stay out), is as thick as a nucleus (inscribed radius at least
    0.8 `radius`: fibres and specks stay out) and no larger than three nuclei.
    """
    below = flat[~foreground]
    middle = float(np.median(below))
    spread = 1.4826 * float(np.median(np.abs(below - middle)))
    low = flat > max(dim * cutoff, middle + 4 * spread)
    labels, n = ndi.label(low)
    if n == 0:
        return low
    touches = np.bincount(labels[foreground], minlength=n + 1) > 0
    area = np.bincount(labels.ravel(), minlength=n + 1)
    thick = label_max(ndi.distance_transform_edt(low), labels, n)
    keep = (thick >= 0.8 * radius) & (area <= 3 * np.pi * radius**2) & ~touches
    keep[0] = False
    return keep[labels]


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Number the labels present 1..n in order, as int32."""
    present = np.zeros(labels.max() + 1, dtype=bool)
    present[labels.ravel()] = True
    present[0] = False
    lut = np.zeros(present.size, dtype=np.int32)
    lut[present] = np.arange(1, present.sum() + 1, dtype=np.int32)
    return lut[labels]


def count_nuclei(image, *, diameter=None, segmenter=None, **options) -> int:
    """Number of nuclei in a fluorescence frame; see :func:`segment_nuclei` for the options.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.draw import disk
    >>> frame = np.zeros((100, 100))
    >>> for centre in [(20, 20), (20, 70), (70, 20), (70, 70)]:
    ...     frame[disk(centre, 7)] = 1.0
    >>> count_nuclei(frame)
    4
    >>> count_nuclei(np.zeros((100, 100)))
    0
    """
    labels = segment_nuclei(image, diameter=diameter, segmenter=segmenter, **options)
    return int(labels.max())
