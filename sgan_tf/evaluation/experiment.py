"""The paper's segmentation experiment on a lesion source with ground-truth masks (a
DeepLesion-layout set): every available variant x {GrabCut, HNN} -> per-lesion scores ->
Tables 1 and 2 and figures.

Variants run when their models are given or shipped (`variants.available`): `og` and `bm3d`
(or its NL-means fallback, reported as OG+NLM) always. HNN rows need an HNN trained on that
variant (`--hnn_model`, or the shipped one). Written to the output folder: table1.{md,csv,json},
table2.{md,csv,json}, scores.csv (every lesion), failures.json, config.json (the run's settings
and each model's source), fig1_variants.png (Fig. 1 style: each variant's enhanced channel for a
few lesions) and fig3_overlays.png (Fig. 3 style: ground truth in green, prediction in red, OG
vs the last variant). A simulated set (with noise-free copies) also gets
faithfulness.{md,csv,json}: each variant's channels against the noise-free ROI
(sgan_tf/evaluation/faithfulness.py).
"""

from __future__ import annotations

import dataclasses
import os
import time

import cv2
import numpy as np
from absl import logging

from sgan_tf import metrics, outputs, precision, pretrained, progress, scale, variants
from sgan_tf.data import deeplesion
from sgan_tf.data.ct import DEFAULT_WINDOW, WindowChoice
from sgan_tf.data.sources import CTItem, Source, SourceOptions, open_lesion_source
from sgan_tf.enhance import Enhancer
from sgan_tf.errors import DataError, UserError
from sgan_tf.evaluation import faithfulness, tables
from sgan_tf.segment import grabcut, inputs, segmenters

FIGURE_LESIONS = 4
FIGURE_CELL = 128


@dataclasses.dataclass
class ExperimentConfig:
    input: str
    output_dir: str
    models: dict[str, str | None] = dataclasses.field(default_factory=dict)  # name -> --<name>_model value
    hnn_model: str | None = None
    splits: tuple[int, ...] = (3,)
    grabcut_iterations: int = grabcut.ITERATIONS
    window: str = DEFAULT_WINDOW
    allow_nlm_fallback: bool = True
    inference_precision: str = precision.INFERENCE_DEFAULT
    variants: tuple[str, ...] | None = None  # rows to run (None: every variant whose models are given or ship)


def _figure_cell(image: np.ndarray) -> np.ndarray:
    img = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    return cv2.resize(img, (FIGURE_CELL, FIGURE_CELL), interpolation=cv2.INTER_AREA)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    img = cv2.copyMakeBorder(img, 18, 2, 2, 2, cv2.BORDER_CONSTANT, value=0)
    cv2.putText(img, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255,) * img.shape[-1] if img.ndim == 3 else 255,
                1, cv2.LINE_AA)
    return img


