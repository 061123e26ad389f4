"""Known-answer tests of phase confluence and the phase-contrast check on synthetic frames."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

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
    """Sheets of cells from a third to fully covered, 8- and 16-bit, are phase contrast;
    bright nuclei on a dark background (sparse and dense) are not."""
    from incugrowth.simulate import synthetic_frame

    for share in (0.33, 0.66, 1.0):
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
