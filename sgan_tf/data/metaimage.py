"""MetaImage (ITK's .mha / .mhd format): the project's one reader and writer.

A MetaImage is a text header of `Key = Value` lines whose last field, ElementDataFile, says
where the raw voxels are: `LOCAL` (right after that line, the usual .mha), one file
(`vol.raw`, the usual .mhd), one file per slice (`name_%03d.raw first last [step]`, or `LIST`
followed by one file name per line). Data files are looked up in the header's folder.

**Geometry**, as ITK reads it (and with it 3D Slicer, ITK-SNAP and SimpleITK): the centre of
the voxel with index (i, j, k) (i varying fastest, the DimSize order) lies at

    Offset + D @ (ElementSpacing * (i, j, k))     mm, in LPS patient coordinates,

where column a of the direction matrix D is the a-th group of NDims numbers in TransformMatrix
(`Header.direction` keeps them as rows, in file order). `Header.affine` is that map. Missing
tags mean spacing 1, offset 0, D = identity; Origin/Position and Rotation/Orientation are read
as synonyms of Offset and TransformMatrix.

**Reading** (`read`): element types MET_(U)CHAR, (U)SHORT, (U)INT, (U)LONG (4 bytes),
(U)LONG_LONG, FLOAT, DOUBLE; either byte order (BinaryDataByteOrderMSB or ElementByteOrderMSB);
HeaderSize bytes skipped in each data file (-1: the data is the file's tail); CompressedData =
True (a zlib or gzip stream) for LOCAL data and single data files. The array has the shape of
DimSize reversed ([z,] y, x) in native byte order. Fields after ElementDataFile (in a header
whose data is elsewhere) are read as well. Every problem is a DataError naming the file: not a
MetaImage, a header over MAX_HEADER_BYTES, a missing or malformed field, more than one channel,
a data file that is missing, outside the header's folder, shorter or longer than DimSize says,
compressed data that does not inflate to exactly that size, or more voxels than
`limits.MAX_VOXELS` (checked before any voxel is read).

**Writing** (`write`): one data file, little endian: LOCAL in a .mha, `<stem>.raw` (`.zraw`
when compressed) beside a .mhd. The header's geometry, compression and other fields (e.g.
AnatomicalOrientation) are kept; ElementType follows the array's dtype. Files are written as
sgan_tf/outputs.py says: never over an existing file unless `overwrite`, never through a link.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zlib

import numpy as np

from sgan_tf.data import limits
from sgan_tf.errors import DataError
from sgan_tf.outputs import check_new_file, replacing

MAX_HEADER_BYTES = 65536
EXTENSIONS = (".mha", ".mhd")

_TYPES = {
    "MET_UCHAR": "u1", "MET_CHAR": "i1", "MET_USHORT": "u2", "MET_SHORT": "i2", "MET_UINT": "u4",
    "MET_INT": "i4", "MET_ULONG": "u4", "MET_LONG": "i4", "MET_ULONG_LONG": "u8", "MET_LONG_LONG": "i8",
    "MET_FLOAT": "f4", "MET_DOUBLE": "f8",
}  # fmt: skip
_WRITE_TYPES = {np.dtype(kind): name for name, kind in _TYPES.items() if name not in ("MET_ULONG", "MET_LONG")}
_OFFSET_KEYS = ("Offset", "Origin", "Position")
_DIRECTION_KEYS = ("TransformMatrix", "Rotation", "Orientation")
_BYTE_ORDER_KEYS = ("BinaryDataByteOrderMSB", "ElementByteOrderMSB")
# Fields that describe the stored data or the geometry above; everything else is kept as is.
_OWN_KEYS = frozenset({
    "ObjectType", "NDims", "DimSize", "ElementType", "ElementDataFile", "BinaryData", "CompressedData",
    "CompressedDataSize", "HeaderSize", "ElementNumberOfChannels", "ElementMin", "ElementMax", "ElementSpacing",
    "ElementSize", *_OFFSET_KEYS, *_DIRECTION_KEYS, *_BYTE_ORDER_KEYS,
})  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Header:
    """What a MetaImage says besides its voxels: geometry (module docstring), compression, and
    the other fields, in file order."""

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[tuple[float, ...], ...]  # row a: the direction cosines of index axis a
    compressed: bool = False
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def ndim(self) -> int:
        return len(self.spacing)

    def affine(self) -> np.ndarray:
        """[n + 1, n + 1]: homogeneous voxel index (i, j, k, 1) -> LPS mm of the voxel's centre."""
        n = self.ndim
        out = np.eye(n + 1)
        out[:n, :n] = np.asarray(self.direction, np.float64).T * np.asarray(self.spacing, np.float64)
        out[:n, n] = self.origin
        return out


