"""Regenerate sample_data/: a simulated fig4 experiment, small enough to ship.

Usage::

    python scripts/make_sample_data.py [OUTDIR]

OUTDIR defaults to ``sample_data`` beside this script's folder. The output is deterministic
(seed 0): running the script again gives the same files, byte for byte.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

from incugrowth.simulate import get_design, simulate_experiment

SEED = 0
TIMES = list(range(0, 97, 12))  # every 12 h, 0-96 h
FRAME_TIMES = [0, 24, 48, 72, 96]
CROP = (256, 256)
# M407 parental: untreated, IFN alfa and IFN gamma, three replicate wells each.
FRAME_CONDITIONS = [("M407", "untreated"), ("M407", "IFN alfa"), ("M407", "IFN gamma")]
GENERATED = [
    "frames",
    "truth.csv",
    "truth_counts.csv",
    "export_red_count.txt",
    "export_green_count.txt",
    "truth_effects.csv",
    "plate_map.csv",
    "plate_map.PlateMap",
    "README.md",
]


FILES = [
    (
        "export_red_count.txt",
        "IncuCyte S3/SX5 metric export, `Red Object Count (Per Image)`, all 90 wells x "
        f"{len(TIMES)} times, tab-separated, CRLF; the values are the true full-frame counts",
    ),
    (
        "export_green_count.txt",
        "the same for the dead-cell count, `Green Object Count (Per Image)` (a Cytotox "
        "Green-like dye; no frames of it here): `incugrowth run --export "
        'export_red_count.txt export_green_count.txt --dead-metric "Green Object Count (Per '
        'Image)"` adds the dead fraction and the cytostatic/cytotoxic verdicts',
    ),
    (
        "plate_map.csv",
        "long plate map: `well,cell_line,treatment,dose,dose_unit,control` (`control` is "
        "`Lipofectamine` for the cGAMP wells)",
    ),
    (
        "plate_map.PlateMap",
        "the same plate map as IncuCyte XML (UTF-8 with BOM); the vehicle control is not in it",
    ),
    (
        "truth_counts.csv",
        "one row per well, field and time: `count` (true nuclei in the full 1408 x 1040 "
        "frame, as in the export), `expected` (the kinetic model's mean), `out_of_focus`; for "
        "the frames below also `count_in_frame` (nuclei in the 256 x 256 crop) and "
        "`confluence_true` (% of the crop covered by cells); `dead` and `dead_expected` the same "
        "for the dead cells",
    ),
    (
        "truth_effects.csv",
        "the true effect of each treatment against its control (share of the growth rate "
        "removed, kill rate) and the verdict it should get: the interferons `cytostatic` where "
        "they act, 2'3'-cGAMP `cytotoxic`",
    ),
    (
        "truth.csv",
        "one row per true nucleus of the frames below: `well, field, elapsed_h, y, x` (pixel "
        "of its centre in the crop), `radius`, `axis_ratio`, `angle_deg`, `brightness`, "
        "`dividing`",
    ),
    ("frames/red/", "nuclear (NucLight Red-like) frames, 16-bit, LZW"),
    ("frames/phase/", "phase-contrast frames, 8-bit, LZW"),
]


def frame_wells() -> list[str]:
    wells = get_design("fig4").wells
    keep = pd.Series(False, index=wells.index)
    for line, treatment in FRAME_CONDITIONS:
        keep |= (wells["cell_line"] == line) & (wells["treatment"] == treatment)
    return wells.loc[keep, "well"].tolist()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "sample_data"
    out.mkdir(parents=True, exist_ok=True)
    for name in GENERATED:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()

    wells = frame_wells()
    info = simulate_experiment(
        out,
        design="fig4",
        seed=SEED,
        times=TIMES,
        wells=wells,
        frame_times=FRAME_TIMES,
        crop=CROP,
        jobs=1,
        progress=False,
    )
    (out / "README.md").write_text(readme(out, wells, info), encoding="utf-8")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out}: {info['n_frames']} frames per channel, {total / 1e6:.2f} MB in total")
    return 0


def _size(path: Path) -> str:
    if path.is_dir():
        n = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:
        n = path.stat().st_size
    return f"{n / 1024:,.0f} KB"


def readme(out: Path, wells: list[str], info: dict) -> str:
    tc = pd.read_csv(out / "truth_counts.csv")
    framed = tc.dropna(subset=["count_in_frame"])
    pct = pd.DataFrame(info["pct_change"])
    table = pct.pivot(index="cell_line", columns="treatment", values="pct_change_mean")
    table = table.reindex(
        index=list(dict.fromkeys(pct["cell_line"])), columns=list(dict.fromkeys(pct["treatment"]))
    )
    header = "| cell line | " + " | ".join(table.columns) + " |"
    rule = "|---|" + "---:|" * len(table.columns)
    rows = [
        f"| {line} | " + " | ".join(f"{v:+.0f}" for v in values) + " |"
        for line, values in table.iterrows()
    ]
    files = "\n".join(
        f"| `{name}` | {_size(out / name.rstrip('/'))} | {what} |" for name, what in FILES
    )
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    times = ", ".join(f"{t:g}" for t in TIMES)
    ftimes = ", ".join(f"{t:g}" for t in FRAME_TIMES)
    by_line: dict[str, list[str]] = {}
    for line, treatment in FRAME_CONDITIONS:
        by_line.setdefault(line, []).append(treatment)
    conditions = "; ".join(f"{line} {', '.join(ts)}" for line, ts in by_line.items())
    return f"""# sample_data: a simulated IncuCyte experiment

