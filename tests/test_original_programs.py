"""Google's own programs, unchanged but for their imports, on this project's modules.

`run_classifier_with_tfhub.py` and `extract_features.py` of the installed original
(`bert-tensorflow==1.0.4`) are copied, their `from bert import X` lines pointed at our
top-level `X`, and run in a subprocess: our `modeling`, `tokenization`, `optimization`
and `run_classifier` must be drop-in replacements for the original's.
"""

from __future__ import annotations

import ast
import json
import os
import re

import numpy as np
import pytest

from bert_estimator.results import output_files
from tests.conftest import PROJECT_ROOT, run_cli
from tests.support import reference

pytestmark = pytest.mark.skipif(not reference.available(), reason="bert-tensorflow reference not installed")


def original_source(name: str) -> str:
    """The text of `bert/<name>` in the installed original."""
    import importlib.util

    spec = importlib.util.find_spec("bert")
    with open(os.path.join(os.path.dirname(spec.origin), name), encoding="utf-8") as f:
        return f.read()


# The launcher runs a copied original program as `__main__` after what TF 2.15 needs:
# the original reads `tensor.shape[-1].value` (TF1 `Dimension`s), and, with --original,
# imports `tensorflow.contrib.layers` (provided from tf_slim by tests.support.reference).
LAUNCHER = '''\
import runpy
import sys

sys.path.insert(0, {root!r})
import tensorflow.compat.v1 as tf

tf.disable_v2_tensorshape()
if sys.argv[1] == "--original":
    from tests.support.reference import install_shims

    install_shims()
    del sys.argv[1]
script = sys.argv[1]
del sys.argv[0]
runpy.run_path(script, run_name="__main__")
'''

# Textual TF 1.x -> TF 2.15 rewrites, for copies of the original older than 1.0.4 (which
# already imports tensorflow.compat.v1 and uses tf.estimator.tpu); no-ops on 1.0.4.
TF2_REWRITES = [
    (r"^import tensorflow as tf$", "import tensorflow.compat.v1 as tf"),
    (r"\btf\.contrib\.tpu\.", "tf.estimator.tpu."),
    (r"\btf\.contrib\.cluster_resolver\.", "tf.distribute.cluster_resolver."),
]


