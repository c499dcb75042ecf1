"""Batch enhancement behind `enhance_main`: find the items of an input, enhance each, write files.

Inputs: a DeepLesion-layout root (one item per DL_info.csv row: the lesion's ROI at its
per-lesion zoom), a DICOM file or folder (one item per slice, whole slice tiled, or `roi`), a
16-bit HU PNG or a folder of them (as DICOM). One bad item is reported by name and the batch
goes on; `Summary` counts what was done, skipped (outputs exist) and failed.

Per item, in `<output_dir>/<item_id>/`:

    og.png denoised.png enhanced.png     16-bit, HU + 32768 (DeepLesion's convention)
    og.npy denoised.npy enhanced.npy     float32 HU
    composite.png                        16-bit RGB, network scale x 65535: R=OG, G=denoised, B=enhanced
    composite.npy                        float32 [H, W, 3] network scale, channels (OG, denoised, enhanced)
    figure.png                           OG | denoised | enhanced side by side, 8-bit, in the network window
    item.json                            source, ROI box, zoom, window, variant, models and checkpoints
    enhanced.dcm                         with write_dicom, whole DICOM slices only (see sgan_tf/data/dicom.py)

`<output_dir>/summary.json` lists every item with its status and message.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable

import cv2
import numpy as np
from absl import logging
from pydicom.uid import generate_uid

from sgan_tf.data import ct, deeplesion, dicom, recist
from sgan_tf.data.ct import CTSlice
from sgan_tf.enhance import Enhancer, EnhanceResult
from sgan_tf.errors import DataError, UserError
from sgan_tf.outputs import check_writable

CHANNELS = ("og", "denoised", "enhanced")
FIGURE_MIN_PANEL = 256


@dataclasses.dataclass
class Options:
    """What `enhance_main`'s flags say, for the library."""

    output_dir: str
    window: str = "soft_tissue"
    roi: recist.RoiBox | None = None  # DICOM / PNG: enhance only this box
    zoom: float = 1.0  # DICOM / PNG
    target_lesion_px: float = recist.TARGET_LESION_PX  # DeepLesion rows
    max_zoom: float = recist.MAX_ZOOM
    splits: tuple[int, ...] | None = None
    lesion_types: tuple[int, ...] | None = None
    allow_any_modality: bool = False
    write_dicom: bool = False
    deidentify: bool = False
    overwrite: bool = False
    figure: bool = True


@dataclasses.dataclass
class Item:
    """One unit of work; `load` returns the slice, the ROI (None: whole slice), zoom and extras."""

    item_id: str
    source: str
    kind: str  # "deeplesion" | "dicom" | "png"
    load: Callable[[], tuple[CTSlice, recist.RoiBox | None, float, dict]]


@dataclasses.dataclass
class Summary:
    done: list[str] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "done": self.done,
            "skipped": [{"item": i, "reason": r} for i, r in self.skipped],
            "failed": [{"item": i, "error": e} for i, e in self.failed],
        }


def _safe_id(relative: str) -> str:
    stem = os.path.splitext(relative)[0]
    return stem.replace(os.sep, "__").replace("/", "__") or "item"


def _deeplesion_items(root: str, options: Options, summary: Summary) -> list[Item]:
    dataset = deeplesion.DeepLesionSet(root)
    for problem in dataset.problems:
        logging.error("%s", problem)
        summary.failed.append((problem.split(":")[0], problem))
    records = dataset.select(options.splits, options.lesion_types)

    def loader(rec: deeplesion.LesionRecord):
        def load():
            image = dataset.load_slice(rec)
            box = recist.roi_box(rec.recist)
            zoom = recist.zoom_factor(recist.axis_lengths(rec.recist)[0], options.target_lesion_px, options.max_zoom)
            extra = {
                "file_name": rec.file_name, "csv_line": rec.line, "lesion_type": rec.lesion_type,
                "lesion_type_name": rec.type_name, "split": rec.split,
                "recist_slice": np.asarray(rec.recist).tolist(),
                "recist_roi": recist.to_roi(rec.recist, box, zoom).tolist(),
            }
            return image, box, zoom, extra
        return load

    return [Item(r.item_id, dataset.image_path(r), "deeplesion", loader(r)) for r in records]


