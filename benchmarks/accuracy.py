"""Count accuracy of ``incugrowth.image.count_nuclei`` on a folder of annotated images.

The folder holds ``images/`` (PNG or TIFF), optional ``labels/`` (one instance label image per
image, same stem, ``.tif``) and ``counts.csv`` with at least ``image,n_nuclei``. Every image is
counted with ``diameter=None`` (no per-image tuning) by our counter and by the scikit-image
gallery recipe ("Segment human cells (in mitosis)": lower multi-Otsu threshold, distance
transform, ``peak_local_max``, watershed), in the same run.

Printed per size group (median equivalent diameter of the true nuclei, or of our estimate when
there are no labels), for each half of the images sorted by name (even indices: development half,
odd indices: held-out half) and overall: median and mean absolute percentage count error, total
count bias and the F1 of matched nuclei at IoU 0.5; then 95 % bootstrap intervals (images
resampled) of the overall median error and bias. When ``counts.csv`` has a ``sequence``
column (time-lapse frames, with ``frame`` their order), also per sequence: the median error,
and the percent change of the count from the first to the last frame, ours and true, and the
difference in points (the number a growth study reports). The last line is
``median_ape=<x> bias=<y> f1=<z>`` for our counter.

The nucleus size: by default each frame's own estimate (``diameter=None``, as
``count_nuclei`` does frame by frame); ``--size sequence`` counts every frame of a sequence
with one size, the median of its frames' estimates (:func:`sequence_diameter`);
``--diameter D`` gives every frame the size ``D``.

Usage::

    python benchmarks/accuracy.py /work/shared/data/nuclei-dev [--limit N] [--jobs 2]
    python benchmarks/accuracy.py /work/shared/data/timelapse-dev --size sequence
    python benchmarks/accuracy.py /work/shared/data/timelapse-dev --diameter 60
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from scipy import ndimage as ndi
from skimage import io
from skimage.feature import peak_local_max
from skimage.filters import threshold_multiotsu
from skimage.measure import label
from skimage.segmentation import watershed
from skimage.util import img_as_float

from incugrowth.batch import single_threaded_opencv
from incugrowth.image import estimate_diameter, segment_nuclei

SIZE_GROUPS = ((0.0, 20.0, "<20 px"), (20.0, 40.0, "20-40 px"), (40.0, np.inf, ">40 px"))


def gallery_segment(image: np.ndarray) -> np.ndarray:
    """The scikit-image gallery recipe for counting nuclei, used as the baseline.

    As in "Segment human cells (in mitosis)": nuclei are the pixels above the lower of two
    multi-Otsu thresholds, split by a watershed of the distance transform from its peaks at
    least 7 px apart.
    """
    image = img_as_float(image)
    cells = image > threshold_multiotsu(image, classes=3)[0]
    distance = ndi.distance_transform_edt(cells)
    coords = peak_local_max(distance, min_distance=7, exclude_border=False)
    peaks = np.zeros(distance.shape, dtype=bool)
    peaks[tuple(coords.T)] = True
    markers = label(peaks)
    return watershed(-distance, markers, mask=cells)


def read_image(path: Path) -> np.ndarray:
    """Read one frame as a 2-D array (colour images become their channel maximum)."""
    image = tifffile.imread(path) if path.suffix.lower() in {".tif", ".tiff"} else io.imread(path)
    if image.ndim == 3:
        image = image[..., :3].max(axis=-1)
    return image


def match_counts(truth: np.ndarray, pred: np.ndarray) -> tuple[int, int, int]:
    """Numbers of true objects, predicted objects and matches at IoU > 0.5 (one-to-one)."""
    truth = label(truth > 0) if truth.max() == 1 else truth
    t_ids, t_inv = np.unique(truth, return_inverse=True)
    p_ids, p_inv = np.unique(pred, return_inverse=True)
    t_inv, p_inv = t_inv.ravel(), p_inv.ravel()
    n_t, n_p = t_ids.size, p_ids.size
    joint = np.bincount(t_inv * n_p + p_inv, minlength=n_t * n_p).reshape(n_t, n_p)
    area_t = joint.sum(axis=1)
    area_p = joint.sum(axis=0)
    tt, pp = np.nonzero(joint)
    keep = (t_ids[tt] > 0) & (p_ids[pp] > 0)
    tt, pp = tt[keep], pp[keep]
    inter = joint[tt, pp]
    iou = inter / (area_t[tt] + area_p[pp] - inter)
    return int((t_ids > 0).sum()), int((p_ids > 0).sum()), int((iou > 0.5).sum())


def estimate_one(task: tuple) -> float:
    """The frame's own diameter estimate."""
    return estimate_diameter(read_image(Path(task[1])))


