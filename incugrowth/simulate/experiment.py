"""simulate_experiment: a whole experiment folder (frames, export, plate maps, truth tables)."""

from __future__ import annotations

import os
import time as _time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

from incugrowth._io import write_csv
from incugrowth.errors import IncugrowthError
from incugrowth.simulate._common import (
    _DEAD_LAYOUT_CODE,
    _STREAM_DEAD_FRAME,
    _STREAM_FRAME,
    REFERENCE_SHAPE,
    _check_shape,
    _check_times,
    _minute,
    _rng,
    _well_code,
)
from incugrowth.simulate.designs import Design, _canonical_well_or_raise, get_design
from incugrowth.simulate.kinetics import DEAD_METRIC, _seeded, simulate_counts, true_effects
from incugrowth.simulate.layout import _layout_for
from incugrowth.simulate.render import (
    _frame_dead,
    _frame_nuclei,
    _illumination,
    _render_phase,
    _render_red,
    truth_columns,
)
from incugrowth.simulate.writers import (
    _write_tiff,
    time_token,
    write_export,
    write_plate_map_xml,
)

# Cells per 96-well well for one nucleus per full frame: 0.32 cm2 over 1.746 x 1.290 mm (10x).
CELLS_PER_WELL = 32.0 / (1.746 * 1.290)


def _render_task(task: dict) -> tuple[pd.DataFrame, list[dict]]:
    """Render every requested time of one well and field; returns its truth and frame stats."""
    seed, well, code, fld = task["seed"], task["well"], task["code"], task["field"]
    shape, window = task["shape"], task["window"]
    counts, times, blurred = task["counts"], task["times"], task["out_of_focus"]
    layout = _layout_for(seed, code, fld, int(max(counts)), int(task["founders"]), shape)
    dead = task["dead"]
    if task["dead_frames"]:
        n_dead = int(max(dead))  # scattered: every dead nucleus is placed on its own
        dead_layout = _layout_for(seed, code + _DEAD_LAYOUT_CODE, fld, n_dead, n_dead, shape)
    illum = _illumination(tuple(shape), tuple(window), seed)
    win_shape = (window[2], window[3])
    truth, stats = [], []
    for n, t, oof, nd in zip(counts, times, blurred, dead):
        rng = _rng(seed, _STREAM_FRAME, code, fld, _minute(t))
        nuc = _frame_nuclei(layout, int(n), window)
        red, nuclei = _render_red(nuc, win_shape, illum, rng, bool(oof))
        phase, confluence = _render_phase(nuc, nuclei, win_shape, illum, rng, bool(oof), seed=seed)
        name = f"{task['prefix']}_{well}_{fld}_{time_token(t)}.tif"
        _write_tiff(Path(task["outdir"]) / "frames" / "red" / name, red)
        _write_tiff(Path(task["outdir"]) / "frames" / "phase" / name, phase)
        n_dead_in_frame = None
        if task["dead_frames"]:
            # the dead-cell channel draws from its own streams: the red and phase frames are
            # as without it
            dead_nuc = _frame_dead(dead_layout, int(nd), window)
            rng_dead = _rng(seed, _STREAM_DEAD_FRAME, code, fld, _minute(t))
            green, _ = _render_red(dead_nuc, win_shape, illum, rng_dead, bool(oof))
            _write_tiff(Path(task["outdir"]) / "frames" / "green" / name, green)
            n_dead_in_frame = len(dead_nuc["y"])
        m = len(nuc["y"])
        truth.append(
            pd.DataFrame(
                {
                    "well": well,
                    "field": fld,
                    "elapsed_h": float(t),
                    **truth_columns(nuc),
                }
            )
        )
        stats.append(
            {
                "well": well,
                "field": fld,
                "elapsed_h": float(t),
                "count_in_frame": m,
                "dead_in_frame": n_dead_in_frame,
                "confluence_true": round(confluence, 3),
            }
        )
    return pd.concat(truth, ignore_index=True), stats


