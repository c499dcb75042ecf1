"""MetaImage (sgan_tf/data/metaimage.py): geometry, layouts, compression, round trips and every bad file."""

import gzip
import os
import zlib

import numpy as np
import pytest

from sgan_tf.data import limits, metaimage
from sgan_tf.data.metaimage import Header
from sgan_tf.errors import DataError

OBLIQUE = ((0.0, 0.8, 0.6), (0.0, -0.6, 0.8), (1.0, 0.0, 0.0))  # rows: axis directions (a rotation)


def header_text(dims, element_type="MET_SHORT", data_file="LOCAL", **fields) -> str:
    lines = {"ObjectType": "Image", "NDims": str(len(dims)), **fields,
             "DimSize": " ".join(map(str, dims)), "ElementType": element_type, "ElementDataFile": data_file}
    return "".join(f"{k} = {v}\n" for k, v in lines.items())


def write_mha(path, array: np.ndarray, element_type="MET_SHORT", dtype="<i2", **fields) -> str:
    """A hand-made .mha: header, then the raw voxels (array in [z, y, x] order)."""
    dims = tuple(reversed(array.shape))
    with open(path, "wb") as f:
        f.write(header_text(dims, element_type, **fields).encode())
        f.write(np.asarray(array, dtype).tobytes())
    return str(path)


def write_mhd(folder, array: np.ndarray, data_file="vol.raw", dtype="<i2", element_type="MET_SHORT",
              payload: bytes | None = None, **fields) -> str:
    """A hand-made .mhd header with its data file."""
    os.makedirs(folder, exist_ok=True)
    (folder / "vol.mhd").write_text(header_text(tuple(reversed(array.shape)), element_type, data_file, **fields))
    (folder / data_file).write_bytes(np.asarray(array, dtype).tobytes() if payload is None else payload)
    return str(folder / "vol.mhd")


def volume(shape=(3, 4, 5)) -> np.ndarray:
    return (np.arange(np.prod(shape)).reshape(shape) * 7 - 50).astype(np.int16)


def test_affine_follows_itk_reading_of_transform_matrix():
    """Column a of the direction is the a-th triple of TransformMatrix (ITK's MetaImageIO)."""
    header = Header(spacing=(2.0, 3.0, 4.0), origin=(10.0, 20.0, 30.0),
                    direction=((0.0, 1.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)))
    # Voxel (1, 2, 3): offset + 1*2*(0,1,0) + 2*3*(-1,0,0) + 3*4*(0,0,1) = (10-6, 20+2, 30+12).
    np.testing.assert_allclose(header.affine() @ [1, 2, 3, 1], [4, 22, 42, 1])


def test_hand_written_header_geometry_and_voxels(tmp_path):
    array = volume()
    path = write_mha(tmp_path / "v.mha", array, ElementSpacing="0.5 0.75 2.5", Offset="-1 -2 -3",
                     TransformMatrix="0 0.8 0.6 0 -0.6 0.8 1 0 0", AnatomicalOrientation="RAI",
                     BinaryDataByteOrderMSB="False")
    voxels, header = metaimage.read(path)
    np.testing.assert_array_equal(voxels, array)
    assert voxels.dtype == np.int16 and voxels.dtype.isnative
    assert header.spacing == (0.5, 0.75, 2.5) and header.origin == (-1.0, -2.0, -3.0)
    assert header.direction == OBLIQUE and not header.compressed
    assert dict(header.fields) == {"AnatomicalOrientation": "RAI"}


@pytest.mark.parametrize("key,value,expected", [
    ("Origin", "1 2 3", (1.0, 2.0, 3.0)), ("Position", "4 5 6", (4.0, 5.0, 6.0))])
def test_offset_synonyms(tmp_path, key, value, expected):
    _, header = metaimage.read(write_mha(tmp_path / "v.mha", volume(), **{key: value}))
    assert header.origin == expected


