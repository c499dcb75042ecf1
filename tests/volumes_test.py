"""CT volumes from NIfTI and MetaImage (sgan_tf/data/volumes.py): the axial convention, geometry
round trips through each format and orientation, the real TotalSegmentator volumes, bad files."""

import gzip
import itertools
import os

import nibabel as nib
import numpy as np
import pytest

from sgan_tf.data import metaimage, volumes
from sgan_tf.data.metaimage import Header
from sgan_tf.errors import DataError

from conftest import SHARED_DATA

TOTALSEG = os.path.join(SHARED_DATA, "real_ct", "totalseg_nifti")
SHAPE = (6, 5, 4)  # disk voxel axes (i, j, k)
SPACING = (0.7, 0.9, 2.5)  # mm along i, j, k
# World direction (RAS) of each axis code: the NIfTI affine's columns are built from these.
RAS_OF = {"R": (1, 0, 0), "L": (-1, 0, 0), "A": (0, 1, 0), "P": (0, -1, 0), "S": (0, 0, 1), "I": (0, 0, -1)}
ORIENTATIONS = ["RAS", "LPS", "PIR", "SLA"]  # the usual two, and two with permuted axes


def ras_affine(codes: str, origin=(10.0, -20.0, 30.0)) -> np.ndarray:
    affine = np.eye(4)
    for axis, code in enumerate(codes):
        affine[:3, axis] = np.array(RAS_OF[code]) * SPACING[axis]
    affine[:3, 3] = origin
    return affine


def disk_volume() -> np.ndarray:
    """Distinct HU at every voxel, in the int16 range."""
    return (np.arange(np.prod(SHAPE)).reshape(SHAPE) * 3 - 150).astype(np.int16)


def save_nifti(path, data: np.ndarray, affine: np.ndarray, qform_code: int = 1, sform_code: int = 2,
               slope: float | None = None, inter: float | None = None) -> str:
    image = nib.Nifti1Image(data, affine)
    image.header.set_qform(affine, code=qform_code)
    image.header.set_sform(affine, code=sform_code)
    if slope is not None:
        image.header.set_slope_inter(slope, inter)
    nib.save(image, str(path))
    return str(path)


def lps_direction(codes: str) -> tuple:
    """MetaImage direction rows (LPS) for axis codes."""
    return tuple(tuple(float(v) for v in np.array(RAS_OF[c]) * [-1, -1, 1]) for c in codes)


def save_mha(path, data: np.ndarray, codes: str, origin=(1.0, 2.0, 3.0)) -> str:
    """`data` [i, j, k] as a MetaImage whose index axes point along `codes`."""
    metaimage.write(str(path), data.T, Header(SPACING, origin, lps_direction(codes)))
    return str(path)


def along(codes: str, pair: str, values=SHAPE):
    """The value (size, spacing) of the disk axis whose code is one of `pair` (e.g. 'LR')."""
    return next(values[axis] for axis, code in enumerate(codes) if code in pair)


def corner(affine_ras: np.ndarray, want: str) -> tuple[int, int, int]:
    """The disk index of the corner voxel lying furthest towards the three codes in `want`
    (e.g. 'LAS'), found by brute force over the 8 corners, independently of nibabel."""
    best, best_score = None, -np.inf
    for index in itertools.product(*[(0, n - 1) for n in SHAPE]):
        world = (affine_ras @ [*index, 1])[:3]
        score = sum(float(np.dot(world, RAS_OF[code])) for code in want)
        if score > best_score:
            best, best_score = index, score
    return best


