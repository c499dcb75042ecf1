"""Safe output writing (sgan_tf/outputs.py: `replacing` and `write_file`) and the pixel cap's header readers (sgan_tf/data/limits.py)."""

import os
import struct

import cv2
import numpy as np
import pytest

from sgan_tf import outputs
from sgan_tf.outputs import replacing
from sgan_tf.data import limits
from sgan_tf.errors import DataError, UserError


def test_writes_go_to_their_place_with_the_umask_mode_and_no_leftovers(tmp_path):
    path = outputs.write_file(str(tmp_path / "out" / "a" / "b.txt"), "hello", root=str(tmp_path / "out"))
    assert open(path).read() == "hello" and path == str(tmp_path / "out" / "a" / "b.txt")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    outputs.write_file(path, b"again")
    assert open(path).read() == "again" and os.listdir(tmp_path / "out" / "a") == ["b.txt"]
    (tmp_path / "out" / "dir.txt").mkdir()
    with pytest.raises(DataError, match="dir.txt: is a folder, not a file"):
        outputs.write_file(str(tmp_path / "out" / "dir.txt"), "x")
    assert sorted(os.listdir(tmp_path / "out")) == ["a", "dir.txt"]  # the temporary file is gone


def test_paths_outside_the_folder_are_refused(tmp_path):
    for relative in ("../x", "/etc/passwd", "a/../../x", "", ".", "a\0b"):
        with pytest.raises(DataError, match="row 7"):
            outputs.inside(str(tmp_path), relative, "row 7")
    assert outputs.inside(str(tmp_path), "a/../b", "row 7") == str(tmp_path / "b")
    with pytest.raises(DataError, match="points outside"):
        outputs.write_file(str(tmp_path / "out" / ".." / "escaped.txt"), "x", root=str(tmp_path / "out"))
    assert not (tmp_path / "escaped.txt").exists()


def test_symlinks_below_the_folder_are_never_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / "file.txt")
    os.symlink(tmp_path, out / "sub")
    os.symlink(tmp_path / "nowhere.txt", out / "dangling.txt")
    for name in ("file.txt", "sub/victim.txt", "dangling.txt"):
        with pytest.raises(DataError, match="is a symlink; refusing to write through it"):
            outputs.write_file(str(out / name), "overwritten", root=str(out))
    assert victim.read_text() == "keep" and not (tmp_path / "nowhere.txt").exists()
    linked = tmp_path / "linked_out"
    os.symlink(out, linked)  # the output folder itself may be a link the user chose
    outputs.write_png(str(linked / "m.png"), np.zeros((4, 4), np.uint8), root=str(linked))
    assert cv2.imread(str(out / "m.png")).shape == (4, 4, 3)


def test_encoders_and_writers_round_trip(tmp_path):
    image = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)
    outputs.write_png(str(tmp_path / "a.png"), image)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED), image)
    outputs.write_npy(str(tmp_path / "a.npy"), image.astype(np.float32))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), image)
    outputs.write_npz(str(tmp_path / "a.npz"), {"x": image}, compressed=True)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["x"], image)
    with pytest.raises(DataError, match="x.png: could not encode as PNG"):
        outputs.write_png(str(tmp_path / "x.png"), np.zeros((2, 2, 7), np.float64))


def _jpeg_header(width: int, height: int) -> bytes:
    """SOI, an APP0 segment, then a baseline SOF0 claiming width x height (no image data)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + app0 + b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"


def test_the_pixel_cap_reads_png_and_jpeg_headers(tmp_path, max_pixels):
    from enhance_main_test import _png_claiming

    (tmp_path / "bomb.png").write_bytes(_png_claiming(30000, 30000))
    (tmp_path / "bomb.jpg").write_bytes(_jpeg_header(40000, 30000))
    with pytest.raises(DataError, match=r"bomb.png: 30000x30000 = 900,000,000 pixels is over the --max_pixels="
                                        r"100,000,000 cap"):
        limits.check_image_file(str(tmp_path / "bomb.png"))
    with pytest.raises(DataError, match=r"bomb.jpg: 40000x30000 = 1,200,000,000 pixels"):
        limits.check_image_file(str(tmp_path / "bomb.jpg"))
    cv2.imwrite(str(tmp_path / "small.jpg"), np.zeros((30, 40), np.uint8))
    limits.check_image_file(str(tmp_path / "small.jpg"))
    max_pixels(40 * 30 - 1)
    with pytest.raises(DataError, match="small.jpg: 40x30 = 1,200 pixels"):
        limits.check_image_file(str(tmp_path / "small.jpg"))
    (tmp_path / "notes.bmp").write_bytes(b"BM not checked here")
    limits.check_image_file(str(tmp_path / "notes.bmp"))  # left to the decoder
    for bad in (0, -5, 2.5, True):
        with pytest.raises(UserError, match="must be a positive integer"):
            limits.set_max_pixels(bad)


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
