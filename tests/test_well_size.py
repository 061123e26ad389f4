"""One nucleus size per well in the batch path: robust to bad frames, flagged, journaled."""

import re

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage.draw import disk

from incugrowth import batch
from incugrowth.cli import main
from incugrowth.errors import IncugrowthWarning
from incugrowth.image.calibrate import robust_size, size_disagrees, well_sizes

RADIUS = 8  # nuclei 16 px across; the estimator reads about 17


def frame(n, *, seed=0, radius=RADIUS, specks=0, blur=0.0, shape=(240, 300)):
    """A 16-bit frame of `n` separate bright disks; `specks` small bright dots of debris
    (a nearly empty frame's size estimate follows them), `blur` a Gaussian defocus."""
    rng = np.random.default_rng(seed)
    img = np.zeros(shape)
    placed = []
    while len(placed) < n:
        c = rng.uniform(radius * 2, np.array(shape) - radius * 2)
        if all(np.hypot(*(c - p)) > 3.2 * radius for p in placed):
            placed.append(c)
            img[disk(tuple(c), radius, shape=shape)] += rng.uniform(1500, 3000)
    for _ in range(specks):
        img[disk(tuple(rng.uniform(2, np.array(shape) - 2)), 1.5, shape=shape)] += 2500
    if blur:
        img = ndi.gaussian_filter(img, blur)
    img += rng.normal(400, 20, shape)
    return np.clip(img, 0, 65535).astype(np.uint16)


def write(folder, well, frames):
    red = folder / "red"
    red.mkdir(parents=True, exist_ok=True)
    for t, img in enumerate(frames):
        name = f"VID1_{well}_1_{t // 24:02d}d{t % 24:02d}h00m.tif"
        tifffile.imwrite(red / name, img, compression="zlib")
    return folder


def sharp(k, n=20, radius=RADIUS):
    return [frame(n + i, seed=10 * i + 1, radius=radius) for i in range(k)]


def disagreeing_well(folder):
    """Four sharp frames, one defocused (estimate ~27 px), one nearly empty (2 nuclei
    among debris: estimate ~4 px, and 57 objects when counted at that size)."""
    bad = [frame(20, seed=7, blur=8.0), frame(2, seed=8, specks=40)]
    return write(folder, "B2", sharp(4) + bad)


def test_a_well_is_counted_with_one_size_and_its_bad_frames_flagged(tmp_path):
    folder = disagreeing_well(tmp_path / "frames")
    counts = batch.count_folder(folder, jobs=1)
    assert counts["diameter_px"].nunique() == 1
    size = counts["diameter_px"].iloc[0]
    assert size == pytest.approx(2 * RADIUS, rel=0.15)
    own = counts["frame_diameter_px"].to_numpy()
    assert own[4] > 1.5 * size and own[5] < size / 1.5  # the frames' own estimates
    flagged = counts["qc_flag"].str.contains("size_disagrees").tolist()
    assert flagged == [False] * 4 + [True, True]
    # counted with the well's size, the nearly empty frame has its 2 nuclei (and a few
    # clumps of debris), not the 57 specks its own size finds
    assert counts["count"].tolist()[:4] == [20, 21, 22, 23]
    assert abs(counts["count"].iloc[4] - 20) <= 2  # the defocused frame
    assert counts["count"].iloc[5] <= 4
    sizes = batch.size_table(counts)
    row = sizes.set_index("well").loc["B2"]
    assert row["source"] == "well" and row["n_estimated"] == 6 and row["n_agree"] == 4
    assert row["frames_flagged"] == 2 and row["diameter_px"] == size


def test_a_given_diameter_overrides_the_well_size(tmp_path):
    folder = disagreeing_well(tmp_path / "frames")
    counts = batch.count_folder(folder, jobs=1, diameter=12.0)
    assert (counts["diameter_px"] == 12.0).all()
    assert counts["frame_diameter_px"].notna().all()  # the check is still made
    assert counts["qc_flag"].str.contains("size_disagrees").tolist()[4:] == [True, True]
    assert batch.size_table(counts)["source"].tolist() == ["given"]


def test_a_changed_well_size_recounts_the_well_from_the_journal(tmp_path):
    folder = write(tmp_path / "frames", "B2", sharp(5))
    cache = tmp_path / "cache"
    first = batch.count_folder(folder, jobs=1, cache_dir=cache)
    again = batch.count_folder(folder, jobs=1, cache_dir=cache)
    assert again.attrs["measured"] == 0 and again.attrs["sized"] == 0
    # three of five frames now show nuclei 1.25 times larger: the well's size changes, so
    # the two frames left as they were are counted again with it
    for t in (0, 1, 2):
        big = frame(15, seed=t, radius=10)
        tifffile.imwrite(next((folder / "red").glob(f"*00d{t:02d}h00m.tif")), big)
    third = batch.count_folder(folder, jobs=1, cache_dir=cache)
    assert third.attrs["measured"] == 5 and third.attrs["sized"] == 3
    assert third["diameter_px"].iloc[0] > 1.15 * first["diameter_px"].iloc[0]
    assert third["diameter_px"].nunique() == 1


def test_wells_of_too_few_frames_take_the_plate_size(tmp_path):
    folder = disagreeing_well(tmp_path / "frames")
    write(folder, "C2", [frame(15, seed=40)])  # one frame: too few for a size of its own
    with warnings_as_list() as caught:
        counts = batch.count_folder(folder, jobs=1)
    sizes = batch.size_table(counts).set_index("well")
    assert sizes.loc["C2", "source"] == "plate"
    assert sizes.loc["C2", "diameter_px"] == sizes.loc["B2", "diameter_px"]
    assert not sizes.loc["C2", "uncertain"]  # its one estimate agrees with the plate
    assert not [w for w in caught if "uncertain nucleus size" in str(w.message)]


