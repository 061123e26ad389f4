"""Phase confluence and the phase-contrast check on real frames, new method against a base.

Usage::

    python benchmarks/confluence.py [--base /tmp/base] [--data /work/shared/data]

`--base` is a checkout of an earlier version (``git archive <commit> | tar -x -C /tmp/base``)
whose ``incugrowth/image/confluence.py`` is measured in the same run. Data (never in the
repository; see benchmarks/README.md): ``phase-dev/truth.csv`` (real phase frames with cell
masks), ``phase-measure/`` (real phase frames without masks, for the check only) and
``nuclei-dev/images`` (fluorescence frames, which the check must refuse).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from incugrowth.image import confluence as new  # noqa: E402


def _load_base(base: Path):
    path = base / "incugrowth" / "image" / "confluence.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("base_confluence", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gray(path: Path) -> np.ndarray:
    from skimage.io import imread

    image = np.asarray(imread(path))
    if image.ndim == 3:
        from skimage.color import rgb2gray

        image = rgb2gray(image[..., :3])
    return image


def _errors(est, truth) -> str:
    e = np.asarray(est) - np.asarray(truth)
    return (
        f"median |error| {np.median(np.abs(e)):5.2f} pts, bias {np.median(e):+6.2f}, "
        f"within 5 pts {np.mean(np.abs(e) <= 5):5.0%}, max {np.abs(e).max():5.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, default=Path("/tmp/base"))
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    args = parser.parse_args()
    base = _load_base(args.base)
    methods = {"new": new} | ({"base": base} if base is not None else {})

    truth = pd.read_csv(args.data / "phase-dev" / "truth.csv")
    frames = [_gray(args.data / "phase-dev" / p) for p in truth["image"]]
    results = {name: [m.phase_confluence(f) for f in frames] for name, m in methods.items()}
    # the new method with each well's dish level (lower quartile of its frames' levels)
    levels = pd.Series([new.dish_contrast(f) for f in frames], index=truth.index)
    ref = levels.groupby(truth["well"]).transform(lambda v: new.reference_dish_contrast(v))
    results["new, well dish"] = [new.phase_confluence(f, dish=d) for f, d in zip(frames, ref)]

    print("Phase confluence against the masks (percentage points)")
    for name in results:
        est = np.asarray(results[name])
        for s in truth["set"].unique():
            sel = (truth["set"] == s).to_numpy()
            summary = _errors(est[sel], truth["confluence"][sel])
            print(f"  {name:15s} {s:16s} n={sel.sum():3d}  {summary}")
        print(f"  {name:15s} {'all':16s} n={len(est):3d}  {_errors(est, truth['confluence'])}")

    print("Phase-contrast check: share of frames taken for phase contrast")
    sets = {s: [f for f, t in zip(frames, truth["set"]) if t == s] for s in truth["set"].unique()}
    measure = args.data / "phase-measure"
    for folder in sorted(p for p in measure.glob("*") if p.is_dir()):
        sets[f"{folder.name} (measure only)"] = [_gray(p) for p in sorted(folder.glob("*.tif"))]
    fluo = sorted((args.data / "nuclei-dev" / "images").glob("*"))
    sets["nuclei-dev fluorescence (should be 0 %)"] = [_gray(p) for p in fluo]
    for label, images in sets.items():
        if not images:
            continue
        row = ", ".join(
            f"{name} {np.mean([m.looks_like_phase_contrast(f) for f in images]):5.1%}"
            for name, m in methods.items()
        )
        print(f"  {label:42s} n={len(images):3d}  {row}")


if __name__ == "__main__":
    main()
