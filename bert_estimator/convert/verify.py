"""`convert_checkpoint.py --verify`: the converted checkpoint in TF `BertModel` against an
independent NumPy forward pass of the Hugging Face weights.

`numpy_forward` reads the HF tensors by their HF names, in HF's layout, and so shares
nothing with the name map or with TensorFlow. `verify_conversion` runs a batch of
sentences and sentence pairs (with padding) through it and through `modeling.BertModel`
restored from the checkpoint (ours, and Google's original when the bert-tensorflow wheel
is installed), and prints the largest absolute differences.

The sentences come from the first of these that is there, and the report names it:

1. the real Rotten Tomatoes movie-review snippets, when they are already in the asset
   cache (`python -m bert_estimator.data.assets snippets` puts them there; --verify never
   downloads them); a pair is two consecutive snippets;
2. GLUE SST-2 dev sentences and MRPC dev pairs where `fetch.py glue` puts them (`glue_data/`);
3. a few sentences built into this module.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import types

import numpy as np
import tensorflow.compat.v1 as tf

import modeling
import tokenization
from bert_estimator.convert.huggingface_weights import (
    find_weights_files,
    load_hf_config,
    load_hf_weights,
)
from bert_estimator.convert.name_map import CHECKPOINT_NAME, GOOGLE_LAYER_NORM_EPS
from bert_estimator.data import assets, downloads
from bert_estimator.data.features import convert_single_example
from processors.base import InputExample

try:  # optional: only for the comparison with Google's original code
    import tf_slim
except ImportError:
    tf_slim = None

ORIGINAL_MISSING = ("--verify: Google's original code is not installed (pip install bert-tensorflow==1.0.4 "
                    "tf-slim adds it to the comparison)")
# convert_single_example logs its first five examples (ex_index 0-4) in full; these are not logged.
_NOT_LOGGED = 5

# --------------------------------------------------------------------------------------
# NumPy reference forward pass (independent of TensorFlow and of the name map)
# --------------------------------------------------------------------------------------


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erf  # optional (with scikit-learn)
    except ImportError:  # scipy comes with scikit-learn; fall back to the slow scalar erf
        erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _activation(hidden_act: str, exact_gelu: bool):
    activations = {"gelu": _gelu_erf if exact_gelu else _gelu_tanh, "gelu_new": _gelu_tanh,
                   "gelu_pytorch_tanh": _gelu_tanh, "relu": lambda x: np.maximum(x, 0), "tanh": np.tanh,
                   "linear": lambda x: x}
    return activations[hidden_act]


class _HFWeights:
    """HF-named weights (`bert.` prefix optional), read as `dtype`, and the two layers
    that use them by scope name: Linear (y = x W^T + b) and LayerNorm."""

    def __init__(self, weights: dict[str, np.ndarray], dtype, eps: float):
        self.weights, self.dtype, self.eps = weights, dtype, eps

    def __call__(self, name: str) -> np.ndarray:
        value = self.weights[name] if name in self.weights else self.weights["bert." + name]
        return np.asarray(value, dtype=self.dtype)

    def has(self, name: str) -> bool:
        return name in self.weights or "bert." + name in self.weights

    def linear(self, x, scope: str):
        return x @ self(scope + ".weight").T + self(scope + ".bias")

    def layer_norm(self, x, scope: str):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self(scope + ".weight") + self(scope + ".bias")


def _self_attention(w: _HFWeights, x, scope: str, mask_add, heads: int):
    """Multi-head self-attention of `x` [batch, seq, hidden]; returns the context, same shape."""
    batch, seq_len, hidden = x.shape
    head_size = hidden // heads

    def split_heads(t):
        return t.reshape(batch, seq_len, heads, head_size).transpose(0, 2, 1, 3)

    q = split_heads(w.linear(x, f"{scope}.query"))
    k = split_heads(w.linear(x, f"{scope}.key"))
    v = split_heads(w.linear(x, f"{scope}.value"))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_size) + mask_add
    scores = scores - scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=-1, keepdims=True)
    return (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq_len, hidden)


def _encoder_layer(w: _HFWeights, x, scope: str, mask_add, heads: int, act):
    context = _self_attention(w, x, f"{scope}.attention.self", mask_add, heads)
    attention = w.layer_norm(w.linear(context, f"{scope}.attention.output.dense") + x,
                             f"{scope}.attention.output.LayerNorm")
    intermediate = act(w.linear(attention, f"{scope}.intermediate.dense"))
    return w.layer_norm(w.linear(intermediate, f"{scope}.output.dense") + attention, f"{scope}.output.LayerNorm")


def numpy_forward(weights: dict[str, np.ndarray], hf_config: dict, input_ids, input_mask=None,
                  token_type_ids=None, exact_gelu: bool = False, dtype=np.float64):
    """BERT's forward pass (inference, no dropout) in NumPy, from HF-named weights.

    `weights` are HF tensors as read from the safetensors file (`bert.` prefix optional),
    used in HF's own layout (Linear: y = x W^T + b). Padding (input_mask 0) is masked with
    an additive -10000 on the attention scores, as Google's BertModel does. LayerNorm uses
    the config's `layer_norm_eps`.

    GELU: by default the tanh approximation, which is what Google's `modeling.gelu` (and so
    the converted TF model) computes; `exact_gelu=True` gives HF's erf GELU for
    `hidden_act == "gelu"`, i.e. the source model as HF runs it.

    Returns (sequence_output [batch, seq, hidden], pooled_output [batch, hidden] or None
    when the weights have no pooler), in `dtype`.
    """
    w = _HFWeights(weights, dtype, float(hf_config.get("layer_norm_eps", GOOGLE_LAYER_NORM_EPS)))
    act = _activation(hf_config.get("hidden_act", "gelu"), exact_gelu)
    input_ids = np.asarray(input_ids)
    seq_len = input_ids.shape[1]
    input_mask = np.ones_like(input_ids) if input_mask is None else np.asarray(input_mask)
    token_type_ids = np.zeros_like(input_ids) if token_type_ids is None else np.asarray(token_type_ids)
    heads = int(hf_config["num_attention_heads"])

    x = (w("embeddings.word_embeddings.weight")[input_ids]
         + w("embeddings.position_embeddings.weight")[:seq_len][None]
         + w("embeddings.token_type_embeddings.weight")[token_type_ids])
    x = w.layer_norm(x, "embeddings.LayerNorm")
    mask_add = (1.0 - input_mask.astype(dtype))[:, None, None, :] * -10000.0  # [batch, 1, 1, seq]
    for i in range(int(hf_config["num_hidden_layers"])):
        x = _encoder_layer(w, x, f"encoder.layer.{i}", mask_add, heads, act)
    pooled = np.tanh(w.linear(x[:, 0], "pooler.dense")) if w.has("pooler.dense.weight") else None
    return x, pooled


# --------------------------------------------------------------------------------------
# The sentences
# --------------------------------------------------------------------------------------

# Used when neither the cached snippets nor GLUE's SST-2 and MRPC are there.
FALLBACK_SINGLES = [
    "the film is a charming , funny and moving portrait of a family .",
    "a dull , plodding mess that never finds its footing .",
    "It rains in Paris, and nobody there seems to mind.",
    "Unaffordable housing remains the city's most pressing problem.",
    "one long string of cliches",
    "I loved it!",
    "the performances are uniformly excellent , but the script lets them down badly .",
    "Tokenization splits unbelievably long words into wordpieces.",
]
FALLBACK_PAIRS = [
    ("The company posted a profit in the third quarter.", "Third-quarter results showed the firm made money."),
    ("He left the meeting early.", "The weather was warm for October."),
    ("Shares fell 3 percent on Tuesday.", "On Tuesday the stock dropped by three percent."),
    ("She said the report was accurate.", "According to her, the report contained errors."),
    ("The museum reopens next week.", "Next week the museum will open its doors again."),
    ("Rain is expected tomorrow.", "Forecasters predict showers for tomorrow afternoon."),
    ("The bill passed the Senate.", "Senators approved the legislation by a wide margin."),
    ("A cat sat on the mat.", "A dog barked at the mailman."),
]


def _snippet_examples(path: str, n_singles: int, n_pairs: int):
    """The first `n_singles` snippets alone, then the next 2 * `n_pairs` as pairs."""
    texts = [text for _, _, text in assets.read_snippets(path)][: n_singles + 2 * n_pairs]
    rest = texts[n_singles:]
    return [(t, None) for t in texts[:n_singles]] + list(zip(rest[0::2], rest[1::2]))


def _glue_examples(glue_dir: str, n_singles: int, n_pairs: int):
    """SST-2 dev sentences and MRPC dev pairs in `glue_dir` (a folder per task, as
    `fetch.py glue` writes it), or None when absent."""
    sst2 = os.path.join(glue_dir, "SST-2", "dev.tsv")
    mrpc = os.path.join(glue_dir, "MRPC", "dev.tsv")
    if not (os.path.isfile(sst2) and os.path.isfile(mrpc)):
        return None
    with open(sst2, encoding="utf-8") as f:
        singles = [(line.rstrip("\n").split("\t")[0].strip(), None) for line in list(f)[1:] if line.strip()]
    with open(mrpc, encoding="utf-8-sig") as f:
        rows = [line.rstrip("\n").split("\t") for line in list(f)[1:] if line.strip()]
    pairs = [(row[3], row[4]) for row in rows if len(row) >= 5]
    return singles[:n_singles] + pairs[:n_pairs]


def real_examples(glue_dir: str | None = None, n_singles: int = 8, n_pairs: int = 8,
                  snippets_file: str | None = None):
    """Returns (examples, source): `n_singles` single sentences and `n_pairs` pairs, as
    (text_a, text_b or None), from the first source found (see the module docstring):
    `snippets_file` or the asset cache's snippets (never downloaded), then GLUE in
    `glue_dir` (default: where `fetch.py glue` puts it), then the built-in sentences."""
    snippets_file = snippets_file or assets.cached_movie_snippets()
    if snippets_file:
        return (_snippet_examples(snippets_file, n_singles, n_pairs),
                f"the Rotten Tomatoes movie-review snippets in {snippets_file} (a pair is two consecutive "
                "snippets)")
    glue_dir = glue_dir or downloads.default_glue_dir()
    glue = _glue_examples(glue_dir, n_singles, n_pairs)
    if glue is not None:
        return glue, f"GLUE SST-2 dev (single) + MRPC dev (pairs) in {glue_dir}"
    examples = [(s, None) for s in FALLBACK_SINGLES[:n_singles]] + FALLBACK_PAIRS[:n_pairs]
    return examples, ("built-in sentences (the movie-review snippets are not in the asset cache: "
                      "`python -m bert_estimator.data.assets snippets` fetches them; no GLUE SST-2/MRPC "
                      f"dev in {glue_dir}: `python fetch.py glue --tasks SST-2,MRPC`)")


def encode_examples(tokenizer, examples, max_seq_length: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokenizes (text_a, text_b or None) pairs as training does
    (`features.convert_single_example`): [CLS] a [SEP] (b [SEP]), segment ids 0/1, zero
    padding with input_mask 0; single texts keep their head, pairs are cut longest-first.

    Returns:
      input_ids, input_mask, segment_ids: int32 arrays of shape [len(examples), max_seq_length].
    """
    rows = [convert_single_example(_NOT_LOGGED, InputExample(f"verify-{i}", text_a, text_b), [], max_seq_length,
                                   tokenizer) for i, (text_a, text_b) in enumerate(examples)]
    input_ids, input_mask, segment_ids = (
        np.array([getattr(row, name) for row in rows], np.int32).reshape(len(rows), max_seq_length)
        for name in ("input_ids", "input_mask", "segment_ids"))
    return input_ids, input_mask, segment_ids