@pytest.mark.parametrize("fmt", ["nii", "mha"])
@pytest.mark.parametrize("codes", ORIENTATIONS)
def test_axial_convention_markers(tmp_path, fmt, codes):
    """A voxel at the patient's left-anterior-superior corner ends at the last slice, first row,
    last column; right-posterior-inferior at [0, -1, 0]; left-posterior-inferior at [0, -1, -1]."""
    affine = ras_affine(codes)
    data = np.zeros(SHAPE, np.int16)
    for value, want in ((1, "LAS"), (2, "RPI"), (3, "LPI")):
        data[corner(affine, want)] = value
    if fmt == "nii":
        path = save_nifti(tmp_path / "v.nii.gz", data, affine)
    else:
        path = save_mha(tmp_path / "v.mha", data, codes)
    volume = volumes.read_volume(path)
    assert volume.hu.shape == (along(codes, "SI"), along(codes, "AP"), along(codes, "LR"))
    assert volume.hu[-1, 0, -1] == 1 and volume.hu[0, -1, 0] == 2 and volume.hu[0, -1, -1] == 3
    assert volume.spacing == pytest.approx((along(codes, "AP", SPACING), along(codes, "LR", SPACING)))
    assert volume.slice_spacing == pytest.approx(along(codes, "SI", SPACING))
    # Column, row and slice grow towards the patient's left, back and head (+x, +y, +z in LPS).
    assert np.all(np.diag(volume.affine)[:3] > 0) and np.count_nonzero(volume.affine[:3, :3]) == 3


@pytest.mark.parametrize("codes", ORIENTATIONS)
def test_affine_maps_every_voxel_to_its_world_position(tmp_path, codes):
    affine = ras_affine(codes)
    data = disk_volume()
    volume = volumes.read_volume(save_nifti(tmp_path / "v.nii", data, affine))
    for index in [(0, 0, 0), (5, 4, 3), (2, 1, 3), (4, 0, 1)]:
        world_lps = (np.diag([-1, -1, 1, 1]) @ affine @ [*index, 1])[:3]
        column, row, z = np.rint(np.linalg.solve(volume.affine[:3, :3], world_lps - volume.affine[:3, 3])).astype(int)
        assert volume.hu[z, row, column] == data[index]


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii"])
@pytest.mark.parametrize("codes", ORIENTATIONS)
def test_nifti_round_trip_keeps_geometry_header_and_disk_order(tmp_path, name, codes):
    affine = ras_affine(codes)
    source = save_nifti(tmp_path / name, disk_volume(), affine)
    volume = volumes.read_volume(source)
    out = str(tmp_path / "out" / name)
    volumes.write_like(volume, volume.hu + 0.2, out)  # rounds back to the same int16 values
    written = nib.load(out)
    np.testing.assert_array_equal(np.asarray(written.dataobj), disk_volume())  # the disk order, not just ours
    assert written.get_data_dtype() == np.int16 and written.header.get_slope_inter() == (None, None)
    np.testing.assert_allclose(written.affine, affine)
    np.testing.assert_allclose(written.header.get_qform(), affine, atol=1e-5)
    assert (int(written.header["qform_code"]), int(written.header["sform_code"])) == (1, 2)
    back = volumes.read_volume(out)
    np.testing.assert_array_equal(back.hu, volume.hu)
    np.testing.assert_allclose(back.affine, volume.affine)


@pytest.mark.parametrize("name", ["v.mha", "v.mhd"])
@pytest.mark.parametrize("codes", ORIENTATIONS)
def test_metaimage_round_trip_keeps_geometry_and_disk_order(tmp_path, name, codes):
    source = save_mha(tmp_path / name, disk_volume(), codes, origin=(-5.5, 7.25, 100.0))
    volume = volumes.read_volume(source)
    out = str(tmp_path / "out" / name)
    volumes.write_like(volume, volume.hu, out)
    array, header = metaimage.read(out)
    np.testing.assert_array_equal(array.T, disk_volume())
    assert array.dtype == np.int16
    assert header == Header(SPACING, (-5.5, 7.25, 100.0), lps_direction(codes))
    back = volumes.read_volume(out)
    np.testing.assert_array_equal(back.hu, volume.hu)
    np.testing.assert_allclose(back.affine, volume.affine)


