"""The paper's tables (Tang, Cai et al. 2018, Tables 1 and 2) and the table writers.

Per lesion, a predicted mask is scored against the ground truth (both in slice pixels) by
`metrics.overlap` (Dice, precision, recall; sgan_tf/metrics.py).

Table 1: one row per input variant (sgan_tf/variants.py); for each segmentation method
(sgan_tf/segment: GrabCut, HNN) the recall, precision and Dice as mean ± std over lesions.

Significance (both tables, every row against OG (`variants.REFERENCE`) with the same method, on the lesions both
scored): the mean per-lesion Dice difference with a 95 % bootstrap CI (percentile, 10,000
resamples of lesions, fixed seed), a two-sided paired Wilcoxon signed-rank p-value (zero
differences dropped; all zero gives p = 1), and a verdict: "better" or "worse" when p < 0.05
and the CI excludes 0, else "within noise". Table 2: Dice per coarse lesion
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
from scipy import stats

from sgan_tf import metrics, outputs, variants
from sgan_tf.data.deeplesion import LESION_TYPES
from sgan_tf.segment import METHODS

METRICS = ("recall", "precision", "dice")
TYPE_ORDER = (1, 2, 3, 4, 5, 6, 7, 8, -1)
ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 10_000


@dataclasses.dataclass(frozen=True)
class LesionScore:
    item_id: str
    lesion_type: int
    method: str  # a segmentation method (sgan_tf/segment METHODS)
    row: str  # the table row: a variant (sgan_tf/variants.py), or the fallback that ran (nlm)
    dice: float
    precision: float
    recall: float


def _fmt(mean: float, std: float) -> str:
    """'mean ± std'; '-' without a mean; the mean alone for a single estimate (std NaN)."""
    if np.isnan(mean):
        return "-"
    return f"{mean:.3f}" if np.isnan(std) else f"{mean:.3f} ± {std:.3f}"


@dataclasses.dataclass(frozen=True)
class Difference:
    """A row's paired Dice difference against OG (module docstring); n = 0 when not defined."""

    mean: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    p: float = float("nan")
    n: int = 0

    @property
    def verdict(self) -> str:
        if not self.n:
            return "-"
        if self.p < ALPHA and (self.low > 0 or self.high < 0):
            return "better" if self.mean > 0 else "worse"
        return "within noise"

    def __str__(self) -> str:
        return "-" if not self.n else f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}] p={self.p:.2g}"


def paired_difference(values: dict[str, float], reference: dict[str, float], seed: int = 0) -> Difference:
    """Mean of values - reference over the keys both have, its bootstrap CI and Wilcoxon p."""
    keys = sorted(set(values) & set(reference))
    if not keys:
        return Difference()
    d = np.array([values[k] - reference[k] for k in keys], np.float64)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (BOOTSTRAP_RESAMPLES, len(d)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    p = 1.0 if not np.any(d) else float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    return Difference(float(d.mean()), float(low), float(high), p, len(d))


def _dice_by_item(results: list[LesionScore], row: str, method: str) -> dict[str, float]:
    return {r.item_id: r.dice for r in results if r.row == row and r.method == method}


def _significance(entry: dict, results: list[LesionScore], row: str, method: str, prefix: str = "") -> None:
    """Adds '<prefix>ΔDice vs OG' (mean [95 % CI] p) and '<prefix>vs OG' (the verdict)."""
    diff = Difference() if row == variants.REFERENCE else paired_difference(
        _dice_by_item(results, row, method), _dice_by_item(results, variants.REFERENCE, method))
    entry[f"{prefix}ΔDice vs OG"] = diff
    entry[f"{prefix}vs OG"] = diff.verdict


def table1(results: Iterable[LesionScore], rows: Sequence[str], row_names: dict[str, str]) -> list[dict]:
    """One dict per row: 'Input' and '<Method> <metric>' -> (mean, std), plus lesion counts."""
    results = list(results)
    out = []
    for row in rows:
        entry: dict = {"Input": row_names.get(row, row)}
        for method, label in METHODS.items():
            picked = [r for r in results if r.row == row and r.method == method]
            for metric in METRICS:
                entry[f"{label} {metric}"] = metrics.mean_std([getattr(r, metric) for r in picked])
            entry[f"{label} n"] = len(picked)
            _significance(entry, results, row, method, prefix=f"{label} ")
        out.append(entry)
    return out


def table2(results: Iterable[LesionScore], rows: Sequence[str], row_names: dict[str, str]) -> list[dict]:
    """Dice per lesion type (and unlabelled), mDice over the labelled types, per method x row."""
    results = list(results)
    out = []
    for method, label in METHODS.items():
        for row in rows:
            picked = [r for r in results if r.row == row and r.method == method]
            if not picked:
                continue
            entry: dict = {"Method": label, "Input": row_names.get(row, row)}
            type_means = []
            for kind in TYPE_ORDER:
                values = [r.dice for r in picked if r.lesion_type == kind]
                entry[LESION_TYPES[kind]] = metrics.mean_std(values)
                if kind != -1 and values:
                    type_means.append(entry[LESION_TYPES[kind]][0])
            entry["mDice"] = (float(np.mean(type_means)), float(np.std(type_means))) if type_means else (np.nan, np.nan)
            entry["n"] = len(picked)
            _significance(entry, results, row, method)
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


def _number(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 6)


def _flat(rows: list[dict]) -> list[dict]:
    """(mean, std) cells split into '<col> mean' / '<col> std', Difference cells into mean, CI
    and p, for CSV and JSON."""
    out = []
    for r in rows:
        flat = {}
        for k, v in r.items():
            if isinstance(v, tuple):
                flat[f"{k} mean"], flat[f"{k} std"] = (_number(x) for x in v)
            elif isinstance(v, Difference):
                flat[k], flat[f"{k} CI low"], flat[f"{k} CI high"] = _number(v.mean), _number(v.low), _number(v.high)
                flat[f"{k} p"], flat[f"{k} lesions"] = _number(v.p), v.n
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
