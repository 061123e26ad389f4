"""Known-answer tests of phase confluence (frame by frame and at the dish level of a well)
and of the phase-contrast check, on synthetic frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage as ndi

from incugrowth.batch import count_frames
from incugrowth.dish import apply_dish_reference, well_dish_levels
from incugrowth.image import looks_like_phase_contrast, phase_confluence, phase_mask
from incugrowth.image.confluence import dish_contrast, reference_dish_contrast


def sheet(shape=(300, 400), *, spacing=22, texture=0.03, noise=0.004, covered=None, seed=0):
    """Phase frame of touching cells (a Voronoi sheet of `spacing` px cells: slightly dark
    bodies with granular insides, dark rims where cells meet) on a grey dish of camera
    `noise`; `covered` (bool array) says where the sheet is, the whole frame by default.
    Returns the frame (float, dish at 0.5) and the covered share in percent."""
    rng = np.random.default_rng(seed)
    covered = np.ones(shape, bool) if covered is None else covered
    n = int(shape[0] * shape[1] / spacing**2)
    seeds = rng.uniform((0, 0), shape, (n, 2))
    _, (iy, ix) = ndi.distance_transform_edt(
        np.ones(shape, bool) ^ _points(shape, seeds), return_indices=True
    )
    label = iy * shape[1] + ix
    rim = np.zeros(shape, bool)
    rim[:-1] |= label[:-1] != label[1:]
    rim[:, :-1] |= label[:, :-1] != label[:, 1:]
    rim = ndi.binary_dilation(rim) & covered
    grain = texture * ndi.gaussian_filter(rng.standard_normal(shape), 1.0) / 0.28
    frame = np.full(shape, 0.5)
    frame += np.where(covered, grain - 0.04, 0) - 0.12 * rim
    halo = ndi.binary_dilation(covered, iterations=3) & ~covered  # bright, just outside
    frame += 0.2 * halo
    frame += noise * rng.standard_normal(shape)
    return frame, 100.0 * covered.mean()


def _points(shape, seeds):
    pts = np.zeros(shape, bool)
    pts[tuple(np.clip(seeds.astype(int), 0, np.array(shape) - 1).T)] = True
    return pts


def dish(shape=(300, 400), noise=0.004, seed=1):
    return 0.5 + noise * np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("dtype", [np.float64, np.uint8, np.uint16])
def test_an_empty_dish_reads_zero_and_a_confluent_sheet_nearly_all(dtype):
    """A frame of dish only reads ~0 %; a frame covered by cells edge to edge reads over
    90 % (a cut between the frame's rougher and smoother parts would read about half)."""

    def cast(frame):
        if dtype is np.float64:
            return frame
        top = np.iinfo(dtype).max
        return np.round(np.clip(frame / 1.2, 0, 1) * top).astype(dtype)

    assert phase_confluence(cast(dish())) < 0.5
    full, truth = sheet(seed=2)
    assert truth == 100.0
    assert phase_confluence(cast(full)) > 90


def test_a_half_covered_frame_reads_half():
    covered = np.zeros((300, 400), bool)
    covered[:, :200] = True
    frame, truth = sheet(covered=covered, seed=3)
    assert truth == 50.0
    assert phase_confluence(frame) == pytest.approx(50.0, abs=4)


def test_the_halo_is_not_counted_as_cell():
    """Round dark cells, each ringed just outside its edge by a broad bright halo (a third
    of the cell's radius): the mask keeps the cells and drops the halos, so the
    confluence is the cells' area, not that of cells and halos (which is 1.7 times it)."""
    rng = np.random.default_rng(4)
    shape = (300, 400)
    yy, xx = np.indices(shape)
    frame = dish(shape, seed=5)
    cells = np.zeros(shape, bool)
    halos = np.zeros(shape, bool)
    for y, x in [(60, 70), (60, 200), (60, 330), (160, 130), (160, 270), (250, 70), (250, 330)]:
        r = np.hypot(yy - y, xx - x)
        cells |= r < 16
        halos |= (r >= 16) & (r < 21)
    frame[cells] -= 0.12
    frame[cells] += 0.03 * ndi.gaussian_filter(rng.standard_normal(shape), 1.0)[cells] / 0.28
    frame[halos] += 0.18
    truth = 100 * cells.mean()
    mask = phase_mask(frame)
    assert phase_confluence(frame) == pytest.approx(truth, abs=1.0)
    assert (cells | halos).mean() > 1.7 * cells.mean()
    assert np.count_nonzero(mask & halos) < 0.1 * np.count_nonzero(halos)


def test_clusters_are_not_read_with_their_gaps():
    """Four clusters of 3 x 3 round dark cells, each in a bright halo, with a little dish
    between the halos of neighbours: the gaps inside a cluster are not filled as holes, so
    the confluence is the cells' area (9.2 %), not that of the clusters' outlines."""
    rng = np.random.default_rng(11)
    shape = (300, 400)
    yy, xx = np.indices(shape)
    frame = dish(shape, seed=12)
    cells = np.zeros(shape, bool)
    halos = np.zeros(shape, bool)
    for cy, cx in [(80, 100), (80, 300), (220, 100), (220, 300)]:
        for dy in (-30, 0, 30):
            for dx in (-30, 0, 30):
                r = np.hypot(yy - cy - dy, xx - cx - dx)
                cells |= r < 10
                halos |= (r >= 10) & (r < 13)
    frame[cells] -= 0.12
    frame[cells] += 0.03 * ndi.gaussian_filter(rng.standard_normal(shape), 1.0)[cells] / 0.28
    frame[halos] += 0.18
    truth = 100 * cells.mean()
    outlines = 100 * ndi.binary_fill_holes(ndi.binary_closing(cells | halos, iterations=4)).mean()
    assert outlines > 1.8 * truth
    assert phase_confluence(frame) == pytest.approx(truth, abs=1.5)


def test_the_dish_reference_keeps_a_smooth_confluent_sheet_whole():
    """Cells of little texture (a grain only 3 times the camera noise) cover the frame. The
    frame alone cannot tell its flattest cells from a dish and reads part of the sheet; with
    the well's dish level, measured on an early frame of dish only, it reads all of it."""
    full, _ = sheet(texture=0.008, noise=0.002, seed=6)
    early = dish(noise=0.002, seed=7)
    level = dish_contrast(early)
    assert level < dish_contrast(full)
    alone = phase_confluence(full)
    with_reference = phase_confluence(full, dish=level)
    assert with_reference > 90
    assert alone < with_reference - 20


def test_a_noisy_camera_reads_its_dish_as_dish_with_or_without_the_reference():
    """A camera four times as noisy as the frame alone allows for (dish noise 5 % of the
    mean): a half-covered frame reads half, alone and with the well's dish level (the lower
    quartile over its frames)."""
    covered = np.zeros((300, 400), bool)
    covered[:, :200] = True
    frames = [sheet(covered=covered, noise=0.025, texture=0.12, seed=s)[0] for s in range(3)]
    frames.append(dish(noise=0.025, seed=9))
    level = reference_dish_contrast([dish_contrast(f) for f in frames])
    assert level > 2 * 0.012  # above the level a frame alone is trusted with
    assert phase_confluence(frames[0]) == pytest.approx(50, abs=5)
    assert phase_confluence(frames[0], dish=level) == pytest.approx(50, abs=5)


def test_reference_dish_contrast_ignores_missing_and_blank_levels():
    assert reference_dish_contrast([None, 0.0, float("nan")]) is None
    assert reference_dish_contrast([0.01, None, 0.0, 0.02, 0.03]) == pytest.approx(0.015)


def test_confluent_phase_frames_look_like_phase_and_fluorescence_does_not():
    """Sheets of cells from a fifth to fully covered, 8- and 16-bit, are phase contrast;
    bright nuclei on a dark background (sparse and dense) are not."""
    from incugrowth.simulate import synthetic_frame

    for share in (0.2, 0.5, 0.8, 0.9, 1.0):
        covered = np.zeros((300, 400), bool)
        covered[:, : int(400 * share)] = True
        frame, _ = sheet(covered=covered, seed=int(10 * share))
        for dtype in (np.uint8, np.uint16):
            top = np.iinfo(dtype).max
            assert looks_like_phase_contrast(
                np.round(np.clip(frame / 1.2, 0, 1) * top).astype(dtype)
            )
    for n in (5, 60, 250):
        assert not looks_like_phase_contrast(synthetic_frame(n, shape=(300, 300), seed=n)[0])


def _write(path, frame):
    tifffile.imwrite(path, np.round(np.clip(frame / 1.2, 0, 1) * 65535).astype(np.uint16))
    return str(path)


def test_a_confluent_frame_takes_the_dish_level_of_its_well(tmp_path):
    """Well A1: two early frames with dish in view (a quarter and half covered by smooth
    cells), then the sheet covers it all. Alone, the confluent frame reads part of the
    sheet; at the well's dish level it reads all of it, and the early frames do not change.
    Well B1 has a single confluent frame: it takes the plate's level."""
    rows = []
    for i, share in enumerate((0.25, 0.5, 1.0, 1.0)):
        covered = np.zeros((300, 400), bool)
        covered[:, : int(400 * share)] = True
        frame, _ = sheet(covered=covered, texture=0.008, noise=0.002, seed=20 + i)
        rows.append(("A1", float(24 * i), _write(tmp_path / f"A1_{i}.tif", frame)))
    full, _ = sheet(texture=0.008, noise=0.002, seed=30)
    rows.append(("B1", 0.0, _write(tmp_path / "B1_0.tif", full)))
    phase = pd.DataFrame(rows, columns=["well", "elapsed_h", "path"]).assign(field=1)
    records = count_frames(phase, kind="confluence", jobs=1)
    assert records["dish_contrast"].notna().all()
    levels = well_dish_levels(phase, records)
    plate = reference_dish_contrast(records["dish_contrast"])
    assert levels.iloc[-1] == pytest.approx(plate)  # B1 takes the plate's level
    assert levels.iloc[0] < records["dish_contrast"].iloc[2]  # below the confluent frame's own
    out = apply_dish_reference(phase, records, jobs=1)
    alone = records["confluence"].to_numpy()
    with_well = out["confluence"].to_numpy()
    assert with_well[2] > 90 and with_well[3] > 90 and with_well[4] > 90
    assert alone[2] < with_well[2] - 20
    np.testing.assert_allclose(with_well[:2], alone[:2], atol=1.0)
    assert with_well[1] == pytest.approx(50, abs=4)
    # the same as measuring the frame with the well's level directly
    image = tifffile.imread(phase["path"].iloc[2])
    assert with_well[2] == pytest.approx(phase_confluence(image, dish=levels.iloc[2]))


def test_frames_without_a_level_keep_their_own_measure():
    phase = pd.DataFrame({"path": ["a", "b"], "well": ["A1", "A1"]})
    records = pd.DataFrame({"path": ["a", "b"], "confluence": [np.nan, np.nan],
                            "dish_contrast": [np.nan, np.nan]})  # fmt: skip
    out = apply_dish_reference(phase, records)
    assert out["dish_reference"].isna().all() and out["confluence"].isna().all()


@pytest.mark.parametrize("seed", range(3))
def test_a_nearly_empty_fluorescence_frame_is_not_phase(seed):
    """A dark 8-bit field (background a few counts, clipped at 0, with a smooth unevenness)
    and one bright nucleus: its dark side is as rough as its bright side apart from the
    nucleus, but the one nucleus makes it strongly right-skewed: fluorescence."""
    rng = np.random.default_rng(seed)
    shape = (256, 256)
    field = 4 + ndi.gaussian_filter(rng.standard_normal(shape), 6) / 0.047
    field += 0.6 * rng.standard_normal(shape)
    yy, xx = np.indices(shape)
    field += 200 * np.exp(-((yy - 120) ** 2 + (xx - 90) ** 2) / 30)
    assert not looks_like_phase_contrast(np.clip(np.round(field), 0, 255).astype(np.uint8))