def _fail(path: str, message: str) -> DataError:
    return DataError(f"{path}: {message}")


def _read_head(path: str) -> tuple[bytes, int]:
    """(the first MAX_HEADER_BYTES + 1 bytes, the file size)."""
    if not os.path.isfile(path):
        raise _fail(path, "MetaImage header not found")
    try:
        with open(path, "rb") as f:
            return f.read(MAX_HEADER_BYTES + 1), os.fstat(f.fileno()).st_size
    except OSError as e:
        raise _fail(path, f"cannot read: {e.strerror or e}") from e


def _lines(path: str, text: bytes) -> list[str]:
    try:
        return text.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise _fail(path, "not a MetaImage header (binary bytes in its text part)") from None


def _parse_fields(path: str, lines: list[str], fields: dict[str, str]) -> None:
    for line in lines:
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise _fail(path, f"header line {line.strip()[:80]!r} is not 'Key = Value' (not a MetaImage?)")
        fields[key.strip()] = value.strip()


def _parse(path: str) -> tuple[dict[str, str], list[str], int]:
    """(fields, the file names after `ElementDataFile = LIST`, the byte offset after its line)."""
    head, size = _read_head(path)
    start = head.find(b"ElementDataFile")
    if start < 0:
        what = f"in its first {MAX_HEADER_BYTES} bytes" if len(head) > MAX_HEADER_BYTES else "field"
        raise _fail(path, f"no ElementDataFile {what} (not a MetaImage, or its header is too long)")
    end = head.find(b"\n", start)
    end = len(head) if end < 0 else end
    if end > MAX_HEADER_BYTES:
        raise _fail(path, f"MetaImage header longer than {MAX_HEADER_BYTES} bytes")
    fields: dict[str, str] = {}
    header_lines = _lines(path, head[:end])
    _parse_fields(path, header_lines, fields)
    if header_lines[-1].partition("=")[0].strip() != "ElementDataFile":
        raise _fail(path, "ElementDataFile is not a field of its own (not a MetaImage header?)")
    names: list[str] = []
    if fields["ElementDataFile"] != "LOCAL":  # the whole file is text: read the lines after it too
        if size > MAX_HEADER_BYTES:
            raise _fail(path, f"MetaImage header longer than {MAX_HEADER_BYTES} bytes")
        rest = _lines(path, head[end + 1:])
        if fields["ElementDataFile"].split()[:1] == ["LIST"]:
            names = [line.strip() for line in rest if line.strip()]
        else:
            _parse_fields(path, rest, fields)
    return fields, names, end + 1


def _numbers(path: str, fields: dict[str, str], keys: tuple[str, ...], count: int, cast=float) -> list | None:
    """The first present field of `keys` as exactly `count` finite numbers; None if absent."""
    key = next((k for k in keys if k in fields), None)
    if key is None:
        return None
    try:
        values = [cast(v) for v in fields[key].split()]
    except ValueError:
        values = []
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise _fail(path, f"{key} = {fields[key][:80]!r}: expected {count} finite numbers")
    return values


def _flag(path: str, fields: dict[str, str], keys: tuple[str, ...], default: bool) -> bool:
    key = next((k for k in keys if k in fields), None)
    if key is None:
        return default
    value = fields[key].lower()
    if value not in ("true", "false", "1", "0"):
        raise _fail(path, f"{key} = {fields[key][:80]!r} is not True or False")
    return value in ("true", "1")


