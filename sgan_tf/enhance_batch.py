"""Batch enhancement behind `enhance_main`: find the items of an input, enhance each, write files.

Inputs: any source (sgan_tf/data/sources.py): an item with RECIST marks (a DeepLesion row) is
its lesion's ROI at its per-lesion zoom; any other item (a DICOM or PNG file, a volume's axial
slice) is the whole slice, tiled, or the `roi` box, at `zoom`. One bad item is reported by name
and the batch goes on; `Summary` counts what was done, skipped (outputs exist) and failed. Each
item's outputs go to a folder named by its item name (unique within the source).

Per item, in `<output_dir>/<item>/`, every file written with `sgan_tf.outputs.write_file`
(inside the output folder, never through a symlink, temporary name renamed into place):

    og.png denoised.png enhanced.png     16-bit, HU + 32768 (DeepLesion's convention)
    og.npy denoised.npy enhanced.npy     float32 HU
    composite.png                        16-bit RGB, network scale x 65535: R=OG, G=denoised, B=enhanced
    composite.npy                        float32 [H, W, 3] network scale, channels (OG, denoised, enhanced)
    figure.png                           OG | denoised | enhanced side by side, 8-bit, in the network window
    enhanced.dcm                         with write_dicom, DICOM input: one slice of a derived series per
                                         source series, at the item's ROI and zoom (sgan_tf/data/dicom.py)
    item.json                            source, ROI box, zoom, window, variant, models and checkpoints, files;
                                         written last: an item is done only when its item.json exists

A NIfTI / MetaImage volume is enhanced slice by slice along the axial axis (one item per slice,
`<volume name>%23<z>`, as above). Once every slice of a volume is done (in this run or an
earlier one), `<output_dir>/<volume name>/` gets the volume back in the source's format and
geometry (`volumes.write_like`), extension as the source's (.nii.gz, .nii, .mha, .mhd + .raw):

    denoised<ext> enhanced<ext>          HU, the slices' denoised.npy / enhanced.npy stacked
    volume.json                          source, slices, variant, window, models, files; written last

Only whole slices at zoom 1 fit the source's grid: with `roi` or `zoom` != 1 a volume gets its
per-slice outputs only (a warning says so). The slices must agree on variant, window and models
(an earlier run with other settings: rerun with overwrite). A volume whose volume.json exists is
skipped unless `overwrite`; one with a slice not done is reported as failed, naming the slices.
summary.json lists each volume by its name (done, skipped or failed) beside its slices.

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

from sgan_tf import outputs, progress, variants
from sgan_tf.data import ct, dicom, limits, metaimage, recist, sources, volumes
from sgan_tf.data.ct import CTSlice, WindowChoice
from sgan_tf.enhance import Enhancer, EnhanceResult
from sgan_tf.errors import DataError, UserError

FIGURE_MIN_PANEL = 256
MARKER = "item.json"
VOLUME_MARKER = "volume.json"
VOLUME_CHANNELS = ("denoised", "enhanced")  # the volumes written (OG is the source itself)
_SAME_IN_A_VOLUME = ("variant", "window_hu", "models")  # item.json fields every slice of a volume shares
SUMMARY = sources.SUMMARY_NAME
STATUSES = ("done", "skipped", "failed")


@dataclasses.dataclass
class Options:
    """What `enhance_main`'s flags say, for the library."""

    output_dir: str
    window: WindowChoice = ct.DEFAULT_CHOICE
    roi: recist.RoiBox | None = None  # items without lesion marks: enhance only this box
    zoom: float = 1.0  # items without lesion marks
    target_lesion_px: float = recist.TARGET_LESION_PX  # items with lesion marks
    max_zoom: float = recist.MAX_ZOOM
    write_dicom: bool = False
    deidentify: bool = False
    overwrite: bool = False
    figure: bool = True


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


def _figure(result: EnhanceResult) -> np.ndarray:
    panels = [result.og, result.denoised, result.enhanced]
    h, w = result.og.shape
    scale = max(1, int(np.ceil(FIGURE_MIN_PANEL / max(h, w))))
    out = []
    for name, panel in zip(("OG", "denoised", "enhanced"), panels):
        img = np.rint(np.clip(panel, 0, 1) * 255).astype(np.uint8)
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)  # each pixel a scale x scale block
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
    for name in EnhanceResult.CHANNELS:
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


