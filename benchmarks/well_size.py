"""Per-frame against well-level nucleus size on an annotated time-lapse: counts and percent change.

    python benchmarks/well_size.py /work/shared/data/timelapse-dev [--jobs 2]

The folder holds ``images/`` (TIFF or PNG) and ``counts.csv`` with ``image``, ``n_nuclei``,
``sequence`` and ``frame`` (a sequence is one well's time-lapse). Each image is counted twice:

- per frame: ``count_nuclei(image)``, the size estimated on the frame itself (what the
  batch path did before it sized wells);
- well-level: by the batch path itself (:func:`incugrowth.batch.count_folder`), on links to
  the images named as an IncuCyte export (sequence ``k`` as well ``A<k>``, frame ``t`` at
  ``t`` hours), so the size is the one the batch path gives the well (a sample of its
  frames, the median of those that agree).

Printed for each: the median absolute count error over all frames (percent), and for each
sequence the size used, the percent change from its first to its last frame against the
truth (points off); then the batch path's table of well sizes. The last line is
``pct_change_error_points=<per frame>/<well>`` per sequence.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from multiprocessing import Pool
from pathlib import Path

import pandas as pd

from incugrowth.batch import count_folder, single_threaded_opencv, size_table
from incugrowth.errors import IncugrowthWarning


def _image_path(root: Path, name: str) -> Path:
    for ext in (".tif", ".tiff", ".png"):
        path = root / "images" / f"{name}{ext}"
        if path.exists():
            return path
    raise SystemExit(f"{root / 'images'}: no image named {name}")


def _per_frame(path: str) -> tuple[int, float]:
    import cv2

    from incugrowth.frames import read_frame
    from incugrowth.image import count_nuclei, estimate_diameter

    cv2.setNumThreads(1)
    image = read_frame(path)
    return count_nuclei(image), estimate_diameter(image)


def _as_export(table: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """Links to the images named as IncuCyte frames; returns well and hour of each."""
    red = folder / "red"
    red.mkdir(parents=True)
    wells, hours = [], []
    for path, seq, frame in zip(table["path"], table["sequence"], table["frame"], strict=True):
        well, hour = f"A{int(seq)}", int(frame)
        name = f"SEQ_{well}_1_{hour // 24:02d}d{hour % 24:02d}h00m{Path(path).suffix}"
        (red / name).symlink_to(Path(path).resolve())
        wells.append(well)
        hours.append(float(hour))
    return table.assign(well=wells, elapsed_h=hours)


def _pct_change(group: pd.DataFrame, col: str) -> float:
    ordered = group.sort_values("frame")
    return 100 * (ordered[col].iloc[-1] / ordered[col].iloc[0] - 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    table = pd.read_csv(args.folder / "counts.csv", dtype={"sequence": str, "image": str})
    if not {"sequence", "frame"} <= set(table.columns):
        raise SystemExit(f"{args.folder / 'counts.csv'}: no sequence and frame columns")
    table["path"] = [str(_image_path(args.folder, n)) for n in table["image"]]
    with single_threaded_opencv(), Pool(args.jobs) as pool:
        own = pool.map(_per_frame, table["path"], chunksize=4)
    table["per_frame"] = [c for c, _ in own]
    table["frame_px"] = [d for _, d in own]
    with tempfile.TemporaryDirectory() as tmp:
        table = _as_export(table, Path(tmp) / "export")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IncugrowthWarning)  # the uncertain wells: below
            counts = count_folder(Path(tmp) / "export", jobs=args.jobs, confluence=False)
    keyed = counts.set_index(["well", "elapsed_h"])
    table["well_level"] = [
        keyed.loc[(w, h), "count"] for w, h in zip(table["well"], table["elapsed_h"])
    ]
    table["well_px"] = [
        keyed.loc[(w, h), "diameter_px"] for w, h in zip(table["well"], table["elapsed_h"])
    ]
    print(f"{args.folder}: {len(table)} frames, {table['sequence'].nunique()} sequences")
    errors = {}
    for col, label in (("per_frame", "per-frame size"), ("well_level", "well-level size")):
        err = 100 * (table[col] / table["n_nuclei"] - 1).abs()
        bias = 100 * (table[col].sum() / table["n_nuclei"].sum() - 1)
        print(f"{label}: median count error {err.median():.1f} %, total bias {bias:+.1f} %")
        for seq, group in table.groupby("sequence"):
            truth, got = _pct_change(group, "n_nuclei"), _pct_change(group, col)
            errors.setdefault(seq, []).append(got - truth)
            px = group["frame_px"] if col == "per_frame" else group["well_px"]
            sizes = f"{px.min():.1f}-{px.max():.1f}" if px.nunique() > 1 else f"{px.iloc[0]:.1f}"
            print(
                f"  sequence {seq}: size {sizes} px; percent change {got:+.0f} % "
                f"(true {truth:+.0f} %, {got - truth:+.0f} points)"
            )
    sizes = size_table(counts)
    for row in sizes.itertuples():
        print(
            f"  well {row.well}: {row.diameter_px:.1f} px from {row.source}, "
            f"{row.n_estimated} frames estimated, spread {row.spread:.2f}, "
            f"{row.frames_flagged} flagged size_disagrees, uncertain: {bool(row.uncertain)}"
        )
    summary = " ".join(f"{s}:{a:+.0f}/{b:+.0f}" for s, (a, b) in errors.items())
    print(f"pct_change_error_points={summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
