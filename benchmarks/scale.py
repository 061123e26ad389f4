"""Frames per second and peak memory of batch counting as the number of frames grows.

    python benchmarks/scale.py [--sizes 40 80 160 320] [--jobs 2] [--dask] [--phase]
                               [--shape 1040x1408]

A simulated plate is rendered once (a few distinct frames at full IncuCyte size), then copied
under new names to make folders of N frames. Each N is counted in a fresh process so that its
peak resident memory (this process and its worker processes) is measured on its own. Memory
must stay flat as N grows: the last column gives the peak relative to the smallest N.
With ``--dask`` the same frames are also counted on a 2-worker ``LocalCluster`` and the ratio
of frames/s (Dask / local processes) is printed. With ``--phase`` each fluorescence frame
has its phase-contrast frame beside it, as in an export of both channels, and the phase
confluence is measured too (frames/s then counts well x field x time points, one of each).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _make_frames(root: Path, n: int, source: list[Path], phase: bool = False) -> Path:
    folder = root / f"n{n}" / "red"
    folder.mkdir(parents=True, exist_ok=True)
    if phase:
        (folder.parent / "phase").mkdir(exist_ok=True)
    wells = [f"{r}{c}" for r in "BCDEFG" for c in range(2, 12)]
    for i in range(n):
        well = wells[i % len(wells)]
        t = i // len(wells)
        name = f"SCALE_{well}_1_{t // 24:02d}d{t % 24:02d}h00m.tif"
        shutil.copyfile(source[i % len(source)], folder / name)
        if phase:  # the simulator writes each phase frame under the same name
            original = source[i % len(source)]
            shutil.copyfile(
                original.parent.parent / "phase" / original.name, folder.parent / "phase" / name
            )
    return folder.parent


def _render_sources(root: Path, shape: tuple[int, int], k: int) -> list[Path]:
    from incugrowth.simulate import simulate_experiment

    sim = root / "sim"
    simulate_experiment(
        sim, design="fig4", seed=7, frame_shape=shape, times=[0.0, 48.0, 96.0],
        wells=["B2", "B3", "C2", "C3"][: max(1, k // 3)], progress=False,
    )  # fmt: skip
    frames = sorted((sim / "frames" / "red").glob("*.tif"))
    if not frames:
        raise SystemExit("the simulator wrote no frames")
    return frames


class _DescendantPeak(threading.Thread):
    """Largest peak resident memory (VmHWM) of any descendant process, polled from /proc.

    ``RUSAGE_CHILDREN`` counts only children that have ended and been waited for (Dask's
    workers end after this process reads it); each process's own peak counter is always there.
    """

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval, self.peak_kb, self.stopped = interval, 0, threading.Event()

    def run(self):
        while not self.stopped.wait(self.interval):
            self.poll()

    def poll(self):
        parents = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                parents[int(stat.parent.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
        me = os.getpid()
        for pid in parents:
            ancestor = parents.get(pid)
            while ancestor is not None and ancestor != me:
                ancestor = parents.get(ancestor)
            if ancestor != me:
                continue
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))

    def stop(self) -> int:
        self.poll()
        self.stopped.set()
        return self.peak_kb


def _one(folder: str, jobs: int, scheduler: str | None) -> dict:
    """Count one folder in this process; print a JSON line with the figures."""
    from incugrowth.batch import count_folder

    watcher = _DescendantPeak()
    watcher.start()
    t0 = time.perf_counter()
    confluence = (Path(folder) / "phase").is_dir()
    if scheduler == "local-cluster":
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=jobs, threads_per_worker=1, dashboard_address=":0") as cl,
            Client(cl) as client,
        ):
            t0 = time.perf_counter()
            counts = count_folder(folder, scheduler=client, confluence=confluence)
    else:
        counts = count_folder(folder, jobs=jobs, confluence=confluence)
    elapsed = time.perf_counter() - t0
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, watcher.stop())
    return {
        "frames": len(counts),
        "seconds": elapsed,
        "frames_per_s": len(counts) / elapsed,
        "peak_main_mb": self_kb / 1024,
        "peak_worker_mb": child_kb / 1024,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[40, 80, 160, 320])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--shape", default="1040x1408", help="HEIGHTxWIDTH of the frames")
    ap.add_argument("--dask", action="store_true", help="also count on a 2-worker LocalCluster")
    ap.add_argument(
        "--phase", action="store_true", help="a phase frame beside each one; confluence too"
    )
    ap.add_argument(
        "--one", nargs=3, metavar=("FOLDER", "JOBS", "SCHEDULER"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args.one:
        folder, jobs, scheduler = args.one
        print(json.dumps(_one(folder, int(jobs), None if scheduler == "none" else scheduler)))
        return 0

    shape = tuple(int(v) for v in args.shape.lower().split("x"))
    modes = [("local", "none")] + ([("dask", "local-cluster")] if args.dask else [])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sources = _render_sources(root, shape, 12)
        channels = "fluorescence and phase" if args.phase else "fluorescence"
        print(
            f"frames {shape[1]}x{shape[0]} ({channels}), {len(sources)} distinct, jobs={args.jobs}"
        )
        print(
            f"{'mode':6} {'N':>6} {'s':>8} {'frames/s':>9} {'main MB':>8} {'worker MB':>9} "
            f"{'mem vs smallest':>15}"
        )
        rates: dict[str, dict[int, float]] = {}
        for mode, sched in modes:
            first_peak = None
            for n in args.sizes:
                folder = _make_frames(root, n, sources, args.phase)
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", str(folder), str(args.jobs), sched],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                peak = r["peak_main_mb"] + r["peak_worker_mb"]
                first_peak = first_peak or peak
                rates.setdefault(mode, {})[n] = r["frames_per_s"]
                print(
                    f"{mode:6} {n:>6} {r['seconds']:>8.1f} {r['frames_per_s']:>9.2f} "
                    f"{r['peak_main_mb']:>8.0f} {r['peak_worker_mb']:>9.0f} "
                    f"{peak / first_peak:>15.2f}"
                )
        if args.dask:
            n = args.sizes[-1]
            print(f"dask/local frames/s at N={n}: {rates['dask'][n] / rates['local'][n]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
