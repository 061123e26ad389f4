"""The watershed flood (compiled): labels, peaks and contacts of its regions, and the passes
that visit only the flooded parts of the frame."""

from __future__ import annotations

import cv2
import numpy as np

from incugrowth.image._jit import compiled as _compiled
from incugrowth.image._jit import inline as _inline
from incugrowth.image._labels import (
    _contact_values,
    _grow_box,
    _int32,
    _new_boxes,
    _pairs,
    _pixel_contacts,
)

__all__ = ["flood", "flood_regions", "pairs_within", "relabel_within"]


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
