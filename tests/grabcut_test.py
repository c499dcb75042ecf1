"""GrabCut from RECIST marks: the 8-bit rule, recovery of synthetic and simulated CT lesions,
determinism, the connected-part filter and the no-background path."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import smooth_image
from sgan_tf.data import phantom, recist
from sgan_tf.data.ct import NETWORK_WINDOW
from sgan_tf.segment import grabcut as G
from sgan_tf.segment.trimap import make_trimap


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def blob_roi(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, truth, RECIST points) in the paper's ROI: a bright irregular blob (an ellipse
    with random radial wobble) on a smooth textured background on [0, 1]."""
    rng = np.random.default_rng(seed)
    n = 160
    yy, xx = np.mgrid[:n, :n] - n / 2
    phi, r = np.arctan2(yy, xx), np.hypot(xx, yy)
    a, b, turn = rng.uniform(18, 30), rng.uniform(12, 18), rng.uniform(0, np.pi)
    radius = a * b / np.hypot(b * np.cos(phi - turn), a * np.sin(phi - turn))
    radius *= 1 + sum(rng.uniform(0, 0.2 / k) * np.cos(k * phi + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4))
    truth = (r <= radius).astype(np.uint8)
    image = 0.25 + 0.3 * smooth_image(rng, n, n) + 0.35 * truth + rng.normal(0, 0.02, (n, n))
    points = recist.recist_from_mask(truth)
    box = recist.roi_box(points)
    return (recist.crop(image.astype(np.float32), box, 0.0), recist.crop(truth, box, 0),
            recist.to_roi(points, box))


def test_to_uint8_rule():
    x = np.array([[0.0, 0.5, 1.0], [-0.2, 1.3, 0.2]], np.float32)
    out = G.to_uint8(x)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out[:, :, 0], [[0, 128, 255], [0, 255, 51]])
    assert (out == out[:, :, :1]).all()  # one channel repeated
    np.testing.assert_array_equal(G.to_uint8(x[:, :, None]), out)
    composite = np.stack([x, 1 - x, np.full_like(x, 0.1)], axis=-1)
    c = G.to_uint8(composite)
    np.testing.assert_array_equal(c[:, :, 0], out[:, :, 0])  # channels kept in order
    np.testing.assert_array_equal(c[:, :, 1], [[255, 128, 0], [255, 0, 204]])
    assert (c[:, :, 2] == 26).all()
    with pytest.raises(ValueError, match="image"):
        G.to_uint8(np.zeros((4, 4, 2), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        G.to_uint8(np.array([[0.5, np.nan]], np.float32))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_a_synthetic_lesion(seed):
    image, truth, points = blob_roi(seed)
    mask = G.grabcut(image, points)
    assert mask.dtype == np.uint8 and mask.shape == truth.shape and set(np.unique(mask)) <= {0, 1}
    assert dice(mask, truth) > 0.95
    # The trimap alone (foreground classes) is a much worse segmentation.
    t = make_trimap(truth.shape, points)
    assert dice(np.isin(t, (cv2.GC_FGD, cv2.GC_PR_FGD)), truth) < dice(mask, truth) - 0.1


# Simulated 256 px slices: liver (homogeneous), pelvis (necrotic), mediastinum, kidney.
PHANTOM_SLICES = (0, 4, 5, 14)


@pytest.fixture(scope="module")
def phantom_rois() -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(noisy, clean, truth, points) ROIs of simulated slices on the network scale."""
    rois = []
    for index in PHANTOM_SLICES:
        sl = phantom.make_slice(index, seed=0, size=256)
        points = recist.recist_from_mask(sl.mask)
        box = recist.roi_box(points)
        noisy, clean = (NETWORK_WINDOW.to_unit(recist.crop(hu, box)) for hu in (sl.noisy, sl.clean))
        rois.append((noisy, clean, recist.crop(sl.mask.astype(np.uint8), box, 0), recist.to_roi(points, box)))
    return rois


def test_recovers_simulated_ct_lesions(phantom_rois):
    """Dice on these four (measured): clean 0.98 0.99 0.94 0.95, noisy 0.94 0.97 0.93 0.93."""
    for noisy, clean, truth, points in phantom_rois:
        assert dice(G.grabcut(clean, points), truth) > 0.9
        assert dice(G.grabcut(noisy, points), truth) > 0.85


def test_composite_input(phantom_rois):
    noisy, clean, truth, points = phantom_rois[0]
    composite = np.stack([noisy, clean, clean], axis=-1)
    assert dice(G.grabcut(composite, points), truth) > 0.9


def test_deterministic(phantom_rois):
    noisy, _, _, points = phantom_rois[1]
    first = G.grabcut(noisy, points)
    cv2.randu(np.zeros((100, 100), np.float32), 0, 1)  # advance OpenCV's random generator
    np.testing.assert_array_equal(G.grabcut(noisy, points), first)
    np.testing.assert_array_equal(G.grabcut(noisy.copy(), points.copy()), first)


def test_keeps_only_parts_holding_the_axes():
    """A look-alike blob in the probable background, apart from the lesion, is found by
    GrabCut and dropped by the connected-part filter."""
    image = np.full((60, 60), 0.2, np.float32)
    cv2.circle(image, (20, 30), 8, 0.8, -1)  # the lesion
    cv2.circle(image, (45, 30), 4, 0.8, -1)  # a look-alike
    points = np.array([[12.0, 30.0], [28.0, 30.0], [20.0, 22.0], [20.0, 38.0]])
    trimap = np.full((60, 60), cv2.GC_BGD, np.uint8)
    trimap[10:50, 5:55] = cv2.GC_PR_BGD
    trimap[make_trimap((60, 60), points) == cv2.GC_FGD] = cv2.GC_FGD
    both = G.grabcut(image, points, trimap=trimap, keep_connected=False)
    assert both[30, 45] == 1 and both[30, 20] == 1
    kept = G.grabcut(image, points, trimap=trimap)
    assert kept[30, 45] == 0 and kept[30, 20] == 1
    np.testing.assert_array_equal(kept[:, :35], both[:, :35])


def test_without_background_returns_the_initial_foreground():
    image = smooth_image(np.random.default_rng(0), 20, 20)
    points = np.array([[2.0, 10.0], [17.0, 10.0], [10.0, 3.0], [10.0, 16.0]])
    trimap = np.full((20, 20), cv2.GC_PR_FGD, np.uint8)
    with pytest.raises(cv2.error):  # what GrabCut itself does with no background sample
        cv2.grabCut(G.to_uint8(image), trimap.copy(), None, np.zeros((1, 65)), np.zeros((1, 65)), 1,
                    cv2.GC_INIT_WITH_MASK)
    np.testing.assert_array_equal(G.grabcut(image, points, trimap=trimap), np.ones((20, 20), np.uint8))


def test_user_trimap_gets_a_foreground_seed():
    image, truth, points = blob_roi(0)
    trimap = np.where(make_trimap(truth.shape, points) == cv2.GC_FGD, cv2.GC_PR_FGD,
                      make_trimap(truth.shape, points)).astype(np.uint8)
    assert dice(G.grabcut(image, points, trimap=trimap), truth) > 0.9


def test_rejects_bad_trimaps():
    image, truth, points = blob_roi(0)
    with pytest.raises(ValueError, match="shape"):
        G.grabcut(image, points, trimap=np.zeros((5, 5), np.uint8))
    with pytest.raises(ValueError, match="codes"):
        G.grabcut(image, points, trimap=np.full(truth.shape, 255, np.uint8))