def _overlay(gray: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Gray image with the ground-truth contour in green and the prediction's in red (BGR)."""
    bgr = cv2.cvtColor(_figure_cell(gray), cv2.COLOR_GRAY2BGR)
    for mask, colour in ((truth, (0, 200, 0)), (pred, (0, 0, 255))):
        small = scale.resize_mask(mask, FIGURE_CELL, FIGURE_CELL)
        contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(bgr, contours, -1, colour, 1)
    return bgr


def _figure_items(items: list[CTItem]) -> list[CTItem]:
    """A few lesions of different types for the figures."""
    chosen, types = [], set()
    for item in items:
        if item.lesion_type not in types:
            chosen.append(item)
            types.add(item.lesion_type)
        if len(chosen) == FIGURE_LESIONS:
            break
    return chosen


def _truth_source(root: str, splits: tuple[int, ...] | None) -> Source:
    """The lesion source of an evaluation; UserError without ground truth or lesions."""
    source = open_lesion_source(root, "--input", SourceOptions(splits=splits))
    if not source.has_truth:
        raise UserError(f"{root} has no masks/ folder: ground truth is needed to score")
    return source


def run_experiment(config: ExperimentConfig) -> dict:
    """Runs every variant x method, writes the tables and figures; returns their paths and counts."""
    source = _truth_source(config.input, None)
    items = source.lesions(config.splits)
    if not items:
        raise UserError(f"{config.input}: no lesions in split(s) {list(config.splits)}")
    window = WindowChoice.parse(config.window)
    failures = [{"item": p.split(": ", 1)[0], "error": p} for p in source.problems]
    items, no_truth = _with_truth(source, items)
    failures += no_truth
    hnn_dirs = segmenters.hnn_models(config.hnn_model)
    names = variants.available(config.models)
    if config.variants is not None:
        if unknown := [v for v in config.variants if v not in variants.NAMES]:
            raise UserError(f"--variants: unknown {', '.join(unknown)}; use some of {', '.join(variants.NAMES)}")
        if missing := [v for v in config.variants if v not in names]:
            raise UserError(f"--variants: {', '.join(missing)} need models that are neither given nor shipped "
                            f"(sgan_tf/variants.py)")
        names = [n for n in names if n in config.variants]
    if unknown := sorted(set(hnn_dirs) - set(names)):
        logging.warning("HNN models for variants without their enhancement models are not used: %s", unknown)
    os.makedirs(config.output_dir, exist_ok=True)
    fig_items = {i.item_id for i in _figure_items(items)}
    results, timing, rows, enhancers, models = [], {}, [], {}, {}
    fig_cells: dict[str, dict[str, np.ndarray]] = {}
    overlays: dict[str, dict[tuple[str, str], tuple]] = {}
    for variant in names:
        enhancer = Enhancer.for_variant(variant, config.models, allow_fallback=config.allow_nlm_fallback,
                                        compute_dtype=config.inference_precision)
        row = enhancer.variant  # 'nlm' when BM3D fell back
        rows.append(row)
        enhancers[row] = enhancer
        methods = list(segmenters.segmenters_for(variant, hnn_dirs, config.grabcut_iterations).values())
        models[row] = segmenters.models_that_ran(enhancer.info, methods)
        seconds = {m.name: 0.0 for m in methods}
        made = 0
        start = time.perf_counter()
        for roi in progress.track(inputs.roi_inputs(items, enhancer, window), f"segment {variants.ROW_NAMES[row]}",
                                  total=len(items), unit="lesion"):
            if isinstance(roi, tuple):
                failures.append({"item": roi[0].item_id, "variant": row, "error": roi[1]})
                continue
            made += 1
            item_id = roi.item.item_id
            truth = roi.item.truth()
            for method in methods:
                t0 = time.perf_counter()
                try:
                    roi_mask = method(roi)
                except (DataError, cv2.error) as e:
                    failures.append({"item": item_id, "variant": row, "method": method.name, "error": str(e)})
                    continue
                seconds[method.name] += time.perf_counter() - t0
                s = metrics.overlap(roi.to_slice_mask(roi_mask), truth)
                results.append(tables.LesionScore(item_id, roi.item.lesion_type, method.name, row, **s))
                if item_id in fig_items:
                    overlays.setdefault(item_id, {})[(row, method.name)] = (roi.composite[..., 0], roi.truth, roi_mask)
            if item_id in fig_items:
                fig_cells.setdefault(item_id, {})[row] = _figure_cell(roi.composite[..., 2])
        total = time.perf_counter() - start
        timing[row] = {"rois": made, "seconds_total": round(total, 2),
                       **{f"{m}_ms_per_roi": round(1000 * t / max(made, 1), 1) for m, t in seconds.items()}}
        logging.info("%s: %d ROIs in %.1f s (%s)", variants.ROW_NAMES[row], made, total, timing[row])
    table1 = tables.table1(results, rows, variants.ROW_NAMES)
    table2 = tables.table2(results, rows, variants.ROW_NAMES)
    paths = {
        "table1": tables.write_table(config.output_dir, "table1", table1,
                                       "Table 1: recall, precision and Dice (mean ± std over lesions)"),
        "table2": tables.write_table(config.output_dir, "table2", table2,
                                       "Table 2: Dice per lesion type and mDice (mean ± std)"),
    }
    result = {"table1": table1, "table2": table2}
    if source.has_noise_free:
        result["faithfulness"], unfaithful = faithfulness.table(items, enhancers, variants.ROW_NAMES, window)
        failures += unfaithful
        paths["faithfulness"] = tables.write_table(
            config.output_dir, "faithfulness", result["faithfulness"], faithfulness.TITLE)
    tables.write_scores(os.path.join(config.output_dir, "scores.csv"), results)
    outputs.write_json(os.path.join(config.output_dir, "failures.json"), failures)
    outputs.write_json(os.path.join(config.output_dir, "config.json"),
                       {**dataclasses.asdict(config), "variants": rows, "hnn_models": hnn_dirs, "sources": models,
                        "lesions": len(items), "timing": timing}, default=str)
    paths["fig1"] = _write_fig1(config.output_dir, fig_cells, rows, variants.ROW_NAMES)
    paths["fig3"] = _write_fig3(config.output_dir, overlays, rows)
    return {"paths": paths, **result, "failures": failures, "timing": timing, "lesions": len(items)}


def _with_truth(source: Source, items: list[CTItem]) -> tuple[list[CTItem], list[dict]]:
    """The items with a ground-truth mask file, and a failure entry for each without; UserError
    when none has one (nothing could be scored)."""
    has_truth = {i.item_id: bool(i.truth_file) and os.path.isfile(i.truth_file) for i in items}
    if not any(has_truth.values()):
        raise UserError(f"{source.path}: none of the {len(items)} selected lesions has a ground-truth mask "
                        f"in {os.path.join(source.path, deeplesion.MASKS_DIR)}/ (<series>/<slice>.png)")
    missing = [{"item": i.item_id, "error": f"{i.describe()}: no ground-truth mask {i.truth_file}"}
               for i in items if not has_truth[i.item_id]]
    return [i for i in items if has_truth[i.item_id]], missing


def _write_fig1(folder: str, cells: dict, rows: list[str], row_names: dict) -> str | None:
    if not cells:
        return None
    blank = np.zeros((FIGURE_CELL, FIGURE_CELL), np.uint8)
    lines = [np.hstack([_label(c.get(r, blank), row_names.get(r, r)) for r in rows]) for c in cells.values()]
    return outputs.write_png(os.path.join(folder, "fig1_variants.png"), np.vstack(lines))


def _write_fig3(folder: str, overlays: dict, rows: list[str]) -> str | None:
    """Per figure lesion: OG and the last variant, with each method that ran."""
    keep = (variants.REFERENCE, rows[-1])
    lines = []
    for panels in overlays.values():
        cells = [
            _label(_overlay(gray, truth if truth is not None else np.zeros_like(pred), pred),
                   f"{variants.ROW_NAMES.get(row, row)} {method}")
            for (row, method), (gray, truth, pred) in sorted(panels.items(), key=lambda kv: (kv[0][0] != variants.REFERENCE, kv[0]))
            if row in keep
        ]
        if cells:
            lines.append(np.hstack(cells))
    if not lines:
        return None
    width = max(line.shape[1] for line in lines)
    lines = [cv2.copyMakeBorder(line, 0, 0, 0, width - line.shape[1], cv2.BORDER_CONSTANT, value=0) for line in lines]
    return outputs.write_png(os.path.join(folder, "fig3_overlays.png"), np.vstack(lines))


def score_predictions(root: str, pred_dir: str) -> dict:
    """Dice / precision / recall (mean ± std) of a folder of predicted masks (`segment_main`
    output) against the source's ground truth. Lesions without a prediction are counted as
    missing; a prediction or mask that cannot be read, or lesions without ground truth, as
    failed (each named); UserError when no lesion has ground truth."""
    source = _truth_source(root, None)
    if not os.path.isdir(pred_dir):
        raise UserError(f"--pred_dir {pred_dir}: no such folder")
    all_items = source.lesions()
    if not all_items and not source.problems:
        raise UserError(f"{root}: {deeplesion.INFO_FILE} has no lesion rows")
    values = {m: [] for m in tables.METRICS}
    missing = []
    items, no_truth = _with_truth(source, all_items) if all_items else ([], [])
    failed = source.problems + [f["error"] for f in no_truth]
    for item in progress.track(items, "score", unit="lesion"):
        try:
            truth = item.truth()
            pred = segmenters.read_prediction(pred_dir, item)
        except DataError as e:
            failed.append(f"{item.item_id}: {e}")
            continue
        if pred is None:
            missing.append(item.item_id)
            continue
        for k, v in metrics.overlap(pred, truth).items():
            values[k].append(v)
    return {"lesions": len(values["dice"]), "missing": missing, "failed": failed,
            **{m: metrics.mean_std(v) for m, v in values.items()}}


def denoising_tables(output_dir: str, models: dict[str, str | None], natural_dir: str | None = None,
                     lcd_ct_dir: str | None = None, sigmas: tuple[float, ...] = (15, 25, 50),
                     allow_nlm_fallback: bool = True, compute_dtype: str = precision.INFERENCE_DEFAULT) -> dict:
    """The denoising tables (sgan_tf/evaluation/denoise.py) for the noisy input, BM3D (or NL-means,
    named) with its own noise estimate, DnCNN and G1 when given or shipped (all blind), and the classical
    denoisers told the true noise level (NL-means always, BM3D when installed): natural images
    at each sigma (DnCNN-paper protocol) and the LCD-CT phantom."""
    from sgan_tf import baselines
    from sgan_tf.evaluation import denoise
    from sgan_tf.enhance import load_stage

    name, stage = baselines.bm3d_or_fallback(allow_nlm_fallback)
    methods = {f"{name} (σ estimated)": stage}
    for name, row in (("dncnn", "dncnn"), ("denoise", "g1")):
        if path := pretrained.resolve(models.get(name), name):
            methods[row] = load_stage(path, tile_size=1024, compute_dtype=compute_dtype)
    told = {"nlm (σ told)": baselines.NLMStage}
    if baselines.bm3d_available():
        told["bm3d (σ told)"] = baselines.BM3DStage
    out: dict = {}
    if natural_dir:
        if not os.path.isdir(natural_dir):
            raise UserError(f"--natural_dir {natural_dir}: no such folder")
        rows = denoise.natural_table(natural_dir, methods, sigmas, told=told)
        out["denoise_natural"] = tables.write_table(
            output_dir, "denoise_natural", rows, f"Denoising on {os.path.basename(os.path.normpath(natural_dir))}: "
            "PSNR (dB) / SSIM, mean ± std (0-255 sigma, fixed noise seed)")
    if lcd_ct_dir:
        if not os.path.isdir(lcd_ct_dir):
            raise UserError(f"--lcd_ct_dir {lcd_ct_dir}: no such folder")
        rows = denoise.ct_table(lcd_ct_dir, methods, told=told)
        out["denoise_ct"] = tables.write_table(
            output_dir, "denoise_ct", rows, "CT denoising on the LCD-CT phantom vs its noiseless image")
    return out
