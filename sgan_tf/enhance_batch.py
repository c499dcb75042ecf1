"""Batch enhancement behind `enhance_main`: find the items of an input, enhance each, write files.

Inputs: a DeepLesion-layout root (one item per DL_info.csv row: the lesion's ROI at its
per-lesion zoom), a DICOM file or folder (one item per slice, whole slice tiled, or `roi`), a
16-bit HU PNG or a folder of them (as DICOM). One bad item is reported by name and the batch
goes on; `Summary` counts what was done, skipped (outputs exist) and failed.

Item names (folders): a DeepLesion row's File_name stem and its index within the slice; a DICOM
or PNG file's path relative to the input folder (the file name for a single file) with '%', '/'
and a leading '.' written as %25, %2F and %2E (`item_name`), so no two files share a folder
(s1/a.dcm -> s1%2Fa.dcm, while s1__a.dcm stays) and the name gives the path back (unquote).

Per item, in `<output_dir>/<item>/`, every file written with `sgan_tf.outputs.write_file`
(inside the output folder, never through a symlink, temporary name renamed into place):

    og.png denoised.png enhanced.png     16-bit, HU + 32768 (DeepLesion's convention)
    og.npy denoised.npy enhanced.npy     float32 HU
    composite.png                        16-bit RGB, network scale x 65535: R=OG, G=denoised, B=enhanced
    composite.npy                        float32 [H, W, 3] network scale, channels (OG, denoised, enhanced)
    figure.png                           OG | denoised | enhanced side by side, 8-bit, in the network window
    enhanced.dcm                         with write_dicom, whole DICOM slices only (see sgan_tf/data/dicom.py)
    item.json                            source, ROI box, zoom, window, variant, models and checkpoints, files;
                                         written last: an item is done only when its item.json exists

`<output_dir>/summary.json` lists every item of this run with its status and message, and under
"earlier" the entries of earlier runs for items this run did not try (so a failure is kept
until its item is redone).
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

from sgan_tf import outputs
from sgan_tf.data import ct, deeplesion, dicom, limits, recist
from sgan_tf.data.ct import CTSlice
from sgan_tf.enhance import Enhancer, EnhanceResult
from sgan_tf.errors import DataError, UserError

CHANNELS = ("og", "denoised", "enhanced")
FIGURE_MIN_PANEL = 256
MARKER = "item.json"
SUMMARY = "summary.json"
STATUSES = ("done", "skipped", "failed")


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
    """This run's items by status, and the earlier runs' summary.json entries by status."""

    done: list[str] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    earlier: dict[str, list] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict:
        """summary.json: this run's entries, and the earlier entries of items it did not try."""
        tried = {*self.done, *(i for i, _ in self.skipped), *(i for i, _ in self.failed)}
        return {
            "done": self.done,
            "skipped": [{"item": i, "reason": r} for i, r in self.skipped],
            "failed": [{"item": i, "error": e} for i, e in self.failed],
            "earlier": {k: [e for e in self.earlier.get(k, []) if _entry_item(e) not in tried] for k in STATUSES},
        }

    def forget_earlier(self, prefix: str) -> None:
        """Drops the earlier entries whose item starts with `prefix`: this run checked them again
        (the rows of a DL_info.csv it read, whose bad rows it lists itself)."""
        self.earlier = {k: [e for e in v if not str(_entry_item(e)).startswith(prefix)] for k, v in self.earlier.items()}


def _entry_item(entry: str | dict) -> str | None:
    """The item of a summary.json entry ("done" lists names, the others objects)."""
    return entry if isinstance(entry, str) else entry.get("item")


def read_summary(path: str) -> dict[str, list]:
    """The entries by status of an earlier run's summary.json (its own and its "earlier" ones);
    {} without one. UserError if it cannot be read or is a symlink, before any work is done."""
    if not os.path.lexists(path):
        return {}
    try:
        outputs.check_no_links(os.path.dirname(path), path)
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        entries = {k: list(saved.get(k, [])) + list(saved.get("earlier", {}).get(k, [])) for k in STATUSES}
    except (OSError, ValueError, AttributeError, TypeError) as e:
        raise UserError(f"{path}: cannot read the earlier run's summary ({e}); move it away to start a new one") from e
    except DataError as e:
        raise UserError(str(e)) from e
    return entries


def item_name(relative: str) -> str:
    """The item folder of a file at `relative` (module docstring): reversible, so unique."""
    name = relative.replace("%", "%25").replace(os.sep, "%2F").replace("/", "%2F")
    if name.startswith("."):
        name = "%2E" + name[1:]
    return "summary%2Ejson" if name == SUMMARY else name


def _deeplesion_items(root: str, options: Options, summary: Summary) -> list[Item]:
    dataset = deeplesion.DeepLesionSet(root)
    summary.forget_earlier(f"{os.path.join(root, deeplesion.INFO_FILE)} line ")
    for problem in dataset.problems:
        logging.error("%s", problem)
        summary.failed.append((problem.split(":")[0], problem))
    records = dataset.select(options.splits, options.lesion_types)
    if not records and dataset.records:
        raise UserError(f"--input {root}: none of its {len(dataset.records)} lesion rows is in --splits="
                        f"{list(options.splits or [])} / --lesion_types={list(options.lesion_types or [])}")
    if not records and not dataset.problems:
        raise UserError(f"--input {root}: {deeplesion.INFO_FILE} has no lesion rows")

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
    return Item(item_name(os.path.relpath(path, base)), path, "png", load)


def _dicom_item(path: str, base: str, options: Options) -> Item:
    def load():
        return dicom.read_dicom(path, allow_any_modality=options.allow_any_modality), None, 1.0, {}
    return Item(item_name(os.path.relpath(path, base)), path, "dicom", load)


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


