"""The paper's segmentation experiment on a DeepLesion-layout set with ground-truth masks:
every available variant x {GrabCut, HNN} -> per-lesion scores -> Tables 1 and 2 and figures.

Variants run when their models are given (sgan_tf/segment/inputs.py): `og` and `bm3d` (or its
NL-means fallback, reported as OG+NLM) always; `dncnn`, `gan`, `gan1`, `sgan` with their model
directories. HNN rows need an HNN trained on that variant (`--hnn_model`). Written to the
output folder: table1.{md,csv,json}, table2.{md,csv,json}, scores.csv (every lesion),
failures.json, config.json (the run's settings), fig1_variants.png (Fig. 1 style: each
variant's enhanced channel for a few lesions) and fig3_overlays.png (Fig. 3 style: ground
truth in green, prediction in red, OG vs the last variant).
"""

from __future__ import annotations

import dataclasses
import os
import time

import cv2
import numpy as np
from absl import logging

from sgan_tf import evaluate, outputs
from sgan_tf.data.deeplesion import INFO_FILE, MASKS_DIR, DeepLesionSet, LesionRecord
from sgan_tf.errors import DataError, UserError
from sgan_tf.segment import inputs, segmenters

FIGURE_LESIONS = 4
FIGURE_CELL = 128


@dataclasses.dataclass
class ExperimentConfig:
    input: str
    output_dir: str
    model_dirs: inputs.ModelDirs
    hnn_model: str | None = None
    splits: tuple[int, ...] = (3,)
    grabcut_iterations: int = 5
    window: str = "soft_tissue"
    allow_nlm_fallback: bool = True


def available_variants(model_dirs: inputs.ModelDirs) -> list[str]:
    """The variants whose models are given, in Table 1's row order."""
    need = {"og": True, "bm3d": True, "dncnn": bool(model_dirs.dncnn), "gan": bool(model_dirs.single),
            "gan1": bool(model_dirs.denoise), "sgan": bool(model_dirs.denoise and model_dirs.enhance)}
    return [v for v in inputs.VARIANTS if need[v]]


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
        small = cv2.resize(mask.astype(np.uint8), (FIGURE_CELL, FIGURE_CELL), interpolation=cv2.INTER_NEAREST_EXACT)
        contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(bgr, contours, -1, colour, 1)
    return bgr


def _figure_records(records: list[LesionRecord]) -> list[LesionRecord]:
    """A few lesions of different types for the figures."""
    chosen, types = [], set()
    for rec in records:
        if rec.lesion_type not in types:
            chosen.append(rec)
            types.add(rec.lesion_type)
        if len(chosen) == FIGURE_LESIONS:
            break
    return chosen