def copy_original_program(name: str, dest_dir, ours: bool) -> str:
    """Copies `bert/<name>` into `dest_dir`; with `ours`, each `from bert import X`
    becomes `import X` (this project's top-level module). Returns the copy's path."""
    source = original_source(name)
    for pattern, replacement in TF2_REWRITES:
        source = re.sub(pattern, replacement, source, flags=re.M)
    if ours:
        imports = re.findall(r"^from bert import (\w+)$", source, flags=re.M)
        assert imports, f"{name}: no `from bert import` line to point at our modules"
        source = re.sub(r"^from bert import (\w+)$", r"import \1", source, flags=re.M)
        assert "bert." not in source and "from bert" not in source and "import bert" not in source
    assert "tf.contrib" not in source, f"{name} touches tf.contrib beyond what the launcher shims"
    path = os.path.join(str(dest_dir), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    return path


def run_original_program(script: str, args: list[str], tmp_path, original_modules: bool = False):
    launcher = tmp_path / "launch_original.py"
    launcher.write_text(LAUNCHER.format(root=PROJECT_ROOT))
    prefix = ["--original"] if original_modules else []
    # cwd outside the repo: `import modeling` etc. must resolve through the launcher's sys.path.
    return run_cli([str(launcher), *prefix, script, *args], cwd=str(tmp_path))


# ------------------------------------------------------------------------ the names
def test_every_name_the_original_run_classifier_defines_is_importable_from_ours():
    import run_classifier

    tree = ast.parse(original_source("run_classifier.py"))
    defined = {node.name: isinstance(node, ast.ClassDef) for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    # The list follows the original file; these are the ones its callers use.
    assert {"InputExample", "PaddingInputExample", "InputFeatures", "DataProcessor", "XnliProcessor",
            "MnliProcessor", "MrpcProcessor", "ColaProcessor", "convert_single_example",
            "file_based_convert_examples_to_features", "file_based_input_fn_builder",
            "_truncate_seq_pair", "create_model", "model_fn_builder", "input_fn_builder",
            "convert_examples_to_features", "main"} <= set(defined)
    missing = [name for name in defined if not hasattr(run_classifier, name)]
    assert not missing, f"run_classifier lacks the original's {missing}"
    # `from run_classifier import ...` works for all of them (what user code does), and a
    # class of the original is a class here, a function a callable.
    namespace: dict = {}
    exec(f"from run_classifier import {', '.join(defined)}", namespace)
    for name, is_class in defined.items():
        assert isinstance(namespace[name], type) if is_class else callable(namespace[name]), name


# ------------------------------------------------------ run_classifier_with_tfhub.py
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
MRPC_TEST_HEADER = "index\t#1 ID\t#2 ID\t#1 String\t#2 String"


def movie_snippet_pairs(n: int) -> list[tuple[str, str, str, str, str]]:
    """`n` MRPC-format rows (label, id1, id2, text1, text2) of real movie-review snippets:
    a positive snippet paired with another positive one (label "1", same sentiment) or,
    alternately, with a negative one (label "0")."""
    from bert_estimator.data import assets

    positive, negative = [], []
    with open(assets.fetch_movie_snippets(), encoding="utf-8") as f:
        for line in f:
            sid, score, text = line.rstrip("\r\n").split("\t", 2)
            if 4 <= len(text.split()) <= 25 and abs(float(score)) >= 1:
                (positive if float(score) > 0 else negative).append((sid, text))
    assert len(positive) >= 2 * n and len(negative) >= n
    rows = []
    for k in range(n):
        (id1, t1), (id2, t2) = positive[2 * k], (positive[2 * k + 1] if k % 2 else negative[k])
        rows.append(("1" if k % 2 else "0", id1, id2, t1, t2))
    return rows


def write_mrpc_dir(data_dir, n_train: int = 40, n_dev: int = 16, n_test: int = 12) -> None:
    rows = movie_snippet_pairs(n_train + n_dev + n_test)
    train, dev, test = rows[:n_train], rows[n_train:n_train + n_dev], rows[n_train + n_dev:]
    os.makedirs(data_dir, exist_ok=True)
    for split, split_rows in (("train", train), ("dev", dev)):
        with open(os.path.join(data_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write(MRPC_HEADER + "\n" + "".join("\t".join(r) + "\n" for r in split_rows))
    with open(os.path.join(data_dir, "test.tsv"), "w", encoding="utf-8") as f:
        f.write(MRPC_TEST_HEADER + "\n")
        f.writelines(f"{i}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\n" for i, r in enumerate(test))
    assert {r[0] for r in train} == {"0", "1"}


def test_original_run_classifier_with_tfhub_on_our_modules(hub_module, tmp_path):
    source = original_source("run_classifier_with_tfhub.py")
    for module in ("optimization", "run_classifier", "tokenization"):
        assert f"\nfrom bert import {module}\n" in source
    # It redefines --bert_hub_module_handle, which our run_classifier defines too: ours
    # allows the override (else absl raises DuplicateFlagError at the script's import).
    assert 'flags.DEFINE_string(\n    "bert_hub_module_handle"' in source
    from absl import flags

    import run_classifier  # noqa: F401

    assert flags.FLAGS["bert_hub_module_handle"].allow_override
    script = copy_original_program("run_classifier_with_tfhub.py", tmp_path, ours=True)
    data = tmp_path / "MRPC"
    write_mrpc_dir(str(data))
    out = tmp_path / "out"
    r = run_original_program(script, [
        "--task_name=MRPC", f"--data_dir={data}", f"--bert_hub_module_handle={hub_module}",
        f"--output_dir={out}", "--do_train=true", "--do_eval=true", "--do_predict=true",
        "--max_seq_length=48", "--train_batch_size=8", "--learning_rate=1e-3",
        "--num_train_epochs=1.0"], tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]

    results = output_files.read_eval_results(out)
    assert {"eval_accuracy", "eval_loss", "global_step", "loss"} <= set(results), results
    assert 0.0 <= results["eval_accuracy"] <= 1.0
    assert results["global_step"] == 40 // 8  # num_train_steps of the original: 40 / 8 * 1
    assert np.isfinite(results["eval_loss"])

    probs = np.array(output_files.read_test_results(out))
    assert probs.shape == (12, 2)
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # The hub module was fine-tuned: its variables are in the checkpoint, under module/.
    import tensorflow.compat.v1 as tf

    names = [name for name, _ in tf.train.list_variables(str(out))]
    assert "output_weights" in names
    assert any(name.startswith("module/bert/encoder/layer_1/") for name in names), names[:20]


# --------------------------------------------------------------- extract_features.py
SENTENCES = [
    "The gorgeously elaborate continuation of the trilogy is so huge.",
    "Effective but too tepid biopic ||| If you like to have fun, Wasabi is a good place to start.",
    "Unaffable!",
]


def read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_original_extract_features_same_output_on_our_modules(tiny_bert_dir, tmp_path):
    input_file = tmp_path / "input.txt"
    input_file.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    args = [f"--input_file={input_file}", f"--vocab_file={tiny_bert_dir}/vocab.txt",
            f"--bert_config_file={tiny_bert_dir}/bert_config.json",
            f"--init_checkpoint={tiny_bert_dir}/bert_model.ckpt", "--layers=-1,-2",
            "--max_seq_length=32", "--batch_size=2"]
    outputs = {}
    for which in ("ours", "original"):
        d = tmp_path / which
        d.mkdir()
        script = copy_original_program("extract_features.py", d, ours=which == "ours")
        r = run_original_program(script, [*args, f"--output_file={d}/features.jsonl"], d,
                                 original_modules=which == "original")
        assert r.returncode == 0, (which, r.stderr[-4000:])
        outputs[which] = read_jsonl(d / "features.jsonl")

    ours, theirs = outputs["ours"], outputs["original"]
    assert len(ours) == len(theirs) == len(SENTENCES)
    for a, b in zip(ours, theirs):
        assert a["linex_index"] == b["linex_index"]
        assert [t["token"] for t in a["features"]] == [t["token"] for t in b["features"]]
        for ta, tb in zip(a["features"], b["features"]):
            assert [layer["index"] for layer in ta["layers"]] == [-1, -2]
            for la, lb in zip(ta["layers"], tb["layers"]):
                assert la["index"] == lb["index"]
                assert len(la["values"]) == 32
                np.testing.assert_allclose(la["values"], lb["values"], atol=1e-5)
    # The pair is split on " ||| " into two segments, as the original does.
    tokens = [t["token"] for t in ours[1]["features"]]
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2 and "fun" in tokens
