"""`bert_estimator.data.feature_cache`: a TFRecord file is reused only when everything that
made it is unchanged."""

from __future__ import annotations

import os

import pytest

import processors
import tokenization
from bert_estimator.data.feature_cache import cached_convert_examples_to_features
from processors import InputExample
from tests.real_data import glue_dir, uncased_vocab


@pytest.fixture(scope="module")
def tok():
    return tokenization.FullTokenizer(uncased_vocab(), do_lower_case=True)


def test_cache_reuses_only_on_matching_fingerprint(tmp_path, tok):
    examples = [InputExample(f"train-{i}", f"sentence number {i}", None, str(i % 2)) for i in range(20)]
    path = str(tmp_path / "train.tf_record")

    def build(exs, **kw):
        args = dict(label_list=["0", "1"], max_seq_length=16, tokenizer=tok, output_file=path)
        args.update(kw)
        return cached_convert_examples_to_features(exs, **args)

    assert build(examples) is False  # first build
    first = open(path, "rb").read()
    assert build(examples) is True  # same inputs: reused
    changed_text = examples[:5] + [InputExample("train-5", "another text", None, "1")] + examples[6:]
    for exs, kw in [(changed_text, {}), (examples, {"max_seq_length": 32}), (examples, {"truncation": "tail"}),
                    (examples, {"label_list": ["1", "0"]}), (examples, {"extra_fingerprint": {"task": "x"}})]:
        assert build(exs, **kw) is False, kw  # rebuilt
        assert build(exs, **kw) is True, kw
    assert build(examples) is False and open(path, "rb").read() == first
    cased = tokenization.FullTokenizer(uncased_vocab(), do_lower_case=False)
    assert build(examples, tokenizer=cased) is False
    # A record file without its fingerprint (e.g. killed before the sidecar) is rebuilt.
    os.remove(path + ".fingerprint")
    assert build(examples) is False
    assert sorted(os.listdir(tmp_path)) == ["train.tf_record", "train.tf_record.fingerprint"]


def test_cache_passes_the_backend_on_and_ignores_it_in_the_fingerprint(tmp_path, tok):
    examples = processors.get_processor("sst-2").get_train_examples(glue_dir("SST-2"))[:30]
    labels = ["0", "1"]
    path = str(tmp_path / "train.tf_record")
    build = cached_convert_examples_to_features
    assert build(examples, labels, 16, tok, path, backend="faithful") is False
    faithful = open(path, "rb").read()
    assert build(examples, labels, 16, tok, path, backend="fast", num_workers=1) is True
    os.remove(path + ".fingerprint")
    assert build(examples, labels, 16, tok, path, backend="fast", num_workers=1) is False
    assert open(path, "rb").read() == faithful
