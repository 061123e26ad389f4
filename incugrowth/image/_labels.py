"""Compiled passes over label images: per-label maxima, counts, boxes and contacts,
relabelling, cuts and the merge of shallow neighbours.

Two loops are written out twice on purpose: :func:`cut_below` and :func:`cut_below_within`
share their per-pixel step, but a shared helper (inlined or not) made both five to forty
times slower under numba, so each keeps its own copy.
"""

from __future__ import annotations

import numpy as np

from incugrowth.image._jit import compiled as _compiled
from incugrowth.image._jit import inline as _inline

__all__ = [
    "boundary_pairs",
    "cut_below",
    "cut_below_within",
    "join_shallow",
    "label_count",
    "label_max",
    "object_stats",
    "relabel_max",
]


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
