"""Converts a Hugging Face BERT directory into Google's BERT checkpoint layout.

Input: `config.json`, `vocab.txt` and the weights, as `model.safetensors` (read with
NumPy; no `safetensors` package needed), `model.safetensors.index.json` (sharded), or
`pytorch_model.bin` (needs PyTorch, imported only then); see `huggingface_weights`. Optionally
`tokenizer_config.json`, for the casing. From a directory (`--hf_dir DIR`), or from the
local Hugging Face cache by model id (`--hf_model ORG/NAME [--revision REV]`, offline;
see `huggingface_cache`).

Output (`--output_dir`), the layout of Google's released checkpoints
(e.g. `uncased_L-12_H-768_A-12/`), which `run_classifier.py --init_checkpoint` reads:

* `bert_config.json` with Google's field names;
* `vocab.txt`, copied unchanged;
* `tokenizer_config.json`: `{"do_lower_case": ..., "tokenizer_class": "BertTokenizer"}`,
  the model's casing, which `run_classifier.py` (and through its export, `predict.py`)
  follow and enforce: taken from the HF directory's `tokenizer_config.json`, else
  inferred from the vocabulary (`casing`); the summary says which;
* `bert_model.ckpt.index` + `bert_model.ckpt.data-00000-of-00001`, written by
  `tf.compat.v1.train.Saver`, with Google's variable names (`bert/embeddings/...`,
  `bert/encoder/layer_N/...`, `bert/pooler/dense/...`), so that
  `modeling.get_assignment_map_from_checkpoint` + `tf.train.init_from_checkpoint`
  load it into `modeling.BertModel` with no renaming;
* `conversion_info.json`: where it came from (path, SHA-256 of the weights; the model id,
  revision and commit with `--hf_model`), the casing and where it came from, the tensor
  counts, and the unused / missing tensors and warnings of the summary.

How names, shapes and config fields map, and what is refused, unused or left to
`BertModel`'s initializer: `name_map`.

Outputs are written to a temporary directory next to `--output_dir` and renamed into
place at the end, so a failed conversion leaves nothing half-written (`fileio` makes one
file atomic; a checkpoint is several files that must appear together, hence the staging
directory). An existing, non-empty `--output_dir` is refused unless `--overwrite`.

`--verify` then runs the converted checkpoint through `modeling.BertModel` (ours, and
Google's original when the bert-tensorflow wheel is installed) against an independent
NumPy forward pass of the HF weights and prints the largest absolute differences; the
sentences used and where they came from are in `verify` (`verify.verify_conversion`):

    python convert_checkpoint.py --hf_dir DIR --output_dir OUT --verify
    python convert_checkpoint.py --hf_model bert-base-cased --output_dir OUT

Importing this module does not import TensorFlow (a bad flag or path is reported without
TensorFlow's start-up noise); converting does.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from bert_estimator.convert import huggingface_cache as hf_cache
from bert_estimator.convert.huggingface_weights import (
    ConversionError,
    find_weights_files,
    load_hf_config,
    load_hf_weights,
)
from bert_estimator.convert.name_map import CHECKPOINT_NAME, google_config_from_hf, map_hf_weights
from bert_estimator.core.errors import UserError, run_cli
from bert_estimator.core.fileio import write_atomically
from bert_estimator.core.textfiles import decode_utf8
from bert_estimator.data import casing
from bert_estimator.data.assets import sha256_file

PROG = "convert_checkpoint.py"
CONVERTER_VERSION = 1


@dataclass
class ConversionResult:
    output_dir: str
    checkpoint: str  # the prefix to pass as --init_checkpoint
    config: dict  # the bert_config.json written
    converted: list[str]  # TF variable names written
    unused: list[str]  # HF tensors not converted
    missing: list[str]  # TF variables with no HF tensor (left to BertModel's initializer)
    do_lower_case: bool = True  # the casing recorded in tokenizer_config.json
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
        lines.append(f"casing: do_lower_case={str(self.do_lower_case).lower()} (from "
                     f"{self.info.get('casing_source', '?')}), recorded in "
                     f"{os.path.join(self.output_dir, casing.RECORD_FILE)}: run_classifier.py follows it "
                     f"(pass --do_lower_case={self.do_lower_case} or leave the flag out)")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


@dataclass
class _Source:
    """What was read from the HF directory, before any mapping."""

    hf_dir: str
    hf_config: dict
    config: dict  # Google's bert_config.json
    warnings: list[str]
    notes: list[str]
    vocab_path: str
    weight_files: list[str]
    hf_weights: dict[str, np.ndarray]
    do_lower_case: bool
    casing_source: str


# --------------------------------------------------------------------------------------
# Writing Google's layout
# --------------------------------------------------------------------------------------


def write_tf_checkpoint(tf_weights: dict[str, np.ndarray], prefix: str) -> None:
    """Saves `tf_weights` as a TF1 checkpoint (`prefix.index`, `prefix.data-*`) whose
    variable names are exactly the dict keys."""
    import tensorflow.compat.v1 as tf  # TensorFlow (about 2 s) only when writing: --help answers at once

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
    """The lines of the UTF-8 text file `path`; ConversionError naming the byte and line
    when it is not UTF-8."""

    with open(path, "rb") as f:
        text = decode_utf8(f.read(), path, ConversionError)
    return sum(1 for _ in io.StringIO(text, newline=None))  # the lines of open(path) in text mode


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


def _staged_install(output_dir: str, overwrite: bool, write: Callable[[str], None]) -> None:
    """Calls `write(staging)` on a fresh directory beside `output_dir`, then renames it
    into place; on any failure the staging directory is removed and `output_dir` is left
    as it was."""
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output_dir)}.tmp-", dir=parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it 0700; give it a plain directory's mode
        write(staging)
        _install_dir(staging, output_dir, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_layout(staging: str, source: _Source, tf_weights: dict[str, np.ndarray], info: dict) -> None:
    """Writes the checkpoint, bert_config.json, vocab.txt and conversion_info.json into `staging`."""
    write_tf_checkpoint(tf_weights, os.path.join(staging, CHECKPOINT_NAME))
    write_atomically(os.path.join(staging, "bert_config.json"), json.dumps(source.config, indent=2) + "\n")
    with open(source.vocab_path, "rb") as f:
        write_atomically(os.path.join(staging, "vocab.txt"), f.read())
    write_atomically(os.path.join(staging, casing.RECORD_FILE), casing.record_json(source.do_lower_case))
    write_atomically(os.path.join(staging, "conversion_info.json"), json.dumps(info, indent=2) + "\n")


# --------------------------------------------------------------------------------------
# The conversion
# --------------------------------------------------------------------------------------


def _check_paths(hf_dir: str, output_dir: str, overwrite: bool) -> None:
    if not os.path.isdir(hf_dir):
        raise ConversionError(f"{hf_dir} is not a directory")
    if os.path.isfile(output_dir):
        raise ConversionError(f"{output_dir} is a file, not a directory")
    real_hf, real_out = os.path.realpath(hf_dir), os.path.realpath(output_dir)
    if real_hf == real_out or real_hf.startswith(real_out + os.sep):
        raise ConversionError(f"--output_dir {output_dir} must not be, or contain, --hf_dir {hf_dir}")
    if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
        raise ConversionError(f"{output_dir} already exists and is not empty (pass --overwrite)")


def _read_source(hf_dir: str) -> _Source:
    """Reads config.json, checks vocab.txt and loads the weights of `hf_dir`."""
    hf_config = load_hf_config(hf_dir)
    config, warnings, notes = google_config_from_hf(hf_config)
    vocab_path = os.path.join(hf_dir, "vocab.txt")
    if not os.path.isfile(vocab_path):
        raise ConversionError(f"no vocab.txt in {hf_dir} (Google's layout needs the WordPiece vocabulary)")
    vocab_lines = _count_lines(vocab_path)
    if vocab_lines != config["vocab_size"]:
        warnings.append(f"vocab.txt has {vocab_lines} lines but vocab_size is {config['vocab_size']}")
    do_lower_case, casing_source, casing_warnings = hf_casing(hf_dir, vocab_path)
    warnings.extend(casing_warnings)
    weight_files = find_weights_files(hf_dir)
    return _Source(hf_dir=hf_dir, hf_config=hf_config, config=config, warnings=warnings, notes=notes,
                   vocab_path=vocab_path, weight_files=weight_files, hf_weights=load_hf_weights(weight_files),
                   do_lower_case=do_lower_case, casing_source=casing_source)


def _conversion_info(source: _Source, tf_weights: dict[str, np.ndarray], unused: list[str],
                     missing: list[str], ignored: list[str], source_model: dict | None = None) -> dict:
    """What conversion_info.json holds."""

    return {
        "converter": f"convert_checkpoint.py v{CONVERTER_VERSION}",
        "created_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "source_dir": os.path.abspath(source.hf_dir),
        **({"source_model": source_model} if source_model else {}),
        "do_lower_case": source.do_lower_case,
        "casing_source": source.casing_source,
        "source_weights": [{"file": os.path.basename(p), "sha256": sha256_file(p)} for p in source.weight_files],
        "source_model_type": source.hf_config.get("model_type"),
        "source_hidden_act": source.hf_config.get("hidden_act", "gelu"),
        "source_tensor_count": len(source.hf_weights),
        "converted_tensor_count": len(tf_weights),
        "converted_parameter_count": int(sum(v.size for v in tf_weights.values())),
        "unused_tensors": unused,
        "missing_variables": missing,
        "ignored_buffers": ignored,
        "warnings": source.warnings,
        "notes": source.notes,
    }


def convert_hf_to_tf(hf_dir: str, output_dir: str, overwrite: bool = False, verbose: bool = True,
                     source_model: dict | None = None) -> ConversionResult:
    """Converts the HF BERT in `hf_dir` into Google's layout in `output_dir`.

    Raises ConversionError (one-line message) when the input is unusable; nothing is then
    left in `output_dir`. Prints the summary when `verbose`. `source_model`: the model
    id, revision and commit `hf_dir` was found by (`huggingface_cache.Snapshot.info`), recorded."""
    output_dir = os.path.abspath(output_dir)
    _check_paths(hf_dir, output_dir, overwrite)
    source = _read_source(hf_dir)
    tf_weights, unused, missing, ignored = map_hf_weights(source.hf_weights, source.config)
    info = _conversion_info(source, tf_weights, unused, missing, ignored, source_model)
    _staged_install(output_dir, overwrite, lambda staging: _write_layout(staging, source, tf_weights, info))
    result = ConversionResult(output_dir=output_dir, checkpoint=os.path.join(output_dir, CHECKPOINT_NAME),
                              config=source.config, converted=list(tf_weights), unused=unused,
                              missing=missing, do_lower_case=source.do_lower_case, ignored=ignored,
                              warnings=source.warnings,
                              notes=source.notes, info=info)
    if verbose:
        print(result.summary())
    return result


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def _input_dir(args) -> tuple[str, dict | None]:
    """(the HF directory to convert, what --hf_model found or None)."""

    if args.hf_dir:
        if args.revision:
            raise ConversionError("--revision needs --hf_model (an --hf_dir is converted as it is)")
        return args.hf_dir, None
    snapshot = hf_cache.resolve(args.hf_model, args.revision)
    print(f"{PROG}: {args.hf_model} at {snapshot.revision} (commit {snapshot.commit[:12]}) "
          f"from the Hugging Face cache: {snapshot.path}")
    return snapshot.path, snapshot.info()


# ------------------------------------------------------- casing of the HF directory
def hf_casing(hf_dir: str, vocab_path: str) -> tuple[bool, str, list[str]]:
    """(do_lower_case, where it came from, warnings) for the HF directory `hf_dir`."""
    config_path = os.path.join(hf_dir, casing.RECORD_FILE)
    try:
        declared = casing.read_do_lower_case(config_path)
    except UserError as e:
        raise ConversionError(str(e)) from None
    vocab = casing.vocab_casing(vocab_path)
    warnings = _tokenizer_config_warnings(config_path) if declared is not None else []
    if declared is not None:
        if vocab.casing != "unknown" and (vocab.casing == "uncased") != declared:
            warnings.append(f"{casing.RECORD_FILE} says do_lower_case={str(declared).lower()} but vocab.txt is "
                            f"{vocab.describe()}; recorded as {casing.RECORD_FILE} says")
        return declared, casing.RECORD_FILE, warnings
    if vocab.casing != "unknown":
        return vocab.casing == "uncased", f"vocab.txt: {vocab.describe()}", warnings
    warnings.append(f"no do_lower_case in {casing.RECORD_FILE} and vocab.txt is {vocab.describe()}: recorded "
                    "do_lower_case=true, BertTokenizer's default; edit the output's "
                    f"{casing.RECORD_FILE} if the model is cased")
    return True, "BertTokenizer's default (no tokenizer_config.json, vocab.txt unclear)", warnings


def _tokenizer_config_warnings(path: str) -> list[str]:
    """Settings of an HF tokenizer_config.json that Google's tokenizer cannot follow."""
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    warnings = []
    strip = config.get("strip_accents")
    if strip is not None and bool(strip) != bool(config.get("do_lower_case")):
        warnings.append(f"{casing.RECORD_FILE} has strip_accents={strip} with do_lower_case={config.get('do_lower_case')}; "
                        "Google's tokenizer strips accents exactly when it lower-cases")
    if config.get("tokenize_chinese_chars") is False:
        warnings.append(f"{casing.RECORD_FILE} has tokenize_chinese_chars=false; Google's tokenizer always splits "
                        "CJK characters")
    return warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert a Hugging Face BERT (config.json, model.safetensors, vocab.txt, "
                    "tokenizer_config.json) into Google's BERT checkpoint layout (bert_config.json, vocab.txt, "
                    "bert_model.ckpt, tokenizer_config.json with the casing).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--hf_dir", help="directory with config.json, weights and vocab.txt")
    source.add_argument("--hf_model", help="a Hugging Face model id (NAME or ORG/NAME), read from the local "
                                           "Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else "
                                           "~/.cache/huggingface/hub); never downloaded")
    parser.add_argument("--revision", help="with --hf_model: a branch or tag name (under refs/ in the cache) "
                                           "or a commit hash; default main")
    parser.add_argument("--output_dir", required=True, help="directory to create with Google's layout")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing, non-empty output_dir")
    parser.add_argument("--verify", action="store_true",
                        help="after converting, compare TF BertModel on the checkpoint with the NumPy "
                             "reference on real sentences (the cached movie-review snippets, else GLUE's "
                             "SST-2 and MRPC from fetch.py glue, else built-in ones) and print the max abs "
                             "differences")
    parser.add_argument("--max_seq_length", type=int, default=64, help="sequence length for --verify")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    def convert() -> int:
        hf_dir, source_model = _input_dir(args)
        result = convert_hf_to_tf(hf_dir, args.output_dir, overwrite=args.overwrite, source_model=source_model)
        if args.verify:
            # imports TensorFlow and modeling (about 2 s): only when verifying
            from bert_estimator.convert import verify

            verify.verify_conversion(hf_dir, result.output_dir, max_seq_length=args.max_seq_length)
        return 0

    return run_cli(convert, PROG)


if __name__ == "__main__":
    sys.exit(main())
