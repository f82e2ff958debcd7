"""The bad-input matrix: each case gets one line naming the problem, exit status 1, no
traceback, and no output directory (nothing half-written).

The run_classifier.py cases run `run_classifier.run_main` in-process (fast);
tests/test_run_classifier.py checks the same contract through the command line. The
predict.py and convert_checkpoint.py cases run their command lines. `pytest
tests/test_bad_input.py -s` prints every message.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil

import pytest
import tensorflow.compat.v1 as tf
from absl import flags

import run_classifier
from bert_estimator.results import output_files
from tests.conftest import PROJECT_ROOT, edit_export_info, run_cli, run_log, write_tiny_checkpoint

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


@pytest.mark.parametrize("flags, message", [
    (["--task_name=cola", "--xnli_language=de"], "--xnli_language is not read by --task_name=cola (it is read by: xnli)"),
    (["--task_name=mrpc", "--text_column=foo"], "--text_column is not read by --task_name=mrpc (it is read by: csv)"),
    (["--imdb_dev_split=heldout"], "--imdb_dev_split is not read by --task_name=csv (it is read by: imdb)"),
])
def test_option_the_task_does_not_read(capsys, case, flags, message):
    last = expect_error(capsys, case, message, *flags)
    assert last == f"run_classifier.py: error: {message}"


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


def test_missing_one_of_several_text_columns(capsys, case):
    last = expect_error(capsys, case, "column 'title' not found in ", "--text_column=text,title")
    assert "train.csv" in last


def test_many_whole_number_labels_need_problem_type(capsys, case):
    _write_csv(case["data"] / "train.csv", [(f"film {i}", str(i)) for i in range(30)])
    last = expect_error(capsys, case, "holds 30 distinct whole numbers", do=("--do_train",))
    assert "--problem_type=regression" in last and "train.csv" in last


def test_labels_with_problem_type_regression(capsys, case):
    expect_error(capsys, case, "--labels lists classes: not with --problem_type=regression",
                 "--labels=0,1", "--problem_type=regression")


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
    last = expect_error(capsys, case, "at least one of --do_train, --do_eval or --do_predict", do=())
    assert "--export_dir alone" in last


# -- guards against nonsense: a random head, one label, another label count ----------
@pytest.mark.parametrize("do", [("--do_eval",), ("--do_predict",), ("--do_eval", "--do_predict")])
def test_untrained_head_is_refused(capsys, case, do):
    last = expect_error(capsys, case, "the classifier layer is untrained (random): nothing was trained in "
                        f"--output_dir {case['out']} and --init_checkpoint {case['model']}/bert_model.ckpt holds "
                        "no classifier layer (output_weights)", do=do)
    assert last.startswith(f"run_classifier.py: error: {', '.join(do)}: ")
    assert "--allow_untrained_head" in last and "--do_train" in last


def test_untrained_head_without_init_checkpoint_is_refused(capsys, case):
    expect_error(capsys, case, "no --init_checkpoint was given", "--init_checkpoint=", do=("--do_eval",))


def test_export_alone_of_an_untrained_head_is_refused(capsys, case):
    export = case["tmp"] / "export"
    expect_error(capsys, case, "--export_dir: no fine-tuned classifier to export: nothing was trained in",
                 f"--export_dir={export}", "--allow_untrained_head", do=())
    assert not export.exists()


def test_allow_untrained_head_evaluates_the_random_head(case):
    run(case, "--allow_untrained_head", do=("--do_eval",))
    run_classifier.run_main([])
    results = output_files.read_eval_results(case["out"])
    assert results["global_step"] == 0 and "checkpoint" not in results  # no checkpoint of --output_dir


def test_a_finetuned_init_checkpoint_needs_no_training(case):
    model = case["tmp"] / "finetuned"
    ckpt = write_tiny_checkpoint(str(model), num_labels=2)
    run(case, f"--init_checkpoint={ckpt}", do=("--do_eval",))
    run_classifier.run_main([])
    assert output_files.read_eval_results(case["out"])["global_step"] == 0


@pytest.mark.parametrize("labels, counts", [(["--labels=0,1"], "(0: 0, 1: 16)"), ([], "(1: 16)")],
                         ids=["labels_given", "labels_from_train"])
def test_training_set_of_one_label(capsys, case, labels, counts):
    _write_csv(case["data"] / "train.csv", [("a good film", "1")] * 16)
    last = expect_error(capsys, case, f"the training set has one label: its 16 examples are all '1' {counts}",
                        *labels)
    assert last.endswith("shuffle its rows before splitting (--allow_single_label to train on it anyway)")
    assert "dev" not in last  # the train set is named, not the dev file's "unknown" label


def test_sorted_kaggle_imdb_file(capsys, case):
    imdb = case["tmp"] / "imdb"
    imdb.mkdir()
    rows = [("a dull film", "negative")] * 10 + [("a fine film", "positive")] * 10  # sorted by label
    _write_csv(imdb / "IMDB Dataset.csv", rows, header=("review", "sentiment"))
    last = expect_error(capsys, case, "the training set has one label: its 10 examples are all 'neg' "
                        "(neg: 10, pos: 0); 'IMDB Dataset.csv' looks sorted by label: the imdb task's train split "
                        "is its first half of rows, so shuffle the file's rows", "--task_name=imdb",
                        f"--data_dir={imdb}")
    assert "--allow_single_label" in last


def test_allow_single_label_trains(case):
    _write_csv(case["data"] / "train.csv", [("a good film", "1")] * 16)
    run(case, "--labels=0,1", "--allow_single_label")
    run_classifier.run_main([])
    assert output_files.read_eval_results(case["out"])["global_step"] == 4


@pytest.fixture()
def three_label_classifier(case) -> str:
    """A fine-tuned checkpoint of the tiny BERT with a classifier of 3 labels."""
    return write_tiny_checkpoint(str(case["tmp"] / "three_labels"), num_labels=3)


def test_classifier_of_another_label_count(capsys, case, three_label_classifier):
    last = expect_error(capsys, case, f"--init_checkpoint {three_label_classifier} is a fine-tuned classifier of 3 "
                        "labels, this task has 2", f"--init_checkpoint={three_label_classifier}")
    assert "output_weights has shape [3, 32] in the checkpoint but [2, 32] in the model" in last
    assert last.endswith("pass --reinitialize_head to train a new classifier layer on its encoder")


def test_reinitialize_head_trains_a_new_head_on_the_encoder(case, three_label_classifier):
    run(case, f"--init_checkpoint={three_label_classifier}", "--reinitialize_head")
    run_classifier.run_main([])
    log = run_log(case["out"])
    assert "--reinitialize_head: the classifier layer (output_weights, output_bias) is not restored" in log
    assert re.search(r"name = bert/pooler/dense/kernel:0, shape = \(32, 32\), \*INIT_FROM_CKPT\*", log)
    assert re.search(r"name = output_weights:0, shape = \(2, 32\)\n", log)  # not restored
    trained = tf.train.load_checkpoint(str(case["out"] / "model.ckpt-4"))
    assert trained.get_variable_to_shape_map()["output_weights"] == [2, 32]


def test_reinitialize_head_needs_an_init_checkpoint(capsys, case):
    expect_error(capsys, case, "--reinitialize_head needs --init_checkpoint", "--init_checkpoint=",
                 "--reinitialize_head")


def test_reinitialize_head_without_training_is_an_untrained_head(capsys, case, three_label_classifier):
    expect_error(capsys, case, "--reinitialize_head leaves out the classifier layer of --init_checkpoint",
                 f"--init_checkpoint={three_label_classifier}", "--reinitialize_head", do=("--do_predict",))


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


# ======================================================================================
# predict.py and convert_checkpoint.py, through their command lines: one line on stderr
# (TensorFlow's C++ log lines aside), exit status 1, nothing written.
# ======================================================================================
PREDICT = os.path.join(PROJECT_ROOT, "predict.py")
CONVERTER = os.path.join(PROJECT_ROOT, "convert_checkpoint.py")
RUN_CLASSIFIER = os.path.join(PROJECT_ROOT, "run_classifier.py")
_TF_CPP_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] ")
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
PAIR = "a fine film\tone to remember"


def error_lines(stderr: str) -> list[str]:
    """The lines of `stderr` that are not TensorFlow's C++ logging."""
    return [line for line in stderr.splitlines() if line.strip() and not _TF_CPP_LOG.match(line)]


