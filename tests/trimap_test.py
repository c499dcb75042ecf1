"""The RECIST trimap: region definitions at known pixels, and invariants over many marks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sgan_tf.data import recist
from sgan_tf.segment import trimap as T

BGD, FGD, PR_BGD, PR_FGD = cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD

# A horizontal lesion: long axis 40 px on y = 30, short axis 20 px on x = 30; the paper's ROI is 80 px.
HORIZONTAL = np.array([[10.0, 30.0], [50.0, 30.0], [30.0, 20.0], [30.0, 40.0]])


def random_marks(rng: np.random.Generator, long_px: float) -> np.ndarray:
    """RECIST-like points: a long axis at a random angle, a perpendicular short axis crossing
    it somewhere in its middle half, both jittered by up to 0.5 px."""
    angle = rng.uniform(0, np.pi)
    d, n = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    short = long_px * rng.uniform(0.2, 1.0)
    at, above = rng.uniform(0.25, 0.75) * long_px, rng.uniform(0.3, 0.7) * short
    p = np.array([[0, 0], long_px * d, at * d - (short - above) * n, at * d + above * n])
    return p + rng.uniform(-0.5, 0.5, p.shape) + 100.0


def in_paper_roi(points: np.ndarray) -> tuple[tuple[int, int], np.ndarray]:
    box = recist.roi_box(points)
    return (box.side, box.side), recist.to_roi(points, box)


def test_regions_at_known_pixels():
    t = T.make_trimap((80, 80), HORIZONTAL)
    assert t.dtype == np.uint8 and t.shape == (80, 80)
    # Axes shrunk to 80 %: the long one spans x 14..46, the short one y 22..38; width 2 px.
    assert t[30, 30] == FGD and t[30, 15] == FGD and t[30, 45] == FGD and t[23, 30] == FGD
    assert t[31, 20] == FGD and t[33, 20] == PR_FGD  # within / beyond half the line width
    assert t[30, 13] == FGD and t[21, 30] == FGD  # round line caps, 1 px
    assert t[30, 12] == PR_FGD and t[20, 30] == PR_FGD  # the axis ends are left to GrabCut
    assert t[30, 9] == PR_BGD and t[19, 30] == PR_BGD  # just outside the quadrilateral
    # Margin 0.25 x 40 = 10 px (inclusive) beyond p1 (x = 10) and s1 (y = 20).
    assert t[30, 0] == PR_BGD and t[29, 0] == BGD
    assert t[10, 30] == PR_BGD and t[9, 30] == BGD
    assert t[0, 0] == t[0, 79] == t[79, 0] == t[79, 79] == BGD
    # Quadrilateral p1 s1 p2 s2: (20, 25) is inside (|dx|/20 + |dy|/10 = 1), (20, 24) outside.
    assert t[25, 20] == PR_FGD and t[24, 20] == PR_BGD


def test_region_sizes_follow_the_definition():
    t = T.make_trimap((80, 80), HORIZONTAL)
    # Pixel centres in the closed rhombus (Pick): area 400 + 40 boundary points / 2 + 1.
    assert np.isin(t, (FGD, PR_FGD)).sum() == 421
    quad_area = 400
    # The 10 px margin around the rhombus: its area plus perimeter x 10 plus pi x 10^2.
    grown = quad_area + 4 * np.hypot(20, 10) * 10 + np.pi * 100
    assert abs((t != BGD).sum() - grown) < 0.03 * grown


@pytest.mark.parametrize("long_px", [3.0, 6.0, 12.0, 40.0, 150.0])
def test_invariants_in_the_paper_roi(long_px):
    rng = np.random.default_rng(int(long_px))
    for _ in range(10):
        shape, points = in_paper_roi(random_marks(rng, long_px))
        t = T.make_trimap(shape, points)
        assert set(np.unique(t)) <= {BGD, FGD, PR_BGD, PR_FGD}
        assert (t == FGD).sum() >= 1
        assert (t == BGD).any()
        # Nested: the foreground classes never touch definite background, not even diagonally.
        fg = cv2.dilate(np.isin(t, (FGD, PR_FGD)).astype(np.uint8), np.ones((3, 3), np.uint8))
        assert not (fg.astype(bool) & (t == BGD)).any()
        # Definite background is the outside: one 4-connected region reaching every ROI corner.
        if long_px >= 6:
            assert t[0, 0] == t[0, -1] == t[-1, 0] == t[-1, -1] == BGD
            count, labels = cv2.connectedComponents((t == BGD).astype(np.uint8), connectivity=4)
            assert count == 2


@pytest.mark.parametrize("size", [5, 9, 16, 30, 60])
def test_axes_stay_inside_and_margin_holds_convex_lesions(size):
    """For ellipses the definite foreground lies inside the lesion and the lesion inside the
    non-background region, with the RECIST marks measured from the mask itself."""
    rng = np.random.default_rng(size)
    for _ in range(5):
        mask = np.zeros((200, 200), np.uint8)
        axes = (size, max(2, int(size * rng.uniform(0.3, 1.0))))
        cv2.ellipse(mask, (100, 100), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        points = recist.recist_from_mask(mask)
        t = T.make_trimap(mask.shape, points)
        assert mask[t == FGD].all()
        assert (t[mask > 0] != BGD).all()


def test_near_the_edge_is_the_crop_of_a_larger_canvas():
    rng = np.random.default_rng(3)
    for _ in range(20):
        points = random_marks(rng, rng.uniform(8, 40)) - 100.0 + rng.uniform(-15, 45, 2)
        small = T.make_trimap((40, 50), points)
        large = T.make_trimap((140, 150), points + 50.0)
        if (large[50:90, 50:100] == FGD).any():
            np.testing.assert_array_equal(small, large[50:90, 50:100])
        else:  # no axis pixel in the image: the pixel nearest the centre becomes foreground
            assert (small == FGD).sum() == 1


def test_marks_outside_the_image_still_seed_one_foreground_pixel():
    points = HORIZONTAL + [100.0, 0.0]  # lesion entirely to the right of an 80 px image
    t = T.make_trimap((80, 80), points)
    assert (t == FGD).sum() == 1 and t[30, 79] == FGD
    assert (t == BGD).any()


def test_tiny_and_degenerate_marks():
    t = T.make_trimap((8, 8), np.array([[2.5, 3.5], [5.5, 3.5], [4.0, 3.0], [4.0, 4.0]]))  # long axis 3 px
    assert 1 <= (t == FGD).sum() <= 8 and (t == BGD).any()
    point = np.array([[4.0, 4.0]] * 4)  # all four points the same
    t = T.make_trimap((8, 8), point)
    assert (t == FGD).sum() >= 1 and t[4, 4] == FGD and (t == BGD).any()
    with pytest.raises(ValueError, match="not finite"):
        T.make_trimap((8, 8), np.full((4, 2), np.nan))


def test_zoomed_marks_give_the_zoomed_trimap():
    """Every length scales with the lesion: the trimap of a 2x zoomed ROI matches the 2x
    nearest-neighbour enlargement of the trimap, except along region borders."""
    t1 = T.make_trimap((80, 80), HORIZONTAL)
    t2 = T.make_trimap((160, 160), (HORIZONTAL + 0.5) * 2 - 0.5)
    up = cv2.resize(t1, (160, 160), interpolation=cv2.INTER_NEAREST)
    assert (t2 != up).mean() < 0.02


def test_ensure_foreground():
    empty = np.full((10, 10), PR_BGD, np.uint8)
    out = T.ensure_foreground(empty, HORIZONTAL / 5)
    assert out[6, 6] == FGD and (out == FGD).sum() == 1 and (empty == PR_BGD).all()
    seeded = out.copy()
    assert T.ensure_foreground(seeded, HORIZONTAL) is seeded