def _window(shape, crop) -> tuple[int, int, int, int]:
    h, w = shape
    if crop is None:
        return (0, 0, h, w)
    ch, cw = _check_shape(crop, "crop")
    if ch > h or cw > w:
        raise IncugrowthError(
            f"crop {cw} x {ch} is larger than the frame {w} x {h} (width x height)"
        )
    return ((h - ch) // 2, (w - cw) // 2, ch, cw)


def simulate_experiment(
    outdir: str | os.PathLike,
    *,
    design: str | Design = "fig4",
    seed: int = 0,
    frame_shape: tuple[int, int] = REFERENCE_SHAPE,
    times: Sequence[float] | None = None,
    fields: int = 1,
    wells: Sequence[str] | None = None,
    frame_times: Sequence[float] | None = None,
    crop: tuple[int, int] | None = None,
    render_frames: bool = True,
    dead_frames: bool = False,
    jobs: int | None = None,
    progress: bool = True,
) -> dict:
    """Simulate an IncuCyte experiment folder with known truth.

    Parameters
    ----------
    outdir : path
        Output folder (created); its layout is in :mod:`incugrowth.simulate`.
    design : str or Design
        ``"fig4"`` (default), ``"doses"``, a CSV design table, or a :class:`Design`.
    seed : int
        Random seed; the same seed gives byte-identical files.
    frame_shape : (height, width)
        Full frame size; seeding and capacity scale with its area (default 1040 x 1408).
    times : sequence of float, optional
        Scan times in hours for the export and truth (default every 4 h, 0-96 h).
    fields : int
        Images per well.
    wells : sequence of str, optional
        Render frames of these wells only; the export and truth counts cover every well.
    frame_times : sequence of float, optional
        Render frames at these times only (each must be one of ``times``).
    crop : (height, width), optional
        Write only the centre window of each frame, at the same nucleus size; only nuclei
        whose centres fall in it are drawn and listed in ``truth.csv``, and their number is
        ``count_in_frame`` in ``truth_counts.csv`` (``count`` stays the full frame's).
    render_frames : bool
        False writes only the truth counts (and an empty ``truth.csv``), the export and the
        plate maps (fast).
    dead_frames : bool
        Also render the dead-cell channel (``frames/green/``; ``dead_in_frame`` in
        ``truth_counts.csv``). Its counts are in ``export_green_count.txt`` and
        ``truth_counts.csv`` either way.
    jobs : int, optional
        Worker processes for rendering (default: all cores; 1 renders in this process).
    progress : bool
        Show a progress bar while rendering.

    Returns
    -------
    dict
        ``outdir``, ``design``, ``seed``, ``paths`` (name -> path of each file written),
        ``n_wells``, ``n_fields``, ``n_times``, ``n_frames`` (frames rendered per channel),
        ``render_seconds``, ``frames_per_s`` and ``pct_change`` (mean percent change of the
        true counts per condition at the time closest to 72 h).

    Examples
    --------
    >>> import tempfile
    >>> info = simulate_experiment(tempfile.mkdtemp(), times=[0, 24, 72], render_frames=False,
    ...                            progress=False)
    >>> info["n_wells"], info["n_frames"], sorted(info["paths"])[:3]
    (90, 0, ['export', 'export_dead', 'plate_map_csv'])
    """
    d = get_design(design)
    t = _check_times(times)
    shape = _check_shape(frame_shape, "frame_shape")
    window = _window(shape, crop)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)

    counts = simulate_counts(d, seed=seed, times=t, fields=fields, frame_shape=shape)
    plate = d.plate_map()
    paths = {
        "plate_map_csv": write_csv(plate, out / "plate_map.csv"),
        "plate_map_xml": write_plate_map_xml(
            plate.assign(seeding_density=(d.wells["seeding"] * CELLS_PER_WELL).round(-2)),
            out / "plate_map.PlateMap",
        ),
        "export": write_export(
            counts, out / "export_red_count.txt", vessel=f"sim_{d.name} (seed {seed})"
        ),
        # the dead-cell count in a file of its own, so that the red export alone is read as
        # before (one count metric)
        "export_dead": write_export(
            counts.drop(columns="count").rename(columns={"dead": "count"}),
            out / "export_green_count.txt",
            metric=DEAD_METRIC,
            vessel=f"sim_{d.name} (seed {seed})",
            analysis="Cytotox Green dead-cell count",
        ),
        "truth_effects": write_csv(true_effects(d), out / "truth_effects.csv"),
    }

    render_wells = list(d.wells["well"]) if wells is None else _check_wells(wells, d)
    render_times = t if frame_times is None else _check_frame_times(frame_times, t)
    tasks = []
    if render_frames:
        area = (shape[0] * shape[1]) / (d.reference_shape[0] * d.reference_shape[1])
        seeding = d.wells.set_index("well")["seeding"]
        for well in render_wells:
            code = _well_code(well)
            for f in range(1, int(fields) + 1):
                sel = counts[(counts["well"] == well) & (counts["field"] == f)]
                sel = sel[np.isin(sel["elapsed_h"].to_numpy(), render_times)]
                tasks.append(
                    {
                        "seed": int(seed),
                        "well": well,
                        "code": code,
                        "field": f,
                        "shape": shape,
                        "window": window,
                        "counts": sel["count"].to_numpy(),
                        "times": sel["elapsed_h"].to_numpy(),
                        "out_of_focus": sel["out_of_focus"].to_numpy(),
                        "dead": sel["dead"].to_numpy(),
                        "dead_frames": bool(dead_frames),
                        "founders": int(round(_seeded(seed, code, f, seeding[well] * area))),
                        "prefix": f"sim_{d.name}",
                        "outdir": str(out),
                    }
                )
    started = _time.perf_counter()
    truth_parts, stats = _run_tasks(tasks, jobs=jobs, progress=progress)
    seconds = _time.perf_counter() - started

    truth_cols = ["well", "field", "elapsed_h", "y", "x", "radius", "axis_ratio", "angle_deg",
                  "brightness", "dividing"]  # fmt: skip
    truth = (
        pd.concat(truth_parts, ignore_index=True)
        if truth_parts
        else pd.DataFrame(columns=truth_cols)
    )
    keys = ["well", "field", "elapsed_h"]
    truth_counts = counts[[*keys, "count", "expected", "out_of_focus"]].copy()
    truth_counts["expected"] = truth_counts["expected"].round(3)
    frame_stats = pd.DataFrame(stats, columns=[*keys, "count_in_frame", "confluence_true"])
    truth_counts = truth_counts.merge(frame_stats, on=keys, how="left")
    truth_counts["count_in_frame"] = truth_counts["count_in_frame"].astype("Int64")
    # the dead-cell channel's columns come last, after those of the live channel
    dead_stats = pd.DataFrame(stats, columns=[*keys, "dead_in_frame"])
    truth_counts["dead"] = counts["dead"].to_numpy()
    truth_counts["dead_expected"] = counts["dead_expected"].round(3).to_numpy()
    truth_counts = truth_counts.merge(dead_stats, on=keys, how="left")
    truth_counts["dead_in_frame"] = truth_counts["dead_in_frame"].astype("Int64")
    if len(truth):
        order = {w: i for i, w in enumerate(d.wells["well"])}
        truth = truth.sort_values(
            keys, key=lambda s: s.map(order) if s.name == "well" else s, kind="stable"
        ).reset_index(drop=True)
    paths["truth"] = write_csv(truth, out / "truth.csv")
    paths["truth_counts"] = write_csv(truth_counts, out / "truth_counts.csv")
    if render_frames:
        paths["frames"] = out / "frames"

    n_frames = len(stats)
    return {
        "outdir": out,
        "design": d.name,
        "seed": int(seed),
        "paths": paths,
        "n_wells": len(d.wells),
        "n_fields": int(fields),
        "n_times": len(t),
        "n_frames": n_frames,
        "render_seconds": round(seconds, 3),
        "frames_per_s": round(n_frames / seconds, 2) if n_frames and seconds > 0 else None,
        "pct_change": _pct_change_summary(counts, 72.0),
    }