def write_outputs(folder: str, result: EnhanceResult, figure: bool, root: str) -> list[str]:
    """Writes one item's image files (module docstring) into `folder` inside `root`, after
    removing an earlier item.json (so a failure on the way leaves the item not done); returns
    their names. The caller writes item.json last."""
    marker = os.path.join(folder, MARKER)
    outputs.check_no_links(root, marker)
    if os.path.lexists(marker):
        os.remove(marker)
    written = []
    for name in CHANNELS:
        hu = getattr(result, f"{name}_hu")
        ct.write_hu_png(os.path.join(folder, f"{name}.png"), hu, root)
        outputs.write_npy(os.path.join(folder, f"{name}.npy"), hu.astype(np.float32), root)
        written += [f"{name}.png", f"{name}.npy"]
    composite = result.composite
    rgb16 = np.rint(np.clip(composite, 0, 1) * 65535).astype(np.uint16)
    outputs.write_png(os.path.join(folder, "composite.png"), rgb16[..., ::-1], root)  # OpenCV writes BGR
    outputs.write_npy(os.path.join(folder, "composite.npy"), composite.astype(np.float32), root)
    written += ["composite.png", "composite.npy"]
    if figure:
        outputs.write_png(os.path.join(folder, "figure.png"), _figure(result), root)
        written.append("figure.png")
    return written


def _item_done(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, MARKER))


def enhance_items(items: list[Item], enhancer: Enhancer, options: Options, summary: Summary) -> Summary:
    """Enhances every item; failures are logged by name and counted, the batch goes on."""
    derived_series: dict[str, str] = {}
    for number, item in enumerate(items, start=1):
        prefix = f"[{number}/{len(items)}] {item.item_id}"
        start = time.perf_counter()
        try:
            folder = outputs.inside(options.output_dir, item.item_id, f"item {item.item_id}")
            if _item_done(folder) and not options.overwrite:
                summary.skipped.append((item.item_id, "outputs exist (use --overwrite)"))
                logging.info("%s: skipped, outputs exist (use --overwrite)", prefix)
                continue
            image, box, zoom, extra = item.load()
            box = box or options.roi
            window = ct.parse_window(options.window, own=image.window)
            if box is not None and box.overhangs(image.hu.shape):
                logging.warning("%s: ROI %s reaches over the slice border; padded with %g HU",
                                prefix, box.as_list(), recist.PAD_HU)
            zoom = zoom if item.kind == "deeplesion" else options.zoom
            if box is not None:
                limits.check_pixels(box.side, box.side, f"{item.source}: ROI {box.as_list()}")
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
            files = write_outputs(folder, result, options.figure, options.output_dir)
            if options.write_dicom and item.kind == "dicom" and _write_derived(
                    item, folder, result, box, zoom, image, options, derived_series):
                files.append("enhanced.dcm")
            outputs.write_json(os.path.join(folder, MARKER), {**sidecar, "files": files + [MARKER]},
                               options.output_dir)
        except (DataError, OSError, cv2.error, MemoryError) as e:
            message = str(e) if isinstance(e, DataError) else f"{item.source}: {type(e).__name__}: {e}"
            summary.failed.append((item.item_id, message))
            logging.error("%s: failed: %s", prefix, message)
            continue
        summary.done.append(item.item_id)
        logging.info("%s: done in %.2f s (%dx%d, zoom %.2f)", prefix, time.perf_counter() - start,
                     result.og.shape[1], result.og.shape[0], zoom)
    return summary


_SERIES_LABELS = {"sgan": "SGAN enhanced", "gan1": "GAN1 denoised", "gan": "single-GAN enhanced", "og": "original"}


def _write_derived(item: Item, folder: str, result: EnhanceResult, box: recist.RoiBox | None, zoom: float,
                   image: CTSlice, options: Options, derived_series: dict[str, str]) -> bool:
    """enhanced.dcm in one new series per source series (whole slices at zoom 1 only); whether written."""
    if box is not None or zoom != 1.0:
        logging.warning("%s: no derived DICOM for an ROI or a zoomed image (whole slices at zoom 1 only)",
                        item.item_id)
        return False
    source_series = image.meta.get("SeriesInstanceUID", item.source)
    series_uid = derived_series.setdefault(source_series, generate_uid())
    dicom.write_derived(
        item.source, result.enhanced_hu, os.path.join(folder, "enhanced.dcm"), series_uid=series_uid,
        series_description=f"sgan-tf {_SERIES_LABELS[result.variant]}", deidentify=options.deidentify,
        overwrite=True,  # the item folder is being (re)made: an earlier attempt's file goes
    )
    return True


def run(input_path: str, enhancer_factory: Callable[[], Enhancer], options: Options) -> Summary:
    """The whole batch: check the output folder, find items, load models, enhance, and write
    summary.json (also when the batch stops early), merged with the earlier run's."""
    outputs.check_writable(options.output_dir)
    summary_path = os.path.join(options.output_dir, SUMMARY)
    summary = Summary(earlier=read_summary(summary_path))
    items = find_items(input_path, options, summary)
    logging.info("%d item(s) from %s", len(items), input_path)
    enhancer = enhancer_factory()
    try:
        enhance_items(items, enhancer, options, summary)
    finally:
        counts = f"{len(summary.done)} done, {len(summary.skipped)} skipped, {len(summary.failed)} failed"
        try:
            outputs.write_json(summary_path, {"input": input_path, **summary.as_dict()})
        except DataError as e:
            raise UserError(f"{e} (this run: {counts}; each item is in the log)") from e
    kept = sum(len(v) for v in summary.as_dict()["earlier"].values())
    logging.info("Summary: %s (%s)%s", counts, summary_path,
                 f"; {kept} entries of earlier runs kept" if kept else "")
    return summary