Everything here is **simulated** (no real cells were imaged) by incugrowth's plate simulator,
with the built-in `fig4` design (Zaretsky et al., N Engl J Med 2016, Fig. 4) and random seed
{SEED}. Regenerate it, byte for byte, with

    python scripts/make_sample_data.py

which calls

    incugrowth.simulate.simulate_experiment(
        "sample_data", design="fig4", seed={SEED}, times=[{times}],
        wells=[{", ".join(repr(w) for w in wells)}],
        frame_times=[{ftimes}], crop={CROP})

A full-size experiment (every well and time, 1408 x 1040 frames, about 6 GB) is
`incugrowth simulate OUTDIR --design fig4 --seed 0`.

## The plate

90 wells of a 96-well plate: cell lines M420, M464, M407, M407 JAK1-KO and M407 JAK2-KO, each
untreated or treated with IFN alfa (5000 U/ml), IFN beta (500 U/ml), IFN gamma (100 ng/ml),
Lipofectamine alone, or 2'3'-cGAMP (25 ug/ml, delivered with Lipofectamine, its vehicle
control); three replicate wells each. The wells fill the plate row by row from A1, three
neighbouring wells per treatment, 18 wells per cell line (M420 A1-B6, M464 B7-C12, M407
D1-E6, M407 JAK1-KO E7-F12, M407 JAK2-KO G1-H6); H7-H12 are empty. One image (field) per
well, scanned every 12 h from 0 to 96 h.

Mean change in the true count at 72 h (%), three wells each:

{header}
{rule}
{chr(10).join(rows)}

## Files

| path | size | what |
|---|---:|---|
{files}

Frames exist for the wells of {conditions} ({", ".join(wells)}), one field each, at {ftimes} h:
{info["n_frames"]} frames per channel, named `sim_fig4_<Well>_1_<DD>d<HH>h<MM>m.tif`.

Each frame is the central 256 x 256 pixels of a full 1408 x 1040 frame, at the full frame's
nucleus size (10-15 px across, as at 10x). Only nuclei whose centres lie in the crop are
drawn, so a crop holds exactly `count_in_frame` nuclei, the rows of `truth.csv` for that frame
({int(framed["count_in_frame"].min())} to {int(framed["count_in_frame"].max())} per crop).
Counts of the crops are therefore much smaller than the export's, and their percent changes
noisier: compare frame counts with `count_in_frame`, and the export with `count`.

Total size: {total / 1e6:.2f} MB.
"""


if __name__ == "__main__":
    raise SystemExit(main())
