"""Fine-tuning learns: a small, real version of the accuracy comparison in docs/RESULTS.md.

run_classifier.py fine-tunes all-MiniLM-L6-v2 (converted with convert_checkpoint.py) on
the first 1,500 sentences of SST-2's train set (max_seq_length 64, batch 32, lr 5e-5,
one epoch = 46 steps, warmup 10%, seed 0) and is evaluated on the whole dev set (872
sentences, 50.9% positive). The threshold is set from measured runs (see THRESHOLD), so
a regression in the model, optimizer, schedule, features or checkpoint loading that
slows learning fails the test. About 1.5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import math
import os

import pytest

from tests.conftest import PROJECT_ROOT, run_cli, shared_path

TRAIN_EXAMPLES = 1500
# Measured on 2026-11-23, this very run (epoch order, the default) with --seed 0..4: dev
# accuracy 0.833, 0.784, 0.823, 0.796, 0.818 and dev loss 0.408-0.489 (full SST-2 with the
# same recipe: 0.857-0.870, docs/RESULTS.md). The thresholds sit 2.4 points under the
# lowest seed's accuracy and 0.05 above the highest loss; chance is 0.509 (always
# "positive"), whose loss is ln 2 = 0.693.
THRESHOLD = 0.76
MAX_LOSS = math.log(2) - 0.15

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm_tf(tmp_path_factory):
    from bert_estimator import assets, convert_checkpoint

    try:
        hf_dir = assets.fetch_minilm()
    except assets.AssetError as e:
        pytest.skip(f"all-MiniLM-L6-v2 not available: {e}")
    out = str(tmp_path_factory.mktemp("minilm") / "all-MiniLM-L6-v2-tf")
    convert_checkpoint.convert_hf_to_tf(hf_dir, out, overwrite=True, verbose=False)
    return out


def _sst2_slice(data_dir, n_train):
    """SST-2 with the header and first `n_train` rows of train.tsv and the whole dev.tsv."""
    src = shared_path("glue", "SST-2")
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(src, "train.tsv"), encoding="utf-8") as f:
        lines = f.readlines()
    with open(os.path.join(data_dir, "train.tsv"), "w", encoding="utf-8") as f:
        f.writelines(lines[:n_train + 1])
    with open(os.path.join(src, "dev.tsv"), encoding="utf-8") as f, \
            open(os.path.join(data_dir, "dev.tsv"), "w", encoding="utf-8") as g:
        g.write(f.read())
    return data_dir


def _read_results(path):
    with open(path) as f:
        return {k: float(v) for k, v in (line.rstrip("\n").split(" = ", 1) for line in f if " = " in line)}


def test_minilm_learns_sst2_from_1500_sentences(minilm_tf, tmp_path):
    data_dir = _sst2_slice(str(tmp_path / "SST-2"), TRAIN_EXAMPLES)
    output_dir = tmp_path / "output"
    r = run_cli([
        os.path.join(PROJECT_ROOT, "run_classifier.py"), "--task_name=sst-2", f"--data_dir={data_dir}",
        f"--vocab_file={minilm_tf}/vocab.txt", f"--bert_config_file={minilm_tf}/bert_config.json",
        f"--init_checkpoint={minilm_tf}/bert_model.ckpt", "--do_train", "--do_eval",
        "--max_seq_length=64", "--train_batch_size=32", "--learning_rate=5e-5", "--num_train_epochs=1",
        "--warmup_proportion=0.1", "--eval_batch_size=64", "--seed=0", "--write_reports=false",
        f"--output_dir={output_dir}"], timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    results = _read_results(output_dir / "eval_results.txt")
    assert results["global_step"] == TRAIN_EXAMPLES // 32
    assert results["eval_accuracy"] >= THRESHOLD, results
    # Better than a constant guess also in loss: ln 2 = 0.693 for a 50/50 guess.
    assert results["eval_loss"] < MAX_LOSS, results
