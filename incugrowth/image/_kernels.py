"""Compiled loops of the image module (numba): the watershed flood, the distance
transform, and the per-pixel and per-label passes of the segmenter, the diameter estimate
and the QC.

Each is a plain loop over the pixels that NumPy cannot express without several whole-frame
temporaries (or at all, as the flood). They are compiled on first use and cached on disk
(numba's ``cache=True``), so only the first call of a new installation pays the
compilation (about 20 s for all of them; batch counting does it once before its workers
start, see :func:`incugrowth.image.measure.prepare`).

Two loops are written out twice on purpose: :func:`cut_below` and :func:`cut_below_within`
share their per-pixel step, but a shared helper (inlined or not) made both five to forty
times slower under numba, so each keeps its own copy.
"""

from __future__ import annotations

import cv2
import numba
import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "above_fraction",
    "bin_counts",
    "boundary_pairs",
    "cut_below",
    "cut_below_within",
    "distance",
    "flood",
    "flood_regions",
    "histogram_sums",
    "inscribed_radius",
    "join_shallow",
    "label_count",
    "label_max",
    "local_tops",
    "median_deviation",
    "object_stats",
    "pairwise_sum",
    "pairs_within",
    "relabel_max",
    "relabel_within",
    "relief_of",
    "sample_outside",
    "sum_above",
]