def test_defaults_and_element_size_fallback(tmp_path):
    _, header = metaimage.read(write_mha(tmp_path / "v.mha", volume()))
    assert header.spacing == (1.0, 1.0, 1.0) and header.origin == (0.0, 0.0, 0.0)
    assert header.direction == ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    path = write_mha(tmp_path / "w.mha", volume(), ElementSize="0.7 0.7 3", Rotation="1 0 0 0 1 0 0 0 1")
    _, header = metaimage.read(path)
    assert header.spacing == (0.7, 0.7, 3.0)


@pytest.mark.parametrize("element_type,dtype", [
    ("MET_UCHAR", "u1"), ("MET_CHAR", "i1"), ("MET_USHORT", ">u2"), ("MET_SHORT", ">i2"), ("MET_UINT", ">u4"),
    ("MET_INT", ">i4"), ("MET_LONG", ">i4"), ("MET_LONG_LONG", ">i8"), ("MET_FLOAT", ">f4"), ("MET_DOUBLE", ">f8")])
def test_element_types_big_endian(tmp_path, element_type, dtype):
    array = np.arange(60).reshape(3, 4, 5) % 100
    path = write_mha(tmp_path / "v.mha", array, element_type, dtype, ElementByteOrderMSB="True")
    voxels, _ = metaimage.read(path)
    assert voxels.dtype == np.dtype(dtype).newbyteorder("=") and voxels.dtype.isnative
    np.testing.assert_array_equal(voxels, array)


def test_per_slice_files_pattern_and_list(tmp_path):
    array = volume((4, 3, 5))
    for i, plane in enumerate(array):
        plane.astype("<i2").tofile(tmp_path / f"s_{2 * i + 1:03d}.raw")
    (tmp_path / "pattern.mhd").write_text(header_text((5, 3, 4), data_file="s_%03d.raw 1 7 2"))
    np.testing.assert_array_equal(metaimage.read(str(tmp_path / "pattern.mhd"))[0], array)
    names = "\n".join(f"s_{2 * i + 1:03d}.raw" for i in range(4))
    (tmp_path / "list.mhd").write_text(header_text((5, 3, 4), data_file="LIST 2D") + names + "\n")
    np.testing.assert_array_equal(metaimage.read(str(tmp_path / "list.mhd"))[0], array)


def test_header_size_skips_bytes_or_takes_the_tail(tmp_path):
    array = volume()
    payload = b"\x07" * 100 + array.astype("<i2").tobytes()
    for folder, header_size in (("a", "100"), ("b", "-1")):
        path = write_mhd(tmp_path / folder, array, payload=payload, HeaderSize=header_size)
        np.testing.assert_array_equal(metaimage.read(path)[0], array)


@pytest.mark.parametrize("compress", [zlib.compress, gzip.compress], ids=["zlib", "gzip"])
def test_compressed_local_and_file(tmp_path, compress):
    array = volume()
    data = compress(array.astype("<i2").tobytes())
    path = tmp_path / "v.mha"
    path.write_bytes(header_text((5, 4, 3), CompressedData="True", CompressedDataSize=str(len(data))).encode() + data)
    voxels, header = metaimage.read(str(path))
    np.testing.assert_array_equal(voxels, array)
    assert header.compressed
    np.testing.assert_array_equal(
        metaimage.read(write_mhd(tmp_path / "d", array, "vol.zraw", payload=data, CompressedData="True"))[0], array)


@pytest.mark.parametrize("name,compressed", [("v.mha", False), ("v.mhd", False), ("v.mha", True), ("v.mhd", True)])
@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.uint8])
def test_write_read_round_trip(tmp_path, name, compressed, dtype):
    array = volume().astype(dtype) if dtype != np.uint8 else (volume() % 3).astype(np.uint8)
    header = Header((0.5, 0.75, 2.5), (-1.5, 2.25, 100.0), OBLIQUE, compressed, (("AnatomicalOrientation", "RAI"),))
    path = str(tmp_path / name)
    metaimage.write(path, array, header)
    voxels, back = metaimage.read(path)
    np.testing.assert_array_equal(voxels, array)
    assert voxels.dtype == array.dtype and back == header
    expected = {"v.mha": ["v.mha"], "v.mhd": ["v.mhd", "v.zraw" if compressed else "v.raw"]}[name]
    assert sorted(os.listdir(tmp_path)) == sorted(expected)
    data = metaimage.data_file(path, header)  # what callers list beside the header
    assert (data is None) == (name == "v.mha") and (data is None or os.path.basename(data) == expected[1])