def run_experiment(config: ExperimentConfig) -> dict:
    """Runs every variant x method, writes the tables and figures; returns their paths and counts."""
    dataset = DeepLesionSet(config.input)
    if not dataset.has_masks:
        raise UserError(f"{config.input} has no masks/ folder: ground truth is needed to score")
    records = dataset.select(splits=config.splits)
    if not records:
        raise UserError(f"{config.input}: no lesions in split(s) {list(config.splits)}")
    failures = [{"item": p.split(": ", 1)[0], "error": p} for p in dataset.problems]
    records, no_truth = _with_truth(dataset, records)
    failures += no_truth
    hnn_dirs = segmenters.hnn_models(config.hnn_model)
    variants = available_variants(config.model_dirs)
    unknown = sorted(set(hnn_dirs) - set(variants))
    if unknown:
        logging.warning("HNN models for variants without their enhancement models are not used: %s", unknown)
    os.makedirs(config.output_dir, exist_ok=True)
    fig_records = {r.item_id for r in _figure_records(records)}
    results, timing = [], {}
    fig_cells: dict[str, dict[str, np.ndarray]] = {}
    overlays: dict[str, dict[tuple[str, str], tuple]] = {}
    row_names = dict(inputs.ROW_NAMES)
    rows = []
    for variant in variants:
        enhancer = inputs.variant_enhancer(variant, config.model_dirs, allow_fallback=config.allow_nlm_fallback)
        row = enhancer.variant  # 'nlm' when BM3D fell back
        rows.append(row)
        methods = [segmenters.GrabCutSegmenter(config.grabcut_iterations)]
        if variant in hnn_dirs:
            methods.append(segmenters.HNNSegmenter(hnn_dirs[variant]))
        seconds = {m.name: 0.0 for m in methods}
        made = 0
        start = time.perf_counter()
        for item in inputs.roi_inputs(dataset, records, enhancer, window=config.window):
            if isinstance(item, tuple):
                failures.append({"item": item[0].item_id, "variant": row, "error": item[1]})
                continue
            made += 1
            truth = dataset.load_mask(item.record)
            for method in methods:
                t0 = time.perf_counter()
                try:
                    roi_mask = method(item)
                except (DataError, cv2.error) as e:
                    failures.append({"item": item.record.item_id, "variant": row, "method": method.name,
                                     "error": str(e)})
                    continue
                seconds[method.name] += time.perf_counter() - t0
                s = evaluate.scores(item.to_slice_mask(roi_mask), truth)
                results.append(evaluate.LesionScore(item.record.item_id, item.record.lesion_type, method.name, row,
                                                    **s))
                if item.record.item_id in fig_records:
                    overlays.setdefault(item.record.item_id, {})[(row, method.name)] = (
                        item.composite[..., 0], item.truth, roi_mask)
            if item.record.item_id in fig_records:
                fig_cells.setdefault(item.record.item_id, {})[row] = _figure_cell(item.composite[..., 2])
        total = time.perf_counter() - start
        timing[row] = {"rois": made, "seconds_total": round(total, 2),
                       **{f"{m}_ms_per_roi": round(1000 * t / max(made, 1), 1) for m, t in seconds.items()}}
        logging.info("%s: %d ROIs in %.1f s (%s)", row_names.get(row, row), made, total, timing[row])
    table1 = evaluate.table1(results, rows, row_names)
    table2 = evaluate.table2(results, rows, row_names)
    paths = {
        "table1": evaluate.write_table(config.output_dir, "table1", table1,
                                       "Table 1: recall, precision and Dice (mean ± std over lesions)"),
        "table2": evaluate.write_table(config.output_dir, "table2", table2,
                                       "Table 2: Dice per lesion type and mDice (mean ± std)"),
    }
    evaluate.write_scores(os.path.join(config.output_dir, "scores.csv"), results)
    outputs.write_json(os.path.join(config.output_dir, "failures.json"), failures)
    outputs.write_json(os.path.join(config.output_dir, "config.json"),
                       {**dataclasses.asdict(config), "variants": rows, "hnn_models": hnn_dirs,
                        "lesions": len(records), "timing": timing}, default=str)
    paths["fig1"] = _write_fig1(config.output_dir, fig_cells, rows, row_names)
    paths["fig3"] = _write_fig3(config.output_dir, overlays, rows)
    return {"paths": paths, "table1": table1, "table2": table2, "failures": failures, "timing": timing,
            "lesions": len(records)}


def _with_truth(dataset: DeepLesionSet, records: list[LesionRecord]) -> tuple[list[LesionRecord], list[dict]]:
    """The records with a ground-truth mask file, and a failure entry for each without; UserError
    when none has one (nothing could be scored)."""
    has_truth = {r.item_id: os.path.isfile(dataset.mask_path(r)) for r in records}
    if not any(has_truth.values()):
        raise UserError(f"{dataset.root}: none of the {len(records)} selected lesions has a ground-truth mask "
                        f"in {os.path.join(dataset.root, MASKS_DIR)}/ (<series>/<slice>.png)")
    missing = [{"item": r.item_id, "error": f"{r.describe()}: no ground-truth mask {dataset.mask_path(r)}"}
               for r in records if not has_truth[r.item_id]]
    return [r for r in records if has_truth[r.item_id]], missing


def _write_fig1(folder: str, cells: dict, rows: list[str], row_names: dict) -> str | None:
    if not cells:
        return None
    blank = np.zeros((FIGURE_CELL, FIGURE_CELL), np.uint8)
    lines = [np.hstack([_label(c.get(r, blank), row_names.get(r, r)) for r in rows]) for c in cells.values()]
    return outputs.write_png(os.path.join(folder, "fig1_variants.png"), np.vstack(lines))


