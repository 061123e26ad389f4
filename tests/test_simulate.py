"""Plate simulator: truth against frames, determinism, writers, and the fig4 kinetics."""

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter, maximum_filter
from scipy.spatial import cKDTree

from incugrowth.errors import IncugrowthError
from incugrowth.frames import find_frames, read_frame
from incugrowth.simulate import (
    Design,
    get_design,
    simulate_counts,
    simulate_experiment,
    synthetic_frame,
    write_export,
)

# Conditions inhibited in the fig4 design (Zaretsky et al. 2016, Fig. 4); all others are not.
SENSITIVE = {
    "M420": {"IFN alfa", "IFN beta", "IFN gamma", "2'3'-cGAMP"},
    "M464": {"IFN alfa", "IFN beta", "2'3'-cGAMP"},
    "M407": {"IFN alfa", "IFN beta", "IFN gamma", "2'3'-cGAMP"},
    "M407 JAK1-KO": set(),
    "M407 JAK2-KO": {"IFN alfa", "IFN beta", "2'3'-cGAMP"},
}


def _peak_distances(image: np.ndarray, truth: pd.DataFrame) -> np.ndarray:
    """Distance from each true nucleus to the nearest clear local maximum of the frame."""
    smooth = gaussian_filter(image.astype(np.float32), 2.0)
    background = np.percentile(smooth, 20)
    peaks = (smooth == maximum_filter(smooth, size=3)) & (smooth > background + 60)
    py, px = np.nonzero(peaks)
    dist, _ = cKDTree(np.column_stack([py, px])).query(truth[["y", "x"]].to_numpy())
    return dist


def _pct_change_72(counts: pd.DataFrame) -> pd.Series:
    wide = counts.pivot_table(index="well", columns="elapsed_h", values="count")
    pct = 100.0 * (wide[72.0] / wide[0.0] - 1.0)
    meta = counts.drop_duplicates("well").set_index("well")[["cell_line", "treatment"]]
    return meta.assign(pct=pct).groupby(["cell_line", "treatment"])["pct"].mean()


@pytest.fixture(scope="module")
def cropped(tmp_path_factory):
    """Full-size frames of three wells, written as 320 x 320 centre crops."""
    out = tmp_path_factory.mktemp("cropped")
    info = simulate_experiment(
        out,
        times=[0, 24, 48, 72, 96],
        frame_times=[0, 48, 96],
        wells=["D1", "D10", "E4"],
        crop=(320, 320),
        jobs=1,
        progress=False,
    )
    return out, info


def test_every_true_nucleus_is_a_peak_and_counts_match(cropped):
    out, info = cropped
    truth = pd.read_csv(out / "truth.csv")
    tc = pd.read_csv(out / "truth_counts.csv")
    frames = find_frames(out, channel="red")
    assert info["n_frames"] == len(frames) == 9
    checked = 0
    for row in frames.itertuples():
        keys = (row.well, row.field, row.elapsed_h)
        mine = truth[(truth["well"] == row.well) & (truth["elapsed_h"] == row.elapsed_h)]
        stat = tc.set_index(["well", "field", "elapsed_h"]).loc[keys]
        assert stat["count_in_frame"] == len(mine)
        assert stat["count"] >= len(mine)  # the crop holds part of the full frame
        if stat["out_of_focus"]:
            continue
        dist = _peak_distances(read_frame(row.path), mine)
        assert dist.max() <= 2.0, f"{row.path}: a true nucleus {dist.max():.1f} px from a peak"
        checked += len(mine)
    assert checked > 250
    assert 0 < tc["confluence_true"].min() and tc["confluence_true"].max() < 100


def test_full_frames_without_crop_hold_exactly_the_true_count(tmp_path):
    simulate_experiment(
        tmp_path, frame_shape=(200, 300), times=[0, 96], wells=["D1"], jobs=1, progress=False
    )
    tc = pd.read_csv(tmp_path / "truth_counts.csv").dropna(subset=["count_in_frame"])
    assert (tc["count_in_frame"] == tc["count"]).all() and len(tc) == 2
    truth = pd.read_csv(tmp_path / "truth.csv")
    assert len(truth) == tc["count"].sum()
    assert truth["y"].between(0, 199).all() and truth["x"].between(0, 299).all()


