"""Tests of bench/multilabel_sources.py's pure parts (docs/RESULTS.md, "Multi-label
classification on a CSV"): the task built from VADER's four sources (real files, read
independently by tests/real_data.py), the CSVs it writes, and its metrics against hand
computation."""

from __future__ import annotations

import collections
import csv
import json

import numpy as np
import pytest

from bench import multilabel_sources as ml
from tests import real_data

# bench's source names -> tests/real_data.py's
REAL_DATA_SOURCES = {"amazon": "amazon", "movie": "movies", "nyt": "nyt", "tweets": "tweets"}


@pytest.fixture(scope="module")
def texts() -> dict[str, list[str]]:
    return ml.load_sources()


@pytest.fixture(scope="module")
def splits(texts) -> dict[str, list[ml.Example]]:
    return ml.build_splits(texts)


def test_sources_are_the_distinct_texts_of_each_file(texts):
    assert tuple(texts) == ml.SOURCES
    for source, name in REAL_DATA_SOURCES.items():
        distinct = {t.text.strip() for t in real_data.ground_truth(name)}
        assert len(texts[source]) == len(set(texts[source])) == len(distinct)
        assert set(texts[source]) == distinct
    # a text of two sources would make its label ambiguous: there is none
    assert sum(len(v) for v in texts.values()) == len(set().union(*map(set, texts.values())))


def test_real_splits_sizes_labels_and_snippets(texts, splits):
    assert {k: len(v) for k, v in splits.items()} == ml.SIZES
    origin = {t: s for s, ts in texts.items() for t in ts}
    for split, examples in splits.items():
        assert [e.id for e in examples] == [f"{split}-{i}" for i in range(len(examples))]
        for e in examples:
            sources = [s for s, _ in e.snippets]
            assert 1 <= len(sources) <= ml.MAX_SNIPPETS and len(set(sources)) == len(sources)
            # each snippet comes from the file of the source it is tagged with
            assert all(origin[t] == s for s, t in e.snippets)
            # the labels are the set of sources present, in label-list order
            assert e.labels == tuple(s for s in ml.SOURCES if s in sources)
            assert e.text == " ".join(t for _, t in e.snippets)


def test_no_snippet_is_used_twice_within_or_across_splits(splits):
    used = collections.Counter(t for examples in splits.values() for e in examples for _, t in e.snippets)
    assert used and max(used.values()) == 1
    by_split = {k: {t for e in v for _, t in e.snippets} for k, v in splits.items()}
    assert not by_split["train"] & by_split["dev"]
    assert not by_split["train"] & by_split["test"]
    assert not by_split["dev"] & by_split["test"]


def test_proportions_of_counts_and_labels(splits):
    """1, 2 or 3 snippets with equal chances; each source then in half the examples
    (E[k]/4 = 2/4): within 4 standard errors of these shares in every split."""
    for examples in splits.values():
        n = len(examples)
        counts = collections.Counter(len(e.snippets) for e in examples)
        for k in range(1, ml.MAX_SNIPPETS + 1):
            assert abs(counts[k] / n - 1 / 3) < 4 * (2 / 9 / n) ** 0.5, counts
        for source in ml.SOURCES:
            share = sum(source in e.labels for e in examples) / n
            assert abs(share - 0.5) < 4 * (0.25 / n) ** 0.5, (source, share)


def test_build_is_seeded_and_checks_the_pools():
    texts = {s: [f"{s} {i}." for i in range(60)] for s in ml.SOURCES}
    sizes = {"train": 40, "dev": 10, "test": 10}
    a, b = ml.build_splits(texts, sizes, seed=3), ml.build_splits(texts, sizes, seed=3)
    assert a == b
    assert a != ml.build_splits(texts, sizes, seed=4)
    for examples in a.values():
        for e in examples:  # the source a text was drawn from, as its label says
            assert all(t.startswith(s + " ") for s, t in e.snippets)
    with pytest.raises(ValueError, match="source amazon has 10 texts"):
        ml.build_splits(dict(texts, amazon=texts["amazon"][:10]), sizes, seed=3)


def test_written_csv_reads_back(splits, tmp_path):
    small = {k: v[:50] for k, v in splits.items()}
    ml.write_task(str(tmp_path), small)
    for split, examples in small.items():
        with open(tmp_path / f"{split}.csv", encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            assert tuple(reader.fieldnames) == ml.HEADER
            rows = list(reader)
        assert [r["id"] for r in rows] == [e.id for e in examples]
        assert [r["text"] for r in rows] == [e.text for e in examples]
        assert [tuple(r["labels"].split(",")) for r in rows] == [e.labels for e in examples]
    matrix = ml.label_matrix(small["dev"])
    assert matrix.shape == (50, 4)
    assert [tuple(s for s, v in zip(ml.SOURCES, row) if v) for row in matrix] == [e.labels for e in small["dev"]]


def test_multilabel_metrics_by_hand():
    gold = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 1, 0]])
    pred = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 1, 1]])
    m = ml.multilabel_metrics(gold, pred)
    # tp 4: (0,0) (1,1) (2,0) (2,2); fp 1: (2,3); fn 2: (0,3) (2,1)
    assert m["micro_f1"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 2))
    # per label: amazon 2/2 -> 1; movie tp1 fn1 -> 2/3; nyt 1; tweets tp0 fp1 fn1 -> 0
    assert m["f1"] == pytest.approx({"amazon": 1.0, "movie": 2 / 3, "nyt": 1.0, "tweets": 0.0})
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 1 + 0) / 4)
    assert m["subset_accuracy"] == pytest.approx(1 / 3)
    assert m["hamming_loss"] == pytest.approx(3 / 12)


def test_length_summary_counts_what_max_seq_length_truncates():
    s = ml.length_summary([10, 126, 127, 200], 128)
    assert s["truncated"] == 2 and s["max"] == 200 and s["of"] == 4 and s["mean"] == pytest.approx(115.8)


@pytest.mark.parametrize("labels, thresholds", [
    (["amazon", "movie", "nyt", "tweets"], [0.4, 0.5, 0.35, 0.6]),
    (["tweets", "nyt", "movie", "amazon"], [0.6, 0.35, 0.5, 0.4]),  # mapped by label
])
def test_read_thresholds(labels, thresholds, tmp_path):
    """thresholds.json as bert_estimator.training.thresholds.write writes it."""
    from bert_estimator.training import thresholds as product_thresholds

    path = product_thresholds.write(str(tmp_path), labels, thresholds, "model.ckpt-250")
    assert ml.read_thresholds(path) == [0.4, 0.5, 0.35, 0.6]
    with open(path, "w") as f:
        json.dump({"labels": ["a", "b"], "thresholds": [0.5, 0.5]}, f)
    with pytest.raises(SystemExit, match="expected the thresholds of amazon, movie, nyt, tweets"):
        ml.read_thresholds(path)
