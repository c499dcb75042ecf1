"""CT intensities: Hounsfield units (HU), display windows, the network scale, 16-bit HU PNGs.

**Network scale.** The generators were trained on natural images on [0, 1]; a CT image enters
them through a window [lo, hi] in HU (the rule, and how network outputs keep the input's HU
outside the window, live in `sgan_tf/scale.py`). The default window is `DEFAULT_WINDOW`, soft
tissue (level 40, width 400: -160..240 HU), where lesions of the liver, kidney, lymph nodes and
soft tissue have their contrast, and where low-dose noise (20-60 HU) lands within G1's training
noise range (sigma <= 50/255 of the window, 78 HU). A `--window` value is parsed once into a
`WindowChoice`, which gives each image its window (`resolve`): a fixed one, or the image's own.

**16-bit PNG (DeepLesion convention):** stored value = HU + 32768 as uint16. The subtraction
is done in int32, since uint16 - 32768 would wrap.
"""

from __future__ import annotations

import dataclasses
import os

import cv2
import numpy as np

from sgan_tf import outputs, scale
from sgan_tf.data import limits
from sgan_tf.errors import DataError, UserError

HU_OFFSET = 32768
AIR_HU = -1024.0


@dataclasses.dataclass(frozen=True)
class Window:
    """A HU display/network window [lo, hi]."""

    lo: float
    hi: float

    def __post_init__(self):
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)) or self.hi <= self.lo:
            raise UserError(f"a window needs lo < hi, got [{self.lo}, {self.hi}]")

    @classmethod
    def from_level_width(cls, level: float, width: float) -> "Window":
        return cls(level - width / 2.0, level + width / 2.0)

    @property
    def width(self) -> float:
        return self.hi - self.lo

    def to_unit(self, hu: np.ndarray) -> np.ndarray:
        """HU -> network scale [0, 1] (clipped; `scale.to_unit`)."""
        return scale.to_unit(hu, self)

    def to_hu(self, unit: np.ndarray) -> np.ndarray:
        """Network scale -> HU (inputs clipped to [0, 1] first; `scale.to_hu`)."""
        return scale.to_hu(unit, self)

    def output_hu(self, unit: np.ndarray, hu_in: np.ndarray) -> np.ndarray:
        """A network output in HU that keeps `hu_in` outside the window (`scale.output_hu`)."""
        return scale.output_hu(unit, hu_in, self)

    def as_list(self) -> list[float]:
        return [float(self.lo), float(self.hi)]


# Named presets (level/width as usual in radiology; 'full' is DeepLesion's 12-bit range).
WINDOWS = {
    "full": Window(-1024.0, 3071.0),
    "soft_tissue": Window.from_level_width(40.0, 400.0),
    "lung": Window.from_level_width(-600.0, 1500.0),
    "bone": Window.from_level_width(400.0, 1800.0),
    "liver": Window.from_level_width(60.0, 160.0),
}
DEFAULT_WINDOW = "soft_tissue"  # the --window default of every binary and config
NETWORK_WINDOW = WINDOWS[DEFAULT_WINDOW]
OWN_WINDOW = "dicom"  # spec meaning "the image's own window (DICOM tags / DL_info.csv)"
WINDOW_HELP = f"one of {sorted(WINDOWS)}, '{OWN_WINDOW}' (the image's own DICOM / DL_info.csv window), or 'lo,hi' in HU"


@dataclasses.dataclass(frozen=True)
class WindowChoice:
    """A window spec parsed once: a fixed window, or (`OWN_WINDOW`) each image's own window,
    falling back to the default for images without one."""

    spec: str
    fixed: Window | None  # None: the image's own

    @classmethod
    def parse(cls, spec: str) -> "WindowChoice":
        """'soft_tissue' (a preset), 'dicom' (the image's own window), or 'lo,hi'; UserError else."""
        spec = spec.strip()
        if spec in WINDOWS:
            return cls(spec, WINDOWS[spec])
        if spec == OWN_WINDOW:
            return cls(spec, None)
        parts = spec.split(",")
        if len(parts) == 2:
            try:
                return cls(spec, Window(float(parts[0]), float(parts[1])))
            except ValueError:
                pass
        raise UserError(f"window {spec!r}: use {WINDOW_HELP}")

    def resolve(self, own: Window | None = None) -> Window:
        """The window of one image whose own window is `own` (None: it has none)."""
        if self.fixed is not None:
            return self.fixed
        return own if own is not None else NETWORK_WINDOW


DEFAULT_CHOICE = WindowChoice.parse(DEFAULT_WINDOW)


def check_finite(hu: np.ndarray, item: str) -> None:
    """DataError naming `item` if any pixel is NaN or inf."""
    bad = ~np.isfinite(hu)
    if bad.any():
        raise DataError(f"{item}: {int(bad.sum())} NaN/inf pixels")


def hu_from_png16(stored: np.ndarray) -> np.ndarray:
    """uint16 PNG values -> float32 HU (value - 32768, computed in int32)."""
    return (stored.astype(np.int32) - HU_OFFSET).astype(np.float32)


def png16_from_hu(hu: np.ndarray) -> np.ndarray:
    """float HU -> uint16 PNG values (rounded, clipped to the int16 range)."""
    shifted = np.rint(np.asarray(hu, np.float64)) + HU_OFFSET
    return np.clip(shifted, 0, 65535).astype(np.uint16)


def read_image_file(path: str) -> np.ndarray:
    """cv2.imread(IMREAD_UNCHANGED) guarded: the pixel cap before decoding, and every failure
    (missing, unreadable, OpenCV errors) a DataError naming the file."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    limits.check_image_file(path)
    try:
        stored = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise DataError(f"{path}: cannot decode: {e.err or e}") from e
    if stored is None or stored.size == 0:
        raise DataError(f"{path}: not a readable image (corrupt or truncated?)")
    return stored


def read_hu_png(path: str) -> np.ndarray:
    """A DeepLesion-style 16-bit single-channel PNG -> float32 HU [H, W]."""
    stored = read_image_file(path)
    if stored.ndim != 2:
        raise DataError(f"{path}: expected a single-channel 16-bit HU PNG, got {stored.shape[2]} channels")
    if stored.dtype != np.uint16:
        raise DataError(f"{path}: expected a 16-bit HU PNG (value = HU + 32768), got {stored.dtype} pixels")
    return hu_from_png16(stored)


def write_hu_png(path: str, hu: np.ndarray, root: str | None = None) -> None:
    """float HU [H, W] -> 16-bit PNG (value = HU + 32768), written with `outputs.write_file`
    inside `root` (default: its folder), creating folders below it."""
    outputs.write_png(path, png16_from_hu(hu), root)


@dataclasses.dataclass
class CTSlice:
    """One CT image in HU with what the readers know about it."""

    hu: np.ndarray  # float32 [H, W]
    source: str  # file path (or path#frame) for messages and sidecars
    spacing: tuple[float, float] | None = None  # (row, column) mm per pixel
    window: Window | None = None  # the image's own window (DICOM tags, DL_info.csv)
    meta: dict = dataclasses.field(default_factory=dict)  # JSON-able extras (UIDs, modality, ...)