def sequence_diameter(estimates: np.ndarray) -> float:
    """One size for all frames of a sequence: the median of their own estimates (NaN left
    out)."""
    estimates = np.asarray(estimates, dtype=float)
    estimates = estimates[np.isfinite(estimates)]
    return float(np.median(estimates)) if estimates.size else float("nan")


def evaluate_one(task: tuple) -> dict:
    """Count one image with both methods (ours with the diameter given in the task, or the
    frame's own estimate when it is None; the gallery recipe unless the task says not);
    return a row of results."""
    name, image_path, label_path, n_true, diameter, *rest = task
    methods = ("ours", "gallery") if not rest or rest[0] else ("ours",)
    image = read_image(Path(image_path))
    row = {"image": name, "n_true": n_true, "pixels": image.size}
    t0 = time.perf_counter()
    own = estimate_diameter(image)
    row["diameter_own"] = own
    if diameter is None:
        diameter = own
    ours = segment_nuclei(image, diameter=diameter)
    row["seconds"] = time.perf_counter() - t0
    labels = {"ours": ours}
    if "gallery" in methods:
        labels["gallery"] = gallery_segment(image)
    row["diameter_est"] = diameter
    for key, pred in labels.items():
        row[f"n_{key}"] = int(np.unique(pred[pred > 0]).size)
    if label_path is not None:
        truth = tifffile.imread(label_path)
        areas = np.bincount(truth.ravel())[1:]
        areas = areas[areas > 0]
        row["diameter_true"] = float(np.median(2 * np.sqrt(areas / np.pi))) if areas.size else 0.0
        for key, pred in labels.items():
            _, _, row[f"tp_{key}"] = match_counts(truth, pred)
    return row


def summarise(rows: pd.DataFrame, key: str) -> dict:
    """Median and mean absolute percentage error, total bias and pooled F1 for one method."""
    n_true = rows["n_true"].to_numpy(float)
    n_pred = rows[f"n_{key}"].to_numpy(float)
    ape = 100 * np.abs(n_pred - n_true) / np.maximum(n_true, 1)
    out = {
        "n": len(rows),
        "median_ape": float(np.median(ape)) if len(rows) else np.nan,
        "mean_ape": float(np.mean(ape)) if len(rows) else np.nan,
        "bias": float(100 * (n_pred.sum() / max(n_true.sum(), 1) - 1)),
        "f1": np.nan,
    }
    if f"tp_{key}" in rows:
        tp = rows[f"tp_{key}"].sum()
        out["f1"] = float(2 * tp / max(n_true.sum() + rows[f"n_{key}"].sum(), 1))
    return out


def bootstrap_intervals(results: pd.DataFrame, key: str, rounds: int = 2000) -> dict:
    """95 % bootstrap intervals (images resampled with replacement, fixed seed) of the
    median absolute percentage error and of the total bias: how far the headline figures
    could move on another set of images like these."""
    n_true = results["n_true"].to_numpy(float)
    n_pred = results[f"n_{key}"].to_numpy(float)
    ape = 100 * np.abs(n_pred - n_true) / np.maximum(n_true, 1)
    pick = np.random.default_rng(0).integers(0, len(results), (rounds, len(results)))
    medians = np.median(ape[pick], axis=1)
    bias = 100 * (n_pred[pick].sum(axis=1) / np.maximum(n_true[pick].sum(axis=1), 1) - 1)
    return {
        "median_ape": tuple(np.percentile(medians, [2.5, 97.5])),
        "bias": tuple(np.percentile(bias, [2.5, 97.5])),
    }


def methods_of(results: pd.DataFrame) -> list[str]:
    """The methods whose counts `results` holds, the gallery recipe first."""
    return [key for key in ("gallery", "ours") if f"n_{key}" in results]


def report(results: pd.DataFrame) -> pd.DataFrame:
    """Table of figures per subset (size groups, halves, overall) and method."""
    size = results["diameter_true"] if "diameter_true" in results else results["diameter_est"]
    order = np.argsort(results["image"].to_numpy())
    half = np.empty(len(results), dtype=object)
    half[order[0::2]] = "dev half (even)"
    half[order[1::2]] = "held-out half (odd)"
    subsets = []
    for low, high, name in SIZE_GROUPS:
        subsets.append((f"size {name}", (size >= low) & (size < high)))
    for name in ("dev half (even)", "held-out half (odd)"):
        subsets.append((name, pd.Series(half == name, index=results.index)))
    subsets.append(("overall", pd.Series(True, index=results.index)))
    table = []
    for subset, mask in subsets:
        for key in methods_of(results):
            table.append({"subset": subset, "method": key, **summarise(results[mask], key)})
    return pd.DataFrame(table)


def read_counts(folder: Path, limit: int | None) -> pd.DataFrame:
    """``counts.csv`` sorted by image name (the first `limit` rows), with the image names as
    strings (and sequences too, so that "01" stays "01")."""
    counts = pd.read_csv(folder / "counts.csv", dtype={"image": str, "sequence": str})
    counts = counts.sort_values("image")
    return counts.iloc[:limit] if limit else counts


