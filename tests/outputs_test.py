"""The safe file writer (sgan_tf/outputs.py): no overwrite by default, no symlinks, no partial files."""

import os

import pytest

from sgan_tf.errors import DataError
from sgan_tf.outputs import replacing


def write(path, data: bytes, overwrite: bool = False) -> None:
    with replacing(str(path), overwrite) as temp, open(temp, "wb") as f:
        f.write(data)


def test_writes_creating_folders_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a" / "b" / "out.nii.gz"
    write(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(path.parent) == ["out.nii.gz"]


def test_temporary_keeps_the_extension_for_format_by_name_writers(tmp_path):
    with replacing(str(tmp_path / "vol.nii.gz")) as temp:
        assert temp.endswith(".nii.gz") and os.path.dirname(temp) == str(tmp_path) and os.path.isfile(temp)
        open(temp, "wb").close()


def test_existing_file_is_kept_unless_overwrite(tmp_path):
    path = tmp_path / "out.dcm"
    path.write_bytes(b"old")
    with pytest.raises(DataError, match=f"^{path}: exists; not overwritten"):
        write(path, b"new")
    assert path.read_bytes() == b"old"
    write(path, b"new", overwrite=True)
    assert path.read_bytes() == b"new"


def test_symlink_is_never_written_through(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"precious")
    link = tmp_path / "out.mha"
    link.symlink_to(target)
    for overwrite in (False, True):
        with pytest.raises(DataError, match=f"^{link}: is a symlink"):
            write(link, b"new", overwrite)
    assert target.read_bytes() == b"precious" and link.is_symlink()
    dangling = tmp_path / "dangling.mha"
    dangling.symlink_to(tmp_path / "absent")
    with pytest.raises(DataError, match="is a symlink"):
        write(dangling, b"new")
    assert not (tmp_path / "absent").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.raw"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer broke"):
        with replacing(str(path), overwrite=True) as temp:
            with open(temp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("writer broke")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.raw"]


def test_folder_target_and_unwritable_folder(tmp_path):
    (tmp_path / "dir.nii").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        write(tmp_path / "dir.nii", b"x", overwrite=True)
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(DataError, match=f"^{blocker}/out.mha: could not write"):
        write(blocker / "out.mha", b"x")