def _png_item(path: str, base: str) -> Item:
    def load():
        hu = ct.read_hu_png(path)
        ct.check_finite(hu, path)
        return CTSlice(hu=hu, source=path), None, 1.0, {}
    return Item(_safe_id(os.path.relpath(path, base)), path, "png", load)


def _dicom_item(path: str, base: str, options: Options) -> Item:
    def load():
        return dicom.read_dicom(path, allow_any_modality=options.allow_any_modality), None, 1.0, {}
    return Item(_safe_id(os.path.relpath(path, base)), path, "dicom", load)


def find_items(path: str, options: Options, summary: Summary) -> list[Item]:
    """The items of an input path; UserError when it is missing or holds nothing usable."""
    if not os.path.exists(path):
        raise UserError(f"--input {path}: no such file or folder")
    if os.path.isfile(path):
        base = os.path.dirname(path)
        if path.lower().endswith(".png"):
            return [_png_item(path, base)]
        return [_dicom_item(path, base, options)]
    if deeplesion.DeepLesionSet.is_root(path):
        return _deeplesion_items(path, options, summary)
    try:
        dicom_files = dicom.find_dicom_files(path)
    except DataError:  # none there
        dicom_files = []
    if dicom_files:
        return [_dicom_item(p, path, options) for p in dicom.sort_slices(dicom_files)]
    pngs = sorted(
        os.path.join(d, f) for d, _, files in os.walk(path) for f in files if f.lower().endswith(".png")
    )
    if pngs:
        return [_png_item(p, path) for p in pngs]
    raise UserError(f"--input {path}: empty input folder (no {deeplesion.INFO_FILE}, DICOM or PNG files)")


