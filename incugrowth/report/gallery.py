"""The gallery of frames with the nuclei (or the area covered) outlined."""

from __future__ import annotations

import numpy as np

from incugrowth.report.conditions import _measure_word, _orders
from incugrowth.report.inline import _Figures

_GALLERY_CROP = 256


def _gallery_wells(tables, control: str, max_wells: int, available=None) -> list[dict]:
    """One control and one treated well per cell line: the treated one with the lowest mean.

    Only wells in ``available`` (the wells that have frames) are considered, when given.
    """
    end = tables["endpoint"]
    source = end if end is not None and len(end) else tables["growth"]
    if available is not None:
        source = source[source["well"].isin(set(available))]
    value = "pct_change" if "pct_change" in source.columns else "count"
    picks = []
    for line in _orders(tables, control)[0]:
        sub = source[source["cell_line"] == line]
        ctrl = sub[sub["treatment"] == control]
        treated = sub[sub["treatment"] != control]
        if len(ctrl):
            picks.append({"well": ctrl["well"].iloc[0], "cell_line": line, "treatment": control})
        if len(treated):
            means = treated.groupby("treatment", sort=False)[value].mean()
            t = means.idxmin() if means.notna().any() else means.index[0]
            well = treated.loc[treated["treatment"] == t, "well"].iloc[0]
            picks.append({"well": well, "cell_line": line, "treatment": t})
    return picks[:max_wells]


def _center_crop(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return arr[top : top + size, left : left + size]


def _tile_title(hours: float, labels: np.ndarray) -> str:
    """Tile title: the nuclei outlined in the crop shown, and in the whole frame when larger.

    Examples
    --------
    >>> labels = np.zeros((600, 600), dtype=int)
    >>> labels[300, 300], labels[5, 5] = 1, 2
    >>> _tile_title(24.0, labels)
    '24 h: 1 nucleus in crop\\n(2 in whole frame)'
    >>> _tile_title(0.0, labels[:200, :200])
    '0 h: 1 nucleus (whole frame)'
    """
    total = int(np.unique(labels[labels > 0]).size)
    crop = _center_crop(labels, _GALLERY_CROP)
    noun = "nucleus" if total == 1 else "nuclei"
    if crop.shape == labels.shape:
        return f"{hours:g} h: {total} {noun} (whole frame)"
    shown = int(np.unique(crop[crop > 0]).size)
    noun = "nucleus" if shown == 1 else "nuclei"
    return f"{hours:g} h: {shown} {noun} in crop\n({total} in whole frame)"


def _recorded_frames(tables):
    """The frames the run counted (``well``, ``field``, ``elapsed_h``, ``path``), from its
    counts table: the report shows what the run measured, without listing the frames folder
    again (which would also repeat the run's warnings about it). None when the counts do not
    name their frames."""
    counts = tables.get("counts")
    columns = ["well", "field", "elapsed_h", "path"]
    if counts is None or any(c not in counts.columns for c in columns):
        return None
    frames = counts[columns].dropna(subset=["path"])
    return frames if len(frames) else None


def _gallery(tables, run, figs: _Figures, control: str, max_thumbnails: int) -> dict:
    params = run.get("parameters") or {}
    folder = params.get("frames")
    if not folder:
        if _measure_word(run) == "confluence":
            return {
                "note": "The confluence values came from an IncuCyte metric export, so this run "
                "has no frames of its own to show; run with --frames to see the area measured."
            }
        return {
            "note": "The counts came from an IncuCyte metric export, so this run has no frames "
            "of its own to show; run with --frames to see the detected nuclei."
        }
    try:
        from incugrowth.frames import read_frame
        from incugrowth.report_figures import frame_gallery_figure, outline_nuclei

        confluence = _measure_word(run) == "confluence"
        if confluence:
            from incugrowth.image import phase_mask
        else:
            from incugrowth.image import segment_nuclei

        frames = _recorded_frames(tables)
        if frames is None:  # counts written without their frames' paths: list the folder
            import warnings

            from incugrowth.frames import find_frames

            with warnings.catch_warnings():  # the run warned about this folder already
                warnings.simplefilter("ignore")
                frames = find_frames(folder)
            try:
                from incugrowth.frames import select_channel

                frames = select_channel(frames, params.get("channel"))
            except ImportError:
                pass
        rows = []
        sizes = tables.get("sizes")
        size_of = (
            sizes.set_index("well")["diameter_px"].to_dict()
            if sizes is not None and "diameter_px" in sizes.columns
            else {}
        )
        picks = _gallery_wells(
            tables, control, max(1, max_thumbnails // 3), available=frames["well"].unique()
        )
        for pick in picks:
            sub = frames[frames["well"] == pick["well"]]
            if sub.empty:
                continue
            sub = sub[sub["field"] == sub["field"].min()]
            times = np.sort(sub["elapsed_h"].unique())
            chosen = dict.fromkeys([times[0], times[len(times) // 2], times[-1]])
            tiles = []
            for t in chosen:
                path = sub.loc[sub["elapsed_h"] == t, "path"].iloc[0]
                image = read_frame(path)
                if confluence:  # the area counted as covered by cells, outlined
                    mask = phase_mask(image)
                    labels, title = mask.astype(np.int32), f"{t:g} h: {mask.mean():.0%} covered"
                else:
                    # the size the well was counted with (one per well), else as counted
                    size = size_of.get(pick["well"], params.get("diameter"))
                    size = None if size is None or not np.isfinite(size) else float(size)
                    labels = segment_nuclei(image, diameter=size)
                    title = _tile_title(t, labels)
                crop = _center_crop(outline_nuclei(image, labels), _GALLERY_CROP)
                tiles.append((crop, title))
            rows.append((f"{pick['well']}\n{pick['cell_line']}\n{pick['treatment']}", tiles))
        if not rows:
            return {"note": f"No frames of the chosen wells were found in {folder}."}
        fig = frame_gallery_figure(rows)
        return {"img": figs.png(fig, "frame_gallery"), "wells": picks, "folder": str(folder)}
    except Exception as exc:  # the gallery is an illustration: never fail the report for it
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {"note": f"The frame gallery was skipped: {text}"}