# --------------------------------------------------------------------------------------
# TF BertModel on the checkpoint, and the comparison
# --------------------------------------------------------------------------------------


def tf_bert_forward(modeling_module, bert_config_file: str, init_checkpoint: str, input_ids, input_mask,
                    segment_ids):
    """Builds `modeling_module.BertModel` (is_training=False) in a fresh graph, restores it
    from `init_checkpoint` via get_assignment_map_from_checkpoint + init_from_checkpoint,
    and returns (sequence_output, pooled_output, names of variables NOT restored)."""
    config = modeling_module.BertConfig.from_json_file(bert_config_file)
    with tf.Graph().as_default():
        model = modeling_module.BertModel(
            config=config, is_training=False, input_ids=tf.constant(input_ids, tf.int32),
            input_mask=tf.constant(input_mask, tf.int32), token_type_ids=tf.constant(segment_ids, tf.int32),
            use_one_hot_embeddings=False)
        tvars = tf.trainable_variables()
        assignment_map, initialized = modeling_module.get_assignment_map_from_checkpoint(tvars, init_checkpoint)
        tf.train.init_from_checkpoint(init_checkpoint, assignment_map)
        not_restored = [v.name for v in tvars if v.name not in initialized]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sequence_output, pooled_output = sess.run([model.get_sequence_output(), model.get_pooled_output()])
    return sequence_output, pooled_output, not_restored


