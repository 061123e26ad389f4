"""Colony layout: one growing sequence of nuclei per well and field, shared by all times."""

from __future__ import annotations

import numpy as np

from incugrowth.errors import IncugrowthError
from incugrowth.simulate._common import _STREAM_LAYOUT, _rng

# Nucleus geometry: equivalent radius (px) and axis ratio; pairs closer than MIN_SEPARATION
# times the sum of their radii are never placed, so nuclei touch but rarely overlap.
NUCLEUS_RADIUS = 6.0
NUCLEUS_RADIUS_SD = 0.1
NUCLEUS_RADIUS_RANGE = (5.0, 7.5)
MIN_SEPARATION = 0.85

# Lognormal SD of the nuclei's brightness (red channel), drawn with their looks.
RED_BRIGHTNESS_SD = 0.25


def _grow_layout(rng, n_total: int, n_founders: int, shape, brightness: np.ndarray) -> dict:
    """Positions of ``n_total`` nuclei; any prefix is a valid earlier frame.

    The random draws of each batch depend only on how many nuclei exist at its start, so the
    sequence for a smaller ``n_total`` is exactly a prefix of the one for a larger. Two nuclei
    keep ``MIN_SEPARATION`` times their summed radii apart, more when their brightness differs
    (a dim nucleus right beside a bright one would lose its own intensity peak).
    """
    from scipy.spatial import cKDTree

    h, w = shape
    margin = 2.0
    cap = max(n_total, 1)
    ys = np.empty(cap)
    xs = np.empty(cap)
    rs = np.empty(cap)
    parent = np.full(cap, -1, dtype=np.int64)
    log_b = np.log(brightness)
    widen = 0.3  # separation grows by this much per unit of |log brightness ratio|
    max_widen = 1.0 + widen * (log_b.max() - log_b.min()) if n_total else 1.0
    n = 0
    lo, hi = NUCLEUS_RADIUS_RANGE

    def radii(m):
        return np.clip(NUCLEUS_RADIUS * np.exp(NUCLEUS_RADIUS_SD * rng.normal(size=m)), lo, hi)

    founders = min(max(n_founders, 1), n_total)
    stalled = 0
    while n < n_total:
        m = max(8, n // 8)
        r_new = radii(m)
        u = rng.random((m, 2))
        if n < founders:
            cy = margin + u[:, 0] * (h - 2 * margin)
            cx = margin + u[:, 1] * (w - 2 * margin)
            par = np.full(m, -1)
        else:
            par = rng.integers(0, n, m)
            # A few cells settle away from any colony (migration), and all do when crowded.
            lone = rng.random(m) < (0.04 if stalled < 3 else 1.0)
            dist = (rs[par] + r_new) * (1.0 + 1.1 * u[:, 0])
            theta = 2.0 * np.pi * u[:, 1]
            cy = np.where(lone, margin + rng.random(m) * (h - 2 * margin),
                          ys[par] + dist * np.sin(theta))  # fmt: skip
            cx = np.where(lone, margin + rng.random(m) * (w - 2 * margin),
                          xs[par] + dist * np.cos(theta))  # fmt: skip
            par = np.where(lone, -1, par)
        inside = (cy >= margin) & (cy <= h - 1 - margin) & (cx >= margin) & (cx <= w - 1 - margin)
        if n:
            tree = cKDTree(np.column_stack([ys[:n], xs[:n]]))
            reach = MIN_SEPARATION * (r_new + rs[:n].max()) * max_widen
            near = tree.query_ball_point(np.column_stack([cy, cx]), reach)
        accepted = 0
        start = n
        for j in range(m):
            if n >= n_total:
                break
            if not inside[j]:
                continue
            if start:
                idx = near[j]
                if idx:
                    idx = np.asarray(idx)
                    d2 = (ys[idx] - cy[j]) ** 2 + (xs[idx] - cx[j]) ** 2
                    sep = (rs[idx] + r_new[j]) * (1.0 + widen * np.abs(log_b[idx] - log_b[n]))
                    if np.any(d2 < (MIN_SEPARATION * sep) ** 2):
                        continue
            if n > start:
                d2 = (ys[start:n] - cy[j]) ** 2 + (xs[start:n] - cx[j]) ** 2
                ratio = np.abs(log_b[start:n] - log_b[n])
                sep = (rs[start:n] + r_new[j]) * (1.0 + widen * ratio)
                if np.any(d2 < (MIN_SEPARATION * sep) ** 2):
                    continue
            if start < founders and n >= founders:
                break  # founders come first: start the colonies in the next batch
            ys[n], xs[n], rs[n], parent[n] = cy[j], cx[j], r_new[j], par[j]
            n += 1
            accepted += 1
        stalled = 0 if accepted else stalled + 1
        if stalled > 50:
            raise IncugrowthError(
                f"cannot place {n_total} nuclei in a {h} x {w} frame: lower the capacity"
            )
    k = n_total
    return {"y": ys[:k], "x": xs[:k], "radius": rs[:k], "parent": parent[:k]}


def _layout_for(seed: int, code: int, field_: int, n_total: int, n_founders: int, shape):
    """The layout of a well and field, with each nucleus's looks (shape, brightness, cell)."""
    # Looks are drawn in fixed blocks of 256 nuclei so they do not depend on n_total.
    k = n_total
    blocks = -(-k // 256) if k else 0
    looks = {name: [] for name in ("aspect", "angle", "brightness", "cell_scale", "cell_aspect")}
    for b in range(blocks):
        g = _rng(seed, _STREAM_LAYOUT, code, field_, 1_000_000 + b)
        looks["aspect"].append(1.0 + np.minimum(np.abs(g.normal(0.0, 0.15, 256)), 0.45))
        looks["angle"].append(g.uniform(0.0, np.pi, 256))
        looks["brightness"].append(
            np.exp(np.clip(RED_BRIGHTNESS_SD * g.normal(size=256), -0.7, 0.7))
        )
        looks["cell_scale"].append(g.uniform(2.2, 3.2, 256))
        looks["cell_aspect"].append(1.0 + np.abs(g.normal(0.0, 0.5, 256)))
    looks = {name: np.concatenate(p)[:k] if p else np.empty(0) for name, p in looks.items()}
    rng = _rng(seed, _STREAM_LAYOUT, code, field_)
    layout = _grow_layout(rng, n_total, n_founders, shape, looks["brightness"])
    return {**layout, **looks}
