"""Converts a Hugging Face BERT directory into Google's BERT checkpoint layout.

Input (`--hf_dir`): `config.json`, `vocab.txt` and the weights, as `model.safetensors`
(read here with NumPy; no `safetensors` package needed), `model.safetensors.index.json`
(sharded), or `pytorch_model.bin` (needs PyTorch, imported only then).

Output (`--output_dir`), the layout of Google's released checkpoints
(e.g. `uncased_L-12_H-768_A-12/`), which `run_classifier.py --init_checkpoint` reads:

* `bert_config.json` with Google's field names;
* `vocab.txt`, copied unchanged;
* `bert_model.ckpt.index` + `bert_model.ckpt.data-00000-of-00001`, written by
  `tf.compat.v1.train.Saver`, with Google's variable names (`bert/embeddings/...`,
  `bert/encoder/layer_N/...`, `bert/pooler/dense/...`), so that
  `modeling.get_assignment_map_from_checkpoint` + `tf.train.init_from_checkpoint`
  load it into `modeling.BertModel` with no renaming;
* `conversion_info.json`: where it came from (path, SHA-256 of the weights), the tensor
  counts, and the unused / missing tensors and warnings of the summary.

Name mapping (HF -> TF): `X.weight` of a Linear -> `X/kernel`, transposed (HF stores
[out, in], TF [in, out]); `X.bias` -> `X/bias`; `LayerNorm.weight/bias` (or the legacy
`gamma/beta`) -> `LayerNorm/gamma/beta`; `encoder.layer.N` -> `encoder/layer_N`;
embedding tables are copied as they are. Names may carry the `bert.` prefix of the HF
task models (`BertForPreTraining`, `BertForSequenceClassification`...) or not (`BertModel`).

Decisions:

* Tensors the TF `BertModel` has no variable for (the MLM/NSP heads `cls.*`, a task
  head `classifier.*`) are not converted: they are listed as unused in the summary.
  `position_ids` / `token_type_ids` buffers are ignored silently.
* A missing pooler (`pooler.dense.*`: sentence-embedding exports sometimes drop it) is
  reported and left out of the checkpoint: `BertModel` then keeps its own initializer
  for `bert/pooler/dense` (truncated normal, stddev `initializer_range`, zero bias),
  which is exactly what Google's code would initialise it with. Any other missing
  tensor is an error: the model would silently run with random weights.
* Weights for encoder layers beyond `num_hidden_layers` are an error (config and
  weights disagree).
* HF's `"gelu"` is the exact erf GELU; Google's `modeling.gelu` is the tanh
  approximation (at most 4.7e-4 apart per activation). The converted config says
  `"gelu"`, Google's name, and the summary notes the difference. HF's `"gelu_new"` /
  `"gelu_pytorch_tanh"` (tanh approximation) map to `"gelu"` exactly.
* Only `model_type == "bert"` with absolute position embeddings is accepted (RoBERTa,
  ALBERT, DistilBERT... differ in ways a renaming cannot fix). `layer_norm_eps` other than
  1e-12 gives a warning: the TF model hardcodes 1e-12.

Outputs are written to a temporary directory next to `--output_dir` and renamed into
place at the end, so a failed conversion leaves nothing half-written. An existing,
non-empty `--output_dir` is refused unless `--overwrite`.

The module also holds an independent NumPy forward pass of BERT (`numpy_forward`),
read from the HF weights directly, and `--verify`, which runs the converted checkpoint
through `modeling.BertModel` (ours, and Google's original when `tests/reference.py` can
load it) on real sentences and prints the largest absolute differences:

    python convert_checkpoint.py --hf_dir DIR --output_dir OUT --verify
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

from assets import sha256_file

CONVERTER_VERSION = 1
CHECKPOINT_NAME = "bert_model.ckpt"
GOOGLE_LAYER_NORM_EPS = 1e-12

# Google's bert_config.json fields, in Google's order, with HF BertConfig's defaults for
# the ones a config.json may leave out (None: required).
GOOGLE_CONFIG_FIELDS = (
    ("vocab_size", None),
    ("hidden_size", None),
    ("num_hidden_layers", None),
    ("num_attention_heads", None),
    ("intermediate_size", None),
    ("hidden_act", "gelu"),
    ("hidden_dropout_prob", 0.1),
    ("attention_probs_dropout_prob", 0.1),
    ("max_position_embeddings", 512),
    ("type_vocab_size", 2),
    ("initializer_range", 0.02),
)

# HF activation name -> Google's modeling.get_activation name.
ACTIVATIONS = {
    "gelu": "gelu",  # HF: exact erf; Google: tanh approximation (noted in the summary)
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}

# Buffers that some HF versions save with the weights; they are not parameters.
IGNORED_SUFFIXES = ("position_ids", "token_type_ids")


class ConversionError(Exception):
    """The input cannot be converted; the message is one line and says why."""


# --------------------------------------------------------------------------------------
# safetensors, read and written with NumPy
# --------------------------------------------------------------------------------------

_ST_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # no NumPy bfloat16: read the bits, widen to float32
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


def _bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _float32_to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """Rounds float32 to bfloat16 (round to nearest even) and returns the 16-bit patterns."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def read_safetensors_header(path: str) -> tuple[dict, int]:
    """Returns ({name: {dtype, shape, data_offsets}}, offset of the data block)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ConversionError(f"{path} is not a safetensors file (shorter than 8 bytes)")
        header_len = int.from_bytes(prefix, "little")
        if header_len > size - 8:
            raise ConversionError(f"{path} is not a safetensors file (header length {header_len} "
                                  f"exceeds the file size {size})")
        try:
            header = json.loads(f.read(header_len).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConversionError(f"{path} is not a safetensors file (bad JSON header: {e})") from None
    if not isinstance(header, dict):
        raise ConversionError(f"{path} is not a safetensors file (header is not a JSON object)")
    header.pop("__metadata__", None)
    return header, 8 + header_len


def load_safetensors(path: str) -> dict[str, np.ndarray]:
    """Reads every tensor of a safetensors file into NumPy arrays (copies).

    F16 and BF16 are widened to float32; F32, F64 and the integer types keep their dtype.
    """
    header, data_start = read_safetensors_header(path)
    size = os.path.getsize(path)
    tensors = {}
    with open(path, "rb") as f:
        for name, info in header.items():
            dtype_name = info.get("dtype")
            if dtype_name not in _ST_DTYPES:
                raise ConversionError(f"{path}: tensor {name} has unsupported dtype {dtype_name}")
            dtype = _ST_DTYPES[dtype_name]
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
            expected = math.prod(shape) * dtype.itemsize
            if end - begin != expected or data_start + end > size:
                raise ConversionError(f"{path}: tensor {name} has {end - begin} bytes of data at "
                                      f"[{begin}, {end}), expected {expected} for {dtype_name} {list(shape)}")
            f.seek(data_start + begin)
            array = np.frombuffer(f.read(end - begin), dtype=dtype).reshape(shape)
            if dtype_name == "BF16":
                array = _bf16_bits_to_float32(array)
            elif dtype_name == "F16":
                array = array.astype(np.float32)
            else:
                array = array.astype(dtype.newbyteorder("="), copy=True)
            tensors[name] = array
    return tensors


def save_safetensors(path: str, tensors: dict[str, np.ndarray], dtypes: dict[str, str] | None = None,
                     metadata: dict[str, str] | None = None) -> None:
    """Writes `tensors` as a safetensors file. `dtypes` may name a safetensors dtype per
    tensor (e.g. "BF16", "F16"); by default float arrays are stored as F32 and integer
    arrays as I64. Used by the tests to build Hugging Face directories."""
    dtypes = dtypes or {}
    header: dict = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        dtype_name = dtypes.get(name) or ("I64" if np.issubdtype(array.dtype, np.integer) else "F32")
        if dtype_name == "BF16":
            data = _float32_to_bf16_bits(array).astype("<u2").tobytes()
        elif dtype_name in _ST_DTYPES:
            data = np.ascontiguousarray(array, dtype=_ST_DTYPES[dtype_name]).tobytes()
        else:
            raise ValueError(f"unsupported safetensors dtype {dtype_name}")
        header[name] = {"dtype": dtype_name, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)  # the data block starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(len(header_bytes).to_bytes(8, "little"))
        f.write(header_bytes)
        for data in blobs:
            f.write(data)


# --------------------------------------------------------------------------------------
# Reading a Hugging Face directory
# --------------------------------------------------------------------------------------


def _load_torch_bin(path: str) -> dict[str, np.ndarray]:
    try:
        import torch  # optional: only pytorch_model.bin needs it
    except ImportError:
        raise ConversionError(f"{path} is a PyTorch pickle and PyTorch is not installed: install torch, "
                              "or provide model.safetensors instead") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unpickling failure: one clear line
        raise ConversionError(f"could not read {path} with torch.load: {e}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    tensors = {}
    for name, value in state.items():
        if not hasattr(value, "numpy"):
            continue
        value = value.detach().cpu()
        tensors[name] = value.float().numpy() if value.is_floating_point() else value.numpy()
    return tensors


def find_weights_files(hf_dir: str) -> list[str]:
    """The weights file(s) of `hf_dir`, safetensors preferred; ConversionError if none."""
    single = os.path.join(hf_dir, "model.safetensors")
    if os.path.isfile(single):
        return [single]
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = os.path.join(hf_dir, index_name)
        if os.path.isfile(index):
            try:
                with open(index, encoding="utf-8") as f:
                    weight_map = json.load(f)["weight_map"]
            except (OSError, ValueError, KeyError) as e:
                raise ConversionError(f"cannot read the shard index {index}: {e!r}") from None
            shards = [os.path.join(hf_dir, name) for name in sorted(set(weight_map.values()))]
            for shard in shards:
                if not os.path.isfile(shard):
                    raise ConversionError(f"shard {shard} named in {index} is missing")
            return shards
    legacy = os.path.join(hf_dir, "pytorch_model.bin")
    if os.path.isfile(legacy):
        return [legacy]
    raise ConversionError(f"no weights in {hf_dir}: expected model.safetensors (or a sharded "
                          "model.safetensors.index.json, or pytorch_model.bin)")


def load_hf_weights(files: list[str]) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for path in files:
        tensors.update(load_safetensors(path) if path.endswith(".safetensors") else _load_torch_bin(path))
    return tensors


def load_hf_config(hf_dir: str) -> dict:
    path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(path):
        raise ConversionError(f"no config.json in {hf_dir}")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise ConversionError(f"cannot read {path}: {e}") from None
    if not isinstance(config, dict):
        raise ConversionError(f"{path} does not hold a JSON object")
    return config


def google_config_from_hf(hf_config: dict) -> tuple[dict, list[str], list[str]]:
    """Maps an HF BERT config to Google's bert_config.json fields.

    Returns (config, warnings, notes); raises ConversionError for configs the TF model
    cannot represent."""
    warnings: list[str] = []
    notes: list[str] = []
    model_type = hf_config.get("model_type")
    if model_type is None:
        architectures = hf_config.get("architectures") or []
        if not any(str(a).startswith("Bert") for a in architectures):
            raise ConversionError("config.json has no model_type and no Bert* architecture: not a BERT config")
        warnings.append("config.json has no model_type; taken as BERT from its architectures")
    elif model_type != "bert":
        raise ConversionError(f"config.json has model_type {model_type!r}; only 'bert' can be converted "
                              "to Google's BertModel")
    position_type = hf_config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ConversionError(f"config.json has position_embedding_type {position_type!r}; Google's "
                              "BertModel only has absolute position embeddings")
    if hf_config.get("is_decoder") or hf_config.get("add_cross_attention"):
        raise ConversionError("config.json describes a decoder (is_decoder / add_cross_attention); "
                              "Google's BertModel is an encoder only")
    eps = hf_config.get("layer_norm_eps", GOOGLE_LAYER_NORM_EPS)
    if not math.isclose(float(eps), GOOGLE_LAYER_NORM_EPS, rel_tol=1e-6):
        warnings.append(f"layer_norm_eps is {eps} but Google's BertModel hardcodes 1e-12: "
                        "outputs will differ slightly from the source model")

    config = {}
    for name, default in GOOGLE_CONFIG_FIELDS:
        if name in hf_config and hf_config[name] is not None:
            config[name] = hf_config[name]
        elif default is None:
            raise ConversionError(f"config.json lacks {name}")
        else:
            config[name] = default
            notes.append(f"config.json lacks {name}; using HF's default {default!r}")
    act = config["hidden_act"]
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise ConversionError(f"config.json has hidden_act {act!r}; Google's BertModel supports "
                              f"{sorted(set(ACTIVATIONS))}")
    config["hidden_act"] = ACTIVATIONS[act]
    if act == "gelu":
        notes.append("hidden_act 'gelu' is the exact erf GELU in HF and the tanh approximation in "
                     "Google's modeling.py (at most 4.7e-4 apart per activation)")
    for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                 "intermediate_size", "max_position_embeddings", "type_vocab_size"):
        if not isinstance(config[name], int) or isinstance(config[name], bool) or config[name] <= 0:
            raise ConversionError(f"config.json has {name}={config[name]!r}; expected a positive integer")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ConversionError(f"hidden_size {config['hidden_size']} is not a multiple of "
                              f"num_attention_heads {config['num_attention_heads']}")
    return config, warnings, notes


# --------------------------------------------------------------------------------------
# The name map
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableSpec:
    """One variable of Google's BertModel and where it comes from in the HF weights."""

    tf_name: str
    hf_name: str  # without the `bert.` prefix
    tf_shape: tuple
    transpose: bool  # HF Linear weight [out, in] -> TF kernel [in, out]

    @property
    def hf_shape(self) -> tuple:
        return tuple(reversed(self.tf_shape)) if self.transpose else self.tf_shape