def test_oblique_volume_keeps_its_exact_geometry(tmp_path):
    angle = np.deg2rad(12.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = ras_affine("RAS")
    affine[:3, :3] = rotation @ affine[:3, :3]
    volume = volumes.read_volume(save_nifti(tmp_path / "v.nii.gz", disk_volume(), affine))
    assert volume.hu[0, -1, -1] == disk_volume()[0, 0, 0]  # nearest axes: i ~ R (flipped), j ~ A (flipped)
    assert volume.spacing == pytest.approx((0.9, 0.7)) and volume.slice_spacing == pytest.approx(2.5)
    out = str(tmp_path / "o.nii.gz")
    volumes.write_like(volume, volume.hu, out)
    np.testing.assert_allclose(nib.load(out).affine, affine)
    np.testing.assert_array_equal(np.asarray(nib.load(out).dataobj), disk_volume())


def test_scaling_units_and_nifti2(tmp_path):
    stored = disk_volume()
    volume = volumes.read_volume(save_nifti(tmp_path / "s.nii.gz", stored, ras_affine("RAS"), slope=2.0, inter=-1024.0))
    assert volume.hu.dtype == np.float32
    np.testing.assert_array_equal(volume.hu[0, -1, -1], 2.0 * stored[0, 0, 0] - 1024.0)
    assert volume.hu.min() == 2.0 * stored.min() - 1024.0

    image = nib.Nifti1Image(stored, ras_affine("RAS") * [[0.001], [0.001], [0.001], [1]])
    image.header.set_xyzt_units("meter")
    image.header.set_sform(image.affine, code=1)
    nib.save(image, str(tmp_path / "m.nii"))
    assert volumes.read_volume(str(tmp_path / "m.nii")).spacing == pytest.approx((0.9, 0.7))

    image2 = nib.Nifti2Image(stored, ras_affine("LPS"))
    nib.save(image2, str(tmp_path / "two.nii"))
    volume2 = volumes.read_volume(str(tmp_path / "two.nii"))
    volumes.write_like(volume2, volume2.hu, str(tmp_path / "two_out.nii"))
    assert isinstance(nib.load(str(tmp_path / "two_out.nii")), nib.Nifti2Image)


def test_hu_beyond_int16_and_fractions_are_stored_as_float32_or_rounded(tmp_path):
    volume = volumes.read_volume(save_nifti(tmp_path / "v.nii.gz", disk_volume(), ras_affine("LPS")))
    wide = volume.hu * 1000.0
    volumes.write_like(volume, wide, str(tmp_path / "wide.nii.gz"))
    assert nib.load(str(tmp_path / "wide.nii.gz")).get_data_dtype() == np.float32
    np.testing.assert_array_equal(volumes.read_volume(str(tmp_path / "wide.nii.gz")).hu, wide)
    volumes.write_like(volume, volume.hu + 0.4, str(tmp_path / "frac.nii"))
    assert nib.load(str(tmp_path / "frac.nii")).get_data_dtype() == np.int16
    np.testing.assert_array_equal(volumes.read_volume(str(tmp_path / "frac.nii")).hu, volume.hu)


@pytest.mark.parametrize("fmt", ["nii.gz", "mhd"])
def test_mask_is_uint8_labels_in_the_source_geometry(tmp_path, fmt):
    codes = "PIR"
    source = (save_nifti(tmp_path / "v.nii.gz", disk_volume(), ras_affine(codes)) if fmt == "nii.gz"
              else save_mha(tmp_path / "v.mhd", disk_volume(), codes))
    volume = volumes.read_volume(source)
    mask = np.zeros(volume.hu.shape, np.uint8)
    mask[-1, 0, -1] = 1  # left, anterior, superior corner
    mask[0, 0, 0] = 2
    out = str(tmp_path / f"mask.{fmt}")
    volumes.write_mask_like(volume, mask, out)
    if fmt == "nii.gz":
        written = nib.load(out)
        on_disk = np.asarray(written.dataobj)
        assert written.get_data_dtype() == np.uint8 and written.header.get_intent()[0] == "label"
        np.testing.assert_allclose(written.affine, ras_affine(codes))
    else:
        array, header = metaimage.read(out)
        on_disk = array.T
        assert array.dtype == np.uint8 and header.direction == lps_direction(codes)
    assert on_disk[corner(ras_affine(codes), "LAS")] == 1 and on_disk.sum() == 3
    np.testing.assert_array_equal(volumes.read_volume(out).hu, mask)
    with pytest.raises(ValueError, match="integers 0..255"):
        volumes.write_mask_like(volume, mask * 0.5, str(tmp_path / f"float_mask.{fmt}"))


def test_squeezed_4d_and_refused_2d_4d(tmp_path):
    data = disk_volume()
    volume = volumes.read_volume(save_nifti(tmp_path / "one.nii.gz", data[..., None], ras_affine("RAS")))
    assert volume.hu.shape == (4, 5, 6)
    four_d = Header((1.0,) * 4, (0.0,) * 4, tuple(map(tuple, np.eye(4))))
    metaimage.write(str(tmp_path / "one.mha"), data.T[None], four_d)
    assert volumes.read_volume(str(tmp_path / "one.mha")).hu.shape == (4, 5, 6)
    for path, fragment in (
        (save_nifti(tmp_path / "four.nii.gz", np.stack([data, data], -1), ras_affine("RAS")), "a 4-D image (6x5x4x2)"),
        (save_nifti(tmp_path / "flat.nii.gz", data[:, :, 0], np.eye(4)), "a 2-D image (6x5)"),
    ):
        with pytest.raises(DataError, match="3-D CT volume is needed") as info:
            volumes.read_volume(path)
        assert str(info.value).startswith(path) and fragment in str(info.value)
    metaimage.write(str(tmp_path / "flat.mha"), data[:, :, 0], Header((1.0, 1.0), (0.0, 0.0), ((1.0, 0.0), (0.0, 1.0))))
    with pytest.raises(DataError, match="flat.mha: a 2-D image"):
        volumes.read_volume(str(tmp_path / "flat.mha"))


def test_format_and_extension_by_name():
    assert [volumes.volume_extension(n) for n in ("a/CT.NII.GZ", "b.nii", "c.mhd", "d.png")] == [".nii.gz", ".nii",
                                                                                               ".mhd", None]
    assert [volumes.volume_format(n) for n in ("x.Nii.Gz", "y.mha", "z.dcm")] == [volumes.NIFTI, volumes.METAIMAGE, None]


def test_writers_refuse_existing_files_other_formats_and_bad_arrays(tmp_path):
    source = save_nifti(tmp_path / "v.nii.gz", disk_volume(), ras_affine("RAS"))
    volume = volumes.read_volume(source)
    with pytest.raises(DataError, match=f"^{source}: exists"):
        volumes.write_like(volume, volume.hu, source)
    volumes.write_like(volume, volume.hu + 1, source, overwrite=True)
    np.testing.assert_array_equal(volumes.read_volume(source).hu, volume.hu + 1)
    with pytest.raises(DataError, match=r"out\.mha: the source .* is NIfTI; write it as \.nii\.gz or \.nii"):
        volumes.write_like(volume, volume.hu, str(tmp_path / "out.mha"))
    with pytest.raises(DataError, match=r"nan\.nii\.gz: 1 NaN/inf"):
        one_nan = np.where(volume.hu == volume.hu.max(), np.nan, volume.hu)
        volumes.write_like(volume, one_nan, str(tmp_path / "nan.nii.gz"))
    with pytest.raises(ValueError, match="shape"):
        volumes.write_like(volume, volume.hu[1:], str(tmp_path / "short.nii.gz"))
    assert sorted(os.listdir(tmp_path)) == ["v.nii.gz"]


def truncated(tmp_path, name: str) -> str:
    """A NIfTI of noise (which does not compress) cut short inside its voxels."""
    noise = np.random.default_rng(0).integers(-1000, 1000, (32, 32, 8)).astype(np.int16)
    path = save_nifti(tmp_path / name, noise, ras_affine("RAS"))
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) * 3 // 4])
    return path


