"""Segmentation scores and the paper's tables (Tang, Cai et al. 2018, Tables 1 and 2).

Per lesion, a predicted mask is scored against the ground truth (both in slice pixels):

    Dice = 2|P ∩ T| / (|P| + |T|)     precision = |P ∩ T| / |P|     recall = |P ∩ T| / |T|

with the empty cases fixed as: both masks empty -> 1 for all three; otherwise a zero
denominator gives 0 (an empty prediction of a real lesion has precision 0, recall 0).

Table 1: rows OG, OG+BM3D, OG+DnCNN, OG+GAN, OG+GAN1, OG+SGAN; for each of GrabCut and HNN
the recall, precision and Dice as mean ± std over lesions. Table 2: Dice per coarse lesion
type (1 bone ... 8 pelvis), the unlabelled lesions (type -1) as their own column, and mDice
(the mean over the labelled types present), per method and variant. Lesions that failed are
counted and listed beside the tables, never dropped silently.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Iterable, Sequence

import numpy as np

from sgan_tf import outputs
from sgan_tf.data.deeplesion import LESION_TYPES

METRICS = ("recall", "precision", "dice")
METHODS = ("grabcut", "hnn")
METHOD_NAMES = {"grabcut": "GrabCut", "hnn": "HNN"}
TYPE_ORDER = (1, 2, 3, 4, 5, 6, 7, 8, -1)


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice, precision and recall of a binary prediction against a binary truth."""
    p, t = np.asarray(pred) > 0, np.asarray(truth) > 0
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} differ in shape")
    inter, n_p, n_t = float(np.sum(p & t)), float(p.sum()), float(t.sum())
    if n_p == 0 and n_t == 0:
        return {"dice": 1.0, "precision": 1.0, "recall": 1.0}
    return {
        "dice": 2 * inter / (n_p + n_t),
        "precision": inter / n_p if n_p else 0.0,
        "recall": inter / n_t if n_t else 0.0,
    }


@dataclasses.dataclass(frozen=True)
class LesionScore:
    item_id: str
    lesion_type: int
    method: str  # grabcut | hnn
    row: str  # the table row: og, bm3d (or nlm), dncnn, gan, gan1, sgan
    dice: float
    precision: float
    recall: float


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not len(values):
        return float("nan"), float("nan")
    return float(np.mean(values)), float(np.std(values))


def _fmt(mean: float, std: float) -> str:
    return "-" if np.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def table1(results: Iterable[LesionScore], rows: Sequence[str], row_names: dict[str, str]) -> list[dict]:
    """One dict per row: 'Input' and '<Method> <metric>' -> (mean, std), plus lesion counts."""
    results = list(results)
    out = []
    for row in rows:
        entry: dict = {"Input": row_names.get(row, row)}
        for method in METHODS:
            picked = [r for r in results if r.row == row and r.method == method]
            for metric in METRICS:
                entry[f"{METHOD_NAMES[method]} {metric}"] = mean_std([getattr(r, metric) for r in picked])
            entry[f"{METHOD_NAMES[method]} n"] = len(picked)
        out.append(entry)
    return out


def table2(results: Iterable[LesionScore], rows: Sequence[str], row_names: dict[str, str]) -> list[dict]:
    """Dice per lesion type (and unlabelled), mDice over the labelled types, per method x row."""
    results = list(results)
    out = []
    for method in METHODS:
        for row in rows:
            picked = [r for r in results if r.row == row and r.method == method]
            if not picked:
                continue
            entry: dict = {"Method": METHOD_NAMES[method], "Input": row_names.get(row, row)}
            type_means = []
            for kind in TYPE_ORDER:
                values = [r.dice for r in picked if r.lesion_type == kind]
                entry[LESION_TYPES[kind]] = mean_std(values)
                if kind != -1 and values:
                    type_means.append(entry[LESION_TYPES[kind]][0])
            entry["mDice"] = (float(np.mean(type_means)), float(np.std(type_means))) if type_means else (np.nan, np.nan)
            entry["n"] = len(picked)
            out.append(entry)
    return out


def to_markdown(rows: list[dict], title: str = "") -> str:
    """A Markdown table; (mean, std) cells print as 'mean ± std'."""
    if not rows:
        return f"{title}\n\n(no rows)\n" if title else "(no rows)\n"
    columns = list(rows[0])
    cell = lambda v: _fmt(*v) if isinstance(v, tuple) else str(v)  # noqa: E731
    lines = [f"| {' | '.join(columns)} |", f"|{'|'.join('---' for _ in columns)}|"]
    lines += [f"| {' | '.join(cell(r[c]) for c in columns)} |" for r in rows]
    return (f"{title}\n\n" if title else "") + "\n".join(lines) + "\n"


def _flat(rows: list[dict]) -> list[dict]:
    """(mean, std) cells split into '<col> mean' / '<col> std' for CSV and JSON."""
    out = []
    for r in rows:
        flat = {}
        for k, v in r.items():
            if isinstance(v, tuple):
                flat[f"{k} mean"], flat[f"{k} std"] = (None if np.isnan(x) else round(float(x), 6) for x in v)
            else:
                flat[k] = v
        out.append(flat)
    return out


def _csv_text(rows: list[dict], fieldnames: list[str]) -> str:
    text = io.StringIO(newline="")
    if fieldnames:
        writer = csv.DictWriter(text, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return text.getvalue()


def write_table(folder: str, name: str, rows: list[dict], title: str) -> dict[str, str]:
    """<name>.md, <name>.csv and <name>.json in `folder` (outputs.write_file); returns their paths."""
    paths = {ext: os.path.join(folder, f"{name}.{ext}") for ext in ("md", "csv", "json")}
    flat = _flat(rows)
    outputs.write_file(paths["md"], to_markdown(rows, title))
    outputs.write_file(paths["csv"], _csv_text(flat, list(flat[0]) if flat else []))
    outputs.write_json(paths["json"], {"title": title, "rows": flat})
    return paths


def write_scores(path: str, results: Iterable[LesionScore]) -> None:
    """Every per-lesion score as CSV, for re-analysis."""
    fields = [field.name for field in dataclasses.fields(LesionScore)]
    outputs.write_file(path, _csv_text([dataclasses.asdict(r) for r in results], fields))
