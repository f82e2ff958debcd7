"""docs/FLAGS.md is current (generated from the flag definitions), and the flag groups
that `--help` and the page use hold every flag exactly once."""

from __future__ import annotations

import os

import pytest
from absl import flags

import run_classifier
from bert_estimator.tools import flag_reference
from tests.conftest import PROJECT_ROOT, run_cli
from tests.support import reference

DOC = os.path.join(PROJECT_ROOT, "docs", "FLAGS.md")


def _defined_flags() -> set[str]:
    """The flags run_classifier.py defines (absl's own, and other modules', left out)."""
    return {f.name for f in flags.FLAGS.get_flags_for_module(run_classifier)}


def test_every_flag_is_in_exactly_one_group():
    grouped = [name for _, names in run_classifier.FLAG_GROUPS for name in names]
    assert len(grouped) == len(set(grouped)), "a flag is in two groups"
    assert set(grouped) == _defined_flags()


def test_original_flags_are_the_originals():
    if not reference.available():
        pytest.skip("the original bert-tensorflow (and tf_slim) is not installed")
    original = reference.load("run_classifier")
    assert set(run_classifier.ORIGINAL_FLAGS) == set(original.FLAGS)
    for name in run_classifier.ORIGINAL_FLAGS:
        assert flags.FLAGS[name].default == original.FLAGS[name].default, name


def test_docs_flags_md_is_generated_from_the_definitions():
    with open(DOC, encoding="utf-8") as f:
        written = f.read()
    assert written == flag_reference.markdown(), (
        "docs/FLAGS.md is stale: python -m bert_estimator.tools.flag_reference > docs/FLAGS.md")


def test_help_lists_the_groups_in_order():
    r = run_cli([os.path.join(PROJECT_ROOT, "run_classifier.py"), "--help"])
    assert r.returncode == 0, r.stderr[-2000:]
    positions = [r.stdout.index(f"\n{group}:\n") for group, _ in run_classifier.FLAG_GROUPS]
    assert positions == sorted(positions)
    for name in _defined_flags():
        assert f"--{name}:" in r.stdout or f"--[no]{name}:" in r.stdout, name