def _place(item: sources.CTItem, options: Options) -> tuple[recist.RoiBox | None, float, dict]:
    """An item's ROI (None: the whole slice), zoom, and the sidecar fields they add: the lesion's
    ROI at its per-lesion zoom for an item with RECIST marks, else `roi` at `zoom`."""
    if item.recist is None:
        return options.roi, options.zoom, {}
    box = recist.roi_box(item.recist)
    zoom = recist.zoom_factor(recist.axis_lengths(item.recist)[0], options.target_lesion_px, options.max_zoom)
    return box, zoom, {"recist_slice": np.asarray(item.recist).tolist(),
                       "recist_roi": recist.to_roi(item.recist, box, zoom).tolist()}


def enhance_items(items: list[sources.CTItem], enhancer: Enhancer, options: Options, summary: Summary) -> Summary:
    """Enhances every item; failures are logged by name and counted, the batch goes on."""
    derived_series: dict[str, str] = {}
    bar = progress.Progress(len(items), "enhance", unit="item")
    for number, item in enumerate(items, start=1):
        if number > 1:
            _finish_volume(items[number - 2], item, options, summary)
        prefix = f"[{number}/{len(items)}] {item.item_id}"
        start = time.perf_counter()
        try:
            folder = outputs.inside(options.output_dir, item.item_id, f"item {item.item_id}")
            if _item_done(folder) and not options.overwrite:
                summary.skipped.append((item.item_id, "outputs exist (use --overwrite)"))
                logging.info("%s: skipped, outputs exist (use --overwrite)", prefix)
                bar.update()
                continue
            image = item.read()
            box, zoom, extra = _place(item, options)
            extra = {**item.extra, **extra}
            window = options.window.resolve(image.window)
            if box is not None and box.overhangs(image.hu.shape):
                logging.warning("%s: ROI %s reaches over the slice border; padded with %g HU",
                                prefix, box.as_list(), recist.PAD_HU)
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
            if options.write_dicom and item.kind == sources.DicomSource.kind:
                _write_derived(item, folder, result, box, zoom, image, options, derived_series)
                files.append("enhanced.dcm")
            outputs.write_json(os.path.join(folder, MARKER), {**sidecar, "files": files + [MARKER]},
                               options.output_dir)
        except (DataError, OSError, cv2.error, MemoryError) as e:
            message = str(e) if isinstance(e, DataError) else f"{item.source}: {type(e).__name__}: {e}"
            summary.failed.append((item.item_id, message))
            logging.error("%s: failed: %s", prefix, message)
            bar.update()
            continue
        summary.done.append(item.item_id)
        logging.info("%s: done in %.2f s (%dx%d, zoom %.2f)", prefix, time.perf_counter() - start,
                     result.og.shape[1], result.og.shape[0], zoom)
        bar.update()
    if items:
        _finish_volume(items[-1], None, options, summary)
    bar.close()
    return summary


def _write_derived(item: sources.CTItem, folder: str, result: EnhanceResult, box: recist.RoiBox | None, zoom: float,
                   image: CTSlice, options: Options, derived_series: dict[str, str]) -> None:
    """enhanced.dcm in one new series per source series, placed at the item's ROI and zoom."""
    source_series = image.meta.get("SeriesInstanceUID", item.source)
    series_uid = derived_series.setdefault(source_series, generate_uid())
    dicom.write_derived(
        item.source, result.enhanced_hu, os.path.join(folder, "enhanced.dcm"), series_uid=series_uid,
        series_description=variants.series_description(result.variant), deidentify=options.deidentify,
        roi=box, zoom=zoom,
        overwrite=True,  # the item folder is being (re)made: an earlier attempt's file goes
    )


def whole_slices(options: Options) -> bool:
    """Whether the options enhance whole slices at zoom 1, the only outputs that fit a volume's grid."""
    return options.roi is None and options.zoom == 1.0


def _finish_volume(item: sources.CTItem, following: sources.CTItem | None, options: Options, summary: Summary) -> None:
    """Writes the volume outputs of `item`'s volume (module docstring) when `item` is its last
    slice in the batch (`following` belongs to another volume, or is None); a failure is
    reported by the volume's name and the batch goes on."""
    if item.kind != sources.VolumeSource.kind or not whole_slices(options):
        return
    source, path, _ = item.origin
    if following is not None and following.origin[:2] == (source, path):
        return
    name = source.name(path)
    try:
        written = write_volume(source.volume(path), name, options.output_dir, options.overwrite)
    except (DataError, OSError, ValueError, MemoryError) as e:  # ValueError: a slice's .npy changed since
        message = str(e) if isinstance(e, DataError) else f"{path}: {type(e).__name__}: {e}"
        summary.failed.append((name, message))
        logging.error("volume %s: failed: %s", name, message)
        return
    if written:
        summary.done.append(name)
        logging.info("volume %s: %s in %s", name, ", ".join(written), os.path.join(options.output_dir, name))
    else:
        summary.skipped.append((name, "volume outputs exist (use --overwrite)"))
        logging.info("volume %s: skipped, outputs exist (use --overwrite)", name)