def test_write_refuses_existing_header_or_data_unless_overwrite(tmp_path):
    header = Header((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), OBLIQUE)
    path = str(tmp_path / "v.mhd")
    (tmp_path / "v.raw").write_bytes(b"someone else's")
    with pytest.raises(DataError, match=f"^{tmp_path}/v.raw: exists"):
        metaimage.write(path, volume(), header)
    assert not os.path.exists(path) and (tmp_path / "v.raw").read_bytes() == b"someone else's"
    metaimage.write(path, volume(), header, overwrite=True)
    with pytest.raises(DataError, match=f"^{path}: exists"):
        metaimage.write(path, volume() + 1, header)
    np.testing.assert_array_equal(metaimage.read(path)[0], volume())
    with pytest.raises(DataError, match="ends with .mha or .mhd"):
        metaimage.write(str(tmp_path / "v.nii"), volume(), header)
    with pytest.raises(ValueError, match="cannot store complex64"):
        metaimage.write(str(tmp_path / "c.mha"), volume().astype(np.complex64), header)


def test_real_lcd_ct_ground_truth(tmp_path):
    from conftest import SHARED_DATA

    path = os.path.join(SHARED_DATA, "lcd_ct", "ground_truth.mhd")
    if not os.path.isfile(path):
        pytest.skip("reference data lcd_ct not present")
    voxels, header = metaimage.read(path)
    assert voxels.shape == (256, 256) and voxels.dtype == np.uint16 and header.ndim == 2
    assert 0 <= voxels.min() and voxels.max() < 2000  # HU + 1000 of a water phantom in air


def mha_with(tmp_path, text: str, payload: bytes = b"") -> str:
    path = tmp_path / "bad.mha"
    path.write_bytes(text.encode() + payload)
    return str(path)


def raw_ok(dims=(5, 4, 3)) -> bytes:
    return bytes(2 * int(np.prod(dims)))


def mhd_with(tmp_path, data_file: str, **fields) -> str:
    """A .mhd header whose data files are left to the caller."""
    (tmp_path / "vol.mhd").write_text(header_text((5, 4, 3), data_file=data_file, **fields))
    return str(tmp_path / "vol.mhd")


def raw_outside(tmp_path) -> str:
    (tmp_path / "secret.raw").write_bytes(raw_ok())
    return write_mhd(tmp_path / "sub", volume(), "../secret.raw")


def compressed_slices(tmp_path) -> str:
    for i in (1, 2):
        (tmp_path / f"s_{i:03d}.raw").write_bytes(b"")
    return mhd_with(tmp_path, "s_%03d.raw 1 2", CompressedData="True")