def _data_files(path: str, value: str, listed: list[str], max_files: int) -> list[str]:
    """The data files named by ElementDataFile (not LOCAL), inside the header's folder; at most
    `max_files` (one per row of voxels), so that a pattern cannot name a billion files."""
    parts = value.split()
    if parts and parts[0] == "LIST":
        names = listed
    elif len(parts) in (3, 4) and "%" in parts[0]:
        try:
            numbers = range(*(int(v) for v in (parts[1], int(parts[2]) + 1, *parts[3:])))
            if len(numbers) > max_files:
                raise _fail(path, f"ElementDataFile = {value!r} names {len(numbers)} files, "
                                  "more than the image has rows")
            names = [parts[0] % i for i in numbers]
        except (ValueError, TypeError):
            raise _fail(path, f"ElementDataFile = {value!r}: expected 'pattern first last [step]'") from None
    else:
        names = [value]
    if not names or not value:
        raise _fail(path, "ElementDataFile names no data file")
    if len(names) > max_files:
        raise _fail(path, f"ElementDataFile lists {len(names)} files, more than the image has rows")
    folder = os.path.abspath(os.path.dirname(path))
    files = []
    for name in names:
        full = os.path.normpath(os.path.join(folder, name))
        if os.path.isabs(name) or os.path.commonpath([folder, full]) != folder:
            raise _fail(path, f"data file {name!r} is outside the header's folder {folder}")
        if not os.path.isfile(full):
            raise _fail(path, f"data file {full} not found")
        files.append(full)
    return files