def bert_variable_specs(config: dict) -> list[VariableSpec]:
    """Every variable of Google's `BertModel` for `config`, in checkpoint order."""
    h, inter = config["hidden_size"], config["intermediate_size"]
    specs: list[VariableSpec] = []

    def dense(tf_scope: str, hf_scope: str, n_in: int, n_out: int) -> None:
        specs.append(VariableSpec(f"{tf_scope}/kernel", f"{hf_scope}.weight", (n_in, n_out), True))
        specs.append(VariableSpec(f"{tf_scope}/bias", f"{hf_scope}.bias", (n_out,), False))

    def layer_norm(tf_scope: str, hf_scope: str) -> None:
        specs.append(VariableSpec(f"{tf_scope}/gamma", f"{hf_scope}.weight", (h,), False))
        specs.append(VariableSpec(f"{tf_scope}/beta", f"{hf_scope}.bias", (h,), False))

    for table, rows in (("word_embeddings", config["vocab_size"]),
                        ("token_type_embeddings", config["type_vocab_size"]),
                        ("position_embeddings", config["max_position_embeddings"])):
        specs.append(VariableSpec(f"bert/embeddings/{table}", f"embeddings.{table}.weight", (rows, h), False))
    layer_norm("bert/embeddings/LayerNorm", "embeddings.LayerNorm")
    for i in range(config["num_hidden_layers"]):
        tf_layer, hf_layer = f"bert/encoder/layer_{i}", f"encoder.layer.{i}"
        for part in ("query", "key", "value"):
            dense(f"{tf_layer}/attention/self/{part}", f"{hf_layer}.attention.self.{part}", h, h)
        dense(f"{tf_layer}/attention/output/dense", f"{hf_layer}.attention.output.dense", h, h)
        layer_norm(f"{tf_layer}/attention/output/LayerNorm", f"{hf_layer}.attention.output.LayerNorm")
        dense(f"{tf_layer}/intermediate/dense", f"{hf_layer}.intermediate.dense", h, inter)
        dense(f"{tf_layer}/output/dense", f"{hf_layer}.output.dense", inter, h)
        layer_norm(f"{tf_layer}/output/LayerNorm", f"{hf_layer}.output.LayerNorm")
    dense("bert/pooler/dense", "pooler.dense", h, h)
    return specs