def install_contrib_shim() -> None:
    """Provides `tensorflow.contrib.layers` (from tf_slim, the same layer_norm code that
    contrib shipped), which Google's original modules import; TF 2 has no contrib."""
    if "tensorflow.contrib" in sys.modules:
        return
    contrib = types.ModuleType("tensorflow.contrib")
    contrib.layers = tf_slim.layers
    sys.modules["tensorflow.contrib"] = contrib
    sys.modules["tensorflow.contrib.layers"] = tf_slim.layers


def load_original_modeling():
    """Google's original `modeling` module (the bert-tensorflow 1.0.4 wheel), or None when
    the wheel or tf_slim is not installed."""
    if tf_slim is None or importlib.util.find_spec("bert") is None:
        return None
    install_contrib_shim()
    return importlib.import_module("bert.modeling")


def _modeling_modules() -> list[tuple[str, object]]:
    """[(label, module)]: our modeling.py, and Google's original when it is installed."""
    modules = [("ours (modeling.py)", modeling)]
    original = load_original_modeling()
    if original is None:
        print(f"{ORIGINAL_MISSING}: comparing ours only")
    else:
        modules.append(("original (bert-tensorflow 1.0.4)", original))
    return modules


def _max_diff(a, b, where=None) -> float:
    diff = np.abs(np.asarray(a, np.float64) - b)
    return float((diff if where is None else diff[where]).max())


