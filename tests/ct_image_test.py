"""load_ct and CTImage (sgan_tf/ct_image.py): each input kind read through the reader seam,
with its geometry, and written back in its format; what it refuses."""

import os

import numpy as np
import pydicom
import pytest

from dicom_test import CT_SMALL, axial, ct_copy
from sgan_tf.ct_image import load_ct
from sgan_tf.data import ct
from sgan_tf.errors import DataError, UserError
from volumes_test import ras_affine, save_mha, save_nifti


def _volume() -> np.ndarray:
    """[i, j, k] = [5, 6, 4] distinct HU."""
    return (np.arange(5 * 6 * 4).reshape(5, 6, 4) * 7 - 300).astype(np.int16)


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.mha"])
def test_a_volume_round_trips_with_its_geometry(tmp_path, name):
    path = str(tmp_path / name)
    if name.endswith(".mha"):
        save_mha(path, _volume(), "LPS")
    else:
        save_nifti(path, _volume(), ras_affine("LPS"))
    image = load_ct(path)
    assert image.kind == "volume" and image.shape == (4, 6, 5) and image.hu.dtype == np.float32
    np.testing.assert_array_equal(image.hu, _volume().T)  # disk LPS axes = the axial convention
    assert image.spacing == pytest.approx((0.9, 0.7)) and abs(image.affine[2, 2]) == pytest.approx(2.5)
    out = str(tmp_path / ("out" + name[2:]))
    image.with_hu(image.hu + 10).save(out)
    again = load_ct(out)
    np.testing.assert_array_equal(again.hu, image.hu + 10)
    np.testing.assert_allclose(again.affine, image.affine)
    with pytest.raises(DataError, match="exists; not overwritten"):
        image.save(out)
    image.save(out, overwrite=True)
    np.testing.assert_array_equal(load_ct(out).hu, image.hu)
    with pytest.raises(DataError, match="write it as"):
        image.save(str(tmp_path / ("other.mha" if name.endswith(".gz") else "other.nii")))


def test_a_dicom_series_is_a_volume_in_slice_order_and_saves_as_a_derived_series(tmp_path):
    series = tmp_path / "series"
    uids = {}
    for name, z in (("b.dcm", 5.0), ("a.dcm", 10.0), ("c.dcm", 0.0)):  # file names not in slice order
        uids[z] = pydicom.uid.generate_uid()
        ct_copy(series, name, SOPInstanceUID=uids[z], **axial(z))
    image = load_ct(str(series))
    assert image.kind == "dicom" and image.shape == (3, 128, 128)
    assert [os.path.basename(f) for f in image.dicom_files] == ["c.dcm", "b.dcm", "a.dcm"]  # inferior first
    np.testing.assert_allclose(image.affine[:3, 3], [-158.1, -179.0, 0.0])
    np.testing.assert_allclose(np.diag(image.affine)[:3], [0.661468, 0.661468, 5.0])
    enhanced = image.with_hu(image.hu - 5, "sgan-tf test")
    enhanced.save(str(tmp_path / "derived"))
    written = sorted(os.listdir(tmp_path / "derived"))
    assert written == ["0000.dcm", "0001.dcm", "0002.dcm"]
    datasets = [pydicom.dcmread(str(tmp_path / "derived" / f)) for f in written]
    assert len({d.SeriesInstanceUID for d in datasets}) == 1 and datasets[0].SeriesDescription == "sgan-tf test"
    assert [d.SourceImageSequence[0].ReferencedSOPInstanceUID for d in datasets] == [uids[0.0], uids[5.0], uids[10.0]]
    again = load_ct(str(tmp_path / "derived"))
    np.testing.assert_array_equal(again.hu, np.rint(image.hu - 5))
    np.testing.assert_allclose(again.affine, image.affine)
    with pytest.raises(DataError, match="0000.dcm: exists"):
        enhanced.save(str(tmp_path / "derived"))
    with pytest.raises(UserError, match="save it as DICOM"):
        enhanced.save(str(tmp_path / "derived.nii.gz"))


def test_a_dicom_file_is_a_slice(tmp_path):
    image = load_ct(CT_SMALL)
    assert image.shape == (128, 128) and image.spacing == pytest.approx((0.661468, 0.661468))
    np.testing.assert_allclose(image.affine[:3, 2], [0, 0, 1])  # one slice: the unit normal
    image.save(str(tmp_path / "slice.dcm"))
    np.testing.assert_array_equal(load_ct(str(tmp_path / "slice.dcm")).hu, image.hu)


def test_a_png_slice_round_trips(tmp_path):
    hu = np.arange(-500, 500, dtype=np.float32).reshape(20, 50)
    ct.write_hu_png(str(tmp_path / "in.png"), hu)
    image = load_ct(str(tmp_path / "in.png"))
    assert image.kind == "png" and image.spacing is None and image.affine is None
    np.testing.assert_array_equal(image.hu, hu)
    image.save(str(tmp_path / "out.png"))
    np.testing.assert_array_equal(load_ct(str(tmp_path / "out.png")).hu, hu)
    with pytest.raises(DataError, match="exists"):
        image.save(str(tmp_path / "out.png"))
    with pytest.raises(UserError, match="save it as .png"):
        image.save(str(tmp_path / "out.dcm"))


def test_what_load_ct_refuses(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_ct(str(tmp_path / "absent.nii.gz"))
    two = tmp_path / "two_series"
    ct_copy(two, "a.dcm", **axial(0.0))
    ct_copy(two, "b.dcm", SeriesInstanceUID="1.2.3.999", **axial(5.0))
    with pytest.raises(UserError, match="2 DICOM series; load_ct reads one"):
        load_ct(str(two))
    pngs = tmp_path / "pngs"
    for name in ("a.png", "b.png"):
        ct.write_hu_png(str(pngs / name), np.zeros((4, 4)))
    with pytest.raises(UserError, match="a png input of several images"):
        load_ct(str(pngs))
    volumes = tmp_path / "volumes"
    volumes.mkdir()
    for name in ("a.nii", "b.nii"):
        save_nifti(volumes / name, _volume(), ras_affine("RAS"))
    with pytest.raises(UserError, match="2 volumes; load_ct reads one"):
        load_ct(str(volumes))
    (tmp_path / "bad.nii.gz").write_bytes(b"not a volume")
    with pytest.raises(DataError, match="bad.nii.gz"):
        load_ct(str(tmp_path / "bad.nii.gz"))
    with pytest.raises(ValueError, match="for a CT of shape"):
        load_ct(CT_SMALL).with_hu(np.zeros((3, 3)))