def _jit(**options):
    """``numba.njit`` with a disk cache, or without one where numba finds no writable place
    for it (a read-only installation with an unwritable home): then each process compiles
    on first use."""

    def decorate(function):
        try:
            return numba.njit(cache=True, nogil=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(nogil=True, **options)(function)

    return decorate


_compiled = _jit()
_inline = _jit(inline="always")


def flood(relief: np.ndarray, markers: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Watershed flood of `relief` from `markers` within `mask`, highest relief first.

    Each marker pixel keeps its label; the flood takes pixels in order of decreasing
    `relief`, and a pixel reached from several sides takes the label of the side that
    reached it first: the label of the pixel that queued it, ties in height going to the
    pixel queued first (4-neighbours; a pixel never takes a level lower than the one it
    was reached from; seeds of one height are queued in raster order). This is the order
    of ``skimage.segmentation.watershed(-relief, markers, mask=mask)`` (scikit-image
    0.26 on float32 reliefs; the tests compare the two; scikit-image gives every seed the
    same age, so among seeds of exactly one height it follows its heap instead). NaN
    heights are not expected.

    Connected parts of `mask` do not interact, so each is flooded on its own, within its
    bounding box (a part with one seed is simply filled), which keeps the pixels it
    touches in the cache. Within a part, the pixels are sorted by height once (a radix
    sort) and the heights are visited in that order with a first-in, first-out queue per
    height (see :func:`_flood_part`): no priority queue, and about twice as fast as one.

    Parameters
    ----------
    relief : (M, N) float array
        Height of each pixel (converted to float32). Not modified.
    markers : (M, N) int array
        Seed labels, 0 elsewhere; seeds outside `mask` are ignored.
    mask : (M, N) bool array
        Pixels that may be flooded; parts of it without a seed stay 0.

    Returns
    -------
    (M, N) ndarray of int32
    """
    return _run_flood(relief, markers, mask, False)[0]


def flood_regions(relief: np.ndarray, markers: np.ndarray, mask: np.ndarray):
    """:func:`flood`, with what merging its regions needs, taken where the flood knows it.

    Returns ``(labels, peak, first, second, saddle, regions)``: the labels of
    :func:`flood`; the highest relief of each label 0..n, n the highest label in them
    (float64, -inf for label 0 and absent labels); and the touching pairs of labels with
    their saddles. These are ``label_max(relief, labels, n)`` and
    ``boundary_pairs(labels, relief)[:3]`` of the float32 relief the flood uses (a float64
    relief is rounded first). Regions touch only within a part of `mask` flooded from
    several seeds, so only those parts' boxes are searched for contacts, not the whole
    frame. `regions` (the parts of `mask`, the number of seed pixels and the bounding box
    of each) lets the passes over the labels that follow visit the labelled parts only
    (:func:`relabel_within`, :func:`cut_below_within`, :func:`pairs_within`). The peaks
    take memory in proportion to the highest label, as ``label_max`` does.
    """
    labels, relief, parts, seed_pixels, boxes, peak, contacts = _run_flood(
        relief, markers, mask, True
    )
    first, second, score = _contacts_within(labels, relief, parts, seed_pixels, boxes, contacts)
    first, second, saddle, _ = _pairs(first, second, score, peak.size)
    return labels, peak, first, second, saddle, (parts, seed_pixels, boxes)


def _run_flood(relief, markers, mask, regions):
    """Checked inputs, then :func:`_flood` over the parts of `mask` (the peaks and
    contacts only when `regions`)."""
    relief = np.ascontiguousarray(relief, dtype=np.float32)
    markers = _int32(markers, "markers")
    mask = np.ascontiguousarray(mask, dtype=bool)
    if not relief.shape == markers.shape == mask.shape or relief.ndim != 2:
        raise ValueError(
            "`relief`, `markers` and `mask` must be 2-dimensional arrays of one shape, got "
            f"{relief.shape}, {markers.shape} and {mask.shape}"
        )
    if mask.size == 0:
        parts = np.zeros(mask.shape, np.int32)
        n_parts = 1
    else:
        n_parts, parts = cv2.connectedComponents(
            mask.view(np.uint8), connectivity=4, ltype=cv2.CV_32S
        )
    labels, seed_pixels, boxes, peak, contacts = _flood(
        relief, markers, parts, n_parts - 1, regions
    )
    return labels, relief, parts, seed_pixels, boxes, peak, contacts


def pairs_within(labels: np.ndarray, values: np.ndarray, regions) -> tuple:
    """``boundary_pairs(labels, values)`` for labels that lie within the parts of
    :func:`flood_regions`' `regions` (the flood's labels, or any relabelling or cut of
    them): labels touch only within a part flooded from several seeds, so only those
    parts' boxes are searched."""
    parts, seed_pixels, boxes = regions
    labels, values = _int32(labels, "labels"), _contact_values(values)
    first, second, score = _contacts_within(labels, values, parts, seed_pixels, boxes, -1)
    return _pairs(first, second, score, int(labels.max()) + 1)


@_compiled
def _contacts_within(labels, values, parts, seed_pixels, boxes, n):
    """The `n` contacts of different labels > 0 (right and lower neighbours, with the
    lower of their `values`) within the parts flooded from several seeds; counted first
    when `n` is negative."""
    if n < 0:
        nothing = np.empty(0, np.int32)
        n = _scan_contacts(labels, values, parts, seed_pixels, boxes, nothing, nothing, np.empty(0))
    first, second = np.empty(n, np.int32), np.empty(n, np.int32)
    score = np.empty(n, np.float64)
    _scan_contacts(labels, values, parts, seed_pixels, boxes, first, second, score)
    return first, second, score


@_inline
def _scan_contacts(labels, values, parts, seed_pixels, boxes, first, second, score):
    """Number of contacts (see :func:`_contacts_within`), written to the arrays given
    unless they are empty."""
    fill = first.size > 0
    k = 0
    for part in range(1, seed_pixels.size):
        if seed_pixels[part] < 2:
            continue
        for i in range(boxes[part, 0], boxes[part, 2]):
            for j in range(boxes[part, 1], boxes[part, 3]):
                if parts[i, j] == part:
                    k = _pixel_contacts(labels, values, i, j, first, second, score, fill, k)
    return k


@_compiled
def relabel_within(labels, lookup, values, regions):
    """``lookup[labels]`` in place over the parts of `regions` (see :func:`flood_regions`;
    labels elsewhere are 0 and stay 0, with ``lookup[0] == 0``), and the maximum of
    `values` over each new label (float64, -inf where a label is absent and for 0)."""
    parts, seed_pixels, boxes = regions
    peak = np.full(lookup.size, -np.inf)
    for part in range(1, seed_pixels.size):
        if seed_pixels[part] == 0:
            continue
        for i in range(boxes[part, 0], boxes[part, 2]):
            for j in range(boxes[part, 1], boxes[part, 3]):
                if parts[i, j] != part:
                    continue
                label = labels[i, j]
                if label < 0 or label >= lookup.size:
                    raise ValueError("labels must lie in 0..lookup.size - 1")
                label = lookup[label]
                labels[i, j] = label
                if label != 0 and values[i, j] > peak[label]:
                    peak[label] = values[i, j]
    peak[0] = -np.inf
    return peak


@_inline
def _order(bits):
    """Priority of a float32 given by its bits: ascending as the float descends
    (-0 as +0; NaN is not expected)."""
    if bits == np.uint32(0x80000000):
        bits = np.uint32(0)
    if bits & np.uint32(0x80000000):
        return bits
    return (~bits) & np.uint32(0x7FFFFFFF)


@_compiled
def _flood(relief, markers, parts, n_parts, regions):
    """Labels of :func:`flood`; the number of seed pixels and the bounding box of each
    part; and, with `regions`, the peak (highest relief) of each label 0..(highest seed
    label in the mask, the highest label of the result; -inf for 0 and absent labels) and
    the number of contacts of different labels (without: one -inf and 0)."""
    bits = relief.view(np.uint32)
    height, width = bits.shape
    out = np.zeros((height, width), np.int32)
    seed_pixels = np.zeros(n_parts + 1, np.int64)
    seed = np.zeros(n_parts + 1, np.int32)
    boxes = _new_boxes(n_parts, height, width)
    highest_label = 0
    for i in range(height):
        for j in range(width):
            part = parts[i, j]
            if part == 0:
                continue
            _grow_box(boxes, part, i, j)
            if markers[i, j] != 0:
                seed_pixels[part] += 1
                seed[part] = markers[i, j]
                highest_label = max(highest_label, markers[i, j])
    peak = np.full(highest_label + 1 if regions else 1, -np.inf)
    # work space of the largest part (and of the largest box with a border), used by each
    # part in turn
    largest, largest_box = 1, 1
    for part in range(1, n_parts + 1):
        if seed_pixels[part] >= 2:
            largest = max(largest, boxes[part, 4])
            rows = boxes[part, 2] - boxes[part, 0] + 2
            largest_box = max(largest_box, rows * (boxes[part, 3] - boxes[part, 1] + 2))
    keys = np.empty(largest, np.uint64)  # priority << 32 | place, sorted
    spare = np.empty(largest, np.uint64)  # the radix sort's other buffer
    queue = np.empty(largest, np.int64)  # places taken at the current height, in order
    state = np.empty(largest_box, np.uint8)
    queued = np.empty(largest_box, np.int64)
    label = np.empty(largest_box, np.int32)
    priority = np.empty(largest_box, np.uint32)
    contacts = 0
    for part in range(1, n_parts + 1):
        first_row, left, bottom, right = (
            boxes[part, 0],
            boxes[part, 1],
            boxes[part, 2],
            boxes[part, 3],
        )
        if seed_pixels[part] == 1:
            value = seed[part]
            for i in range(first_row, bottom):
                for j in range(left, right):
                    if parts[i, j] == part:
                        out[i, j] = value
                        if regions and value > 0:
                            peak[value] = max(peak[value], np.float64(relief[i, j]))
        elif seed_pixels[part] >= 2:
            contacts += _flood_part(
                bits, relief, markers, parts, part, first_row, left, bottom, right, out,
                regions, peak, keys, spare, queue, state, queued, label, priority,
            )  # fmt: skip
    peak[0] = -np.inf
    return out, seed_pixels, boxes, peak, contacts


#: States of a place in :func:`_flood_part`: not of the part (or the border), not reached
#: yet, queued and waiting for its height, taken.
OUTSIDE, UNREACHED, WAITING, TAKEN = 0, 1, 2, 3


@_compiled
def _flood_part(
    bits, relief, markers, parts, part, top, left, bottom, right, out,
    regions, peak, keys, spare, queue, state, queued, label, priority,
):  # fmt: skip
    """Flood one part of the mask (label `part` of `parts`) within its bounding box
    (rows top..bottom - 1, columns left..right - 1).

    The part is copied into work arrays over its box with a border of one pixel (places
    ``(i - top + 1) * span + j - left + 1``), so that neighbours need no edge checks, and
    its places are sorted by priority once. Heights are then visited in that order: the
    pixels queued at a height are taken first queued, first taken, and a pixel they reach
    that is no lower (a priority not above the height) is taken at this height too, after
    them. A lower one waits for its own height. This is the order of a priority queue of
    (priority, time queued) with each pixel's priority raised to that of the pixel that
    reached it, without the queue.
    """
    span = right - left + 2
    state[: (bottom - top + 2) * span] = OUTSIDE
    n = 0
    count = 0  # pixels queued so far
    for i in range(top, bottom):
        base = (i - top + 1) * span + 1 - left
        for j in range(left, right):
            if parts[i, j] == part:
                place = base + j
                priority[place] = _order(bits[i, j])
                keys[n] = (np.uint64(priority[place]) << np.uint64(32)) | np.uint64(place)
                n += 1
                label[place] = markers[i, j]
                if markers[i, j] != 0:  # seeds are queued in raster order
                    state[place] = WAITING
                    queued[place] = count
                    count += 1
                else:
                    state[place] = UNREACHED
    _radix_sort_high(keys, spare, n)
    low = np.uint64(0xFFFFFFFF)
    start = 0
    while start < n:
        height = np.uint32(keys[start] >> np.uint64(32))
        end = start
        size = 0
        while end < n and np.uint32(keys[end] >> np.uint64(32)) == height:
            place = np.int64(keys[end] & low)
            if state[place] == WAITING:
                queue[size] = place
                size += 1
            end += 1
        if size > 1:  # several waiting at one height: the first queued first
            for t in range(size):
                spare[t] = (np.uint64(queued[queue[t]]) << np.uint64(32)) | np.uint64(queue[t])
            spare[:size].sort()
            for t in range(size):
                queue[t] = np.int64(spare[t] & low)
        head = 0
        while head < size:
            place = queue[head]
            head += 1
            state[place] = TAKEN
            for side in range(4):  # up, left, right, down, as scikit-image
                if side == 0:
                    other = place - span
                elif side == 1:
                    other = place - 1
                elif side == 2:
                    other = place + 1
                else:
                    other = place + span
                if state[other] != UNREACHED:
                    continue
                label[other] = label[place]
                if priority[other] <= height:  # no lower: taken at this height, in turn
                    queue[size] = other
                    size += 1
                    state[other] = TAKEN
                else:
                    state[other] = WAITING
                    queued[other] = count
                count += 1
        start = end
    # the labels into `out`; with `regions`, the highest relief of each into `peak` and
    # the number of contacts of different labels (right and lower neighbours) returned
    contacts = 0
    for i in range(top, bottom):
        base = (i - top + 1) * span + 1 - left
        for j in range(left, right):
            if parts[i, j] == part:
                place = base + j
                value = label[place]
                out[i, j] = value
                if not regions or value <= 0:  # (negative seed labels: no peak, no contacts)
                    continue
                peak[value] = max(peak[value], np.float64(relief[i, j]))
                for other in (place + 1, place + span):
                    if state[other] != OUTSIDE and label[other] > 0 and label[other] != value:
                        contacts += 1
    return contacts


@_compiled
def _radix_sort_high(keys, spare, n):
    """Sort ``keys[:n]`` by their high 32 bits, stably (least significant byte first;
    a byte that all keys share is skipped); `spare` is work space of the same size."""
    counts = np.empty(256, np.int64)
    source, target = keys, spare
    swapped = False
    for shift in range(32, 64, 8):
        counts[:] = 0
        for t in range(n):
            counts[(source[t] >> np.uint64(shift)) & np.uint64(255)] += 1
        if counts[(source[0] >> np.uint64(shift)) & np.uint64(255)] == n:
            continue
        total = 0
        for digit in range(256):  # first place of each digit
            size = counts[digit]
            counts[digit] = total
            total += size
        for t in range(n):
            digit = (source[t] >> np.uint64(shift)) & np.uint64(255)
            target[counts[digit]] = source[t]
            counts[digit] += 1
        source, target = target, source
        swapped = not swapped
    if swapped:
        keys[:n] = spare[:n]


#: Longest distance (pixels) that :func:`distance` finds by its local search; a mask with
#: pixels farther from the outside is measured by scipy instead (at most 32766: the column
#: distances are kept on 16 bits).
NEAR = 64


def distance(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (float32) from each pixel of `mask` to the nearest pixel outside.

    The exact transform of ``scipy.ndimage.distance_transform_edt`` (the frame's edge
    does not count as outside), rounded to float32. The distance to the outside up and
    down each column comes from two sweeps over the frame; nuclei are thin, so each
    pixel's nearest outside pixel is then found by a short search along its run in the
    row, which is several times faster than a transform of the whole frame. A mask with
    pixels more than :data:`NEAR` pixels from the outside (or none outside) is measured
    by scipy.
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"`mask` must be a 2-dimensional array, got shape {mask.shape}")
    out = np.zeros(mask.shape, np.float32)
    if mask.size == 0 or not _near_distance(mask, NEAR, out):
        out = ndi.distance_transform_edt(mask).astype(np.float32)
    return out


@_compiled
def _near_distance(mask, near, out):
    """Fill `out` with the distance transform of `mask`; False when a pixel lies more
    than `near` pixels from the outside (or no outside pixel is that close)."""
    height, width = mask.shape
    far = near + 1  # "farther than near" (or no outside pixel in that column)
    up = _distance_up(mask, far)
    down = np.empty(width, np.int16)
    vertical = np.empty(width, np.int16)
    for i in range(height - 1, -1, -1):
        _distance_vertical(mask, up, down, vertical, i, far)
        j = 0
        while j < width:
            if not mask[i, j]:
                j += 1
                continue
            start = j
            while j < width and mask[i, j]:
                j += 1
            end = j  # a run [start, end) of the row
            for c in range(start, end):
                best = _nearest_outside(vertical, start, end, c, width, far, -1)
                if best > near * near:
                    return False
                out[i, c] = np.sqrt(np.float64(best))
    return True


def inscribed_radius(mask: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Largest :func:`distance` to the outside of `mask` within each label 1..n of `labels`
    (float64; -inf for label 0 and for absent labels).

    ``label_max(distance(mask), labels, n)`` (labels outside 0..n are left out) without
    the whole transform: a pixel whose distance cannot exceed the largest already found in
    its label (its run in the row and its column bound it) is skipped, and a search stops
    as soon as it cannot either.
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    labels = _int32(labels, "labels")
    if mask.shape != labels.shape or mask.ndim != 2:
        raise ValueError("`mask` and `labels` must be 2-dimensional arrays of one shape")
    best = np.full(int(n) + 1, -1, np.int64)
    if mask.size == 0 or not _near_max(mask, labels, NEAR, best):
        return label_max(distance(mask), labels, n)
    radius = np.full(best.size, -np.inf)
    found = best >= 0
    radius[found] = np.sqrt(best[found].astype(np.float64)).astype(np.float32)
    radius[0] = -np.inf
    return radius


@_compiled
def _near_max(mask, labels, near, best):
    """Largest squared distance to the outside of `mask` in each label, into `best`
    (pixels of a label outside `mask` count 0); False as :func:`_near_distance`."""
    height, width = mask.shape
    far = near + 1
    up = _distance_up(mask, far)
    down = np.empty(width, np.int16)
    vertical = np.empty(width, np.int16)
    for i in range(height - 1, -1, -1):
        _distance_vertical(mask, up, down, vertical, i, far)
        j = 0
        while j < width:
            if not mask[i, j]:
                label = labels[i, j]
                if 0 <= label < best.size:  # (others are left out, as label_max does)
                    best[label] = max(best[label], 0)
                j += 1
                continue
            start = j
            while j < width and mask[i, j]:
                j += 1
            end = j
            for c in range(start, end):
                label = labels[i, c]
                if label < 0 or label >= best.size:
                    continue
                value = _nearest_outside(vertical, start, end, c, width, far, best[label])
                if value > near * near:
                    return False
                best[label] = max(best[label], value)
    return True


@_inline
def _distance_up(mask, far):
    """Distance to the outside up each column (0 outside, at most `far`): one sweep down
    the frame, in branch-free 16-bit arithmetic the compiler turns into vector code."""
    height, width = mask.shape
    up = np.empty((height, width), np.int16)
    step, cap = np.int16(1), np.int16(far)
    for j in range(width):
        up[0, j] = cap * np.int16(mask[0, j])
    for i in range(1, height):
        for j in range(width):
            up[i, j] = min(up[i - 1, j] + step, cap) * np.int16(mask[i, j])
    return up


@_inline
def _distance_vertical(mask, up, down, vertical, i, far):
    """Row `i` of a sweep up the frame: `down` becomes the distance to the outside down
    each column, `vertical` the nearer of up and down (at most `far`)."""
    height, width = mask.shape
    step, cap = np.int16(1), np.int16(far)
    if i == height - 1:
        for j in range(width):
            down[j] = cap * np.int16(mask[i, j])
    else:
        for j in range(width):
            down[j] = min(down[j] + step, cap) * np.int16(mask[i, j])
    for j in range(width):
        vertical[j] = min(up[i, j], down[j])


@_inline
def _nearest_outside(vertical, start, end, c, width, far, enough):
    """Squared distance from column `c` of a run [start, end) of a row to the nearest
    outside pixel, given each column's `vertical` distance; the search stops once it is
    at most `enough` (the value returned is then at most `enough`, not exact)."""
    # the run's ends bound the distance; columns farther than it cannot help
    best = far * far
    if start > 0:
        best = min(best, (c - start + 1) ** 2)
    if end < width:
        best = min(best, (end - c) ** 2)
    if vertical[c] < far:
        best = min(best, vertical[c] ** 2)
    k = 1
    while k * k < best and best > enough:
        for other in (c - k, c + k):
            if start <= other < end and vertical[other] < far:
                best = min(best, k * k + vertical[other] ** 2)
        k += 1
    return best


def label_max(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Maximum of float `values` over each label 1..n (float64; -inf for label 0 and for
    labels absent from `labels`, or outside 1..n)."""
    values = np.ascontiguousarray(values)
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    return _label_max(values, _int32(labels, "labels"), int(n))


def _int32(labels: np.ndarray, name: str) -> np.ndarray:
    """`labels` as a C-contiguous int32 array; other integer dtypes only when their values
    fit (no silent wrap-around)."""
    labels = np.asarray(labels)
    if labels.dtype != np.int32:
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"`{name}` must be an integer array, got {labels.dtype}")
        info = np.iinfo(np.int32)
        if labels.size and (labels.min() < info.min or labels.max() > info.max):
            raise ValueError(f"`{name}` must fit in 32 bits, got values up to {labels.max()}")
    return np.ascontiguousarray(labels, dtype=np.int32)


@_compiled
def _label_max(values, labels, n):
    out = np.full(n + 1, -np.inf)
    flat_values = values.ravel()
    flat_labels = labels.ravel()
    for p in range(flat_labels.size):
        label = flat_labels[p]
        if 0 < label <= n and flat_values[p] > out[label]:
            out[label] = flat_values[p]
    return out


def boundary_pairs(labels: np.ndarray, values: np.ndarray):
    """Pairs of touching labels, with the highest value along their shared boundary.

    Two labels touch where they are 4-neighbours (both > 0); a boundary pixel pair scores
    the lower of its two values, so the highest score along the boundary is the pass
    (saddle) between the two objects. Returns ``(a, b, saddle, length)``: arrays with one
    entry per touching pair ``a < b`` in increasing order, ``saddle`` as float64 and
    ``length`` the number of 4-neighbour contacts.
    """
    labels, values = _int32(labels, "labels"), _contact_values(values)
    a, b, score = _touching(labels, values)
    return _pairs(a, b, score, int(labels.max()) + 1)


def _contact_values(values: np.ndarray) -> np.ndarray:
    """`values` in a dtype the contact loops are compiled for (float32, float64, int32)."""
    values = np.ascontiguousarray(values)
    if values.dtype not in (np.float32, np.float64, np.int32):
        values = values.astype(np.float64)
    return values


def _pairs(a, b, score, n):
    """The distinct pairs ``a < b`` (labels below `n`) of a list of contacts in increasing
    order, with the highest `score` and the number of contacts of each."""
    keys, inverse = np.unique(a.astype(np.int64) * n + b, return_inverse=True)
    saddle = np.full(keys.size, -np.inf)
    np.maximum.at(saddle, inverse, score)
    length = np.bincount(inverse, minlength=keys.size)
    return keys // n, keys % n, saddle, length


@_compiled
def _touching(labels, values):
    nothing = np.empty(0, np.int32)
    n = _contacts(labels, values, nothing, nothing, np.empty(0, np.float64), False)
    first, second = np.empty(n, np.int32), np.empty(n, np.int32)
    score = np.empty(n, np.float64)
    _contacts(labels, values, first, second, score, True)
    return first, second, score


@_compiled
def _contacts(labels, values, first, second, score, fill):
    """Number of contacts of two different labels > 0 (right and lower neighbours); with
    `fill`, also write each one's labels (smaller first) and lower value."""
    height, width = labels.shape
    k = 0
    for i in range(height):
        for j in range(width):
            k = _pixel_contacts(labels, values, i, j, first, second, score, fill, k)
    return k


@_inline
def _pixel_contacts(labels, values, i, j, first, second, score, fill, k):
    """:func:`_contacts` of pixel (i, j) with its right and lower neighbours, numbered
    from `k`; returns the next number."""
    height, width = labels.shape
    a = labels[i, j]
    if a <= 0:
        return k
    for down in range(2):
        row, col = (i + 1, j) if down else (i, j + 1)
        if row >= height or col >= width:
            continue
        b = labels[row, col]
        if b == a or b <= 0:
            continue
        if fill:
            first[k] = min(a, b)
            second[k] = max(a, b)
            score[k] = min(values[i, j], values[row, col])
        k += 1
    return k


@_compiled
def relabel_max(labels, lookup, values):
    """``lookup[labels]`` and the maximum of `values` over each of its labels (float64,
    -inf where a label is absent), in one pass."""
    out = np.empty(labels.shape, np.int32)
    peak = np.full(lookup.size, -np.inf)
    background = -np.inf  # label 0, kept apart: most pixels have it
    flat_labels, flat_out, flat_values = labels.ravel(), out.ravel(), values.ravel()
    for p in range(flat_labels.size):
        label = flat_labels[p]
        if label < 0 or label >= lookup.size:
            raise ValueError("labels must lie in 0..lookup.size - 1")
        label = lookup[label]
        flat_out[p] = label
        if label == 0:
            background = max(background, flat_values[p])
        elif flat_values[p] > peak[label]:
            peak[label] = flat_values[p]
    peak[0] = background
    return out, peak


@_compiled
def cut_below(labels, values, threshold):
    """Set to 0 the pixels of `labels` whose `values` are below their label's `threshold`
    (in place; label 0 stays 0); return the number of pixels of each label
    0..threshold.size - 1 after."""
    sizes = np.zeros(threshold.size, np.int64)
    kept = 0
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            label = labels[i, j]
            if label == 0:
                continue
            if label < 0 or label >= threshold.size:
                raise ValueError("labels must lie in 0..threshold.size - 1")
            if values[i, j] < threshold[label]:
                labels[i, j] = 0
            else:
                sizes[label] += 1
                kept += 1
    sizes[0] = labels.size - kept
    return sizes


@_compiled
def cut_below_within(labels, values, threshold, regions):
    """:func:`cut_below` over the parts of `regions` only (see :func:`flood_regions`;
    labels elsewhere are 0)."""
    parts, seed_pixels, boxes = regions
    sizes = np.zeros(threshold.size, np.int64)
    kept = 0
    for part in range(1, seed_pixels.size):
        if seed_pixels[part] == 0:
            continue
        for i in range(boxes[part, 0], boxes[part, 2]):
            for j in range(boxes[part, 1], boxes[part, 3]):
                if parts[i, j] != part:
                    continue
                label = labels[i, j]
                if label == 0:
                    continue
                if label < 0 or label >= threshold.size:
                    raise ValueError("labels must lie in 0..threshold.size - 1")
                if values[i, j] < threshold[label]:
                    labels[i, j] = 0
                else:
                    sizes[label] += 1
                    kept += 1
    sizes[0] = labels.size - kept
    return sizes


@_compiled
def join_shallow(first, second, saddle, order, top, split):
    """Root of each label after joining the pairs ``first[i], second[i]`` taken in `order`
    (highest `saddle` first) whose pass lies less than `split` times the lower of the two
    regions' `top` below that top (union-find; a joined region's top is its highest)."""
    parent = np.arange(top.size)
    for i in order:
        a, b = _root(parent, first[i]), _root(parent, second[i])
        if a == b:
            continue
        if top[a] < top[b]:
            a, b = b, a
        if top[b] - saddle[i] < split * top[b]:
            parent[b] = a
    for label in range(parent.size):
        parent[label] = _root(parent, label)
    return parent


@_inline
def _root(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@_compiled
def label_count(labels, n):
    """Number of pixels of each label 0..n (``np.bincount`` without an index copy; also
    the histogram of an 8- or 16-bit frame)."""
    sizes = np.zeros(n + 1, np.int64)
    flat_labels = labels.ravel()
    labelled = 0  # label 0 is counted apart: most pixels have it
    for p in range(flat_labels.size):
        label = flat_labels[p]
        if label != 0:
            if label < 0 or label > n:
                raise ValueError("labels must lie in 0..n")
            sizes[label] += 1
            labelled += 1
    sizes[0] = flat_labels.size - labelled
    return sizes


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


@_compiled
def object_stats(labels, n, foreground):
    """Area, bounding box (top, left, bottom + 1, right + 1) and whether it touches
    `foreground` or the frame's edge, of each label 0..n, in one pass."""
    height, width = labels.shape
    boxes = _new_boxes(n, height, width)
    touches = np.zeros(n + 1, np.bool_)
    for i in range(height):
        for j in range(width):
            label = labels[i, j]
            if label == 0:
                continue
            _grow_box(boxes, label, i, j)
            if foreground[i, j] or i == 0 or j == 0 or i == height - 1 or j == width - 1:
                touches[label] = True
    return boxes[:, 4], boxes[:, :4], touches


@_compiled
def _new_boxes(n, height, width):
    """Empty bounding boxes of labels 0..n: top, left, bottom + 1, right + 1, area."""
    boxes = np.zeros((n + 1, 5), np.int64)
    boxes[:, 0] = height
    boxes[:, 1] = width
    return boxes


@_inline
def _grow_box(boxes, label, i, j):
    """Extend `label`'s bounding box to pixel (i, j) and count the pixel in its area."""
    box = boxes[label]
    box[0] = min(box[0], i)
    box[1] = min(box[1], j)
    box[2] = max(box[2], i + 1)
    box[3] = max(box[3], j + 1)
    box[4] += 1


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


@_compiled
def histogram_sums(values, width, bins):
    """Running count and sum of the non-negative `values` over `bins` bins of `width` > 0
    (the last bin also takes the values at its upper edge), each bin summed in the order of
    `values`: ``np.cumsum(np.bincount(index))`` and
    ``np.cumsum(np.bincount(index, weights=values))`` in one pass and no temporaries.
    Negative and NaN values are left out."""
    mass = np.zeros(bins, np.float64)
    moment = np.zeros(bins, np.float64)
    for value in values:
        if not value >= 0.0:
            continue
        k = min(np.int64(value / width), bins - 1)
        mass[k] += 1.0
        moment[k] += value
    for k in range(1, bins):  # sequential, as np.cumsum
        mass[k] += mass[k - 1]
        moment[k] += moment[k - 1]
    return mass, moment


def median_deviation(values: np.ndarray) -> tuple[np.float32, np.float32]:
    """``np.median(values)`` and ``np.median(np.abs(values - that))`` of float32 `values`.

    The same float32 values as NumPy's (the middle two averaged when the number is even;
    NaN when a value is NaN or there is none), about three times faster: each median is
    selected by a sorted regular sample that brackets it, one pass that keeps the values
    between the brackets, and a sort of what is left.
    """
    values = np.ascontiguousarray(values, dtype=np.float32).ravel()
    if values.size == 0:
        return np.float32(np.nan), np.float32(np.nan)
    middle, spread = _median_deviation(values)
    return np.float32(middle), np.float32(spread)


@_compiled
def _median_deviation(values):
    n = values.size
    for i in range(n):
        if values[i] != values[i]:
            return np.float32(np.nan), np.float32(np.nan)
    two = np.float32(2)
    low, high = _kth_pair(values, (n - 1) // 2)
    middle = low if n % 2 else (low + high) / two  # float32, as NumPy's mean of the two
    deviation = np.empty(n, np.float32)
    for i in range(n):
        deviation[i] = abs(values[i] - middle)
    low, high = _kth_pair(deviation, (n - 1) // 2)
    return middle, low if n % 2 else (low + high) / two


@_compiled
def _kth_pair(values, k):
    """The k-th and (k + 1)-th smallest (from 0; the k-th twice when it is the last) of the
    float32 `values` (no NaN)."""
    need = min(k + 1, values.size - 1)
    buffers = (np.empty(values.size, np.float32), np.empty(values.size, np.float32))
    work, which, m = values, 0, 512
    while work.size > 4 * m:
        n = work.size
        # brackets about four standard deviations of the sample's rank either side of k
        sample = np.empty(m, np.float32)
        for i in range(m):
            sample[i] = work[i * (n // m)]
        sample.sort()
        rank = (k * m) // n
        low = sample[rank - 48] if rank > 48 else np.float32(-np.inf)
        high = sample[rank + 49] if rank + 49 < m - 1 else np.float32(np.inf)
        band = buffers[which]
        below = 0
        kept = 0
        for i in range(n):  # branch-free: count those below, keep those between
            value = work[i]
            below += value < low
            band[kept] = value
            kept += (value >= low) & (value <= high)
        if below > k or need >= below + kept or kept == n:
            break  # the brackets missed (rare) or did not narrow (many ties)
        if low == high:
            return low, low
        work, k, need, which = band[:kept], k - below, need - below, 1 - which
    if work.size > 4 * m:  # select in what is left rather than sort it
        chosen = np.partition(work, k)
        return chosen[k], (chosen[k] if need == k else chosen[k + 1 :].min())
    ordered = np.sort(work)
    return ordered[k], ordered[need]


def pairwise_sum(values: np.ndarray) -> float:
    """The sum of the values of `values` in order, as ``np.add.reduce`` over a contiguous
    1-D float64 array computes it, to the last bit: NumPy's pairwise summation (blocks of
    up to 128 summed with eight accumulators, halves at multiples of 8). (NumPy sums a
    2-D or strided array in another order.)"""
    values = np.ascontiguousarray(values, dtype=np.float64).ravel()
    return float(_pairwise_total(values, values.size))


def sum_above(values: np.ndarray, threshold: float, work: np.ndarray) -> tuple[int, float]:
    """Number and sum of the float64 `values` above `threshold`: ``values[values >
    threshold]`` and its ``sum()`` to the last bit, in one pass and a sum over `work` (a
    float64 array at least as long), without the mask and the copy NumPy makes."""
    count = _compact_above(values, float(threshold), work)
    return count, float(_pairwise_total(work, count))


@_compiled
def _compact_above(values, threshold, work):
    count = 0
    for value in values:  # branch-free: every value written, kept ones counted
        work[count] = value
        count += value > threshold
    return count


@_compiled
def _pairwise_total(values, n):
    """The sum of ``values[:n]`` as ``np.add.reduce`` computes it (from 0): halves at
    multiples of 8 down to blocks of at most 128 (:func:`_block_sum`), the two halves'
    sums added. Without recursion (numba cannot cache a recursive function): a stack of
    the halves still open."""
    starts = np.empty(64, np.int64)
    sizes = np.empty(64, np.int64)
    phases = np.empty(64, np.int64)  # 0: left half not done; 1: right not done; 2: both
    lefts = np.empty(64, np.float64)
    starts[0], sizes[0], phases[0] = 0, n, 0
    depth = 1
    result = 0.0
    while depth > 0:
        top = depth - 1
        size = sizes[top]
        if size <= 128:
            result = _block_sum(values, starts[top], size)
            depth -= 1
            continue
        half = size // 2
        half -= half % 8
        if phases[top] == 0:
            phases[top] = 1
            starts[depth], sizes[depth], phases[depth] = starts[top], half, 0
            depth += 1
        elif phases[top] == 1:
            lefts[top] = result
            phases[top] = 2
            starts[depth], sizes[depth], phases[depth] = starts[top] + half, size - half, 0
            depth += 1
        else:
            result = lefts[top] + result
            depth -= 1
    return 0.0 + result


@_inline
def _block_sum(values, start, n):
    """NumPy's pairwise sum of at most 128 values: eight accumulators, then the rest."""
    if n < 8:
        total = 0.0
        for i in range(start, start + n):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    i = start + 8
    end = start + n - n % 8
    while i < end:
        r0 += values[i]
        r1 += values[i + 1]
        r2 += values[i + 2]
        r3 += values[i + 3]
        r4 += values[i + 4]
        r5 += values[i + 5]
        r6 += values[i + 6]
        r7 += values[i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < start + n:
        total += values[i]
        i += 1
    return total


@_compiled
def bin_counts(values, edges):
    """Number of `values` in each bin of the increasing `edges`, each bin holding its lower
    edge and the last one also its upper edge (``np.histogram``'s bins); values outside
    the edges are left out. Every value is placed by comparisons with the edges
    themselves, as NumPy settles its estimate."""
    n_bins = edges.size - 1
    counts = np.zeros(n_bins, np.int64)
    low, high = edges[0], edges[n_bins]
    scale = n_bins / (np.float64(high) - np.float64(low)) if high > low else 0.0
    for value in values.ravel():
        if not (low <= value <= high):
            continue
        k = min(max(np.int64((np.float64(value) - np.float64(low)) * scale), 0), n_bins - 1)
        while k > 0 and value < edges[k]:
            k -= 1
        while k < n_bins - 1 and value >= edges[k + 1]:
            k += 1
        counts[k] += 1
    return counts
