"""How a Hugging Face BERT maps onto Google's: config fields and variable names.

Config: Google's `bert_config.json` fields (`GOOGLE_CONFIG_FIELDS`), taken from HF's
`config.json`, with HF `BertConfig`'s defaults for the optional ones.

Tensors (HF -> TF): `X.weight` of a Linear -> `X/kernel`, transposed (HF stores
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
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from bert_estimator.convert.huggingface_weights import ConversionError

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
_POSITIVE_INT_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                        "intermediate_size", "max_position_embeddings", "type_vocab_size")

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


# --------------------------------------------------------------------------------------
# config.json -> bert_config.json
# --------------------------------------------------------------------------------------


def _check_model_kind(hf_config: dict, warnings: list[str]) -> None:
    """Refuses configs that are not a BERT encoder with absolute positions; warns on eps."""
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


def _google_fields(hf_config: dict, notes: list[str]) -> dict:
    """Google's fields taken from `hf_config`, defaults noted, values checked."""
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
    for name in _POSITIVE_INT_FIELDS:
        if not isinstance(config[name], int) or isinstance(config[name], bool) or config[name] <= 0:
            raise ConversionError(f"config.json has {name}={config[name]!r}; expected a positive integer")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ConversionError(f"hidden_size {config['hidden_size']} is not a multiple of "
                              f"num_attention_heads {config['num_attention_heads']}")
    return config


def google_config_from_hf(hf_config: dict) -> tuple[dict, list[str], list[str]]:
    """Maps an HF BERT config to Google's bert_config.json fields.

    Returns (config, warnings, notes); raises ConversionError for configs the TF model
    cannot represent."""
    warnings: list[str] = []
    notes: list[str] = []
    _check_model_kind(hf_config, warnings)
    return _google_fields(hf_config, notes), warnings, notes


# --------------------------------------------------------------------------------------
# HF tensors -> Google's variables
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


def _canonical_names(hf_weights: dict[str, np.ndarray]) -> tuple[dict[str, str], list[str]]:
    """({canonical name: original name}, ignored buffers); two names for one tensor is an error."""
    canonical: dict[str, str] = {}
    ignored = []
    for name in hf_weights:
        if _is_ignored_buffer(name):
            ignored.append(name)
            continue
        key = _canonical_hf_name(name)
        if key in canonical:
            raise ConversionError(f"the weights hold both {canonical[key]} and {name}")
        canonical[key] = name
    return canonical, ignored


def _tf_value(spec: VariableSpec, source: str, value: np.ndarray) -> np.ndarray:
    """The HF tensor `value` (named `source`) checked and laid out as the TF variable."""
    value = np.asarray(value)
    if tuple(value.shape) != spec.hf_shape:
        raise ConversionError(f"shape mismatch for {spec.tf_name}: {source} has shape "
                              f"{_fmt_shape(value.shape)}, config.json implies {_fmt_shape(spec.hf_shape)}")
    if not np.issubdtype(value.dtype, np.floating):
        raise ConversionError(f"{source} has dtype {value.dtype}; expected floating point weights")
    value = value.astype(np.float32)
    return np.ascontiguousarray(value.T if spec.transpose else value)


def _check_leftovers(canonical: dict[str, str], used: set, missing: list[str], config: dict) -> list[str]:
    """Raises on missing tensors (the pooler aside) and on extra encoder layers; returns
    the unused HF tensors, by their original names."""
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
    return unused


def map_hf_weights(hf_weights: dict[str, np.ndarray], config: dict):
    """Maps HF tensors to Google's variables.

    Returns (tf_weights {name: float32 array}, unused, missing, ignored); raises
    ConversionError on shape mismatches and on missing tensors other than the pooler."""
    canonical, ignored = _canonical_names(hf_weights)
    tf_weights: dict[str, np.ndarray] = {}
    missing = []
    used = set()
    for spec in bert_variable_specs(config):
        source = canonical.get(spec.hf_name)
        if source is None:
            missing.append(spec.tf_name)
            continue
        used.add(spec.hf_name)
        tf_weights[spec.tf_name] = _tf_value(spec, source, hf_weights[source])
    unused = _check_leftovers(canonical, used, missing, config)
    return tf_weights, unused, missing, sorted(ignored)
