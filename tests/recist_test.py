"""RECIST geometry: axes from masks, the ROI box, crop/paste round trip, zoom factors."""

import cv2
import numpy as np
import pytest

from sgan_tf.data import recist
from sgan_tf.errors import DataError


def _ellipse(shape=(120, 140), center=(70, 60), axes=(30, 12), angle=30):
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, center, axes, angle, 0, 360, 1, -1)
    return mask


@pytest.mark.parametrize("angle", [0, 30, 90, 135])
def test_axes_of_an_ellipse_are_its_diameters_and_perpendicular(angle):
    mask = _ellipse(angle=angle)
    pts = recist.recist_from_mask(mask)
    long_d, short_d = recist.axis_lengths(pts)
    assert long_d == pytest.approx(60, abs=1.5)
    assert short_d == pytest.approx(24, abs=1.5)
    d_long, d_short = pts[1] - pts[0], pts[3] - pts[2]
    cos = abs(d_long @ d_short) / (np.linalg.norm(d_long) * np.linalg.norm(d_short))
    assert cos < np.sin(np.radians(3))
    for x, y in pts:  # endpoints lie on the lesion
        assert mask[int(round(y)), int(round(x))] or mask[int(y), int(x)]


def test_long_axis_is_the_max_feret_diameter_of_an_irregular_mask():
    rng = np.random.default_rng(3)
    mask = np.zeros((80, 80), np.uint8)
    for _ in range(5):
        cv2.circle(mask, tuple(int(v) for v in rng.integers(25, 55, 2)), int(rng.integers(4, 12)), 1, -1)
    ys, xs = np.nonzero(mask)
    p = np.stack([xs, ys], 1).astype(float)
    brute = np.max(np.linalg.norm(p[:, None] - p[None], axis=-1))
    assert recist.axis_lengths(recist.recist_from_mask(mask))[0] == pytest.approx(brute, abs=1e-6)


def test_empty_mask_has_no_axes():
    with pytest.raises(ValueError):
        recist.recist_from_mask(np.zeros((5, 5)))


def test_check_recist_rejects_outside_points_zero_axes_and_nan():
    good = np.array([[10, 10], [30, 10], [20, 5], [20, 15]], float)
    recist.check_recist(good, (40, 40), "row")
    with pytest.raises(DataError, match="row 7.*outside the 40x40"):
        recist.check_recist(good + [15, 0], (40, 40), "row 7")
    with pytest.raises(DataError, match="long axis has zero length"):
        recist.check_recist(np.array([[10, 10], [10, 10], [20, 5], [20, 15]], float), (40, 40), "r")
    with pytest.raises(DataError, match="short axis"):
        recist.check_recist(np.array([[10, 10], [30, 10], [20, 5], [20, 5]], float), (40, 40), "r")
    with pytest.raises(DataError, match="not finite"):
        recist.check_recist(np.where(good == 30, np.nan, good), (40, 40), "r")


def test_roi_is_square_twice_the_long_diameter_and_centred():
    pts = np.array([[40, 50], [60, 50], [50, 45], [50, 55]], float)  # long 20, centre (50, 50)
    box = recist.roi_box(pts)
    assert box.side == 40
    assert (box.x0 + (box.side - 1) / 2, box.y0 + (box.side - 1) / 2) == pytest.approx((50, 50), abs=0.5)
    assert recist.roi_box(np.array([[5, 5], [6, 5], [5.5, 4.8], [5.5, 5.2]])).side == recist.MIN_SIDE


def test_crop_then_paste_round_trips_and_pads_with_air_at_the_border():
    rng = np.random.default_rng(0)
    image = rng.normal(0, 100, (60, 70)).astype(np.float32)
    inner = recist.RoiBox(10, 12, 30)
    np.testing.assert_array_equal(recist.crop(image, inner), image[12:42, 10:40])
    edge = recist.RoiBox(-8, 45, 24)
    assert edge.overhangs(image.shape) and not inner.overhangs(image.shape)
    roi = recist.crop(image, edge)
    assert roi.shape == (24, 24)
    assert np.all(roi[:, :8] == recist.PAD_HU) and np.all(roi[15:, :] == recist.PAD_HU)
    np.testing.assert_array_equal(roi[:15, 8:], image[45:60, 0:16])
    truth = (rng.random((60, 70)) > 0.5).astype(np.uint8)
    for box in (inner, edge):
        pasted = recist.paste_mask(recist.crop(truth, box, pad_value=0), box, truth.shape)
        inside = np.zeros_like(truth)
        inside[max(box.y0, 0): box.y0 + box.side, max(box.x0, 0): box.x0 + box.side] = 1
        np.testing.assert_array_equal(pasted, truth * inside)


def test_zoomed_roi_mask_pastes_back_and_points_map_both_ways():
    box = recist.RoiBox(20, 30, 16)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:10, 6:12] = 1
    zoomed = cv2.resize(mask, (48, 48), interpolation=cv2.INTER_NEAREST)
    pasted = recist.paste_mask(zoomed, box, (80, 80))
    assert pasted[34:40, 26:32].all() and pasted.sum() == mask.sum()
    pts = np.array([[20.0, 30.0], [35.0, 45.0], [27.3, 33.1]])
    np.testing.assert_allclose(recist.to_slice(recist.to_roi(pts, box, 3.0), box, 3.0), pts)
    np.testing.assert_allclose(recist.to_roi(np.array([[20.0, 30.0]]), box, 3.0), [[1.0, 1.0]])


def test_zoom_enlarges_small_lesions_more_with_a_cap():
    assert recist.zoom_factor(8) == recist.MAX_ZOOM == 4.0
    assert recist.zoom_factor(32) == pytest.approx(2.0)
    assert recist.zoom_factor(100) == 1.0
    assert recist.zoom_factor(10, target_px=30, max_zoom=2.5) == 2.5
    zooms = [recist.zoom_factor(d) for d in (6, 12, 20, 40, 80)]
    assert zooms == sorted(zooms, reverse=True)
    with pytest.raises(ValueError):
        recist.zoom_factor(0)