def _check_wells(wells, d: Design) -> list[str]:
    known = set(d.wells["well"])
    chosen = [_canonical_well_or_raise(str(w)) for w in wells]
    missing = [w for w in chosen if w not in known]
    if missing:
        raise IncugrowthError(
            f"wells not in design {d.name!r}: {', '.join(missing)} (the design has "
            f"{len(known)} wells, e.g. {', '.join(list(d.wells['well'])[:3])})"
        )
    return list(dict.fromkeys(chosen))


def _check_frame_times(frame_times, t: np.ndarray) -> np.ndarray:
    ft = _check_times(frame_times)
    missing = [x for x in ft if not np.any(np.isclose(t, x))]
    if missing:
        raise IncugrowthError(
            f"frame_times {', '.join(f'{x:g}' for x in missing)} h are not among the scan times"
        )
    return t[np.isin(np.round(t, 6), ft)]


def _run_tasks(tasks: list[dict], *, jobs: int | None, progress: bool):
    from tqdm.auto import tqdm

    if not tasks:
        return [], []
    jobs = (os.cpu_count() or 1) if jobs is None else int(jobs)
    jobs = max(1, min(jobs, len(tasks)))
    results: list = [None] * len(tasks)
    bar = tqdm(total=len(tasks), desc="rendering", unit="field", disable=not progress)
    try:
        if jobs == 1:
            for i, task in enumerate(tasks):
                results[i] = _render_task(task)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(_render_task, task): i for i, task in enumerate(tasks)}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update()
    finally:
        bar.close()
    truth = [r[0] for r in results]
    stats = [s for r in results for s in r[1]]
    return truth, stats


def _pct_change_summary(counts: pd.DataFrame, at: float) -> list[dict]:
    times = np.unique(counts["elapsed_h"])
    t_end = float(times[np.abs(times - at).argmin()])
    t0 = float(times.min())
    well = counts.groupby(["well", "elapsed_h"], as_index=False)["count"].mean()
    base = well[well["elapsed_h"] == t0].set_index("well")["count"]
    end = well[well["elapsed_h"] == t_end].set_index("well")["count"]
    pct = (100.0 * (end / base - 1.0)).rename("pct_change").reset_index()
    meta = counts.drop_duplicates("well")[["well", "cell_line", "treatment", "dose"]]
    pct = meta.merge(pct, on="well")  # keeps the design's order of conditions
    summary = pct.groupby(["cell_line", "treatment", "dose"], dropna=False, sort=False)[
        "pct_change"
    ].agg(["mean", "std"])
    return [
        {
            "cell_line": cl,
            "treatment": tr,
            "dose": None if pd.isna(dose) else float(dose),
            "elapsed_h": t_end,
            "pct_change_mean": round(float(row["mean"]), 1),
            "pct_change_sd": round(float(row["std"]), 1) if pd.notna(row["std"]) else None,
        }
        for (cl, tr, dose), row in summary.iterrows()
    ]