def _slice_sidecars(volume: volumes.Volume, name: str, root: str) -> list[dict]:
    """The item.json of every slice of `volume`; DataError naming the volume when a slice is not
    done, or was made at another size or with other settings than the first."""
    sidecars, missing = [], []
    for z in range(len(volume.hu)):
        marker = os.path.join(outputs.inside(root, sources.slice_name(name, z), f"slice {z} of {volume.source}"),
                              MARKER)
        if not os.path.isfile(marker):
            missing.append(z)
            continue
        try:
            with open(marker, encoding="utf-8") as f:
                sidecars.append(json.load(f))
        except (OSError, ValueError) as e:
            raise DataError(f"{marker}: cannot read ({e}); rerun with --overwrite") from e
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise DataError(f"{volume.source}: volume not written: slice(s) {shown} not done (their errors are "
                        "listed by name); rerun to finish them")
    first = sidecars[0]
    for z, sidecar in enumerate(sidecars):
        if sidecar.get("roi_box_xy_side") is not None or sidecar.get("zoom") != 1.0 or \
                sidecar.get("shape") != list(volume.hu.shape[1:]):
            raise DataError(f"{volume.source}: slice {z} was not enhanced whole at zoom 1 (an earlier run with "
                            "--roi or --zoom?); rerun with --overwrite")
        if any(sidecar.get(key) != first.get(key) for key in _SAME_IN_A_VOLUME):
            raise DataError(f"{volume.source}: slice {z} was made with another {'/'.join(_SAME_IN_A_VOLUME)} than "
                            "slice 0 (an earlier run with other settings?); rerun with --overwrite")
    return sidecars


def write_volume(volume: volumes.Volume, name: str, root: str, overwrite: bool = False) -> list[str]:
    """Writes `<root>/<name>/` (module docstring) from the slices' outputs in `<root>`; returns
    the files written, [] when its volume.json exists and not `overwrite`."""
    folder = outputs.inside(root, name, f"volume {volume.source}")
    marker = os.path.join(folder, VOLUME_MARKER)
    outputs.check_no_links(root, marker)
    if os.path.lexists(marker):
        if not overwrite:
            return []
        os.remove(marker)
    sidecars = _slice_sidecars(volume, name, root)
    ext = volumes.volume_extension(volume.source)
    written = []
    for channel in VOLUME_CHANNELS:
        stack = np.stack([np.load(os.path.join(root, sources.slice_name(name, z), f"{channel}.npy"))
                          for z in range(len(sidecars))])
        target = os.path.join(folder, f"{channel}{ext}")
        outputs.check_no_links(root, target)
        volumes.write_like(volume, stack, target, overwrite=True)  # not done yet: an earlier attempt's file goes
        written.append(os.path.basename(target))
        if volume.on_disk.meta is not None and (data := metaimage.data_file(target, volume.on_disk.meta)):
            written.append(os.path.basename(data))
    first = sidecars[0]
    outputs.write_json(marker, {"volume": volume.source, "slices": len(sidecars), "shape": list(volume.hu.shape),
                                **{key: first.get(key) for key in _SAME_IN_A_VOLUME},
                                "files": written + [VOLUME_MARKER]}, root)
    return written


def find_items(source: sources.Source, summary: Summary) -> list[sources.CTItem]:
    """The source's items; the entries it could not list go to `summary` as failed."""
    items = source.items()
    if source.problem_prefix:
        summary.forget_earlier(source.problem_prefix)
    for problem in source.problems:
        logging.error("%s", problem)
        summary.failed.append((problem.split(":")[0], problem))
    return items


def run(input_path: str, enhancer_factory: Callable[[], Enhancer], options: Options,
        source_options: sources.SourceOptions = sources.SourceOptions()) -> Summary:
    """The whole batch: check the output folder, open the input's source (`sources.open_source`)
    and list its items, load models, enhance, and write summary.json (also when the batch stops
    early), merged with the earlier run's."""
    outputs.check_writable(options.output_dir)
    summary_path = os.path.join(options.output_dir, SUMMARY)
    summary = Summary(earlier=read_summary(summary_path))
    source = sources.open_source(input_path, source_options)
    items = find_items(source, summary)
    logging.info("%d item(s) from %s", len(items), input_path)
    if source.kind == sources.VolumeSource.kind and not whole_slices(options):
        logging.warning("--roi / --zoom on volumes: per-slice outputs only; the enhanced volume (the source's "
                        "format and geometry) is written for whole slices at zoom 1")
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