def _canonical_hf_name(name: str) -> str:
    """Strips the `bert.` prefix of HF task models and renames legacy LayerNorm gamma/beta."""
    if name.startswith("bert."):
        name = name[len("bert."):]
    name = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", name)
    return re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", name)


def _is_ignored_buffer(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in IGNORED_SUFFIXES


def _fmt_shape(shape) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


@dataclass
class ConversionResult:
    output_dir: str
    checkpoint: str  # the prefix to pass as --init_checkpoint
    config: dict  # the bert_config.json written
    converted: list[str]  # TF variable names written
    unused: list[str]  # HF tensors not converted
    missing: list[str]  # TF variables with no HF tensor (left to BertModel's initializer)
    ignored: list[str] = field(default_factory=list)  # buffers skipped silently
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # what conversion_info.json holds

    def summary(self) -> str:
        lines = [f"converted {len(self.converted)} tensors -> {self.checkpoint}"]
        if self.unused:
            lines.append(f"unused ({len(self.unused)}, not in Google's BertModel): " + ", ".join(self.unused))
        else:
            lines.append("unused: none")
        if self.missing:
            lines.append(f"missing ({len(self.missing)}, left to BertModel's initializer, as Google's "
                         "init would set them): " + ", ".join(self.missing))
        else:
            lines.append("missing: none")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def map_hf_weights(hf_weights: dict[str, np.ndarray], config: dict):
    """Maps HF tensors to Google's variables.

    Returns (tf_weights {name: float32 array}, unused, missing, ignored); raises
    ConversionError on shape mismatches and on missing tensors other than the pooler."""
    canonical: dict[str, str] = {}  # canonical name -> original name
    ignored = []
    for name in hf_weights:
        if _is_ignored_buffer(name):
            ignored.append(name)
            continue
        key = _canonical_hf_name(name)
        if key in canonical:
            raise ConversionError(f"the weights hold both {canonical[key]} and {name}")
        canonical[key] = name

    tf_weights: dict[str, np.ndarray] = {}
    missing = []
    used = set()
    for spec in bert_variable_specs(config):
        source = canonical.get(spec.hf_name)
        if source is None:
            missing.append(spec.tf_name)
            continue
        used.add(spec.hf_name)
        value = np.asarray(hf_weights[source])
        if tuple(value.shape) != spec.hf_shape:
            raise ConversionError(f"shape mismatch for {spec.tf_name}: {source} has shape "
                                  f"{_fmt_shape(value.shape)}, config.json implies {_fmt_shape(spec.hf_shape)}")
        if not np.issubdtype(value.dtype, np.floating):
            raise ConversionError(f"{source} has dtype {value.dtype}; expected floating point weights")
        value = value.astype(np.float32)
        tf_weights[spec.tf_name] = np.ascontiguousarray(value.T if spec.transpose else value)

    really_missing = [name for name in missing if not name.startswith("bert/pooler/")]
    if really_missing:
        shown = ", ".join(really_missing[:6]) + (f" (and {len(really_missing) - 6} more)"
                                                 if len(really_missing) > 6 else "")
        raise ConversionError(f"the weights lack {len(really_missing)} tensors of Google's BertModel: {shown}")
    unused = sorted(canonical[key] for key in canonical if key not in used)
    extra_layers = sorted({int(m.group(1)) for key in canonical if key not in used
                           for m in [re.match(r"encoder\.layer\.(\d+)\.", key)] if m})
    if extra_layers:
        raise ConversionError(f"the weights hold encoder layers {extra_layers} that config.json "
                              f"(num_hidden_layers={config['num_hidden_layers']}) does not")
    return tf_weights, unused, missing, sorted(ignored)


# --------------------------------------------------------------------------------------
# Writing Google's layout
# --------------------------------------------------------------------------------------


def write_tf_checkpoint(tf_weights: dict[str, np.ndarray], prefix: str) -> None:
    """Saves `tf_weights` as a TF1 checkpoint (`prefix.index`, `prefix.data-*`) whose
    variable names are exactly the dict keys."""
    import tensorflow.compat.v1 as tf

    with tf.Graph().as_default():
        variables, feeds, assigns = {}, {}, []
        for name, value in tf_weights.items():
            # Variables start as zeros and are filled through placeholders: the values never
            # enter the GraphDef (whose 2 GB limit large checkpoints would break).
            var = tf.Variable(tf.zeros(value.shape, dtype=tf.float32), name=name, trainable=False)
            placeholder = tf.placeholder(tf.float32, shape=value.shape)
            assigns.append(tf.assign(var, placeholder))
            feeds[placeholder] = value
            variables[name] = var
        saver = tf.train.Saver(var_list=variables)
        with tf.Session(graph=tf.get_default_graph()) as sess:
            sess.run(tf.variables_initializer(list(variables.values())))
            sess.run(assigns, feed_dict=feeds)
            saver.save(sess, prefix, write_meta_graph=False, write_state=False)


def _count_lines(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def _install_dir(staging: str, output_dir: str, overwrite: bool) -> None:
    """Renames `staging` to `output_dir`, replacing an existing one only when `overwrite`."""
    if os.path.isdir(output_dir) and not os.listdir(output_dir):
        os.rmdir(output_dir)
    if not os.path.exists(output_dir):
        os.rename(staging, output_dir)
        return
    if not overwrite:  # checked before converting; raced by someone else meanwhile
        raise ConversionError(f"{output_dir} already exists and is not empty (pass --overwrite)")
    backup = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.old-", dir=os.path.dirname(output_dir))
    os.rmdir(backup)
    os.rename(output_dir, backup)
    try:
        os.rename(staging, output_dir)
    except OSError:
        os.rename(backup, output_dir)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def convert_hf_to_tf(hf_dir: str, output_dir: str, overwrite: bool = False, verbose: bool = True) -> ConversionResult:
    """Converts the HF BERT in `hf_dir` into Google's layout in `output_dir`.

    Raises ConversionError (one-line message) when the input is unusable; nothing is then
    left in `output_dir`. Prints the summary when `verbose`."""
    if not os.path.isdir(hf_dir):
        raise ConversionError(f"{hf_dir} is not a directory")
    output_dir = os.path.abspath(output_dir)
    if os.path.isfile(output_dir):
        raise ConversionError(f"{output_dir} is a file, not a directory")
    real_hf, real_out = os.path.realpath(hf_dir), os.path.realpath(output_dir)
    if real_hf == real_out or real_hf.startswith(real_out + os.sep):
        raise ConversionError(f"--output_dir {output_dir} must not be, or contain, --hf_dir {hf_dir}")
    if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
        raise ConversionError(f"{output_dir} already exists and is not empty (pass --overwrite)")

    hf_config = load_hf_config(hf_dir)
    config, warnings, notes = google_config_from_hf(hf_config)
    vocab_path = os.path.join(hf_dir, "vocab.txt")
    if not os.path.isfile(vocab_path):
        raise ConversionError(f"no vocab.txt in {hf_dir} (Google's layout needs the WordPiece vocabulary)")
    vocab_lines = _count_lines(vocab_path)
    if vocab_lines != config["vocab_size"]:
        warnings.append(f"vocab.txt has {vocab_lines} lines but vocab_size is {config['vocab_size']}")
    weight_files = find_weights_files(hf_dir)
    hf_weights = load_hf_weights(weight_files)
    tf_weights, unused, missing, ignored = map_hf_weights(hf_weights, config)

    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.tmp-", dir=parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it 0700; give it a plain directory's mode
        write_tf_checkpoint(tf_weights, os.path.join(staging, CHECKPOINT_NAME))
        with open(os.path.join(staging, "bert_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        shutil.copyfile(vocab_path, os.path.join(staging, "vocab.txt"))
        info = {
            "converter": f"convert_checkpoint.py v{CONVERTER_VERSION}",
            "created_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
            "source_dir": os.path.abspath(hf_dir),
            "source_weights": [{"file": os.path.basename(p), "sha256": sha256_file(p)} for p in weight_files],
            "source_model_type": hf_config.get("model_type"),
            "source_hidden_act": hf_config.get("hidden_act", "gelu"),
            "source_tensor_count": len(hf_weights),
            "converted_tensor_count": len(tf_weights),
            "converted_parameter_count": int(sum(v.size for v in tf_weights.values())),
            "unused_tensors": unused,
            "missing_variables": missing,
            "ignored_buffers": ignored,
            "warnings": warnings,
            "notes": notes,
        }
        with open(os.path.join(staging, "conversion_info.json"), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2)
            f.write("\n")
        _install_dir(staging, output_dir, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result = ConversionResult(output_dir=output_dir, checkpoint=os.path.join(output_dir, CHECKPOINT_NAME),
                              config=config, converted=list(tf_weights), unused=unused, missing=missing,
                              ignored=ignored, warnings=warnings, notes=notes, info=info)
    if verbose:
        print(result.summary())
    return result


# --------------------------------------------------------------------------------------
# NumPy reference forward pass (independent of TensorFlow and of the name map above)
# --------------------------------------------------------------------------------------


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erf
    except ImportError:  # scipy comes with scikit-learn; fall back to the slow scalar erf
        erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


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

    def w(name: str) -> np.ndarray:
        value = weights[name] if name in weights else weights["bert." + name]
        return np.asarray(value, dtype=dtype)

    def has(name: str) -> bool:
        return name in weights or "bert." + name in weights

    def linear(x, scope):
        return x @ w(scope + ".weight").T + w(scope + ".bias")

    eps = float(hf_config.get("layer_norm_eps", GOOGLE_LAYER_NORM_EPS))

    def layer_norm(x, scope):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * w(scope + ".weight") + w(scope + ".bias")

    act_name = hf_config.get("hidden_act", "gelu")
    activations = {"gelu": _gelu_erf if exact_gelu else _gelu_tanh, "gelu_new": _gelu_tanh,
                   "gelu_pytorch_tanh": _gelu_tanh, "relu": lambda x: np.maximum(x, 0), "tanh": np.tanh,
                   "linear": lambda x: x}
    act = activations[act_name]

    input_ids = np.asarray(input_ids)
    batch, seq_len = input_ids.shape
    input_mask = np.ones_like(input_ids) if input_mask is None else np.asarray(input_mask)
    token_type_ids = np.zeros_like(input_ids) if token_type_ids is None else np.asarray(token_type_ids)
    hidden = int(hf_config["hidden_size"])
    heads = int(hf_config["num_attention_heads"])
    head_size = hidden // heads

    x = (w("embeddings.word_embeddings.weight")[input_ids]
         + w("embeddings.position_embeddings.weight")[:seq_len][None]
         + w("embeddings.token_type_embeddings.weight")[token_type_ids])
    x = layer_norm(x, "embeddings.LayerNorm")
    mask_add = (1.0 - input_mask.astype(dtype))[:, None, None, :] * -10000.0  # [batch, 1, 1, seq]

    def split_heads(t):
        return t.reshape(batch, seq_len, heads, head_size).transpose(0, 2, 1, 3)

    for i in range(int(hf_config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"
        q = split_heads(linear(x, f"{p}.attention.self.query"))
        k = split_heads(linear(x, f"{p}.attention.self.key"))
        v = split_heads(linear(x, f"{p}.attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_size) + mask_add
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq_len, hidden)
        attention = layer_norm(linear(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        intermediate = act(linear(attention, f"{p}.intermediate.dense"))
        x = layer_norm(linear(intermediate, f"{p}.output.dense") + attention, f"{p}.output.LayerNorm")

    pooled = np.tanh(linear(x[:, 0], "pooler.dense")) if has("pooler.dense.weight") else None
    return x, pooled


# --------------------------------------------------------------------------------------
# Verification: the converted checkpoint in TF BertModel vs the NumPy reference
# --------------------------------------------------------------------------------------

# Used when ../shared/data (GLUE) is not there: single sentences and pairs.
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


def real_examples(data_dir: str | None = None, n_singles: int = 8, n_pairs: int = 8):
    """Returns (examples, source): `n_singles` SST-2 dev sentences and `n_pairs` MRPC dev
    pairs from the shared GLUE data when present, else built-in sentences."""
    data_dir = data_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "shared", "data")
    sst2 = os.path.join(data_dir, "glue", "SST-2", "dev.tsv")
    mrpc = os.path.join(data_dir, "glue", "MRPC", "dev.tsv")
    if os.path.isfile(sst2) and os.path.isfile(mrpc):
        with open(sst2, encoding="utf-8") as f:
            singles = [(line.rstrip("\n").split("\t")[0].strip(), None) for line in list(f)[1:] if line.strip()]
        with open(mrpc, encoding="utf-8-sig") as f:
            rows = [line.rstrip("\n").split("\t") for line in list(f)[1:] if line.strip()]
        pairs = [(row[3], row[4]) for row in rows if len(row) >= 5]
        return singles[:n_singles] + pairs[:n_pairs], "GLUE SST-2 dev (single) + MRPC dev (pairs)"
    examples = [(s, None) for s in FALLBACK_SINGLES[:n_singles]] + FALLBACK_PAIRS[:n_pairs]
    return examples, "built-in sentences (shared GLUE data not found)"


def encode_examples(tokenizer, examples, max_seq_length: int = 64):
    """Tokenizes (text_a, text_b or None) pairs BERT's way: [CLS] a [SEP] (b [SEP]),
    segment ids 0/1, zero padding with input_mask 0. Pairs are truncated longest-first.
    Returns int32 arrays input_ids, input_mask, segment_ids of shape [n, max_seq_length]."""
    n = len(examples)
    input_ids = np.zeros((n, max_seq_length), np.int32)
    input_mask = np.zeros((n, max_seq_length), np.int32)
    segment_ids = np.zeros((n, max_seq_length), np.int32)
    for row, (text_a, text_b) in enumerate(examples):
        tokens_a = tokenizer.tokenize(text_a)
        tokens_b = tokenizer.tokenize(text_b) if text_b is not None else None
        if tokens_b is None:
            tokens_a = tokens_a[: max_seq_length - 2]
            tokens, segments = ["[CLS]"] + tokens_a + ["[SEP]"], [0] * (len(tokens_a) + 2)
        else:
            while len(tokens_a) + len(tokens_b) > max_seq_length - 3:
                (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()
            tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
            segments = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
        ids = tokenizer.convert_tokens_to_ids(tokens)
        input_ids[row, : len(ids)] = ids
        input_mask[row, : len(ids)] = 1
        segment_ids[row, : len(ids)] = segments
    return input_ids, input_mask, segment_ids


def tf_bert_forward(modeling_module, bert_config_file: str, init_checkpoint: str, input_ids, input_mask,
                    segment_ids):
    """Builds `modeling_module.BertModel` (is_training=False) in a fresh graph, restores it
    from `init_checkpoint` via get_assignment_map_from_checkpoint + init_from_checkpoint,
    and returns (sequence_output, pooled_output, names of variables NOT restored)."""
    import tensorflow.compat.v1 as tf

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


def _load_tokenizer(vocab_file: str):
    try:
        import tokenization

        return tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=True), "ours"
    except ImportError:
        from tests import reference

        tokenization = reference.load("tokenization")
        return tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=True), "original"


def _modeling_modules() -> list[tuple[str, object]]:
    """[(label, module)]: our modeling.py and Google's original, whichever import."""
    modules = []
    try:
        import modeling

        modules.append(("ours (modeling.py)", modeling))
    except ImportError:
        pass
    try:
        from tests import reference

        if reference.available():
            modules.append(("original (bert-tensorflow 1.0.4)", reference.load("modeling")))
    except ImportError:
        pass
    return modules


def verify_conversion(hf_dir: str, output_dir: str, max_seq_length: int = 64, verbose: bool = True) -> dict:
    """Runs real sentences through the converted checkpoint in BertModel (ours and the
    original, whichever import) and through `numpy_forward` on the HF weights, and returns
    {label: {"sequence_output_all", "sequence_output_real_tokens", "pooled_output"}} max
    absolute differences, plus "_inputs" describing what was run."""
    hf_config = load_hf_config(hf_dir)
    hf_weights = load_hf_weights(find_weights_files(hf_dir))
    tokenizer, tokenizer_label = _load_tokenizer(os.path.join(output_dir, "vocab.txt"))
    examples, source = real_examples()
    input_ids, input_mask, segment_ids = encode_examples(tokenizer, examples, max_seq_length)
    ref_seq, ref_pooled = numpy_forward(hf_weights, hf_config, input_ids, input_mask, segment_ids)
    erf_seq, erf_pooled = numpy_forward(hf_weights, hf_config, input_ids, input_mask, segment_ids, exact_gelu=True)
    real = input_mask.astype(bool)
    n_pairs = sum(1 for _, b in examples if b is not None)
    results: dict = {"_inputs": {
        "examples": len(examples), "pairs": n_pairs, "source": source, "max_seq_length": max_seq_length,
        "real_tokens": int(real.sum()), "padding_tokens": int((~real).sum()), "tokenizer": tokenizer_label,
        "reference": "numpy_forward, float64, tanh-approximation GELU (as Google's modeling.gelu)",
        "tanh_vs_erf_gelu_reference": {
            "sequence_output_real_tokens": float(np.abs(ref_seq - erf_seq)[real].max()),
            "pooled_output": float(np.abs(ref_pooled - erf_pooled).max()) if ref_pooled is not None else None,
        },
    }}
    bert_config_file = os.path.join(output_dir, "bert_config.json")
    checkpoint = os.path.join(output_dir, CHECKPOINT_NAME)
    modules = _modeling_modules()
    if not modules:
        raise ConversionError("--verify needs modeling.py or the original bert-tensorflow; neither imports")
    for label, module in modules:
        seq, pooled, not_restored = tf_bert_forward(module, bert_config_file, checkpoint, input_ids,
                                                    input_mask, segment_ids)
        diff = np.abs(seq.astype(np.float64) - ref_seq)
        results[label] = {
            "sequence_output_all": float(diff.max()),
            "sequence_output_real_tokens": float(diff[real].max()),
            "pooled_output": (float(np.abs(pooled.astype(np.float64) - ref_pooled).max())
                              if ref_pooled is not None else None),
            "not_restored": not_restored,
        }
    if verbose:
        print(format_verification(results))
    return results


def format_verification(results: dict) -> str:
    inputs = results["_inputs"]
    lines = ["", "=== verification: converted checkpoint in TF BertModel vs NumPy reference ===",
             f"inputs: {inputs['examples']} examples ({inputs['examples'] - inputs['pairs']} single sentences, "
             f"{inputs['pairs']} sentence pairs) from {inputs['source']}; max_seq_length "
             f"{inputs['max_seq_length']}, {inputs['real_tokens']} real + {inputs['padding_tokens']} padding "
             f"tokens; {inputs['tokenizer']} FullTokenizer",
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


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert a Hugging Face BERT directory (config.json, model.safetensors, vocab.txt) "
                    "into Google's BERT checkpoint layout (bert_config.json, vocab.txt, bert_model.ckpt).")
    parser.add_argument("--hf_dir", required=True, help="directory with config.json, weights and vocab.txt")
    parser.add_argument("--output_dir", required=True, help="directory to create with Google's layout")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing, non-empty output_dir")
    parser.add_argument("--verify", action="store_true",
                        help="after converting, compare TF BertModel on the checkpoint with the NumPy "
                             "reference on real sentences and print the max abs differences")
    parser.add_argument("--max_seq_length", type=int, default=64, help="sequence length for --verify")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        result = convert_hf_to_tf(args.hf_dir, args.output_dir, overwrite=args.overwrite)
        if args.verify:
            verify_conversion(args.hf_dir, result.output_dir, max_seq_length=args.max_seq_length)
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
