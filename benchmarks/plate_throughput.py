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

Printed per size and code: wall seconds and frames/s, and the CPU seconds of the count and
its worker processes (per frame); then for each code the projected time of a 96-well plate
of 4 fields x 25 scans (9,600 frames) on ``--jobs`` free cores (CPU time per frame at the
largest size, divided by the cores: on a loaded machine wall time measures the load), and
the ratios of this code's CPU and wall times to the baseline's (below 1: faster).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _count(code: Path, folder: Path, jobs: int, out: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the process and its workers) taken by
    ``incugrowth count`` of `folder` with the package at `code`."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(code)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "incugrowth", "count", str(folder), "-o", str(out / "c.csv"),
         "--jobs", str(jobs)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"count failed with {code}:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


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
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(
            f"{'code':9} {'N':>5} {'wall s':>7} {'frames/s':>9} {'CPU s':>7} {'CPU ms/frame':>12}"
        )
        wall: dict[str, dict[int, float]] = {name: {} for name in codes}
        cpu: dict[str, dict[int, float]] = {name: {} for name in codes}
        for n in args.sizes:
            folder = _plate_folder(root, n, sources)
            for _ in range(args.repeats):
                for name, code in codes.items():  # alternating: both meet the same load
                    w, c = _count(code, folder, args.jobs, root / "out")
                    wall[name][n] = min(wall[name].get(n, float("inf")), w)
                    cpu[name][n] = min(cpu[name].get(n, float("inf")), c)
            for name in codes:
                w, c = wall[name][n], cpu[name][n]
                print(f"{name:9} {n:>5} {w:>7.1f} {n / w:>9.2f} {c:>7.1f} {1000 * c / n:>12.0f}")
        print(f"load average {os.getloadavg()[0]:.1f}")
        n = max(args.sizes)
        for name in codes:
            # CPU time is what the frames cost, whatever else runs on the machine; on
            # `jobs` cores of their own they take that divided by `jobs`
            per_frame = cpu[name][n] / n
            print(
                f"{name}: {1 / per_frame:.2f} frames/s per core at N={n} (CPU time); a plate of "
                f"{PLATE_FRAMES} frames in {PLATE_FRAMES * per_frame / args.jobs / 60:.1f} min "
                f"on {args.jobs} free cores"
            )
        ratios = ", ".join(
            f"N={n} CPU {cpu['current'][n] / cpu['baseline'][n]:.2f} "
            f"wall {wall['current'][n] / wall['baseline'][n]:.2f}"
            for n in args.sizes
        )
        print(f"time current/baseline (below 1: faster): {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
