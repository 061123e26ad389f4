"""Compiled sums, histograms and medians: the histograms of Li's and Otsu's thresholds,
NumPy's pairwise sum to the last bit, and fast exact medians."""

from __future__ import annotations

import numpy as np

from incugrowth.image._jit import compiled as _compiled
from incugrowth.image._jit import inline as _inline

__all__ = ["bin_counts", "histogram_sums", "median_deviation", "pairwise_sum", "sum_above"]


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
