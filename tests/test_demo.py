"""The demo: its data preparation on a fixture, and a short end-to-end run on real assets."""

from __future__ import annotations

import csv
import os

import pytest

from bert_estimator.data import assets
from bert_estimator.tools import demo
from tests.conftest import PROJECT_ROOT, run_cli


def _write_snippets(path, rows):
    # The real file: id<TAB>score<TAB>text, UTF-8, CRLF line ends.
    with open(path, "w", encoding="utf-8", newline="") as f:
        for i, (score, text) in enumerate(rows, 1):
            f.write(f"{i}\t{score}\t{text}\r\n")


def _read(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_sentiment_task_drops_neutral_and_splits_deterministically(tmp_path):
    rows = [(2.5, "a wonderful, moving film"), (-3.1, "dull and lifeless"), (0.2, "it exists"),
            (-0.49, "neither here nor there"), (0.5, "pleasant enough"), (-0.5, "a bit of a slog")]
    rows += [((-1) ** i * (1 + i % 3), f"review number {i} with a comma, and \"quotes\"") for i in range(94)]
    src = tmp_path / "snippets.txt"
    _write_snippets(src, rows)

    counts = demo.make_sentiment_task(str(src), str(tmp_path / "a"))
    assert counts == {"train": 78, "dev": 9, "test": 11}  # 98 kept of 100, 80/10/10
    splits = {name: _read(tmp_path / "a" / f"{name}.csv") for name in counts}
    texts = [r["text"] for rs in splits.values() for r in rs]
    assert len(texts) == len(set(texts)) == 98  # disjoint, nothing lost
    assert "it exists" not in texts and "neither here nor there" not in texts
    by_text = {r["text"]: r["label"] for rs in splits.values() for r in rs}
    assert by_text["pleasant enough"] == "pos" and by_text["a bit of a slog"] == "neg"
    assert by_text['review number 3 with a comma, and "quotes"'] == "neg"

    demo.make_sentiment_task(str(src), str(tmp_path / "b"))
    for name in counts:
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes()
    demo.make_sentiment_task(str(src), str(tmp_path / "c"), seed=7)
    assert (tmp_path / "a" / "dev.csv").read_bytes() != (tmp_path / "c" / "dev.csv").read_bytes()


def test_the_csv_processor_reads_what_the_demo_writes(tmp_path):
    from processors import get_processor

    _write_snippets(tmp_path / "s.txt", [(2.0, "good"), (-2.0, "bad")] * 10)
    demo.make_sentiment_task(str(tmp_path / "s.txt"), str(tmp_path / "d"))
    processor = get_processor("csv", labels=["neg", "pos"], data_dir=str(tmp_path / "d"))
    train = processor.get_train_examples(str(tmp_path / "d"))
    assert len(train) == 16 and {e.label for e in train} == {"neg", "pos"}
    assert all(e.text_a in ("good", "bad") and e.text_b is None for e in train)


def test_bad_snippet_line_names_the_file(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text("1\t2.0\tfine\nnot a snippet line\n", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.txt line 2"):
        assets.read_snippets(str(path))


@pytest.mark.slow
def test_demo_runs_end_to_end_on_a_slice(tmp_path):
    """The README's main job on 1,500 real snippets: fetch, convert, fine-tune, eval, export, predict."""
    r = run_cli([os.path.join(PROJECT_ROOT, "demo.py"), "--limit=1500", f"--work_dir={tmp_path}"], timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert "Demo summary" in r.stdout and "dev accuracy" in r.stdout
    accuracy = float(r.stdout.split("dev accuracy")[1].split()[0])
    assert accuracy >= 0.70, accuracy  # 1,200 training snippets, one epoch; chance is ~0.5
    for name in ("eval_results.txt", "test_results.tsv", "classification_report.txt", "confusion_matrix.png"):
        assert (tmp_path / "output" / name).exists(), name
    assert (tmp_path / "export" / "1" / "assets.extra" / "export_info.json").exists()
