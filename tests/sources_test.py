"""sgan_tf/data/sources.py: each reader's items, the detection order, and what items carry."""

import os

import nibabel as nib
import numpy as np
import pytest

from conftest import make_deeplesion
from sgan_tf.data import ct, sources, volumes
from sgan_tf.errors import DataError, UserError


def test_deeplesion_rows_become_lesion_items_with_truth(tmp_path):
    records = make_deeplesion(str(tmp_path / "set"))
    source = sources.open_source(str(tmp_path / "set"))
    assert isinstance(source, sources.DeepLesionSource) and source.has_lesions and source.has_truth
    items = source.items()
    assert [i.item_id for i in items] == [r.item_id for r in records]
    first = items[0]
    assert first.kind == "deeplesion" and first.slice_id == records[0].file_name and first.shape == (96, 96)
    np.testing.assert_allclose(first.recist, records[0].recist, atol=1e-4)  # as DL_info.csv writes it
    assert first.read().hu.shape == (96, 96) and first.truth().max() == 1
    assert first.describe() == f"DL_info.csv line 2 ({records[0].file_name})" and first.extra["csv_line"] == 2
    assert [i.split for i in source.lesions([3])] == [3]
    only = sources.open_source(str(tmp_path / "set"), sources.SourceOptions(splits=(7,)))
    with pytest.raises(UserError, match="none of its 4 lesion rows is in --splits=\\[7\\]"):
        only.items()


def test_files_are_named_by_their_relative_path(tmp_path):
    (tmp_path / "pngs" / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        ct.write_hu_png(str(tmp_path / "pngs" / name), np.zeros((8, 9), np.float32))
    source = sources.open_source(str(tmp_path / "pngs"))
    assert isinstance(source, sources.PngSource) and not source.has_lesions
    assert [i.item_id for i in source.items()] == ["a.png", "sub%2Fb.png"]
    assert source.items()[1].read().hu.shape == (8, 9) and source.lesions() == []
    assert sources.item_name(".hidden") == "%2Ehidden" and sources.item_name("summary.json") != "summary.json"


def test_a_volume_is_one_item_per_axial_slice_with_its_geometry(tmp_path):
    data = np.arange(4 * 5 * 3, dtype=np.int16).reshape(4, 5, 3)  # (i, j, k) on disk, RAS
    nib.save(nib.Nifti1Image(data, np.diag([0.7, 0.8, 2.5, 1.0])), str(tmp_path / "ct.nii.gz"))
    source = sources.open_source(str(tmp_path / "ct.nii.gz"))
    assert isinstance(source, sources.VolumeSource)
    items = source.items()
    assert [i.item_id for i in items] == ["ct.nii.gz%230", "ct.nii.gz%231", "ct.nii.gz%232"]
    assert [sources.slice_name("ct.nii.gz", z) for z in range(3)] == [i.slice_id for i in items]
    volume = volumes.read_volume(str(tmp_path / "ct.nii.gz"))
    for z, item in enumerate(items):
        image = item.read()
        np.testing.assert_array_equal(image.hu, volume.hu[z])
        assert image.spacing == pytest.approx((0.8, 0.7)) and image.meta["slice_spacing_mm"] == pytest.approx(2.5)
    owner, path, z = items[2].origin
    assert owner.volume(path).hu.shape == (3, 5, 4) and z == 2  # what a writer needs: volumes.write_like
    (tmp_path / "bad.nii").write_bytes(b"not a volume")
    folder = sources.VolumeSource(str(tmp_path))
    assert len(folder.items()) == 3 and "bad.nii" in folder.problems[0]


def test_detection_order_and_errors(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        sources.open_source(str(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty input folder"):
        sources.open_source(str(tmp_path / "empty"))
    (tmp_path / "x.bin").write_bytes(b"?")
    assert isinstance(sources.open_source(str(tmp_path / "x.bin")), sources.DicomSource)  # any other file
    with pytest.raises(DataError, match="not a DeepLesion-layout root"):
        sources.open_lesion_source(str(tmp_path / "x.bin"), "--data_dir")
    assert sources.READERS[0] is sources.DeepLesionSource
    assert os.path.basename(sources.open_source(str(tmp_path / "x.bin")).items()[0].source) == "x.bin"