def expect_cli_error(prog: str, args: list, message: str) -> str:
    """Runs `prog` with `args`; checks exit status 1, exactly one line on stderr
    `<prog>: error: ...` holding `message`, and nothing on stdout. Returns the line."""
    r = run_cli([prog, *map(str, args)], env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = error_lines(r.stderr)
    name = os.path.basename(prog)
    assert r.returncode == 1, r.stderr[-3000:]
    assert len(lines) == 1, r.stderr[-3000:]
    assert lines[0].startswith(f"{name}: error: "), lines[0]
    assert message in lines[0], lines[0]
    assert r.stdout == ""
    print(f"[bad-input] {lines[0]}")
    return lines[0]


def snippet_sentences(n: int) -> list[str]:
    """`n` real sentences: movie-review snippets (bert_estimator.data.assets)."""
    from bert_estimator.data import assets

    with open(assets.fetch_movie_snippets(), encoding="utf-8", newline="") as f:
        texts = [line.rstrip("\r\n").split("\t")[2] for line in f]
    return [t for t in texts if 20 < len(t) < 120][:n]


def write_mrpc(data_dir, num_rows: int = 16) -> str:
    """An MRPC-format task (train.tsv, dev.tsv, test.tsv) of real sentence pairs."""
    data_dir = str(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    texts = snippet_sentences(2 * num_rows)
    pairs = [(str(i % 2), str(1000 + 2 * i), str(1001 + 2 * i), texts[2 * i], texts[2 * i + 1])
             for i in range(num_rows)]
    for split in ("train", "dev", "test"):
        with open(os.path.join(data_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write(("index" + MRPC_HEADER[7:] if split == "test" else MRPC_HEADER) + "\n")
            for i, row in enumerate(pairs):
                f.write("\t".join((str(i), *row[1:]) if split == "test" else row) + "\n")
    return data_dir


def _export(tmp_path_factory, tiny_bert_dir, name, data_args) -> str:
    """run_classifier.py: one training step of the tiny model, exported (the one export
    of these tests: the cases that break an export break a copy of it)."""
    base = tmp_path_factory.mktemp(name)
    export = base / "export"
    r = run_cli([RUN_CLASSIFIER, *data_args, f"--output_dir={base / 'out'}", f"--export_dir={export}",
                 f"--vocab_file={tiny_bert_dir}/vocab.txt", f"--bert_config_file={tiny_bert_dir}/bert_config.json",
                 f"--init_checkpoint={tiny_bert_dir}/bert_model.ckpt", "--max_seq_length=32", "--do_train",
                 "--train_batch_size=16", "--num_train_epochs=1", "--write_reports=false"],
                env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr[-3000:]
    return str(export / "1")  # TF Serving's layout: the first version


@pytest.fixture(scope="module")
def pair_export(tmp_path_factory, tiny_bert_dir) -> str:
    """An export of a sentence-pair task (MRPC), its export_info.json saying "pair": true."""
    data = write_mrpc(tmp_path_factory.mktemp("mrpc_data"))
    export = _export(tmp_path_factory, tiny_bert_dir, "pair", ["--task_name=mrpc", f"--data_dir={data}"])
    with open(os.path.join(export, "assets.extra", "export_info.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["pair"] is True  # run_classifier.py records that an MRPC model reads pairs
    return export


def copy_export(export: str, tmp_path) -> str:
    copy = str(tmp_path / "export_copy")
    shutil.copytree(export, copy)
    return copy


def texts_file(tmp_path, data: bytes) -> str:
    path = tmp_path / "texts.txt"
    path.write_bytes(data)
    return str(path)


# -- predict.py ------------------------------------------------------------------------
def test_predict_missing_export_dir(tmp_path):
    expect_cli_error(PREDICT, [f"--export_dir={tmp_path / 'nowhere'}", PAIR],
                     f"--export_dir not found: {tmp_path / 'nowhere'}")


def test_predict_foreign_export_dir(tiny_bert_dir):
    expect_cli_error(PREDICT, [f"--export_dir={tiny_bert_dir}", PAIR],
                     f"{tiny_bert_dir} is not a model exported by run_classifier.py --export_dir")


def test_predict_export_of_another_format_version(pair_export, tmp_path):
    export = copy_export(pair_export, tmp_path)
    edit_export_info(export, format_version=2)
    expect_cli_error(PREDICT, [f"--export_dir={export}", PAIR],
                     f"{export} is an export of format version 2, this version reads format version 1 only")


def test_predict_export_info_that_is_not_json(pair_export, tmp_path):
    export = copy_export(pair_export, tmp_path)
    with open(os.path.join(export, "assets.extra", "export_info.json"), "w") as f:
        f.write('{"format_version": 1,')
    expect_cli_error(PREDICT, [f"--export_dir={export}", PAIR], "export_info.json is not valid JSON")


def test_predict_truncated_saved_model(pair_export, tmp_path):
    export = copy_export(pair_export, tmp_path)
    path = os.path.join(export, "saved_model.pb")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])
    expect_cli_error(PREDICT, [f"--export_dir={export}", PAIR], f"{export}: cannot load the SavedModel: ")


def test_predict_export_without_its_variables(pair_export, tmp_path):
    export = copy_export(pair_export, tmp_path)
    shutil.rmtree(os.path.join(export, "variables"))
    expect_cli_error(PREDICT, [f"--export_dir={export}", PAIR], f"{export}: cannot load the SavedModel: ")


def test_predict_export_without_its_vocab(pair_export, tmp_path):
    export = copy_export(pair_export, tmp_path)
    os.remove(os.path.join(export, "assets.extra", "vocab.txt"))
    expect_cli_error(PREDICT, [f"--export_dir={export}", PAIR],
                     f"{export} lacks its vocabulary assets.extra/vocab.txt")


def test_predict_export_vocab_not_utf8(pair_export, tmp_path):
    export = copy_export(pair_export, tmp_path)
    vocab = os.path.join(export, "assets.extra", "vocab.txt")
    with open(vocab, "ab") as f:
        f.write("caf\xe9\n".encode("latin-1"))
    expect_cli_error(PREDICT, [f"--export_dir={export}", PAIR],
                     f"{export}: vocab file {vocab} line 30523: byte 0xe9 is not valid UTF-8")


# The input is read before the export is loaded: for these cases any directory will do.
def test_predict_empty_input_file(tmp_path):
    path = texts_file(tmp_path, b"\n  \n\n")
    expect_cli_error(PREDICT, [f"--export_dir={tmp_path}", f"--input_file={path}"],
                     f"no text to classify in {path} (all lines empty)")


def test_predict_missing_input_file(tmp_path):
    expect_cli_error(PREDICT, [f"--export_dir={tmp_path}", f"--input_file={tmp_path / 'none.txt'}"],
                     f"--input_file not found: {tmp_path / 'none.txt'}")


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no_bom", "bom"])
def test_predict_input_file_not_utf8(tmp_path, bom):
    path = texts_file(tmp_path, bom + "a fine film\n\ncaf\xe9 society\n".encode("latin-1"))
    expect_cli_error(PREDICT, [f"--export_dir={tmp_path}", f"--input_file={path}"],
                     f"{path} line 3: byte 0xe9 is not valid UTF-8")


def test_predict_pair_model_given_a_text_without_tab(pair_export, tmp_path):
    a, b, c, d = snippet_sentences(4)
    path = texts_file(tmp_path, f"{a}\t{b}\r\n\r\n{c} {d}\r\n".encode())
    expect_cli_error(PREDICT, [f"--export_dir={pair_export}", f"--input_file={path}"],
                     f"{path} line 3 has no TAB: the model of {pair_export} reads sentence pairs")


def test_predict_pair_model_takes_pairs(pair_export, tmp_path):
    a, b, c, d = snippet_sentences(4)
    r = run_cli([PREDICT, f"--export_dir={pair_export}", "--output_format=json", f"{a}\t{b}", f"{c}\t{d}"],
                env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["text_b"] for line in r.stdout.splitlines()] == [b, d]


def test_predict_non_positive_batch_size(tmp_path):
    expect_cli_error(PREDICT, [f"--export_dir={tmp_path}", "--batch_size=0", "a fine film"],
                     "--batch_size must be positive, got 0")


# -- convert_checkpoint.py -------------------------------------------------------------
TINY_HF_CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert", "vocab_size": 40, "hidden_size": 16,
    "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 24, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 24,
    "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
}


def make_hf_dir(path, config=None) -> str:
    """A complete HF BERT directory: config.json, vocab.txt, model.safetensors (random)."""
    import numpy as np

    from bert_estimator.convert.huggingface_weights import save_safetensors

    config = dict(TINY_HF_CONFIG, **(config or {}))
    os.makedirs(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"tok{i}" for i in range(config["vocab_size"] - 5)]
    with open(os.path.join(path, "vocab.txt"), "w") as f:
        f.write("\n".join(tokens) + "\n")
    rng = np.random.default_rng(0)
    h, inter = config["hidden_size"], config["intermediate_size"]
    shapes = {"embeddings.word_embeddings.weight": (config["vocab_size"], h),
              "embeddings.position_embeddings.weight": (config["max_position_embeddings"], h),
              "embeddings.token_type_embeddings.weight": (config["type_vocab_size"], h),
              "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
              "pooler.dense.weight": (h, h), "pooler.dense.bias": (h,)}
    for i in range(config["num_hidden_layers"]):
        for name, shape in (("attention.self.query", (h, h)), ("attention.self.key", (h, h)),
                            ("attention.self.value", (h, h)), ("attention.output.dense", (h, h)),
                            ("intermediate.dense", (inter, h)), ("output.dense", (h, inter))):
            shapes[f"encoder.layer.{i}.{name}.weight"] = shape
            shapes[f"encoder.layer.{i}.{name}.bias"] = shape[:1]
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"encoder.layer.{i}.{name}.weight"] = (h,)
            shapes[f"encoder.layer.{i}.{name}.bias"] = (h,)
    save_safetensors(os.path.join(path, "model.safetensors"),
                     {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()})
    return str(path)


@pytest.fixture()
def hf(tmp_path):
    """A valid HF directory and the output directory to create (in a parent of its own,
    so that leftovers of a failed conversion would show)."""
    hf_dir = make_hf_dir(tmp_path / "hf")
    parent = tmp_path / "converted"
    parent.mkdir()
    return {"dir": hf_dir, "out": parent / "bert", "parent": parent}


def expect_convert_error(hf, message, hf_dir=None, *extra):
    line = expect_cli_error(CONVERTER, ["--hf_dir", hf_dir or hf["dir"], "--output_dir", hf["out"], *extra],
                            message)
    if not any(arg == "--overwrite" for arg in extra):
        assert os.listdir(hf["parent"]) == [], "nothing may be written for bad input"
    return line


def test_convert_then_the_same_command_is_refused(hf):
    r = run_cli([CONVERTER, "--hf_dir", hf["dir"], "--output_dir", str(hf["out"])], env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert r.returncode == 0, r.stderr
    before = sorted(os.listdir(hf["out"]))
    assert "bert_model.ckpt.index" in before
    expect_cli_error(CONVERTER, ["--hf_dir", hf["dir"], "--output_dir", hf["out"]],
                     f"{hf['out']} already exists and is not empty (pass --overwrite)")
    assert sorted(os.listdir(hf["out"])) == before
    assert os.listdir(hf["parent"]) == ["bert"]


def test_convert_missing_hf_dir(hf, tmp_path):
    expect_convert_error(hf, f"{tmp_path / 'nowhere'} is not a directory", str(tmp_path / "nowhere"))


@pytest.mark.parametrize("missing, message", [
    ("config.json", "no config.json in "),
    ("model.safetensors", "no weights in "),
    ("vocab.txt", "no vocab.txt in "),
])
def test_convert_hf_dir_missing_a_file(hf, missing, message):
    os.remove(os.path.join(hf["dir"], missing))
    expect_convert_error(hf, message + hf["dir"])


def test_convert_roberta_config(tmp_path, hf):
    hf_dir = make_hf_dir(tmp_path / "roberta", {"model_type": "roberta", "architectures": ["RobertaModel"]})
    expect_convert_error(hf, "config.json has model_type 'roberta'; only 'bert' can be converted", hf_dir)


def test_convert_config_that_is_not_json(hf):
    with open(os.path.join(hf["dir"], "config.json"), "w") as f:
        f.write('{"model_type": "bert",')
    expect_convert_error(hf, f"cannot read {hf['dir']}/config.json: ")


def test_convert_vocab_not_utf8(hf):
    path = os.path.join(hf["dir"], "vocab.txt")
    with open(path, "ab") as f:
        f.write("caf\xe9\n".encode("latin-1"))
    expect_convert_error(hf, f"{path} line 41: byte 0xe9 is not valid UTF-8")


@pytest.mark.parametrize("keep, message", [
    (0.5, "is truncated: tensor "),
    (100, "is not a safetensors file (header length "),
    (5, "is not a safetensors file (shorter than 8 bytes)"),
], ids=["data", "header", "length"])
def test_convert_truncated_safetensors(hf, keep, message):
    path = os.path.join(hf["dir"], "model.safetensors")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:int(len(data) * keep) if keep < 1 else keep])
    expect_convert_error(hf, f"{path} {message}")


# ------------------------------------------------- multi-label, class weights, thresholds
MULTI_ROWS = [("a good film", "pos,film"), ("a bad film", "neg,film"), ("a song", "pos")] * 6


@pytest.mark.parametrize("extra, message", [
    (["--tune_thresholds"], "--tune_thresholds tunes the per-label thresholds of a multi-label task; "
                            "--task_name=csv is classification"),
    (["--class_weights=1,2,3"], "--class_weights=1,2,3: 3 weights for 2 labels (0, 1)"),
    (["--class_weights=0:1,2:5"], "--class_weights=0:1,2:5: '2' is not a label (0, 1)"),
    (["--class_weights=balanced", "--labels=0,1,2"], "--class_weights=balanced: label '2' is on no example"),
], ids=["tune_thresholds_single_label", "weights_count", "weights_unknown_label", "balanced_absent_label"])
def test_class_weights_and_thresholds_errors(capsys, case, extra, message):
    expect_error(capsys, case, message, *extra)


def test_class_weights_without_training(capsys, case):
    expect_error(capsys, case, "--class_weights weights the training loss: add --do_train", "--class_weights=balanced",
                 do=("--do_eval", "--allow_untrained_head"))


def test_class_weights_on_a_regression(capsys, case):
    expect_error(capsys, case, "--class_weights weighs the labels of a classification task; this one is a regression",
                 "--class_weights=balanced", "--problem_type=regression")


def test_multi_label_errors(capsys, case):
    for split in ("train", "dev", "test"):
        _write_csv(case["data"] / f"{split}.csv", MULTI_ROWS)
    expect_error(capsys, case, "--tune_thresholds tunes on the dev set: add --do_eval", "--tune_thresholds",
                 do=("--do_train",))
    _write_csv(case["data"] / "train.csv", [("a good film", "pos,film")] * 12)
    expect_error(capsys, case, "the training set has one label set: its 12 examples all carry {film, pos}")
    _write_csv(case["data"] / "train.csv", MULTI_ROWS + [("odd", "pos,Pos"), ("odd", "a b,a_b")])
    expect_error(capsys, case, "labels ['a b', 'a_b'] give the same metric names (a_b)")
