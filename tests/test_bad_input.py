"""The bad-input matrix: each case gets one line naming the problem, exit status 1, no
traceback, and no output directory (nothing half-written).

The cases run `run_classifier.run_main` in-process (fast); tests/test_run_classifier.py
checks the same contract through the command line.
"""

from __future__ import annotations

import csv
import json
import os
import shutil

import pytest
import tensorflow.compat.v1 as tf
from absl import flags

import run_classifier
from tests.conftest import write_tiny_checkpoint

FLAGS = flags.FLAGS


def _write_csv(path, rows, header=("text", "label"), encoding="utf-8", newline=""):
    with open(path, "w", encoding=encoding, newline=newline) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


ROWS = [("a good film", "1"), ("a bad film", "0")] * 8


@pytest.fixture()
def case(tmp_path, tiny_bert_dir):
    """A valid csv-task setup in tmp_path; tests break one thing each."""
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        _write_csv(data / f"{split}.csv", ROWS)
    return {"data": data, "out": tmp_path / "out", "model": tiny_bert_dir, "tmp": tmp_path}


def run(case, *extra, do=("--do_train", "--do_eval")):
    """Runs run_main with a valid command line plus `extra`; returns (exit code, last stderr line)."""
    argv = ["run_classifier.py", "--task_name=csv", f"--data_dir={case['data']}", f"--output_dir={case['out']}",
            f"--vocab_file={case['model']}/vocab.txt", f"--bert_config_file={case['model']}/bert_config.json",
            f"--init_checkpoint={case['model']}/bert_model.ckpt", "--max_seq_length=16",
            "--train_batch_size=4", "--num_train_epochs=1", "--write_reports=false", *do, *extra]
    FLAGS.unparse_flags()
    FLAGS(argv)
    return argv


def expect_error(capsys, case, message, *extra, **kw):
    run(case, *extra, **kw)
    with pytest.raises(SystemExit) as exit_info:
        run_classifier.run_main([])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert exit_info.value.code == 1
    assert last.startswith("run_classifier.py: error: "), last
    assert message in last, last
    assert "Traceback" not in err
    assert not case["out"].exists(), "nothing may be written for bad input"
    print(f"[bad-input] {last}")  # `pytest tests/test_bad_input.py -s` lists the matrix
    return last


@pytest.fixture(autouse=True)
def _reset_flags():
    yield
    FLAGS.unparse_flags()


# -- data files -----------------------------------------------------------------------
def test_missing_data_file(capsys, case):
    os.remove(case["data"] / "dev.csv")
    expect_error(capsys, case, "dev.csv")


def test_empty_data_file(capsys, case):
    (case["data"] / "train.csv").write_text("")
    expect_error(capsys, case, "train.csv")


def test_missing_data_dir(capsys, case):
    expect_error(capsys, case, "--data_dir not found", f"--data_dir={case['tmp'] / 'nowhere'}")


def test_unknown_task(capsys, case):
    expect_error(capsys, case, "unknown task 'sentiment'; known tasks: cola, csv, imdb", "--task_name=sentiment")


def test_rows_with_missing_columns(capsys, case, tmp_path):
    mrpc = tmp_path / "mrpc"
    mrpc.mkdir()
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    (mrpc / "train.tsv").write_text(header + "1\t1\t2\tsentence one\tsentence two\n0\t3\t4\tonly one sentence\n")
    shutil.copy(mrpc / "train.tsv", mrpc / "dev.tsv")
    last = expect_error(capsys, case, "row 3", "--task_name=mrpc", f"--data_dir={mrpc}")
    assert "train.tsv" in last or "dev.tsv" in last


def test_missing_csv_column(capsys, case):
    expect_error(capsys, case, "'target'", "--label_column=target")


def test_label_outside_the_label_list(capsys, case):
    _write_csv(case["data"] / "dev.csv", [*ROWS, ("a so-so film", "2")])
    expect_error(capsys, case, "'2'", "--labels=0,1")


def test_non_utf8_bytes_are_refused(capsys, case):
    (case["data"] / "train.csv").write_bytes("text,label\ncaf\xe9 au lait,1\n".encode("latin-1"))
    last = expect_error(capsys, case, "not valid UTF-8")
    assert "train.csv" in last and "line 2" in last