def test_dense_synthetic_frames_keep_every_peak():
    for seed in range(3):
        image, truth = synthetic_frame(220, shape=(256, 256), seed=seed)  # ~4700 per full frame
        assert len(truth) == 220 and image.dtype == np.uint16
        assert _peak_distances(image, truth).max() <= 2.0
        assert truth["dividing"].sum() >= 2


def test_out_of_focus_frames_are_blurred():
    sharp, _ = synthetic_frame(60, seed=3)
    blurred, _ = synthetic_frame(60, seed=3, out_of_focus=True)
    assert blurred.max() < 0.6 * sharp.max()


def test_same_seed_same_bytes_and_subsets_render_identical_frames(tmp_path):
    kwargs = dict(frame_shape=(96, 128), times=[0, 24, 48], jobs=1, progress=False)
    a = simulate_experiment(tmp_path / "a", wells=["A1", "D1"], **kwargs)
    b = simulate_experiment(tmp_path / "b", wells=["D1"], frame_times=[0, 48], **kwargs)
    simulate_experiment(tmp_path / "c", seed=1, wells=["D1"], **kwargs)
    assert a["n_frames"] == 6 and b["n_frames"] == 2
    for name in ["export_red_count.txt", "plate_map.csv", "plate_map.PlateMap"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    for channel in ["red", "phase"]:
        for stamp in ["00d00h00m", "02d00h00m"]:
            name = f"frames/{channel}/sim_fig4_D1_1_{stamp}.tif"
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
            assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    ta = pd.read_csv(tmp_path / "a" / "truth.csv")
    tb = pd.read_csv(tmp_path / "b" / "truth.csv")
    pd.testing.assert_frame_equal(
        ta[(ta["well"] == "D1") & (ta["elapsed_h"] != 24.0)].reset_index(drop=True), tb
    )


def test_parallel_rendering_matches_serial(tmp_path):
    kwargs = dict(frame_shape=(64, 64), times=[0, 72], wells=["A1", "B1", "C1"], progress=False)
    simulate_experiment(tmp_path / "one", jobs=1, **kwargs)
    simulate_experiment(tmp_path / "two", jobs=2, **kwargs)
    for name in ["truth.csv", "truth_counts.csv", "frames/red/sim_fig4_C1_1_03d00h00m.tif"]:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_counts_do_not_depend_on_the_time_grid():
    fine = simulate_counts("fig4", seed=4, times=range(0, 97, 4))
    coarse = simulate_counts("fig4", seed=4, times=[0, 24, 72])
    merged = coarse.merge(fine, on=["well", "field", "elapsed_h"], suffixes=("", "_fine"))
    assert len(merged) == len(coarse)
    assert (merged["count"] == merged["count_fine"]).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fig4_kinetics_come_back_out_of_the_truth(seed):
    pct = _pct_change_72(simulate_counts("fig4", seed=seed, times=[0, 72]))
    assert 300 <= pct["M407", "untreated"] <= 500
    for line, sensitive in SENSITIVE.items():
        untreated = pct[line, "untreated"]
        assert 150 <= untreated <= 500, line
        for treatment in ["IFN alfa", "IFN beta", "IFN gamma", "Lipofectamine", "2'3'-cGAMP"]:
            value = pct[line, treatment]
            if treatment in sensitive:
                assert -10 <= value <= 110 and value < 0.45 * untreated, (line, treatment)
            else:
                assert value > 0.7 * untreated, (line, treatment)


def test_doses_design_is_a_monotone_hill_curve():
    counts = simulate_counts("doses", seed=0, times=[0, 72])
    end = counts[counts["elapsed_h"] == 72.0]
    by_dose = end.groupby(end["dose"].fillna(0.0))["expected"].mean()
    assert by_dose.index.tolist() == [0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
    assert np.all(np.diff(by_dose.to_numpy()) < 0)
    assert set(end["treatment"]) == {"untreated", "IFN gamma"}


def test_export_and_plate_maps_read_back(tmp_path):
    exports = pytest.importorskip("incugrowth.exports")
    platemap = pytest.importorskip("incugrowth.platemap")
    simulate_experiment(tmp_path, times=[0, 12, 72], fields=2, render_frames=False, progress=False)
    raw = (tmp_path / "export_red_count.txt").read_bytes()
    assert raw.startswith(b"Vessel Name: sim_fig4 (seed 0)\r\nMetric: Red Object Count (Per Image)")
    assert b"\r\nDate Time\tElapsed\tA1, Image 1\tA1, Image 2\tB1, Image 1\t" in raw

    counts = exports.export_to_counts(exports.read_export(tmp_path / "export_red_count.txt"))
    truth = pd.read_csv(tmp_path / "truth_counts.csv")
    both = truth.merge(counts, on=["well", "field", "elapsed_h"], suffixes=("", "_export"))
    assert len(both) == len(truth) == 90 * 2 * 3
    assert (both["count"] == both["count_export"]).all()

    csv_map = platemap.read_plate_map(tmp_path / "plate_map.csv")
    xml_map = platemap.read_plate_map(tmp_path / "plate_map.PlateMap")
    assert (tmp_path / "plate_map.PlateMap").read_bytes()[:3] == b"\xef\xbb\xbf"
    cols = ["well", "cell_line", "treatment", "dose", "dose_unit"]
    pd.testing.assert_frame_equal(csv_map[cols], xml_map[cols])
    design = get_design("fig4").plate_map()
    merged = csv_map.merge(design, on="well", suffixes=("", "_design"))
    assert len(merged) == 90
    assert (merged["treatment"] == merged["treatment_design"]).all()
    cgamp = csv_map[csv_map["treatment"] == "2'3'-cGAMP"]
    assert set(cgamp["control"]) == {"Lipofectamine"} and len(cgamp) == 15
    assert csv_map.loc[csv_map["treatment"] != "2'3'-cGAMP", "control"].isna().all()


def test_write_export_orders_wells_column_major(tmp_path):
    counts = pd.DataFrame(
        {"well": ["C2", "B3", "B2"], "field": 1, "elapsed_h": 0.0, "count": [3, 2, 1]}
    )
    text = write_export(counts, tmp_path / "e.txt").read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("Date Time")][0]
    assert header.split("\t")[2:] == ["B2, Image 1", "C2, Image 1", "B3, Image 1"]
    assert text.splitlines()[-1].split("\t")[1:] == ["0", "1", "3", "2"]


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(IncugrowthError, match="unknown design 'fig5'.*doses, fig4"):
        simulate_counts("fig5")
    with pytest.raises(IncugrowthError, match="wells not in design 'fig4': H12"):
        simulate_experiment(tmp_path, wells=["H12"], times=[0], progress=False)
    with pytest.raises(IncugrowthError, match="crop 512 x 512 is larger than the frame"):
        simulate_experiment(tmp_path, frame_shape=(256, 256), crop=(512, 512), progress=False)
    with pytest.raises(IncugrowthError, match="frame_times 5 h are not among the scan times"):
        simulate_experiment(tmp_path, times=[0, 4], frame_times=[5], progress=False)
    with pytest.raises(IncugrowthError, match="missing column.*rate_per_h"):
        Design("bad", pd.DataFrame({"well": ["B2"], "cell_line": "x", "treatment": "y",
                                    "seeding": [1.0]}))  # fmt: skip


def test_design_from_csv_table(tmp_path):
    table = pd.DataFrame(
        {
            "well": ["b2", "B3"],
            "cell_line": "M407",
            "treatment": ["untreated", "drug"],
            "dose": [np.nan, 1.0],
            "dose_unit": ["", "uM"],
            "seeding": 200.0,
            "rate_per_h": 0.03,
            "effect": [0.0, 0.9],
        }
    )
    table.to_csv(tmp_path / "mine.csv", index=False)
    counts = simulate_counts(str(tmp_path / "mine.csv"), seed=0, times=[0, 72])
    end = counts[counts["elapsed_h"] == 72].set_index("well")["expected"]
    assert end["B2"] > 2 * end["B3"]
    assert get_design(str(tmp_path / "mine.csv")).wells["well"].tolist() == ["B2", "B3"]