def _inflate(name: str, compressed: bytes, nbytes: int) -> bytes:
    """Exactly `nbytes` from a zlib or gzip stream, without inflating more than that."""
    inflater = zlib.decompressobj(wbits=32 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(compressed, nbytes)
        extra = inflater.decompress(inflater.unconsumed_tail, 1) if len(data) == nbytes else b""
    except zlib.error as e:
        raise _fail(name, f"compressed data (CompressedData = True) cannot be inflated: {e}") from None
    if extra or inflater.unused_data:
        raise _fail(name, f"compressed data holds more than the {nbytes} bytes DimSize and ElementType say")
    if len(data) < nbytes or not inflater.eof:
        raise _fail(name, f"compressed data inflates to {len(data)} bytes or is cut short, expected {nbytes}")
    return data


def _read_raw(name: str, offset: int, header_size: int, nbytes: int, compressed: bool, dims: str,
              itemsize: int) -> bytes | tuple[int, int]:
    """Inflated bytes (compressed), or the byte range (offset, nbytes) checked against the size."""
    size = os.path.getsize(name)
    if header_size == -1 and not compressed:
        offset = size - nbytes
    elif header_size > 0:
        offset += header_size
    available = size - offset
    if compressed:
        if available > nbytes + nbytes // 100 + 1024:  # deflate never grows data by that much
            raise _fail(name, f"{available} bytes of compressed data for {nbytes} bytes of voxels")
        with open(name, "rb") as f:
            f.seek(offset)
            return _inflate(name, f.read(available), nbytes)
    if available != nbytes:
        raise _fail(name, f"{max(available, 0) // itemsize} values, expected {nbytes // itemsize} (DimSize {dims})")
    return offset, nbytes


def read(path: str, max_voxels: int = limits.MAX_VOXELS) -> tuple[np.ndarray, Header]:
    """A MetaImage file (.mha or .mhd) -> (voxels, shape DimSize reversed, native order; Header)."""
    fields, listed, data_offset = _parse(path)
    if fields.get("ObjectType", "Image") != "Image":
        raise _fail(path, f"ObjectType {fields['ObjectType']!r} is not an Image")
    if fields.get("BinaryData", "True").lower() not in ("true", "1"):
        raise _fail(path, "ASCII (BinaryData = False) voxel data is not supported")
    if fields.get("ElementNumberOfChannels", "1").strip() != "1":
        raise _fail(path, f"ElementNumberOfChannels = {fields['ElementNumberOfChannels']}: "
                          "only one channel is supported")
    if "DimSize" not in fields or "ElementType" not in fields:
        raise _fail(path, "incomplete MetaImage header: DimSize and ElementType are required")
    ndims = len(fields["DimSize"].split())
    dims = _numbers(path, fields, ("DimSize",), ndims, int)
    if "NDims" in fields and fields["NDims"] != str(ndims):
        raise _fail(path, f"NDims = {fields['NDims']} but DimSize has {ndims} values")
    kind = _TYPES.get(fields["ElementType"])
    if kind is None:
        raise _fail(path, f"ElementType {fields['ElementType']!r} is not supported (one of {', '.join(_TYPES)})")
    spacing = _numbers(path, fields, ("ElementSpacing",), ndims) or _numbers(path, fields, ("ElementSize",), ndims)
    origin = _numbers(path, fields, _OFFSET_KEYS, ndims) or [0.0] * ndims
    matrix = _numbers(path, fields, _DIRECTION_KEYS, ndims * ndims)
    direction = np.eye(ndims) if matrix is None else np.array(matrix).reshape(ndims, ndims)
    if spacing is not None and min(spacing) <= 0:
        raise _fail(path, f"ElementSpacing {spacing} must be positive")
    if abs(np.linalg.det(direction)) < 1e-6:
        raise _fail(path, "TransformMatrix is singular (its axes are not independent)")
    header_size = (_numbers(path, fields, ("HeaderSize",), 1, int) or [0])[0]
    if header_size < -1:
        raise _fail(path, f"HeaderSize = {header_size} must be -1 or more")
    compressed = _flag(path, fields, ("CompressedData",), False)
    msb = _flag(path, fields, _BYTE_ORDER_KEYS, False)
    limits.check_voxels(dims, path, max_voxels)

    dtype = np.dtype(kind).newbyteorder(">" if msb else "<")
    local = fields["ElementDataFile"] == "LOCAL"
    files = [path] if local else _data_files(path, fields["ElementDataFile"], listed, math.prod(dims[1:]))
    if compressed and len(files) > 1:
        raise _fail(path, "compressed data in several files is not supported; write it as one file")
    count = math.prod(dims)
    if count % len(files):
        raise _fail(path, f"{count} voxels do not split evenly over {len(files)} data files")
    per_file = count // len(files) * dtype.itemsize
    chunks = []
    for name in files:
        try:
            raw = _read_raw(name, data_offset if local else 0, header_size, per_file, compressed,
                            fields["DimSize"], dtype.itemsize)
            if isinstance(raw, bytes):
                chunks.append(np.frombuffer(raw, dtype))
            else:
                chunks.append(np.fromfile(name, dtype, count=raw[1] // dtype.itemsize, offset=raw[0]))
        except OSError as e:
            raise _fail(name, f"cannot read: {e.strerror or e}") from e
    voxels = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    array = voxels.reshape(tuple(reversed(dims))).astype(dtype.newbyteorder("="), copy=False)
    kept = tuple((k, v) for k, v in fields.items() if k not in _OWN_KEYS)
    geometry = Header(tuple(spacing or [1.0] * ndims), tuple(origin), tuple(map(tuple, direction.tolist())),
                      compressed, kept)
    return array, geometry


def _format(values) -> str:
    return " ".join(repr(float(v)) for v in values)


def data_file(path: str, header: Header) -> str | None:
    """The data file `write` puts beside the header `path`: None for a .mha (LOCAL data)."""
    stem, ext = os.path.splitext(path)
    if ext.lower() not in EXTENSIONS:
        raise DataError(f"{path}: a MetaImage file name ends with .mha or .mhd")
    return None if ext.lower() == ".mha" else stem + (".zraw" if header.compressed else ".raw")


def write(path: str, array: np.ndarray, header: Header, overwrite: bool = False) -> None:
    """Writes `array` (shape DimSize reversed) with `header` to a .mha or .mhd (module docstring)."""
    data_name = data_file(path, header)
    array = np.asarray(array)
    name = _WRITE_TYPES.get(array.dtype.newbyteorder("="))
    if name is None:
        raise ValueError(f"MetaImage cannot store {array.dtype} voxels")
    if array.ndim != header.ndim:
        raise ValueError(f"a {array.ndim}-D array with a {header.ndim}-D header")
    data = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
    if header.compressed:
        data = zlib.compress(data)
    lines = [
        ("ObjectType", "Image"), ("NDims", str(array.ndim)), ("BinaryData", "True"),
        ("BinaryDataByteOrderMSB", "False"), ("CompressedData", str(header.compressed)),
        *([("CompressedDataSize", str(len(data)))] if header.compressed else []),
        ("TransformMatrix", _format(np.ravel(header.direction))), ("Offset", _format(header.origin)),
        ("ElementSpacing", _format(header.spacing)), *header.fields,
        ("DimSize", " ".join(str(n) for n in reversed(array.shape))), ("ElementType", name),
        ("ElementDataFile", "LOCAL" if data_name is None else os.path.basename(data_name)),
    ]  # fmt: skip
    text = "".join(f"{key} = {value}\n" for key, value in lines).encode("ascii")
    if data_name is None:
        with replacing(path, overwrite) as temp, open(temp, "wb") as f:
            f.write(text + data)
        return
    check_new_file(path, overwrite)  # both refused before either is written
    check_new_file(data_name, overwrite)
    with replacing(path, overwrite) as temp_header:
        with replacing(data_name, overwrite) as temp_data, open(temp_data, "wb") as f:
            f.write(data)
        with open(temp_header, "wb") as f:
            f.write(text)
