r"""A small TF Serving REST client for the sgan-tf export: Python's standard library and numpy only.

  # Enhance an ROI (a DeepLesion 16-bit HU PNG, or a float HU .npy [H, W] or [N, H, W]) at zoom 2:
  python export/client.py --model=enhancer --input=roi.png --zoom=2 --output_dir=out

  # Segment the composite the enhancer returned, or an HU ROI through the og_hu signature:
  python export/client.py --model=hnn --input=out/composite.npy --output_dir=seg
  python export/client.py --model=hnn --signature=og_hu --input=roi.png --output_dir=seg_og

Each output is written as <output_dir>/<name>.npy with its batch axis ([N, h, w, C]) and its
signature dtype. Request and response layouts: export/README.md. `--server` defaults to
http://localhost:8501.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import urllib.error
import urllib.request
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HU_OFFSET = 32768  # DeepLesion PNGs store HU + 32768 as uint16
MASK = "mask"  # the one uint8 output of the exports; every other output is float32


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _unfilter(kind: int, row: bytearray, prior: bytearray, bpp: int) -> None:
    """Undoes one PNG row filter in place (PNG spec, section 9)."""
    if kind == 0:
        return
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up = prior[i]
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            row[i] = (row[i] + _paeth(left, up, prior[i - bpp] if i >= bpp else 0)) & 0xFF
        else:
            raise ValueError(f"bad PNG row filter {kind}")


def read_png16(path: str) -> np.ndarray:
    """The uint16 pixels [H, W] of a 16-bit single-channel, non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError(f"{path}: not a PNG file")
    pos, header, idat = len(PNG_SIGNATURE), None, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos: pos + 8])
        chunk = data[pos + 8: pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: PNG without a header (truncated?)")
    width, height, depth, colour, _, _, interlace = header
    if depth != 16 or colour != 0 or interlace != 0:
        raise ValueError(f"{path}: need a 16-bit grayscale non-interlaced HU PNG (value = HU + 32768), "
                         f"got bit depth {depth}, colour type {colour}, interlace {interlace}")
    raw = zlib.decompress(b"".join(idat))
    stride = 2 * width
    if len(raw) != height * (stride + 1):
        raise ValueError(f"{path}: pixel data does not match {width} x {height} (truncated?)")
    out, prior = bytearray(), bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = bytearray(raw[start + 1: start + 1 + stride])
        _unfilter(raw[start], row, prior, 2)
        out += row
        prior = row
    return np.frombuffer(bytes(out), ">u2").reshape(height, width).astype(np.uint16)


def read_hu(path: str) -> np.ndarray:
    """HU images [N, H, W] float32 from a 16-bit HU PNG or a float .npy of [H, W] or [N, H, W]."""
    if path.lower().endswith(".png"):
        hu = read_png16(path).astype(np.int32) - HU_OFFSET
    else:
        hu = np.load(path)
    hu = np.asarray(hu, np.float32)
    if hu.ndim == 4 and hu.shape[-1] == 1:
        hu = hu[..., 0]
    if hu.ndim == 2:
        hu = hu[None]
    if hu.ndim != 3:
        raise ValueError(f"{path}: expected HU images [H, W] or [N, H, W], got shape {hu.shape}")
    return hu


def enhancer_request(hu: np.ndarray, zoom: float) -> dict:
    """The enhancer's predict body, columnar ("inputs"), since `zoom` is one scalar for the batch:
    hu [N, H, W] or [H, W] in HU."""
    hu = np.asarray(hu, np.float32)
    hu = hu[None] if hu.ndim == 2 else hu
    return {"signature_name": "serving_default", "inputs": {"hu": hu[..., None].tolist(), "zoom": float(zoom)}}


def hnn_request(images: np.ndarray, signature: str = "serving_default") -> dict:
    """The HNN's predict body in the row format, one instance per image (each signature has one
    input, so an instance is the image itself): composites [N, H, W, 3] on the network scale
    for `serving_default`, HU images [N, H, W] for `og_hu`."""
    images = np.asarray(images, np.float32)
    if signature == "og_hu":
        images = (images[None] if images.ndim == 2 else images)[..., None]
    elif images.ndim == 3:
        images = images[None]
    return {"signature_name": signature, "instances": images.tolist()}


def _array(name: str, value) -> np.ndarray:
    """A JSON output as an array of its signature dtype (JSON numbers carry none)."""
    return np.asarray(value, np.uint8 if name == MASK else np.float32)


def parse_response(body: dict) -> dict[str, np.ndarray]:
    """Output name -> array with a batch axis, from a columnar ("outputs") or row
    ("predictions") response; ValueError with the server's message for an error response."""
    if "error" in body:
        raise ValueError(f"server error: {body['error']}")
    if "outputs" in body:
        return {k: _array(k, v) for k, v in body["outputs"].items()}
    rows = body["predictions"]
    return {k: _array(k, [row[k] for row in rows]) for k in rows[0]}


def predict(server: str, model: str, body: dict, timeout: float = 300.0) -> dict[str, np.ndarray]:
    """POSTs `body` to <server>/v1/models/<model>:predict and parses the answer."""
    request = urllib.request.Request(f"{server.rstrip('/')}/v1/models/{model}:predict",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return parse_response(json.load(response))
    except urllib.error.HTTPError as e:
        return parse_response(json.load(e))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://localhost:8501")
    parser.add_argument("--model", choices=["enhancer", "hnn"], required=True)
    parser.add_argument("--signature", default="serving_default", help="HNN: serving_default or og_hu.")
    parser.add_argument("--input", required=True, help="HU .png/.npy; for the HNN's serving_default a composite .npy.")
    parser.add_argument("--zoom", type=float, default=1.0, help="Enhancer: enlargement (>= 1).")
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args(argv)
    try:
        if args.model == "enhancer":
            body = enhancer_request(read_hu(args.input), args.zoom)
        elif args.signature == "og_hu":
            body = hnn_request(read_hu(args.input), "og_hu")
        else:
            body = hnn_request(np.load(args.input), args.signature)
        outputs = predict(args.server, args.model, body)
    except (OSError, ValueError) as e:
        print(f"client: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.output_dir, exist_ok=True)
    for name, value in outputs.items():
        path = os.path.join(args.output_dir, f"{name}.npy")
        np.save(path, value)
        print(f"{path}: {value.dtype} {list(value.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