def _figure(result: EnhanceResult) -> np.ndarray:
    panels = [result.og, result.denoised, result.enhanced]
    h, w = result.og.shape
    scale = max(1, int(np.ceil(FIGURE_MIN_PANEL / max(h, w))))
    out = []
    for name, panel in zip(("OG", "denoised", "enhanced"), panels):
        img = np.rint(np.clip(panel, 0, 1) * 255).astype(np.uint8)
        img = cv2.resize(img, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
        img = cv2.copyMakeBorder(img, 22, 2, 2, 2, cv2.BORDER_CONSTANT, value=0)
        cv2.putText(img, name, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA)
        out.append(img)
    return np.hstack(out)


def write_outputs(folder: str, result: EnhanceResult, sidecar: dict, figure: bool) -> list[str]:
    """Writes one item's files (module docstring); returns their names."""
    os.makedirs(folder, exist_ok=True)
    written = []
    for name in CHANNELS:
        hu = getattr(result, f"{name}_hu")
        ct.write_hu_png(os.path.join(folder, f"{name}.png"), hu)
        np.save(os.path.join(folder, f"{name}.npy"), hu.astype(np.float32))
        written += [f"{name}.png", f"{name}.npy"]
    composite = result.composite
    rgb16 = np.rint(np.clip(composite, 0, 1) * 65535).astype(np.uint16)
    cv2.imwrite(os.path.join(folder, "composite.png"), rgb16[..., ::-1])  # OpenCV writes BGR
    np.save(os.path.join(folder, "composite.npy"), composite.astype(np.float32))
    written += ["composite.png", "composite.npy"]
    if figure:
        cv2.imwrite(os.path.join(folder, "figure.png"), _figure(result))
        written.append("figure.png")
    with open(os.path.join(folder, "item.json"), "w", encoding="utf-8") as f:
        json.dump({**sidecar, "files": written + ["item.json"]}, f, indent=2)
    return written


def _item_done(folder: str) -> bool:
    return os.path.isdir(folder) and bool(os.listdir(folder))


def enhance_items(items: list[Item], enhancer: Enhancer, options: Options, summary: Summary) -> Summary:
    """Enhances every item; failures are logged by name and counted, the batch goes on."""
    derived_series: dict[str, str] = {}
    for number, item in enumerate(items, start=1):
        folder = os.path.join(options.output_dir, item.item_id)
        prefix = f"[{number}/{len(items)}] {item.item_id}"
        if _item_done(folder) and not options.overwrite:
            summary.skipped.append((item.item_id, "outputs exist (use --overwrite)"))
            logging.info("%s: skipped, outputs exist (use --overwrite)", prefix)
            continue
        start = time.perf_counter()
        try:
            image, box, zoom, extra = item.load()
            box = box or options.roi
            window = ct.parse_window(options.window, own=image.window)
            if box is not None and box.overhangs(image.hu.shape):
                logging.warning("%s: ROI %s reaches over the slice border; padded with %g HU",
                                prefix, box.as_list(), recist.PAD_HU)
            zoom = zoom if item.kind == "deeplesion" else options.zoom
            roi = recist.crop(image.hu, box) if box is not None else image.hu
            result = enhancer(roi, zoom, window)
            sidecar = {
                "item": item.item_id, "source": item.source, "kind": item.kind,
                "roi_box_xy_side": box.as_list() if box else None,
                "roi_padded": bool(box and box.overhangs(image.hu.shape)),
                "zoom": zoom, "window_hu": window.as_list(), "variant": enhancer.variant,
                "models": enhancer.info, "shape": list(result.og.shape),
                "spacing_mm": [s / zoom for s in image.spacing] if image.spacing else None,
                "image_meta": image.meta, **extra,
            }
            write_outputs(folder, result, sidecar, options.figure)
            if options.write_dicom and item.kind == "dicom":
                _write_derived(item, folder, result, box, zoom, image, options, derived_series)
        except (DataError, OSError) as e:
            message = str(e)
            summary.failed.append((item.item_id, message))
            logging.error("%s: failed: %s", prefix, message)
            continue
        summary.done.append(item.item_id)
        logging.info("%s: done in %.2f s (%dx%d, zoom %.2f)", prefix, time.perf_counter() - start,
                     result.og.shape[1], result.og.shape[0], zoom)
    return summary


_SERIES_LABELS = {"sgan": "SGAN enhanced", "gan1": "GAN1 denoised", "gan": "single-GAN enhanced", "og": "original"}


def _write_derived(item: Item, folder: str, result: EnhanceResult, box: recist.RoiBox | None, zoom: float,
                   image: CTSlice, options: Options, derived_series: dict[str, str]) -> None:
    """enhanced.dcm in one new series per source series (whole slices at zoom 1 only)."""
    if box is not None or zoom != 1.0:
        logging.warning("%s: no derived DICOM for an ROI or a zoomed image (whole slices at zoom 1 only)",
                        item.item_id)
        return
    source_series = image.meta.get("SeriesInstanceUID", item.source)
    series_uid = derived_series.setdefault(source_series, generate_uid())
    dicom.write_derived(
        item.source, result.enhanced_hu, os.path.join(folder, "enhanced.dcm"), series_uid=series_uid,
        series_description=f"sgan-tf {_SERIES_LABELS[result.variant]}", deidentify=options.deidentify,
    )


def run(input_path: str, enhancer_factory: Callable[[], Enhancer], options: Options) -> Summary:
    """The whole batch: check the output folder, find items, load models, enhance, summarise."""
    check_writable(options.output_dir)
    summary = Summary()
    items = find_items(input_path, options, summary)
    logging.info("%d item(s) from %s", len(items), input_path)
    enhancer = enhancer_factory()
    enhance_items(items, enhancer, options, summary)
    with open(os.path.join(options.output_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({"input": input_path, **summary.as_dict()}, f, indent=2)
    logging.info("Summary: %d done, %d skipped, %d failed (%s)", len(summary.done), len(summary.skipped),
                 len(summary.failed), os.path.join(options.output_dir, "summary.json"))
    return summary
