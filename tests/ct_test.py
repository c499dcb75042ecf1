"""HU conversion (the int32 path), windows and the network scale, 16-bit HU PNGs."""

import cv2
import numpy as np
import pytest

from sgan_tf import scale
from sgan_tf.data import ct
from sgan_tf.errors import DataError, UserError


def test_png_values_become_hu_without_uint16_wraparound():
    stored = np.array([[0, 31744, 32768], [32808, 33792, 65535]], np.uint16)
    hu = ct.hu_from_png16(stored)
    np.testing.assert_array_equal(hu, [[-32768, -1024, 0], [40, 1024, 32767]])
    assert hu.dtype == np.float32
    # In uint16 arithmetic the same subtraction wraps around (-1024 -> 64512).
    assert int((stored - np.uint16(32768))[0, 1]) == 64512


def test_hu_png_round_trip_rounds_and_clips(tmp_path):
    hu = np.array([[-1024.4, -0.6, 39.5], [3071.0, -40000.0, 40000.0]], np.float32)
    path = str(tmp_path / "sub" / "slice.png")
    ct.write_hu_png(path, hu)
    assert cv2.imread(path, cv2.IMREAD_UNCHANGED).dtype == np.uint16
    np.testing.assert_array_equal(ct.read_hu_png(path), [[-1024, -1, 40], [3071, -32768, 32767]])


def test_eight_bit_or_colour_png_is_refused_by_name(tmp_path):
    path = str(tmp_path / "eight.png")
    cv2.imwrite(path, np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match="eight.png.*16-bit"):
        ct.read_hu_png(path)
    colour = str(tmp_path / "colour.png")
    cv2.imwrite(colour, np.zeros((8, 8, 3), np.uint16))
    with pytest.raises(DataError, match="colour.png.*channel"):
        ct.read_hu_png(colour)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    with pytest.raises(DataError, match="broken.png"):
        ct.read_hu_png(str(broken))


def test_window_maps_to_unit_and_back():
    w = ct.WINDOWS["soft_tissue"]
    assert (w.lo, w.hi) == (-160.0, 240.0)
    np.testing.assert_allclose(w.to_unit(np.array([-1000, -160, 40, 240, 2000])), [0, 0, 0.5, 1, 1])
    hu = np.array([-100.0, 0.0, 200.0])
    np.testing.assert_allclose(w.to_hu(w.to_unit(hu)), hu, atol=1e-4)
    assert ct.NETWORK_WINDOW == w


def test_presets_and_window_specs():
    assert ct.WINDOWS["full"] == ct.Window(-1024, 3071)
    assert ct.WINDOWS["lung"] == ct.Window(-1350, 150)
    assert ct.WindowChoice.parse("bone").resolve() == ct.WINDOWS["bone"]
    assert ct.WindowChoice.parse("-100, 300").resolve() == ct.Window(-100, 300)
    own = ct.Window(-175, 275)
    assert ct.WindowChoice.parse("soft_tissue").resolve(own) == ct.NETWORK_WINDOW  # a fixed window stays
    assert ct.WindowChoice.parse("dicom").resolve(own) == own
    assert ct.WindowChoice.parse("dicom").resolve(None) == ct.NETWORK_WINDOW == ct.DEFAULT_CHOICE.resolve()
    for bad in ("brain", "1,2,3", "300,-100"):
        with pytest.raises(UserError):
            ct.WindowChoice.parse(bad)


def test_check_finite_names_the_item():
    ct.check_finite(np.zeros((2, 2)), "ok")
    with pytest.raises(DataError, match="scan.dcm: 2 NaN/inf"):
        ct.check_finite(np.array([[np.nan, 1], [np.inf, 0]]), "scan.dcm")


def test_output_hu_is_the_network_inside_and_the_input_outside_the_window():
    w = ct.Window(-160.0, 240.0)
    unit = np.array([0.0, 0.01, 0.025, 0.05, 0.5, 0.975, 1.0], np.float32)
    hu_in = np.array([-1000.0, -150.0, -150.0, -140.0, 40.0, 300.0, 1500.0], np.float32)
    out = w.output_hu(unit, hu_in)
    assert out[0] == -1000.0 and out[-1] == 1500.0  # saturated: the input's HU
    np.testing.assert_allclose(out[3:5], w.to_hu(unit[3:5]))  # inside the band's reach: the network's
    weight = scale.edge_weight(unit) * scale.edge_weight(scale.smooth_unit(w.to_unit(hu_in)))
    np.testing.assert_allclose(out, weight * w.to_hu(unit) + (1 - weight) * hu_in, rtol=1e-6)
    ramp = scale.edge_weight(unit)
    assert 0 < ramp[1] < ramp[2] < 1 and ramp[2] == pytest.approx(0.5, abs=1e-5) and ramp[5] == pytest.approx(0.5, abs=1e-5)


def test_output_hu_keeps_bone_and_air_a_network_blurs_and_denoised_tissue_a_noisy_input_leaves():
    w = ct.Window(-160.0, 240.0)
    hu_in = np.full((40, 40), -1000.0, np.float32)
    hu_in[:, 20:] = 1000.0  # air | bone
    hu_in[10:30, 10:30] = 40.0 + np.random.default_rng(0).normal(0, 60, (20, 20))  # noisy tissue across both
    blurred = cv2.GaussianBlur(w.to_unit(hu_in), (0, 0), 3.0)  # a network that smears every edge
    out = w.output_hu(blurred, hu_in)
    far = np.ones_like(hu_in, bool)
    far[7:33, 7:33] = False  # 3 px or more from the tissue square
    far[:, 18:22] = False  # and from the air/bone edge, where the smoothed input is inside the window too
    np.testing.assert_allclose(out[far], hu_in[far], atol=1.0)
    inner = (slice(13, 27), slice(13, 27))
    np.testing.assert_allclose(out[inner], w.to_hu(blurred[inner]), atol=1e-3)  # the network's, noise or not
