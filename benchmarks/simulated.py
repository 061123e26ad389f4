"""Count error on simulated IncuCyte frames, from sparse to confluent, against the known truth.

    python benchmarks/simulated.py [--counts 100 300 1000 2000 4000 6000] [--repeats 2]

Frames are rendered by the plate simulator at full IncuCyte size (1408 x 1040, nuclei 10-15 px
across at 10x, clustered colonies, touching nuclei at high density, dividing cells, uneven
illumination, noise, debris). For each density the script prints the true count, our count
(``diameter=None``), the signed error, and the same for the scikit-image gallery recipe, so the
two are compared in the same run. Its last line is ``max_abs_error_pct=<x>`` for our counter.
The target is an error of at most 3 % up to confluence.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main(argv=None) -> int:
    from accuracy import gallery_segment  # the same baseline as the accuracy benchmark

    from incugrowth.image import count_nuclei
    from incugrowth.simulate import synthetic_frame

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[100, 300, 1000, 2000, 4000, 6000])
    ap.add_argument("--repeats", type=int, default=2, help="frames (seeds) per density")
    ap.add_argument("--shape", default="1040x1408", help="HEIGHTxWIDTH")
    args = ap.parse_args(argv)
    shape = tuple(int(v) for v in args.shape.lower().split("x"))

    print(f"{'true':>6} {'ours':>7} {'err %':>7} {'s':>5} {'gallery':>8} {'err %':>7}")
    worst = 0.0
    for n in args.counts:
        truth_total = ours_total = base_total = 0
        seconds = 0.0
        for seed in range(args.repeats):
            image, truth = synthetic_frame(n, shape=shape, seed=seed)
            t0 = time.perf_counter()
            ours_total += count_nuclei(image)
            seconds += time.perf_counter() - t0
            base_total += int(np.max(gallery_segment(image)))
            truth_total += len(truth)
        err = 100 * (ours_total / truth_total - 1)
        base_err = 100 * (base_total / truth_total - 1)
        worst = max(worst, abs(err))
        print(
            f"{truth_total / args.repeats:>6.0f} {ours_total / args.repeats:>7.1f} {err:>+7.2f} "
            f"{seconds / args.repeats:>5.2f} {base_total / args.repeats:>8.1f} {base_err:>+7.2f}"
        )
    print(f"max_abs_error_pct={worst:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