def _compare(module, output_dir: str, batch, reference_outputs, real) -> dict:
    """Max abs differences of `module`'s BertModel on the checkpoint from the reference."""
    ref_seq, ref_pooled = reference_outputs
    seq, pooled, not_restored = tf_bert_forward(module, os.path.join(output_dir, "bert_config.json"),
                                                os.path.join(output_dir, CHECKPOINT_NAME), *batch)
    return {
        "sequence_output_all": _max_diff(seq, ref_seq),
        "sequence_output_real_tokens": _max_diff(seq, ref_seq, real),
        "pooled_output": _max_diff(pooled, ref_pooled) if ref_pooled is not None else None,
        "not_restored": not_restored,
    }


def verify_conversion(hf_dir: str, output_dir: str, max_seq_length: int = 64, verbose: bool = True) -> dict:
    """Runs real sentences through the converted checkpoint in BertModel (ours and the
    original, whichever import) and through `numpy_forward` on the HF weights, and returns
    {label: {"sequence_output_all", "sequence_output_real_tokens", "pooled_output"}} max
    absolute differences, plus "_inputs" describing what was run."""
    hf_config = load_hf_config(hf_dir)
    hf_weights = load_hf_weights(find_weights_files(hf_dir))
    tokenizer = tokenization.FullTokenizer(vocab_file=os.path.join(output_dir, "vocab.txt"), do_lower_case=True)
    examples, source = real_examples()
    batch = encode_examples(tokenizer, examples, max_seq_length)
    ref_seq, ref_pooled = numpy_forward(hf_weights, hf_config, *batch)
    erf_seq, erf_pooled = numpy_forward(hf_weights, hf_config, *batch, exact_gelu=True)
    real = batch[1].astype(bool)
    results: dict = {"_inputs": {
        "examples": len(examples), "pairs": sum(1 for _, b in examples if b is not None), "source": source,
        "max_seq_length": max_seq_length, "real_tokens": int(real.sum()), "padding_tokens": int((~real).sum()),
        "reference": "numpy_forward, float64, tanh-approximation GELU (as Google's modeling.gelu)",
        "tanh_vs_erf_gelu_reference": {
            "sequence_output_real_tokens": _max_diff(ref_seq, erf_seq, real),
            "pooled_output": _max_diff(ref_pooled, erf_pooled) if ref_pooled is not None else None,
        },
    }}
    modules = _modeling_modules()
    for label, module in modules:
        results[label] = _compare(module, output_dir, batch, (ref_seq, ref_pooled), real)
    if verbose:
        print(format_verification(results))
    return results


def format_verification(results: dict) -> str:
    inputs = results["_inputs"]
    lines = ["", "=== verification: converted checkpoint in TF BertModel vs NumPy reference ===",
             f"inputs: {inputs['examples']} examples ({inputs['examples'] - inputs['pairs']} single sentences, "
             f"{inputs['pairs']} sentence pairs) from {inputs['source']}; max_seq_length "
             f"{inputs['max_seq_length']}, {inputs['real_tokens']} real + {inputs['padding_tokens']} padding "
             "tokens; tokenization.FullTokenizer",
             f"reference: {inputs['reference']}"]
    for label, r in results.items():
        if label.startswith("_"):
            continue
        pooled = "n/a (no pooler)" if r["pooled_output"] is None else f"{r['pooled_output']:.3e}"
        lines.append(f"BertModel {label}: max|diff| sequence_output {r['sequence_output_real_tokens']:.3e} "
                     f"on real tokens ({r['sequence_output_all']:.3e} over all positions, padding "
                     f"included), pooled_output {pooled}")
        if r["not_restored"]:
            lines.append(f"  NOT restored from the checkpoint: {', '.join(r['not_restored'])}")
    gelu = inputs["tanh_vs_erf_gelu_reference"]
    pooled = "n/a" if gelu["pooled_output"] is None else f"{gelu['pooled_output']:.3e}"
    lines.append(f"for scale, tanh vs exact-erf GELU in the reference: sequence_output "
                 f"{gelu['sequence_output_real_tokens']:.3e} (real tokens), pooled_output {pooled}")
    return "\n".join(lines)