def tasks_for(folder: Path, counts: pd.DataFrame, diameter=None, gallery=True) -> list[tuple]:
    """One task per row of `counts` whose image exists, with `diameter` (a number, a
    mapping image -> number, or None for each frame's own estimate) and whether to run the
    gallery recipe too."""
    images = {p.stem: p for p in (folder / "images").iterdir()}
    tasks = []
    for name, n_true in zip(counts["image"], counts["n_nuclei"].astype(int)):
        stem = Path(name).stem
        if stem not in images:
            continue
        label_path = folder / "labels" / f"{stem}.tif"
        size = diameter.get(stem) if isinstance(diameter, dict) else diameter
        tasks.append(
            (
                stem,
                str(images[stem]),
                str(label_path) if label_path.exists() else None,
                n_true,
                size,
                gallery,
            )
        )
    return tasks


def sequence_table(results: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """Per sequence and method: frames, median absolute percentage error, and the percent
    change of the count from the first to the last frame (ours, true, difference in
    points)."""
    info = counts.assign(image=counts["image"].map(lambda name: Path(name).stem))
    merged = results.merge(info[["image", "sequence", "frame"]], on="image")
    rows = []
    for sequence, frames in merged.sort_values("frame").groupby("sequence", sort=True):
        first, last = frames.iloc[0], frames.iloc[-1]
        true_change = 100 * (last["n_true"] / max(first["n_true"], 1) - 1)
        for key in methods_of(results):
            n_pred, n_true = frames[f"n_{key}"].to_numpy(float), frames["n_true"].to_numpy(float)
            change = 100 * (last[f"n_{key}"] / max(first[f"n_{key}"], 1) - 1)
            rows.append(
                {
                    "sequence": sequence,
                    "method": key,
                    "frames": len(frames),
                    "median_ape": float(
                        np.median(100 * np.abs(n_pred - n_true) / np.maximum(n_true, 1))
                    ),
                    "change": change,
                    "true_change": true_change,
                    "error_points": change - true_change,
                    "size_median": float(frames["diameter_est"].median()),
                    "own_size_range": f"{frames['diameter_own'].min():.1f}-"
                    f"{frames['diameter_own'].max():.1f}",
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="folder with images/, labels/, counts.csv")
    parser.add_argument("--limit", type=int, default=None, help="first N images by name")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--csv", type=Path, default=None, help="write per-image results here")
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--size",
        choices=("frame", "sequence"),
        default="frame",
        help="nucleus size from each frame (default) or one per sequence (median of its frames)",
    )
    size.add_argument("--diameter", type=float, default=None, help="one fixed size (pixels)")
    parser.add_argument(
        "--no-gallery", action="store_true", help="leave out the gallery recipe (faster)"
    )
    args = parser.parse_args(argv)

    counts = read_counts(args.dataset, args.limit)
    sequences = "sequence" in counts.columns
    if args.size == "sequence" and not sequences:
        print(f"{args.dataset}: --size sequence needs a sequence column", file=sys.stderr)
        return 2
    gallery = not args.no_gallery
    tasks = tasks_for(args.dataset, counts, args.diameter, gallery)
    if not tasks:
        print(f"{args.dataset}: no images listed in counts.csv were found", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    with single_threaded_opencv(), Pool(args.jobs) as pool:
        if args.size == "sequence":
            stems = [task[0] for task in tasks]
            sequence_of = dict(zip(counts["image"].map(lambda n: Path(n).stem), counts["sequence"]))
            own = pd.Series(pool.map(estimate_one, tasks, chunksize=1), index=stems)
            per_sequence = own.groupby([sequence_of[stem] for stem in stems]).agg(sequence_diameter)
            sizes = {stem: float(per_sequence[sequence_of[stem]]) for stem in stems}
            tasks = tasks_for(args.dataset, counts, sizes, gallery)
        results = pd.DataFrame(pool.map(evaluate_one, tasks, chunksize=1))
    wall = time.perf_counter() - t0
    if args.csv:
        results.to_csv(args.csv, index=False)

    table = report(results)
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
        if sequences:
            print(sequence_table(results, counts).to_string(index=False))
    print(f"{len(results)} images in {wall:.1f} s ({args.jobs} processes)")
    for key in methods_of(results):
        ci = bootstrap_intervals(results, key)
        print(
            f"{key}: 95 % bootstrap interval of median_ape {ci['median_ape'][0]:.1f}-"
            f"{ci['median_ape'][1]:.1f}, of bias {ci['bias'][0]:+.1f} to {ci['bias'][1]:+.1f}"
        )
    ours = table[(table["subset"] == "overall") & (table["method"] == "ours")].iloc[0]
    print(f"median_ape={ours['median_ape']:.1f} bias={ours['bias']:.1f} f1={ours['f1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
