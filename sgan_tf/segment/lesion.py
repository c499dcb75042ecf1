"""One lesion from its RECIST marks: `segment_lesion` on a HU slice, and `segment_one` on a file.

`segment_lesion` is the Python API: a HU slice and a reader's RECIST measurement (the long-axis
endpoints, then the short-axis endpoints, (x, y) slice pixels) in, a bool mask of the slice out.
It runs the batch path on one lesion: the paper's ROI around the marks, enhanced at the
per-lesion zoom by a variant's `Enhancer` (sgan_tf/segment/inputs.py), segmented on the
composite by GrabCut from the RECIST trimap or by a trained HNN (segmenters.py), pasted back.
Segmentation works in pixels (ROI and zoom follow the marks' pixel lengths), so the pixel
spacing is not needed; `segment_one` reports the area in mm² when the input has a spacing.

`segment_one` is `segment_main --recist`: one lesion on slice `--slice` of any input a reader of
sgan_tf/data/sources.py takes except a DeepLesion set (whose rows carry their own marks): a
DICOM file or one series' folder (the K-th slice in series order), a NIfTI / MetaImage volume
(axial slice K, inferior to superior, sgan_tf/data/volumes.py), a 16-bit HU PNG. Slices count
from 0. It writes, in the output folder, named by the slice's item name (`<slice>`):

    <slice>.png                  0/255, the slice's size (as the batch path writes masks)
    <slice>.seg.dcm              DICOM input: a DICOM-SEG referencing every instance of the series
                                 (sgan_tf/data/dicom_seg.py), the frame of the marked slice
    <slice>.mask<ext>            volume input: a uint8 label volume (1: lesion) in the source's
                                 format and geometry (volumes.write_mask_like), zero off the slice
    <slice>.lesion.json          source, slice, RECIST, method, variant, window, models, pixels, mm²,
                                 files; written last

Nothing is overwritten unless `overwrite`: existing outputs stop it before any work.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from absl import logging

from sgan_tf import __version__, outputs, precision, variants
from sgan_tf.data import ct, dicom, dicom_seg, recist, sources, volumes
from sgan_tf.data.ct import CTSlice, WindowChoice
from sgan_tf.errors import DataError, UserError
from sgan_tf.segment import grabcut, segmenters

if TYPE_CHECKING:
    from sgan_tf.enhance import Enhancer

MARKER_SUFFIX = ".lesion.json"
SEG_SUFFIX = ".seg.dcm"
MASK_SUFFIX = ".mask"  # + the volume's extension


def _recist_points(values: Sequence[float] | np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    """[4, 2] points from 8 numbers; DataError naming `what` unless finite, inside the slice and
    with both axes of non-zero length (recist.check_recist)."""
    points = np.asarray(values, np.float64)
    if points.size != 8:
        raise DataError(f"{what}: RECIST takes 8 numbers x1,y1,x2,y2 (long axis), x3,y3,x4,y4 (short axis); "
                        f"got {points.size}")
    points = points.reshape(4, 2)
    recist.check_recist(points, shape, what)
    return points


def _segment(image: CTSlice, points: np.ndarray, method: str, variant: str, models: Mapping[str, str | None] | None,
             enhancer: Enhancer | None, window: WindowChoice, grabcut_iterations: int,
             compute_dtype: str = precision.INFERENCE_DEFAULT) -> tuple[np.ndarray, dict]:
    """(the bool mask of the lesion marked by `points` on `image` (module docstring), the models
    that ran: each one's folder, checkpoint and shipped name and version, as sidecars record them)."""
    from sgan_tf.enhance import Enhancer

    if enhancer is None:
        enhancer = Enhancer.for_variant(variant, models, compute_dtype=compute_dtype)
    else:
        variant = enhancer.variant
    hnn_dirs = segmenters.hnn_models((models or {}).get("hnn")) if method == segmenters.HNNSegmenter.name else {}
    segmenter = segmenters.segmenters_for(variant, hnn_dirs, grabcut_iterations).get(method)
    if segmenter is None:
        raise UserError(f"method {method!r} needs an HNN trained on variant {variant} (models['hnn'] / --hnn_model)"
                        if method == segmenters.HNNSegmenter.name else f"unknown method {method!r}")
    item = sources.CTItem(item_id=image.source, source=image.source, kind="slice", read=lambda: image, recist=points)
    [(_, result)] = segmenters.segment_items([item], enhancer, segmenter, window)
    if isinstance(result, str):
        raise DataError(result)
    return result.astype(bool), segmenters.models_that_ran(enhancer.info, [segmenter])


def segment_lesion(
    hu: np.ndarray,
    recist_points: Sequence[float] | np.ndarray,
    *,
    method: str = segmenters.GrabCutSegmenter.name,
    variant: str = variants.REFERENCE,
    models: Mapping[str, str | None] | None = None,
    enhancer: Enhancer | None = None,
    window: WindowChoice | str = ct.DEFAULT_CHOICE,
    grabcut_iterations: int = grabcut.ITERATIONS,
) -> np.ndarray:
    """The lesion marked by RECIST points on a HU slice, as a bool mask of the slice's shape.

    `recist_points`: 8 numbers (or [4, 2]) x1, y1, x2, y2 (long axis), x3, y3, x4, y4 (short
    axis) in slice pixels (pixel centres at integers). `method`: "grabcut" (no training needed)
    or "hnn" (`models["hnn"]`: an HNN run trained on `variant`). `variant` (sgan_tf/variants.py)
    makes the composite the segmenter sees; its models come from `models` (name -> run folder,
    None: the shipped one), or pass a ready `enhancer` (sgan_tf.enhance.Enhancer; its variant
    is then used) to segment many lesions without reloading. `window`: a WindowChoice or its
    text ('soft_tissue', 'lung', 'lo,hi'). DataError for marks that are not finite, outside the
    slice or of zero length.

    Example, a 30 HU disk of radius 8 on fat (-100 HU), its diameters marked:

    >>> import numpy as np
    >>> from sgan_tf.segment.lesion import segment_lesion
    >>> yy, xx = np.mgrid[:64, :64]
    >>> disk = (xx - 32) ** 2 + (yy - 30) ** 2 <= 8 ** 2
    >>> hu = np.where(disk, 30.0, -100.0)
    >>> mask = segment_lesion(hu, [24, 30, 40, 30, 32, 22, 32, 38])
    >>> mask.shape, mask.dtype, bool(mask[30, 32]), bool(mask[5, 5])
    ((64, 64), dtype('bool'), True, False)
    >>> bool((mask != disk).sum() <= 0.1 * disk.sum())  # at most 10 % of the disk's pixels differ
    True
    """
    hu = np.asarray(hu, np.float32)
    if hu.ndim != 2:
        raise DataError(f"segment_lesion: a [H, W] HU slice is needed, got shape {hu.shape}")
    ct.check_finite(hu, "segment_lesion: the slice")
    points = _recist_points(recist_points, hu.shape, "segment_lesion")
    choice = WindowChoice.parse(window) if isinstance(window, str) else window
    mask, _ = _segment(CTSlice(hu=hu, source="the slice"), points, method, variant, models, enhancer, choice,
                       grabcut_iterations)
    return mask


def _pick(source: sources.Source, slice_index: int | None) -> tuple[sources.CTItem, list[sources.CTItem]]:
    """(the item of slice `slice_index`, the input's items); UserError unless the input is one
    volume, one DICOM series or one PNG, and the index is one of its slices."""
    where = f"--input {source.path}"
    if source.kind == sources.DeepLesionSource.kind:
        raise UserError(f"{where}: a DeepLesion-layout set carries its own RECIST marks; run without --recist "
                        "and --slice to segment its rows")
    files = source.files()
    if source.kind != sources.DicomSource.kind and len(files) > 1:
        raise UserError(f"{where}: holds {len(files)} {source.kind} files; --recist takes one file")
    items = source.items()
    if not items:  # a volume that cannot be read
        raise DataError("; ".join(source.problems) or f"{where}: no slices")
    if slice_index is None:
        if len(items) > 1:
            raise UserError(f"{where}: has {len(items)} slices; say which with --slice=0..{len(items) - 1}")
        slice_index = 0
    if not 0 <= slice_index < len(items):
        raise UserError(f"--slice={slice_index}: {where} has {len(items)} slice(s), 0..{len(items) - 1}")
    return items[slice_index], items


def _series(source: sources.Source, items: list[sources.CTItem]) -> list[str]:
    """The files of `item`'s DICOM series among `items`, for the DICOM-SEG; UserError when the
    input holds several series, a warning naming each file whose header cannot be read."""
    members, series = [], set()
    for other in items:
        try:
            header = dicom.read_header(other.source)
        except DataError as e:
            logging.warning("not referenced by the DICOM-SEG: %s", e)
            continue
        series.add(str(header.get("SeriesInstanceUID", "")))
        members.append(other.source)
    if len(series) > 1:
        raise UserError(f"--input {source.path}: holds {len(series)} DICOM series; give one series' folder")
    return members


def _outputs(config: segmenters.SegmentConfig, item: sources.CTItem) -> dict[str, str]:
    """What `segment_one` writes for `item` by kind (png, seg, volume, marker): paths inside the
    output folder; DataError naming one that exists unless `overwrite`."""
    png = segmenters.prediction_path(config.output_dir, item)
    stem = os.path.join(os.path.dirname(png), item.slice_id)
    paths = {"png": png, "marker": stem + MARKER_SUFFIX}
    if item.kind == sources.DicomSource.kind:
        paths["seg"] = stem + SEG_SUFFIX
    elif item.kind == sources.VolumeSource.kind:
        paths["volume"] = stem + MASK_SUFFIX + volumes.volume_extension(item.origin[1])
    for path in paths.values():
        outputs.check_no_links(config.output_dir, path)
        outputs.check_new_file(path, config.overwrite)
    return paths


def segment_one(config: segmenters.SegmentConfig) -> list[str]:
    """`segment_main --recist`: segments the lesion `config.recist` marks on slice `config.slice`
    of `config.input` and writes its mask files (module docstring); returns their paths."""
    if config.recist is None:
        raise UserError("--recist is needed to segment one lesion")
    outputs.check_writable(config.output_dir)
    source = sources.open_source(config.input)
    item, items = _pick(source, config.slice)
    paths = _outputs(config, item)
    image = item.read()
    points = _recist_points(config.recist, image.hu.shape, f"--recist on {item.describe()}")
    series = _series(source, items) if item.kind == sources.DicomSource.kind else None
    mask, ran = _segment(image, points, config.method, config.variant, config.models, None, config.window,
                         config.grabcut_iterations, config.inference_precision)
    written = []
    try:  # the format's file first (it checks the most), the PNG, then the marker
        if series is not None:
            dicom_seg.write_dicom_seg(series, {image.meta.get("SOPInstanceUID"): mask}, paths["seg"],
                                      software_version=__version__, overwrite=config.overwrite)
            written.append(paths["seg"])
        if "volume" in paths:
            owner, volume_path, z = item.origin
            volume = owner.volume(volume_path)
            labels = np.zeros(volume.hu.shape, np.uint8)
            labels[z] = mask
            volumes.write_mask_like(volume, labels, paths["volume"], overwrite=config.overwrite)
            written.append(paths["volume"])
        written.append(outputs.write_png(paths["png"], mask.astype(np.uint8) * 255, config.output_dir))
        _write_marker(paths["marker"], config, item, items, image, points, mask, ran, written)
    except BaseException:
        for path in written:  # no half set of outputs: what this call made goes
            os.remove(path)
        raise
    return written + [paths["marker"]]


def _write_marker(path: str, config: segmenters.SegmentConfig, item: sources.CTItem, items: list[sources.CTItem],
                  image: CTSlice, points: np.ndarray, mask: np.ndarray, ran: dict, written: list[str]) -> None:
    """<slice>.lesion.json (module docstring), and the log line."""
    pixels = int(mask.sum())
    area = pixels * image.spacing[0] * image.spacing[1] if image.spacing else None
    outputs.write_json(path, {
        "source": item.source, "slice": item.extra.get("slice_index", items.index(item)), "item": item.item_id,
        "recist": points.tolist(), "method": config.method, "variant": config.variant,
        "window_hu": config.window.resolve(image.window).as_list(), "models": ran,
        "pixels": pixels, "area_mm2": area, "spacing_mm": list(image.spacing) if image.spacing else None,
        "files": [os.path.basename(p) for p in written] + [os.path.basename(path)],
    }, config.output_dir)
    logging.info("lesion on %s: %d pixels%s; %s", item.describe(), pixels,
                 f" ({area:.1f} mm²)" if area is not None else "", ", ".join(written + [path]))
