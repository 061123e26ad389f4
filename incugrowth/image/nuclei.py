"""Count and segment nuclei in a fluorescence frame (marker-controlled watershed)."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

from incugrowth.image._distance import distance
from incugrowth.image._flood import flood_regions, pairs_within, relabel_within
from incugrowth.image._histogram import median_deviation
from incugrowth.image._labels import (
    boundary_pairs,
    cut_below,
    cut_below_within,
    join_shallow,
    label_count,
    object_stats,
    relabel_max,
)
from incugrowth.image._pixels import above_fraction, local_tops, relief_of, sample_outside
from incugrowth.image._util import (
    as_float_image,
    background,
    gaussian,
    label,
    max_filter,
    noise_sigma,
    threshold_li,
)
from incugrowth.image.diameter import _diameter

__all__ = ["count_nuclei", "segment_nuclei"]

#: Nucleus diameter (pixels) at which the built-in segmenter works: frames with larger
#: nuclei are shrunk to it, so that every step costs the same per nucleus and behaves the
#: same at every magnification. Frames with smaller nuclei are used as they are.
WORKING_DIAMETER = 16.0

#: Frames whose nuclei are strongly textured or noisy (see ``texture`` in
#: :func:`segment_nuclei`) are smoothed at the nucleus diameter over this.
TEXTURE_SMOOTHING = 6.0

#: ... and segmented with ``core`` at most and ``split`` at least these.
TEXTURE_CORE = 0.5
TEXTURE_SPLIT = 0.1


def segment_nuclei(image, *, diameter=None, segmenter=None, **options) -> np.ndarray:
    """Label each nucleus of a fluorescence frame.

    The built-in segmenter works with ``d`` the nucleus diameter (estimated by
    :func:`~incugrowth.image.estimate_diameter` when not given). Frames whose nuclei are
    larger than :data:`WORKING_DIAMETER` are first shrunk (anti-aliased) so that ``d`` is
    that size, and the labels are mapped back to the frame at the end. Then:

    1. smooth with a Gaussian of ``d / 16`` and subtract the background under objects of
       size ``d`` (grey opening), which flattens uneven illumination. Nuclei of at least
       :data:`WORKING_DIAMETER` pixels whose detail finer than ``d / 6`` is stronger than
       ``texture`` times their mean brightness (chromatin texture, bright chromocentres,
       noise of a dim frame) are smoothed at ``d / 6`` instead, and segmented with
       ``core`` at most 0.5 and ``split`` at least 0.1, so that one textured nucleus is
       one object;
    2. foreground: Li's minimum cross-entropy threshold, low enough to keep dim nuclei;
       nucleus-shaped objects down to ``dim`` times that threshold are taken back when
       they stand apart from the bright foreground;
    3. relief: intensity smoothed at ``d / 10`` times the distance (in nucleus radii, at
       most 1) to the edge of the *core*, the pixels brighter than ``core`` times the
       brightest pixel in a square of side ``d / 2`` around them. The core is relative to
       the local peak, so touching nuclei show a neck whatever their brightness, and a
       square that small holds a nucleus's own peak rather than a brighter neighbour's
       (a dim nucleus beside a bright one keeps a core, hence a marker, of its own);
    4. markers: local maxima of the relief at least ``d / 5`` apart; watershed of the
       relief from them within the foreground; neighbours are merged when the pass between
       them is less than ``split`` times the lower peak below that peak (a shallow dip is
       texture, not a boundary);
    5. each nucleus keeps its pixels brighter than ``cut`` times its own peak, so a bright
       nucleus loses its halo and a dim one keeps its extent; fragments smaller than
       ``min_area`` times the area of a disk of diameter ``d`` join the neighbour they
       share the longest boundary with (anything larger may be a small nucleus of its own:
       sizes vary twofold within a frame, and more when ``d`` is overestimated);
    6. drop objects still smaller than ``min_area`` times that area (specks on their own),
       and objects whose peak does not stand out of the background by ``snr`` times the
       noise (of the shrunk frame when it was shrunk: shrinking averages noise down, and
       dim large nuclei stand out of that noise, not of the frame's per-pixel noise).

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
        For the built-in segmenter: ``split`` (0.03), ``core`` (0.65), ``cut`` (0.3),
        ``min_area`` (0.1), ``snr`` (5.0), ``dim`` (0.3), ``texture`` (0.25; 0 never
        smooths texture away), as described above.

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
        return _custom(image, segmenter, options)
    return _segment_frame(as_float_image(image), diameter, options)


def _segment_frame(frame, diameter, options, sigma=None):
    """:func:`segment_nuclei` of a frame already made float by :func:`as_float_image`
    (`sigma`: its :func:`noise_sigma`, when already known)."""
    if sigma is None:
        sigma = noise_sigma(frame)
    if diameter is None:
        diameter = _diameter(frame, sigma)
    elif not (np.isscalar(diameter) and np.isfinite(diameter) and diameter > 0):
        raise ValueError(f"`diameter` must be a positive number of pixels, got {diameter!r}")
    if not np.isfinite(diameter):
        return np.zeros(frame.shape, dtype=np.int32)
    diameter = float(max(diameter, 3.0))
    scale = WORKING_DIAMETER / diameter
    if scale >= 1:
        return _segment(frame, diameter, sigma, **options)
    shape = tuple(max(8, round(side * scale)) for side in frame.shape)
    shrunk = _shrink(frame, shape)
    # shrinking averages the noise down: the noise that counts is the shrunk frame's
    labels = _segment(shrunk, WORKING_DIAMETER, noise_sigma(shrunk), **options)
    return _nearest(labels, frame.shape)


def _shrink(frame, shape):
    """`frame` reduced to `shape`: Gaussian anti-aliasing, then bilinear interpolation.

    The values of ``skimage.transform.resize(frame, shape, order=1, anti_aliasing=True)``
    (to float32 rounding), by OpenCV's filter and resize.
    """
    sigmas = tuple(max(0.0, (side / out - 1) / 2) for side, out in zip(frame.shape, shape))
    frame = gaussian(frame, sigmas, mode="mirror")  # scikit-image's "reflect" is scipy's "mirror"
    return cv2.resize(frame, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _nearest(labels, shape):
    """`labels` enlarged to `shape` by nearest neighbour (pixel centres aligned)."""
    rows, cols = (
        np.minimum(((np.arange(out) + 0.5) * (side / out)).astype(np.intp), side - 1)
        for side, out in zip(labels.shape, shape)
    )
    # columns first, then whole rows: 5x faster than labels[rows[:, None], cols], and
    # C-contiguous (labels[rows][:, cols] is not, and the compiled loops would be compiled
    # again for that layout)
    return labels[:, cols][rows]


def _custom(image, segmenter, options):
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
    if labels.size and labels.min() < 0:
        raise ValueError(f"`segmenter` returned negative labels (down to {labels.min()})")
    if labels.size and labels.max() > np.iinfo(np.int32).max:
        raise ValueError(
            f"`segmenter` returned labels up to {labels.max()}; number them below 2**31"
        )
    return labels.astype(np.int32)


def _segment(
    frame,
    diameter,
    sigma,
    *,
    split=0.03,
    core=0.65,
    cut=0.3,
    min_area=0.1,
    snr=5.0,
    dim=0.3,
    texture=0.2,
):
    # Python floats, so that NumPy scalars given as options round as the defaults do
    split, core, cut, min_area, snr, dim, texture = map(
        float, (split, core, cut, min_area, snr, dim, texture)
    )
    radius = diameter / 2
    empty = np.zeros(frame.shape, dtype=np.int32)
    flat, cutoff = _flatten(frame, diameter, max(0.7, diameter / 16))
    if flat is None:
        return empty
    foreground = flat > cutoff
    if diameter >= WORKING_DIAMETER and texture and _texture(flat, foreground, diameter) > texture:
        # chromatin texture or noise as strong as this splits one nucleus into several:
        # smooth it away at a fraction of the nucleus size (smaller nuclei show no
        # texture, only noise and their own edges, which the smoothing would blur)
        flat, cutoff = _flatten(frame, diameter, diameter / TEXTURE_SMOOTHING)
        if flat is None:
            return empty
        foreground = flat > cutoff
        # what is left of the texture dips deeper than the seam of touching nuclei, and
        # its peaks hold smaller cores: a lower core and a deeper split for such nuclei
        core, split = min(core, TEXTURE_CORE), max(split, TEXTURE_SPLIT)
    if dim:
        foreground |= _dim_nuclei(flat, foreground, cutoff, dim, radius)
    if not foreground.any() or foreground.all():
        return empty

    bright = gaussian(flat, diameter / 10)
    peaks = max_filter(bright, int(diameter / 2) | 1)
    inner = above_fraction(flat, peaks, core, foreground)
    depth = gaussian(distance(inner), diameter / 8)
    relief = relief_of(depth, bright, foreground, radius)
    labels, *graph, regions = _watershed(relief, foreground, max(1, round(diameter / 5)))
    labelled = _Labelled(regions, labels.size)
    # the merged regions and the peak of each in the flattened frame, in one pass
    labels, peak = labelled.relabel(labels, _merge_shallow(*graph, split), flat)
    n = peak.size - 1
    peak[0] = np.inf
    threshold = cut * peak
    if flat.dtype == np.float32:
        threshold = _float32_above(threshold)
    size = labelled.cut_below(labels, flat, threshold)
    area = np.pi * radius**2
    target = _merge_fragments(labels, min_area * area, size, labelled)
    sizes = np.bincount(target, weights=size, minlength=n + 1)
    # the cut keeps each peak pixel, so a joined region peaks at the highest of its parts
    joined = np.full(n + 1, -np.inf)
    np.maximum.at(joined, target, peak)
    drop = (sizes < min_area * area) | (joined < snr * sigma)
    # number the nuclei left 1..n in order; dropped ones (and absent labels) become 0
    keep = (sizes > 0) & ~drop
    keep[0] = False
    lookup = np.zeros(n + 1, dtype=np.int32)
    lookup[keep] = np.arange(1, np.count_nonzero(keep) + 1, dtype=np.int32)
    return labelled.renumber(labels, lookup[target], flat)


def _flatten(frame, diameter, sigma):
    """`frame` smoothed by a Gaussian of `sigma`, less its background under objects of
    `diameter`, and Li's threshold of that; (None, None) when it is constant."""
    smooth = gaussian(frame, sigma)
    flat = smooth - background(smooth, diameter)
    if flat.max() <= flat.min():
        return None, None
    # Li's threshold depends on the histogram only: a regular sample of the pixels will do
    every = max(1, int(np.sqrt(flat.size / 250_000)))
    return flat, threshold_li(flat[::every, ::every])


def _texture(flat, foreground, diameter):
    """Strength of the detail finer than a sixth of a nucleus (chromatin texture and
    noise) inside the nuclei: its standard deviation over the mean of `flat` in the
    objects of `foreground` at least half a nucleus large, measured on every second pixel.

    At their true size, the nuclei of nuclei-dev score 0.11-0.30 (95 % below 0.23), the
    textured, dim ones of the confocal time-lapse set 0.26-0.58 (median 0.41).
    """
    half = np.ascontiguousarray(flat[::2, ::2])
    # within objects of at least half a nucleus's area: specks of debris are not texture
    parts, n = label(foreground[::2, ::2])
    if n == 0:
        return 0.0
    large = label_count(parts, n) >= np.pi * (diameter / 4) ** 2 / 2
    large[0] = False
    inside = np.take(large, parts)
    if np.count_nonzero(inside) < 10:
        return 0.0
    band = half - gaussian(half, diameter / 12)
    level = float(np.mean(half[inside]))
    return float(np.std(band[inside]) / level) if level > 0 else 0.0


class _Labelled:
    """The passes over the labels that follow the flood, over the flooded parts of the
    frame only (`regions` of :func:`flood_regions`) when their boxes cover less than a
    quarter of it, over the whole frame otherwise (where visiting part by part costs more
    than it saves). Both give the same results."""

    def __init__(self, regions, size):
        _, seed_pixels, boxes = regions
        seeded = seed_pixels > 0
        covered = np.sum(
            (boxes[seeded, 2] - boxes[seeded, 0]) * (boxes[seeded, 3] - boxes[seeded, 1])
        )
        self.regions = regions if covered < size / 4 else None

    def relabel(self, labels, lookup, values):
        """``lookup[labels]`` and the peak of `values` in each new label (``peak[0]`` is
        not defined). The labels returned are `labels` itself, changed in place, when
        visiting parts and a new array otherwise: use the ones returned."""
        if self.regions is None:
            return relabel_max(labels, lookup, values)
        return labels, relabel_within(labels, lookup, values, self.regions)

    def renumber(self, labels, lookup, values):
        """``lookup[labels]`` (`values` is read only when visiting parts, whose pass also
        takes peaks)."""
        if self.regions is None:
            return np.take(lookup, labels, mode="clip")
        relabel_within(labels, lookup, values, self.regions)
        return labels

    def cut_below(self, labels, values, threshold):
        if self.regions is None:
            return cut_below(labels, values, threshold)
        return cut_below_within(labels, values, threshold, self.regions)

    def pairs(self, labels):
        """``boundary_pairs(labels, labels)``."""
        if self.regions is None:
            return boundary_pairs(labels, labels)
        return pairs_within(labels, labels, self.regions)


def _float32_above(values):
    """The smallest float32 at or above each of `values` (float64).

    For float32 ``x``, ``x < _float32_above(t)`` holds exactly when ``x < t``, so a float32
    frame can be compared with float64 thresholds without a float64 copy of it.
    """
    out = values.astype(np.float32)
    low = out < values
    out[low] = np.nextafter(out[low], np.float32(np.inf))
    return out


def _watershed(relief, foreground, spacing):
    """Watershed of `relief` from its local maxima within `spacing` pixels (maximum filter).

    Pixels of a flat-topped maximum form one marker; neighbours closer than `spacing` that
    are not the highest around are left to the watershed and to :func:`_merge_shallow`.
    Returns the labels and what :func:`_merge_shallow` needs (see :func:`flood_regions`).
    """
    top = max_filter(relief, 2 * spacing + 1)
    markers, _ = label(local_tops(relief, top, foreground))
    return flood_regions(relief, markers, foreground)


def _merge_shallow(top, first, second, saddle, split):
    """Merge neighbouring regions whose pass lies less than `split` (relative) below the lower peak.

    This is the dynamics of the relief (as in h-maxima, but relative to the peak height)
    computed on the region adjacency graph: passes are visited from the highest down, and two
    regions join when the lower one's peak rises less than `split` times its height above
    the pass. `top` is the peak of each region 0..n, `first`, `second` and `saddle` the
    touching pairs and their passes. Returns the label each label 0..n joins (itself when
    it stays).
    """
    n = top.size - 1
    if n < 2 or split <= 0:
        return np.arange(n + 1, dtype=np.int32)
    order = np.argsort(-saddle)
    return join_shallow(first, second, saddle, order, top, float(split)).astype(np.int32)


def _merge_fragments(labels, smallest, size, labelled):
    """Join regions smaller than `smallest` pixels to the larger neighbour they share the
    longest boundary with (over-split pieces of one nucleus); `size` is the number of
    pixels of each label 0..n.

    `labelled` (a :class:`_Labelled`) finds the contacts of the labels. Returns the label
    each label 0..n joins (itself when it stays).
    """
    n = size.size - 1
    if n < 2:
        return np.arange(n + 1)
    first, second, _, length = labelled.pairs(labels)
    target = np.arange(n + 1)
    # both directions of each pair, in the order (a, b), (b, a) pair after pair
    small = np.stack([first, second], axis=1).ravel()
    large = np.stack([second, first], axis=1).ravel()
    contact = np.repeat(length, 2)
    ok = (size[small] < smallest) & (size[large] >= size[small])
    small, large, contact = small[ok], large[ok], contact[ok]
    # per small label, the longest contact; the first in that order among equals
    order = np.lexsort((np.arange(small.size), -contact, small))
    small, large = small[order], large[order]
    head = np.ones(small.size, dtype=bool)
    head[1:] = small[1:] != small[:-1]
    target[small[head]] = large[head]
    for _ in range(4):  # a fragment may join a fragment that joins a nucleus
        target = target[target]
    return target


def _dim_nuclei(flat, foreground, cutoff, dim, radius):
    """Nucleus-like objects above `dim` times the threshold (and the noise), apart from
    `foreground`.

    A nucleus several times dimmer than most is below a global threshold; it is taken back
    when a lower threshold shows it as an object that touches neither the foreground (so
    halos of bright nuclei stay out) nor the frame's edge (where the background is least
    certain), is as thick as a nucleus (inscribed radius at least
    0.8 `radius`: fibres and specks stay out) and no larger than three nuclei.
    """
    below = sample_outside(flat, foreground, 100_000)  # a sample is enough for the median
    middle, spread = map(float, median_deviation(below))
    spread *= 1.4826
    low = flat > max(dim * cutoff, middle + 4 * spread)
    labels, n = label(low)
    if n == 0:
        return low
    area, boxes, touches = object_stats(labels, n, foreground)  # area[0] is not used
    # an inscribed circle of radius 0.8 `radius` needs at least its own area
    keep = (area >= np.pi * (0.8 * radius) ** 2) & (area <= 3 * np.pi * radius**2) & ~touches
    keep[0] = False
    if not keep.any():
        return np.zeros(low.shape, dtype=bool)
    for i in np.flatnonzero(keep):
        top, left, bottom, right = boxes[i]
        inside = np.pad(labels[top:bottom, left:right] == i, 1)
        keep[i] = ndi.distance_transform_edt(inside).max() >= 0.8 * radius
    return np.take(keep, labels, mode="clip")


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