def _write_fig3(folder: str, overlays: dict, rows: list[str]) -> str | None:
    """Per figure lesion: OG and the last variant, with each method that ran."""
    keep = ("og", rows[-1])
    lines = []
    for panels in overlays.values():
        cells = [
            _label(_overlay(gray, truth if truth is not None else np.zeros_like(pred), pred),
                   f"{inputs.ROW_NAMES.get(row, row)} {method}")
            for (row, method), (gray, truth, pred) in sorted(panels.items(), key=lambda kv: (kv[0][0] != "og", kv[0]))
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
    output) against the set's ground truth. Lesions without a prediction are counted as
    missing; a prediction or mask that cannot be read, or lesions without ground truth, as
    failed (each named); UserError when no lesion has ground truth."""
    dataset = DeepLesionSet(root)
    if not dataset.has_masks:
        raise UserError(f"{root} has no masks/ folder")
    if not os.path.isdir(pred_dir):
        raise UserError(f"--pred_dir {pred_dir}: no such folder")
    if not dataset.records and not dataset.problems:
        raise UserError(f"{root}: {INFO_FILE} has no lesion rows")
    values = {m: [] for m in evaluate.METRICS}
    missing = []
    records, no_truth = _with_truth(dataset, dataset.records) if dataset.records else ([], [])
    failed = dataset.problems + [f["error"] for f in no_truth]
    for rec in records:
        try:
            truth = dataset.load_mask(rec)
            pred = segmenters.read_prediction(pred_dir, dataset, rec)
        except DataError as e:
            failed.append(f"{rec.item_id}: {e}")
            continue
        if pred is None:
            missing.append(rec.item_id)
            continue
        for k, v in evaluate.scores(pred, truth).items():
            values[k].append(v)
    return {"lesions": len(values["dice"]), "missing": missing, "failed": failed,
            **{m: evaluate.mean_std(v) for m, v in values.items()}}


def denoising_tables(output_dir: str, model_dirs: inputs.ModelDirs, natural_dir: str | None = None,
                     lcd_ct_dir: str | None = None, sigmas: tuple[float, ...] = (15, 25, 50),
                     allow_nlm_fallback: bool = True) -> dict:
    """The denoising tables (sgan_tf/evaluate_denoise.py) for the noisy input, BM3D (or NL-means,
    named) with its own noise estimate, DnCNN and G1 when given (all blind), and the classical
    denoisers told the true noise level (NL-means always, BM3D when installed): natural images
    at each sigma (DnCNN-paper protocol) and the LCD-CT phantom."""
    from sgan_tf import baselines, evaluate_denoise
    from sgan_tf.enhance import load_stage

    name, stage = baselines.bm3d_or_fallback(allow_nlm_fallback)
    methods = {f"{name} (σ estimated)": stage}
    if model_dirs.dncnn:
        methods["dncnn"] = load_stage(model_dirs.dncnn, tile_size=1024)
    if model_dirs.denoise:
        methods["g1"] = load_stage(model_dirs.denoise, tile_size=1024)
    told = {"nlm (σ told)": baselines.NLMStage}
    if baselines.bm3d_available():
        told["bm3d (σ told)"] = baselines.BM3DStage
    out: dict = {}
    if natural_dir:
        if not os.path.isdir(natural_dir):
            raise UserError(f"--natural_dir {natural_dir}: no such folder")
        rows = evaluate_denoise.natural_table(natural_dir, methods, sigmas, told=told)
        out["denoise_natural"] = evaluate.write_table(
            output_dir, "denoise_natural", rows, f"Denoising on {os.path.basename(os.path.normpath(natural_dir))}: "
            "PSNR (dB) / SSIM, mean ± std (0-255 sigma, fixed noise seed)")
    if lcd_ct_dir:
        if not os.path.isdir(lcd_ct_dir):
            raise UserError(f"--lcd_ct_dir {lcd_ct_dir}: no such folder")
        rows = evaluate_denoise.ct_table(lcd_ct_dir, methods, told=told)
        out["denoise_ct"] = evaluate.write_table(
            output_dir, "denoise_ct", rows, "CT denoising on the LCD-CT phantom vs its noiseless image")
    return out