BAD_FILES = {
    "not_metaimage": (lambda t: mha_with(t, "", b"\x89PNG\r\n\x1a\n" + bytes(200)), "no ElementDataFile"),
    "binary_header": (lambda t: mha_with(t, "ObjectType = Image\n", b"\xff\xfe ElementDataFile = LOCAL\n"),
                      "binary bytes in its text part"),
    "huge_header": (lambda t: mha_with(t, "Comment = " + "x" * 70000 + "\n" + header_text((5, 4, 3)), raw_ok()),
                    "too long"),
    "not_key_value": (lambda t: mha_with(t, "this is not a header\n" + header_text((5, 4, 3)), raw_ok()),
                      "is not 'Key = Value'"),
    "no_dims": (lambda t: mha_with(t, "ElementType = MET_SHORT\nElementDataFile = LOCAL\n"), "DimSize and ElementType"),
    "bad_dims": (lambda t: mha_with(t, header_text(("5", "x", "3")), raw_ok()), "DimSize = '5 x 3'"),
    "ndims_mismatch": (lambda t: mha_with(t, header_text((5, 4, 3)).replace("NDims = 3", "NDims = 2"), raw_ok()),
                       "NDims = 2 but DimSize has 3"),
    "unknown_type": (lambda t: mha_with(t, header_text((5, 4, 3), "MET_HALF"), raw_ok()), "ElementType 'MET_HALF'"),
    "channels": (lambda t: mha_with(t, header_text((5, 4, 3), ElementNumberOfChannels="3"), raw_ok()),
                 "only one channel"),
    "ascii": (lambda t: mha_with(t, header_text((5, 4, 3), BinaryData="False"), raw_ok()), "ASCII"),
    "not_image": (lambda t: mha_with(t, header_text((5, 4, 3)).replace("Image", "Mesh"), raw_ok()), "not an Image"),
    "zero_spacing": (lambda t: mha_with(t, header_text((5, 4, 3), ElementSpacing="1 0 1"), raw_ok()), "positive"),
    "nan_offset": (lambda t: mha_with(t, header_text((5, 4, 3), Offset="0 nan 0"), raw_ok()), "finite numbers"),
    "singular": (lambda t: mha_with(t, header_text((5, 4, 3), TransformMatrix="1 0 0 1 0 0 0 0 1"), raw_ok()),
                 "singular"),
    "bad_flag": (lambda t: mha_with(t, header_text((5, 4, 3), CompressedData="maybe"), raw_ok()), "True or False"),
    "truncated": (lambda t: mha_with(t, header_text((5, 4, 3)), raw_ok()[:-10]), "55 values, expected 60"),
    "too_long": (lambda t: mha_with(t, header_text((5, 4, 3)), raw_ok() + b"\0\0"), "61 values, expected 60"),
    "empty_dim": (lambda t: mha_with(t, header_text((5, 0, 3))), "include an empty one"),
    "voxel_cap": (lambda t: mha_with(t, header_text((4000, 4000, 4000))), "over the cap"),
    "bad_zlib": (lambda t: mha_with(t, header_text((5, 4, 3), CompressedData="True"), b"not zlib at all"),
                 "cannot be inflated"),
    "short_zlib": (lambda t: mha_with(t, header_text((5, 4, 3), CompressedData="True"), zlib.compress(raw_ok())[:-8]),
                   "cut short"),
    "zip_bomb": (lambda t: mha_with(t, header_text((5, 4, 3), CompressedData="True"), zlib.compress(bytes(10**7))),
                 "bytes of compressed data for 120 bytes"),
    "zlib_too_much": (lambda t: mha_with(t, header_text((5, 4, 3), CompressedData="True"), zlib.compress(bytes(200))),
                      "more than the 120 bytes"),
    "missing_raw": (lambda t: mhd_with(t, "vol.raw"), "data file"),
    "raw_outside": (raw_outside, "outside the header's folder"),
    "bad_pattern": (lambda t: mhd_with(t, "s_%03d.raw 1 x"), "'pattern first last [step]'"),
    "compressed_slices": (compressed_slices, "several files"),
    "billion_files": (lambda t: mhd_with(t, "s_%09d.raw 1 1000000000"), "names 1000000000 files, more than"),
    "zero_step": (lambda t: mhd_with(t, "s_%03d.raw 1 4 0"), "'pattern first last [step]'"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_a_data_error_naming_it(tmp_path, case):
    build, fragment = BAD_FILES[case]
    path = build(tmp_path)
    with pytest.raises(DataError) as info:
        metaimage.read(path)
    message = str(info.value)
    assert message.startswith(path), message
    assert fragment in message, message


def test_missing_header_and_voxel_cap_before_reading(tmp_path):
    with pytest.raises(DataError, match="absent.mhd: MetaImage header not found"):
        metaimage.read(str(tmp_path / "absent.mhd"))
    path = write_mha(tmp_path / "v.mha", volume())
    with pytest.raises(DataError, match=r"v\.mha: 5x4x3 = 60 voxels is over the cap of 59"):
        metaimage.read(path, max_voxels=59)
    assert limits.MAX_VOXELS >= 512 * 512 * 1000