def test_count_warns_of_a_well_whose_frames_do_not_agree(tmp_path, capsys):
    folder = disagreeing_well(tmp_path / "frames")
    # half its frames nearly empty: no size of its own (the plate's), and uncertain
    debris = [frame(2, seed=50 + i, specks=40) for i in range(2)]
    write(folder, "D5", sharp(2, radius=6) + debris)
    out = tmp_path / "out" / "counts.csv"
    assert main(["count", str(folder), "-o", str(out), "--jobs", "1"]) == 0
    err = capsys.readouterr()
    assert "1 well(s) are counted with an uncertain nucleus size" in err.err
    assert "D5 (its frames disagree; the plate" in err.err and "--diameter" in err.err
    sizes = pd.read_csv(out.parent / "counts_sizes.csv")
    assert sizes["well"].tolist() == ["B2", "D5"]
    assert sizes["source"].tolist() == ["well", "plate"]
    assert sizes["uncertain"].tolist() == [False, True]
    assert "counts_sizes.csv" in err.out


def test_robust_size_ignores_the_frames_that_contradict_the_rest():
    assert robust_size([17.0, 17.2, 16.8, 27.0, 4.4]) == (17.0, 3, pytest.approx(0.4 / 17))
    assert size_disagrees([25.0, 26.0, 11.0], 17.0).tolist() == [False, True, True]
    est = pd.DataFrame({"well": ["A1", "A1", "A2"], "frame_diameter_px": [np.nan] * 3})
    sizes = well_sizes(est)  # no frame has an estimate: no size, each frame its own
    assert sizes["source"].tolist() == ["none", "none"]


class warnings_as_list:
    """Record every warning (the suite turns warnings into errors)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings(record=True)
        caught = self._cm.__enter__()
        warnings.simplefilter("always")
        return caught

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def test_an_uncertain_well_is_named_in_a_warning(tmp_path):
    folder = write(tmp_path / "frames", "E3", sharp(2) + [frame(2, seed=9, specks=40)] * 2)
    with pytest.warns(IncugrowthWarning, match=r"uncertain nucleus size: E3 \(its frames disagree"):
        batch.count_folder(folder, jobs=1)


def test_only_a_sample_of_a_large_well_is_estimated(tmp_path):
    """The size of a well of many frames rests on a sample (all of a small well): the
    others are counted with it without an estimate of their own."""
    frames = [frame(6 + i % 3, seed=i, radius=6, shape=(96, 120)) for i in range(30)]
    counts = batch.count_folder(write(tmp_path / "frames", "B2", frames), jobs=1)
    assert counts.attrs["sized"] == 12 and counts.attrs["measured"] == 30
    assert counts["frame_diameter_px"].notna().sum() == 12
    assert counts["diameter_px"].nunique() == 1
    assert batch.size_table(counts)["n_estimated"].tolist() == [12]


def test_a_well_keeps_its_size_when_the_estimate_moves_a_little(tmp_path, monkeypatch):
    """A growing acquisition moves a well's estimate by a few percent: the frames counted
    are not counted again for that; a larger change counts the well again."""
    import incugrowth.image

    folder = write(tmp_path / "frames", "B2", sharp(4))
    cache = tmp_path / "cache"
    monkeypatch.setattr(incugrowth.image, "estimate_diameter", lambda image: 17.0)
    first = batch.count_folder(folder, jobs=1, cache_dir=cache)
    for shown, counted in ((17.6, 0), (19.0, 4)):
        (cache / batch.JOURNAL).write_text(
            "".join(
                line + "\n"
                for line in (cache / batch.JOURNAL).read_text().splitlines()
                if '"kind": "size"' not in line  # the sizes are estimated again
            )
        )
        monkeypatch.setattr(incugrowth.image, "estimate_diameter", lambda image, d=shown: d)
        again = batch.count_folder(folder, jobs=1, cache_dir=cache)
        assert again.attrs["measured"] == counted
    assert first["diameter_px"].iloc[0] == pytest.approx(17.0, rel=0.02)
    assert again["diameter_px"].iloc[0] == pytest.approx(19.0, rel=0.02)


def test_the_report_shows_each_wells_size_and_names_the_uncertain_ones(tmp_path):
    from test_report import make_run_folder

    from incugrowth.report import write_report

    outdir = tmp_path / "out"
    make_run_folder(outdir, frames=str(tmp_path / "frames"))
    counts = pd.read_csv(outdir / "counts.csv")
    wells = sorted(counts["well"].unique())
    sizes = pd.DataFrame(
        {"well": wells, "diameter_px": 12.43, "source": "well", "n_estimated": 12,
         "n_agree": 12, "spread": 0.08, "uncertain": False, "frames_flagged": 0}
    )  # fmt: skip
    sizes.loc[1, ["diameter_px", "source", "uncertain", "spread"]] = [11.9, "plate", True, 0.6]
    sizes.to_csv(outdir / "sizes.csv", index=False)
    text = write_report(outdir, figures=False, gallery=False).read_text(encoding="utf-8")
    section = text[text.index('<section id="sizes">') : text.index('<section id="warnings">')]
    assert re.search(rf"rest on an uncertain size:\s*<code>{wells[1]}</code>\. Look", section)
    assert section.count("<tr><td><code>") == len(wells)
    assert "11.90 px" in section and "60 %" in section
    methods = text[text.index('<section id="methods">') :]
    assert f"12.43 px ({wells[0]}, {wells[2]}," in methods
    assert f"11.90 px ({wells[1]}, the plate" in methods
