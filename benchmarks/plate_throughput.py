"""Plate throughput of ``incugrowth count --jobs 2``: this code against a baseline, same run.

    python benchmarks/plate_throughput.py [--sizes 120 240] [--jobs 2] [--baseline 74509b5]
                                          [--repeats 1]

A few distinct simulated 1408 x 1040 red frames (LZW TIFFs, as the simulator writes them)
are copied under new names into folders laid out as a plate is: wells of 4 fields x 25 scans
(100 frames a well), filled in order, so a folder of 240 frames holds two whole wells and 40
frames of a third. Each folder is counted by ``python -m incugrowth count DIR -o counts.csv
--jobs 2`` in a fresh process with a fresh output folder (nothing reused from a journal), once
with this checkout's code and once with the baseline's (the commit given, unpacked with
``git archive`` into a temporary folder), alternating, so both meet the same load on a shared
machine. Each code's compiled loops are made once before timing (a warm-up count of 4 frames).

Printed per size and code: seconds and frames/s; then for each code the marginal rate
between the two largest sizes (frames added over seconds added, which leaves out the start of
the process), the projected time of a 96-well plate of 4 fields x 25 scans (9,600 frames) on
``--jobs`` cores, and the ratio of this code's time to the baseline's (below 1: faster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATE_FRAMES = 96 * 4 * 25
FIELDS, SCANS = 4, 25


def _render_sources(root: Path, k: int = 8) -> list[Path]:
    """A few distinct full-size red frames of the simulator (different wells and times)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sim = root / "sim"
    subprocess.run(
        [sys.executable, "-m", "incugrowth", "simulate", str(sim), "--wells", "B2,B3",
         "--times", "0,48,96,24", "--jobs", "1"],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    frames = sorted((sim / "frames" / "red").glob("*.tif"))[:k]
    if not frames:
        raise SystemExit("the simulator wrote no frames")
    return frames


def _plate_folder(root: Path, n: int, sources: list[Path]) -> Path:
    """`n` frames named as a plate's: well after well, each of FIELDS x SCANS frames."""
    folder = root / f"plate{n}"
    red = folder / "red"
    red.mkdir(parents=True, exist_ok=True)
    wells = [f"{r}{c}" for r in "BCDEFG" for c in range(2, 12)]
    for i in range(n):
        well, rest = divmod(i, FIELDS * SCANS)
        scan, field = divmod(rest, FIELDS)
        hours = 4 * scan
        name = f"PLATE_{wells[well]}_{field + 1}_{hours // 24:02d}d{hours % 24:02d}h00m.tif"
        shutil.copyfile(sources[i % len(sources)], red / name)
    return folder


def _baseline_tree(root: Path, commit: str) -> Path:
    """The package as it was at `commit`, unpacked from this repository."""
    tree = root / f"baseline-{commit}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "incugrowth"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def _count(code: Path, folder: Path, jobs: int, out: Path) -> float:
    """Seconds taken by ``incugrowth count`` of `folder` with the package at `code`."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(code)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "incugrowth", "count", str(folder), "-o", str(out / "c.csv"),
         "--jobs", str(jobs)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"count failed with {code}:\n{proc.stderr[-2000:]}")
    return elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[120, 240])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--baseline", default="74509b5", help="commit of the baseline code")
    ap.add_argument("--repeats", type=int, default=1, help="timings per size and code (min)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="plate_throughput_") as tmp:
        root = Path(tmp)
        sources = _render_sources(root)
        codes = {"baseline": _baseline_tree(root, args.baseline), "current": ROOT}
        warm = _plate_folder(root, 4, sources)
        for code in codes.values():  # compile (or load) each code's loops before timing
            _count(code, warm, args.jobs, root / "out")
        print(
            f"count --jobs {args.jobs}, simulated 1408x1040 LZW frames, wells of "
            f"{FIELDS} fields x {SCANS} scans; baseline {args.baseline}"
        )
        print(f"{'code':9} {'N':>5} {'s':>7} {'frames/s':>9}")
        seconds: dict[str, dict[int, float]] = {name: {} for name in codes}
        for n in args.sizes:
            folder = _plate_folder(root, n, sources)
            for _ in range(args.repeats):
                for name, code in codes.items():  # alternating: both meet the same load
                    s = _count(code, folder, args.jobs, root / "out")
                    seconds[name][n] = min(seconds[name].get(n, float("inf")), s)
            for name in codes:
                s = seconds[name][n]
                print(f"{name:9} {n:>5} {s:>7.1f} {n / s:>9.2f}")
        small, large = sorted(args.sizes)[-2:] if len(args.sizes) > 1 else (0, args.sizes[0])
        projected = {}
        for name in codes:
            added = seconds[name][large] - seconds[name].get(small, 0.0)
            rate = (large - small) / added
            fixed = seconds[name][large] - large / rate
            projected[name] = fixed + PLATE_FRAMES / rate
            print(
                f"{name}: {rate:.2f} frames/s between N={small} and N={large}; a plate of "
                f"{PLATE_FRAMES} frames in {projected[name] / 60:.1f} min on {args.jobs} cores"
            )
        ratio = projected["current"] / projected["baseline"]
        walls = [seconds["current"][n] / seconds["baseline"][n] for n in args.sizes]
        print(
            f"time current/baseline: plate {ratio:.2f}; "
            + ", ".join(f"N={n} {w:.2f}" for n, w in zip(args.sizes, walls))
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
