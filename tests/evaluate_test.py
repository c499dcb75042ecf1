"""The paper's tables and their writers."""

import csv
import json

import numpy as np
import pytest

from sgan_tf.evaluation import tables as evaluate
from sgan_tf.evaluation.tables import LesionScore


def _results():
    out = []
    for i, (kind, d) in enumerate([(4, 0.9), (4, 0.7), (5, 0.95), (-1, 0.5)]):
        out.append(LesionScore(f"a{i}", kind, "grabcut", "og", d, d, d))
        out.append(LesionScore(f"a{i}", kind, "grabcut", "sgan", d + 0.02, d, d))
    out.append(LesionScore("a0", 4, "hnn", "og", 0.8, 0.85, 0.75))
    return out


def test_table1_means_stds_and_counts():
    rows = evaluate.table1(_results(), ["og", "sgan"], {"og": "OG", "sgan": "OG+SGAN"})
    assert [r["Input"] for r in rows] == ["OG", "OG+SGAN"]
    mean, std = rows[0]["GrabCut dice"]
    assert mean == pytest.approx(np.mean([0.9, 0.7, 0.95, 0.5])) and std == pytest.approx(np.std([0.9, 0.7, 0.95, 0.5]))
    assert rows[1]["GrabCut dice"][0] == pytest.approx(mean + 0.02)
    assert rows[0]["HNN n"] == 1 and rows[0]["HNN recall"][0] == 0.75
    assert rows[1]["HNN n"] == 0 and np.isnan(rows[1]["HNN dice"][0])


def test_table2_per_type_with_unlabelled_column_and_mdice():
    rows = evaluate.table2(_results(), ["og"], {"og": "OG"})
    gc = next(r for r in rows if r["Method"] == "GrabCut")
    assert gc["liver"][0] == pytest.approx(0.8) and gc["lung"][0] == pytest.approx(0.95)
    assert gc["unlabelled"][0] == pytest.approx(0.5)
    assert gc["mDice"][0] == pytest.approx((0.8 + 0.95) / 2)  # unlabelled lesions are not a type
    assert np.isnan(gc["bone"][0]) and gc["n"] == 4


def test_writers_produce_markdown_csv_json(tmp_path):
    rows = evaluate.table1(_results(), ["og", "sgan"], {"og": "OG", "sgan": "OG+SGAN"})
    paths = evaluate.write_table(str(tmp_path), "table1", rows, "Table 1")
    md = open(paths["md"]).read()
    assert md.startswith("Table 1") and "| OG | " in md and "0.762 ± 0.178" in md and "| - |" in md
    with open(paths["csv"]) as f:
        table = list(csv.DictReader(f))
    assert table[0]["Input"] == "OG" and float(table[0]["GrabCut dice mean"]) == pytest.approx(0.7625)
    assert table[1]["HNN dice mean"] == ""
    data = json.load(open(paths["json"]))
    assert data["rows"][1]["HNN dice mean"] is None and data["title"] == "Table 1"
    evaluate.write_scores(str(tmp_path / "scores.csv"), _results())
    assert len(open(tmp_path / "scores.csv").read().splitlines()) == len(_results()) + 1


def _paired(n: int, shift: float, noise: float, seed: int = 0) -> list[LesionScore]:
    """n lesions scored on og and on sgan = og + shift + noise (per lesion)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.6, 0.9, n)
    out = []
    for i, (b, e) in enumerate(zip(base, rng.normal(0.0, noise, n))):
        out.append(LesionScore(f"l{i}", 4, "grabcut", "og", b, b, b))
        out.append(LesionScore(f"l{i}", 4, "grabcut", "sgan", b + shift + e, b, b))
    return out


def test_significance_against_og_on_known_cases():
    names = {"og": "OG", "sgan": "OG+SGAN"}
    better = evaluate.table1(_paired(60, 0.02, 0.01), ["og", "sgan"], names)[1]
    diff = better["GrabCut ΔDice vs OG"]
    assert diff.n == 60 and diff.mean == pytest.approx(0.02, abs=0.004)
    assert diff.low < diff.mean < diff.high and diff.low > 0 and diff.p < 1e-6
    assert better["GrabCut vs OG"] == "better"
    noise = evaluate.table1(_paired(60, 0.0, 0.02), ["og", "sgan"], names)[1]
    assert noise["GrabCut vs OG"] == "within noise" and noise["GrabCut ΔDice vs OG"].low < 0 < noise["GrabCut ΔDice vs OG"].high
    worse = evaluate.table2(_paired(60, -0.03, 0.01), ["og", "sgan"], names)
    assert [r["vs OG"] for r in worse] == ["-", "worse"]
    same = evaluate.paired_difference({"a": 0.5, "b": 0.7}, {"a": 0.5, "b": 0.7})
    assert same.p == 1.0 and same.mean == 0.0 and same.verdict == "within noise"
    assert evaluate.paired_difference({"a": 0.5}, {"b": 0.5}).verdict == "-"  # no lesion in common


def test_wilcoxon_p_matches_the_exact_small_sample_value():
    """Five positive paired differences: the exact two-sided signed-rank p is 2 / 2**5."""
    diff = evaluate.paired_difference({k: 0.5 + d for k, d in zip("abcde", (0.01, 0.02, 0.03, 0.04, 0.05))},
                                      {k: 0.5 for k in "abcde"})
    assert diff.p == pytest.approx(2 / 32) and diff.verdict == "within noise"  # p >= 0.05


def test_significance_columns_are_written(tmp_path):
    rows = evaluate.table1(_paired(20, 0.02, 0.01), ["og", "sgan"], {"og": "OG", "sgan": "OG+SGAN"})
    paths = evaluate.write_table(str(tmp_path), "table1", rows, "Table 1")
    assert "better" in open(paths["md"]).read()
    with open(paths["csv"]) as f:
        table = list(csv.DictReader(f))
    assert table[0]["GrabCut ΔDice vs OG"] == "" and float(table[1]["GrabCut ΔDice vs OG p"]) < 0.05
    assert float(table[1]["GrabCut ΔDice vs OG CI low"]) > 0 and table[1]["GrabCut vs OG"] == "better"
    data = json.load(open(paths["json"]))
    assert data["rows"][1]["GrabCut ΔDice vs OG lesions"] == 20


def test_table2_with_both_methods_is_written(tmp_path):
    """Table 2 has one row per method and input: its significance columns do not name the method."""
    scores = _paired(20, 0.02, 0.01)
    scores += [LesionScore(r.item_id, r.lesion_type, "hnn", r.row, r.dice - 0.1, r.precision, r.recall) for r in scores]
    rows = evaluate.table2(scores, ["og", "sgan"], {"og": "OG", "sgan": "OG+SGAN"})
    assert [(r["Method"], r["vs OG"]) for r in rows] == [("GrabCut", "-"), ("GrabCut", "better"),
                                                        ("HNN", "-"), ("HNN", "better")]
    md = open(evaluate.write_table(str(tmp_path), "table2", rows, "Table 2")["md"]).read()
    assert md.count("| better |") == 2
