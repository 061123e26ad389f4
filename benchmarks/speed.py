"""Time ``incugrowth.image.count_nuclei`` against the scikit-image gallery recipe.

Both run on the same frames in the same process, ours on every frame set first (as in a
process that only counts), then the gallery recipe: synthetic IncuCyte-like frames
(1408 x 1040, 16-bit, nuclei about 12 px across, from a few hundred to a few thousand nuclei)
and, when a dataset folder is given (laid out as for ``accuracy.py``), up to ``--limit`` of
its images. Printed: milliseconds per megapixel for both, and their ratio
(ours / gallery), per frame set; the best of ``--repeat`` runs counts for each frame. Both
run on one core (OpenCV's threads are switched off), in a process that keeps the memory it
frees (``incugrowth.batch.reuse_freed_memory``), as the command line and the batch workers
do; ``--fresh-memory`` leaves the allocator's defaults.

``--baseline DIR`` also times the counter of another checkout (a folder holding its
``incugrowth`` package, e.g. an earlier commit unpacked with ``git archive``) on the same
frames, in a child process started between ours and the gallery recipe, and prints the ratio
of our time to its (below 1: faster).

Usage::

    python benchmarks/speed.py [/work/shared/data/nuclei-dev] [--limit 40] [--repeat 3]
    python benchmarks/speed.py --baseline /tmp/incugrowth-74509b5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from accuracy import gallery_segment, read_image  # noqa: I001 (a sibling script)
from scipy import ndimage as ndi

from incugrowth.batch import reuse_freed_memory
from incugrowth.image import count_nuclei

FRAME_SHAPE = (1040, 1408)


def incucyte_frame(n_nuclei: int, seed: int = 0) -> np.ndarray:
    """Synthetic 16-bit fluorescence frame: soft nuclei of about 12 px on uneven background."""
    rng = np.random.default_rng(seed)
    height, width = FRAME_SHAPE
    spots = np.zeros(FRAME_SHAPE)
    ys = rng.integers(0, height, n_nuclei)
    xs = rng.integers(0, width, n_nuclei)
    np.add.at(spots, (ys, xs), rng.uniform(0.4, 1.0, n_nuclei))
    radius = rng.uniform(5, 7, 1)[0]
    yy, xx = np.mgrid[-8:9, -8:9]
    kernel = (np.hypot(yy, xx) <= radius).astype(float)
    nuclei = ndi.gaussian_filter(ndi.convolve(spots, kernel, mode="constant"), 1.2)
    ramp = np.linspace(0.05, 0.15, width)[None, :] * np.ones((height, 1))
    frame = 1500 * nuclei + 4000 * ramp + 60 * rng.standard_normal(FRAME_SHAPE) + 300
    return np.clip(frame, 0, 65535).astype(np.uint16)


def best_time(function, image, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        function(image)
        best = min(best, time.perf_counter() - t0)
    return best


def ours(image):
    return count_nuclei(image)


def gallery(image):
    return int(gallery_segment(image).max())


def total_time(function, frames, repeat: int) -> float:
    return sum(best_time(function, image, repeat) for image in frames)


def row(name: str, frames, t_ours: float, t_gallery: float) -> dict:
    mpix = sum(image.size for image in frames) / 1e6
    return {
        "frames": name,
        "n": len(frames),
        "ours_ms_per_mpix": 1000 * t_ours / mpix,
        "gallery_ms_per_mpix": 1000 * t_gallery / mpix,
        "ratio": t_ours / t_gallery,
        "ours_ms_per_frame": 1000 * t_ours / len(frames),
    }


def _baseline_times(args) -> dict:
    """Our timings of the same frame sets with the counter of ``args.baseline``: this
    script run again in a child process whose ``incugrowth`` is that checkout's."""
    command = [sys.executable, __file__, "--ours-only", "--repeat", str(args.repeat)]
    if args.dataset is not None:
        command += [str(args.dataset), "--limit", str(args.limit)]
    if args.fresh_memory:
        command.append("--fresh-memory")
    here = str(Path(__file__).parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(args.baseline), here]))
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, nargs="?", help="folder with images/")
    parser.add_argument("--limit", type=int, default=40, help="dataset images to time")
    parser.add_argument("--repeat", type=int, default=3, help="runs per frame (best counts)")
    parser.add_argument(
        "--fresh-memory", action="store_true", help="keep the allocator's default settings"
    )
    parser.add_argument("--baseline", type=Path, help="checkout whose counter is timed too")
    parser.add_argument("--ours-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # one core for both (scipy and scikit-image use one already)
    if not args.fresh_memory:
        reuse_freed_memory()

    sets = {f"incucyte-like {n} nuclei": [incucyte_frame(n, seed=n)] for n in (300, 1000, 3000)}
    if args.dataset is not None:
        paths = sorted((args.dataset / "images").iterdir())
        step = max(1, len(paths) // args.limit)
        sets[args.dataset.name] = [read_image(p) for p in paths[::step][: args.limit]]
    # ours on every set first, as in a process that only counts; then the gallery recipe
    t_ours = {name: total_time(ours, frames, args.repeat) for name, frames in sets.items()}
    if args.ours_only:  # the child of --baseline: times only, for the parent
        print(json.dumps(t_ours))
        return 0
    t_base = _baseline_times(args) if args.baseline else None
    t_gallery = {name: total_time(gallery, frames, args.repeat) for name, frames in sets.items()}
    rows = [row(name, frames, t_ours[name], t_gallery[name]) for name, frames in sets.items()]
    table = pd.DataFrame(rows)
    if t_base is not None:
        table["baseline_ms_per_frame"] = [
            1000 * t_base[name] / len(frames) for name, frames in sets.items()
        ]
        table["ours_to_baseline"] = [t_ours[name] / t_base[name] for name in sets]
    with pd.option_context("display.width", 120, "display.float_format", "{:.2f}".format):
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