def test_bom_and_crlf_files_work(case):
    _write_csv(case["data"] / "train.csv", ROWS, encoding="utf-8-sig", newline="\r\n")
    (case["data"] / "dev.csv").write_bytes(b"\xef\xbb\xbftext,label\r\na good film,1\r\na bad film,0\r\n")
    run(case)
    run_classifier.run_main([])
    text = (case["out"] / "eval_results.txt").read_text()
    assert "eval_accuracy = " in text and "global_step = 4" in text


# -- vocab, casing, model ------------------------------------------------------------
def test_missing_vocab_file(capsys, case):
    expect_error(capsys, case, "--vocab_file not found", f"--vocab_file={case['tmp'] / 'vocab.txt'}")


def test_empty_vocab_file(capsys, case):
    (case["tmp"] / "vocab.txt").write_text("")
    last = expect_error(capsys, case, "--vocab_file", f"--vocab_file={case['tmp'] / 'vocab.txt'}")
    assert "empty" in last


def test_lower_case_contradicts_the_checkpoint(capsys, case):
    model = case["tmp"] / "uncased_L-12_H-768_A-12"
    shutil.copytree(case["model"], model)
    expect_error(capsys, case, "--do_lower_case", f"--init_checkpoint={model}/bert_model.ckpt",
                 "--do_lower_case=false")


def test_max_seq_length_over_max_position_embeddings(capsys, case):
    expect_error(capsys, case, "--max_seq_length 512 is longer than the model's max_position_embeddings 128",
                 "--max_seq_length=512")


def test_max_seq_length_under_3(capsys, case):
    expect_error(capsys, case, "--max_seq_length must be at least 3", "--max_seq_length=2")


def test_missing_init_checkpoint(capsys, case):
    expect_error(capsys, case, "--init_checkpoint not found", f"--init_checkpoint={case['tmp']}/none.ckpt")


def test_checkpoint_shapes_do_not_fit(capsys, case):
    config = json.loads((case["model"] / "bert_config.json").read_text()) if hasattr(case["model"], "read_text") \
        else json.load(open(os.path.join(case["model"], "bert_config.json")))
    config["hidden_size"] = 64
    (case["tmp"] / "big.json").write_text(json.dumps(config))
    last = expect_error(capsys, case, "does not fit --bert_config_file", f"--bert_config_file={case['tmp']}/big.json")
    assert "bert/embeddings/word_embeddings has shape [30522, 32] in the checkpoint but [30522, 64]" in last


def test_bert_config_that_is_not_json(capsys, case):
    (case["tmp"] / "bad.json").write_text("{not json")
    expect_error(capsys, case, "is not a BERT config", f"--bert_config_file={case['tmp']}/bad.json")


# -- output and numbers --------------------------------------------------------------
def test_output_dir_not_writable(capsys, case):
    blocker = case["tmp"] / "a_file"
    blocker.write_text("")
    case["out"] = blocker / "out"
    expect_error(capsys, case, "is not writable")


@pytest.mark.parametrize("flag, message", [
    ("--train_batch_size=0", "--train_batch_size must be positive"),
    ("--eval_batch_size=-8", "--eval_batch_size must be positive"),
    ("--num_train_epochs=0", "--num_train_epochs must be positive"),
    ("--learning_rate=0", "--learning_rate must be positive"),
    ("--warmup_proportion=1.5", "--warmup_proportion must be in [0, 1]"),
])
def test_non_positive_numbers(capsys, case, flag, message):
    expect_error(capsys, case, message, flag)


def test_no_action(capsys, case):
    expect_error(capsys, case, "at least one of --do_train, --do_eval or --do_predict", do=())


def test_nan_loss_stops_with_a_message(capsys, case):
    model = case["tmp"] / "nan_model"
    write_tiny_checkpoint(str(model), num_labels=2)
    ckpt = str(model / "bert_model.ckpt")
    with tf.Graph().as_default():
        variables = {name: tf.Variable(tf.train.load_variable(ckpt, name), name=name)
                     for name, _ in tf.train.list_variables(ckpt)}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(variables["output_bias"].assign([float("nan"), 0.0]))
            tf.train.Saver(variables).save(sess, ckpt, write_meta_graph=False)
    run(case, f"--init_checkpoint={ckpt}")
    with pytest.raises(SystemExit) as exit_info:
        run_classifier.run_main([])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_info.value.code == 1
    assert last == ("run_classifier.py: error: the training loss became NaN; lower --learning_rate or "
                    "check the data and the checkpoint")