def header_geometry(tmp_path, sform: np.ndarray | None) -> str:
    """A NIfTI whose only geometry is `sform` (code 1), or none at all."""
    image = nib.Nifti1Image(disk_volume(), None)
    if sform is not None:
        image.header.set_sform(sform, code=1)
    nib.save(image, str(tmp_path / "g.nii.gz"))
    return str(tmp_path / "g.nii.gz")


def header_only(tmp_path, shape) -> str:
    """A .nii.gz whose header claims `shape` and that holds no voxels at all."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.int16)
    header.set_sform(np.eye(4), code=1)
    path = tmp_path / "huge.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + b"\0\0\0\0"))
    return str(path)


def not_nifti(tmp_path) -> str:
    (tmp_path / "x.nii").write_bytes(b"hello" * 100)
    return str(tmp_path / "x.nii")


def mhd_without_raw(tmp_path) -> str:
    (tmp_path / "v.mhd").write_text("NDims = 3\nDimSize = 6 5 4\nElementType = MET_SHORT\nElementDataFile = v.raw\n")
    return str(tmp_path / "v.mhd")


def with_nan(tmp_path) -> str:
    data = disk_volume().astype(np.float32)
    data[1, 2, 3] = np.nan
    return save_nifti(tmp_path / "nan.nii.gz", data, ras_affine("RAS"))


BAD_VOLUMES = {
    "unknown_extension": (lambda t: str(t / "v.nrrd"), "unknown volume file type"),
    "missing": (lambda t: str(t / "absent.nii.gz"), "no such file"),
    "not_nifti": (not_nifti, "not a readable NIfTI"),
    "truncated_gz": (lambda t: truncated(t, "t.nii.gz"), "cannot read the voxels (truncated or corrupt?)"),
    "truncated_nii": (lambda t: truncated(t, "t.nii"), "cannot read the voxels (truncated or corrupt?)"),
    "no_orientation": (lambda t: header_geometry(t, None), "no orientation"),
    "voxel_cap": (lambda t: header_only(t, (4000, 4000, 4000)), "over the cap"),
    "nan": (with_nan, "1 NaN/inf"),
    "inf_after_scaling": (lambda t: save_nifti(t / "i.nii.gz", disk_volume(), ras_affine("RAS"), slope=1e38, inter=0.0),
                          "NaN/inf"),
    "complex": (lambda t: save_nifti(t / "c.nii.gz", disk_volume().astype(np.complex64), ras_affine("RAS")),
                "not a real number"),
    "zero_spacing": (lambda t: header_geometry(t, np.diag([1.0, 0.0, 1.0, 1.0])), "singular geometry"),
    "mhd_missing_raw": (mhd_without_raw, "data file"),
}


@pytest.mark.parametrize("case", sorted(BAD_VOLUMES))
def test_bad_volume_is_a_data_error_naming_the_file(tmp_path, case):
    build, fragment = BAD_VOLUMES[case]
    path = build(tmp_path)
    with pytest.raises(DataError) as info:
        volumes.read_volume(path)
    message = str(info.value)
    assert message.startswith(path) and fragment in message, message


@pytest.mark.skipif(not os.path.isdir(TOTALSEG), reason="reference data real_ct/totalseg_nifti not present")
def test_real_totalsegmentator_volume():
    full = volumes.read_volume(os.path.join(TOTALSEG, "example_ct.nii.gz"))  # 122 x 101 x 112, RAS, int32
    assert full.hu.shape == (112, 101, 122) and full.hu.dtype == np.float32
    assert full.spacing == (3.0, 3.0) and full.slice_spacing == 3.0
    assert full.hu.min() == -1207 and full.hu.max() == 3382
    assert np.percentile(full.hu, 50) == pytest.approx(-101, abs=5)
    # Anatomy where the convention puts it: the spine in the back (lower rows) of an upper
    # abdominal slice, the liver on the patient's right (left columns) of the top slices.
    spine_rows, _ = np.nonzero(full.hu[90][:, 122 // 3: 2 * 122 // 3] > 200)
    assert spine_rows.mean() > 0.6 * 101
    soft = (full.hu[95:] > 40) & (full.hu[95:] < 90)
    assert soft[:, :, :61].sum() > 1.5 * soft[:, :, 61:].sum()
    assert (full.hu[60, :5] < -900).all()  # air in front of the belly, at the top
    # The small file is slices 82-111 of the full one (README), in the same convention.
    small = volumes.read_volume(os.path.join(TOTALSEG, "example_ct_sm.nii.gz"))  # int16 on disk
    assert small.hu.shape == (30, 101, 122)
    np.testing.assert_array_equal(small.hu, full.hu[82:112])
