"""The casing of a model (`bert_estimator.data.casing`): recorded by the converter, followed
and enforced by run_classifier.py, carried into the export and read by predict.py.

Models: tiny random BERTs converted with convert_checkpoint.py from HF directories with
a cased and an uncased hand-written vocabulary. No real cased vocabulary is available
offline (the only real one here, all-MiniLM-L6-v2's, is Google's uncased vocab), so the
cased one below is written by hand: special tokens, punctuation, lower-case words, their
capitalised copies, a few names and word pieces. "Raw" models are the converted ones
with the record removed, i.e. Google's zip layout, in a renamed directory or under one
of Google's directory names.

Cases: converted cased, converted uncased, renamed (no record: the vocabulary check),
Google-named (the original's name check), the --allow_casing_mismatch override, records
that disagree, a broken record; the converter's sources (tokenizer_config.json, the
vocabulary, the default); a cased model fine-tuned, exported and predicted end to end.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from absl import flags

import run_classifier
from bert_estimator.convert import convert_cli as cc
from bert_estimator.convert import huggingface_weights
from bert_estimator.data import casing
from bert_estimator.serving import predict_cli
from bert_estimator.serving import predictor as predictor_lib
from bert_estimator.training import checks
from bert_estimator.training.settings import Settings
from tests.conftest import PROJECT_ROOT, UNCASED_VOCAB, run_cli, write_csv
from tests.test_convert_checkpoint import TINY_HF_CONFIG, make_hf_dir

FLAGS = flags.FLAGS
RUN_CLASSIFIER = os.path.join(PROJECT_ROOT, "run_classifier.py")
_TF_CPP_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] ")

SPECIALS = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCTUATION = list(".,!?'\"-():;")
WORDS = ("a an the good bad film movie is was it this that and of to in on for with not very great dull fun "
         "plot actor acting story long short best worst i you he she we they love hate boring funny").split()
NAMES = ["John", "Mary", "London", "Paris", "New", "York", "Hollywood", "Oscar", "BBC", "USA"]
UNCASED_VOCAB_TOKENS = SPECIALS + PUNCTUATION + WORDS + ["##s", "##ed", "##ing", "##ly"]
CASED_VOCAB_TOKENS = (SPECIALS + PUNCTUATION + WORDS + [w.capitalize() for w in WORDS if w != "i"] + NAMES
                      + ["##s", "##ed", "##ing", "##ly", "##S", "##ED"])
ROWS = [("a good film", "1"), ("The worst movie", "0"), ("John was great", "1"), ("a dull plot", "0")] * 4


def make_hf_model(path, tokens: list[str], tokenizer_config: dict | None) -> str:
    """A tiny HF BERT directory whose vocab.txt is `tokens`, with `tokenizer_config`
    written as tokenizer_config.json when given."""
    hf_dir = make_hf_dir(path, config=dict(TINY_HF_CONFIG, vocab_size=len(tokens)))
    with open(os.path.join(hf_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    if tokenizer_config is not None:
        with open(os.path.join(hf_dir, "tokenizer_config.json"), "w") as f:
            json.dump(tokenizer_config, f)
    return hf_dir


def copy_without_record(src: str, dst: str) -> str:
    """`src` (a converted model) as Google's zips lay it out: no tokenizer_config.json."""
    shutil.copytree(src, dst)
    os.remove(os.path.join(dst, casing.RECORD_FILE))
    return dst


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("casing")
    hf_cased = make_hf_model(root / "hf_cased", CASED_VOCAB_TOKENS,
                             {"do_lower_case": False, "tokenizer_class": "BertTokenizer"})
    hf_uncased = make_hf_model(root / "hf_uncased", UNCASED_VOCAB_TOKENS, {"do_lower_case": True})
    m = {"converted_cased": str(root / "converted_cased"), "converted_uncased": str(root / "converted_uncased")}
    cc.convert_hf_to_tf(hf_cased, m["converted_cased"], verbose=False)
    cc.convert_hf_to_tf(hf_uncased, m["converted_uncased"], verbose=False)
    m["renamed_cased"] = copy_without_record(m["converted_cased"], str(root / "my_cased_bert"))
    m["renamed_uncased"] = copy_without_record(m["converted_uncased"], str(root / "my_uncased_bert"))
    m["google_cased"] = copy_without_record(m["converted_cased"], str(root / "g1" / "cased_L-12_H-768_A-12"))
    m["google_uncased"] = copy_without_record(m["converted_uncased"],
                                              str(root / "g2" / "uncased_L-12_H-768_A-12"))
    data = root / "data"
    data.mkdir()
    for split in ("train", "dev", "test"):
        write_csv(data / f"{split}.csv", ROWS)
    m["data"] = str(data)
    return m


@pytest.fixture(autouse=True)
def _reset_flags():
    yield
    FLAGS.unparse_flags()


def parse(model_dir: str, *extra, out: str = "/nonexistent/out", data: str = "/nonexistent/data",
          vocab_dir: str | None = None) -> None:
    FLAGS.unparse_flags()
    FLAGS(["run_classifier.py", "--task_name=csv", f"--data_dir={data}", f"--output_dir={out}",
           f"--vocab_file={vocab_dir or model_dir}/vocab.txt", f"--bert_config_file={model_dir}/bert_config.json",
           f"--init_checkpoint={model_dir}/bert_model.ckpt", "--max_seq_length=16", "--train_batch_size=4",
           "--num_train_epochs=1", "--write_reports=false", *extra])


def run_error(capsys, models, tmp_path, model: str, *extra, vocab_dir=None) -> str:
    """Runs run_classifier.run_main on `model` with `extra` flags; checks the one-line
    error, exit status 1, nothing written; returns the message after the prefix."""
    out = tmp_path / "out"
    parse(models[model], "--do_train", *extra, out=str(out), data=models["data"],
          vocab_dir=vocab_dir and models[vocab_dir])
    with pytest.raises(SystemExit) as exit_info:
        run_classifier.run_main([])
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert exit_info.value.code == 1, err
    assert lines[-1].startswith("run_classifier.py: error: "), err
    assert "Traceback" not in err
    assert not out.exists()
    print(f"[casing] {lines[-1]}")
    return lines[-1][len("run_classifier.py: error: "):]


def settings(models, model: str, *extra, monkeypatch=None) -> tuple[bool, list[str]]:
    """(do_lower_case, warnings logged) of checks.tokenizer_settings for `model`."""
    warnings: list[str] = []
    if monkeypatch is not None:
        monkeypatch.setattr(checks.tf.logging, "warning", lambda msg, *a: warnings.append(msg % a if a else msg))
    parse(models[model], *extra)
    vocab_file, do_lower_case = checks.tokenizer_settings(Settings.from_flags(FLAGS))
    assert vocab_file == os.path.join(models[model], "vocab.txt")
    return do_lower_case, warnings


# ------------------------------------------------------------------- the vocabulary
def test_vocab_casing_of_real_and_hand_written_vocabularies():
    real = casing.vocab_casing(UNCASED_VOCAB if os.path.exists(UNCASED_VOCAB) else
                               os.path.join(pytest.importorskip("bert_estimator.data.assets").fetch_minilm(), "vocab.txt"))
    assert (real.casing, real.upper) == ("uncased", 0)  # 'ℝ' has no lower case: not counted
    assert real.lower > 20000
    cased = casing.vocab_casing_of_tokens(CASED_VOCAB_TOKENS)
    assert cased.casing == "cased" and cased.upper == len(WORDS) - 1 + len(NAMES) + 2
    assert cased.examples == ("A", "An", "The")
    assert casing.vocab_casing_of_tokens(UNCASED_VOCAB_TOKENS).casing == "uncased"
    # special tokens do not count; a handful of upper-case pieces, or too few letters: unknown
    assert casing.vocab_casing_of_tokens(SPECIALS + ["<S>", "<T>", "[NUM]"] + WORDS).casing == "uncased"
    assert casing.vocab_casing_of_tokens(WORDS + ["BBC", "USA", "UK", "EU"]).casing == "unknown"
    assert casing.vocab_casing_of_tokens(SPECIALS + PUNCTUATION + ["1", "2"]).casing == "unknown"
    assert casing.vocab_casing_of_tokens(["ελα", "Ελα", "Αθήνα", "Όχι", "Ναι", "Ζ"]).casing == "cased"


# ------------------------------------------------------------------- the converter
def test_converter_records_the_casing_and_says_so(models, capsys, tmp_path):
    with open(os.path.join(models["converted_cased"], casing.RECORD_FILE)) as f:
        assert json.load(f) == {"do_lower_case": False, "tokenizer_class": "BertTokenizer"}
    with open(os.path.join(models["converted_cased"], "conversion_info.json")) as f:
        info = json.load(f)
    assert (info["do_lower_case"], info["casing_source"]) == (False, "tokenizer_config.json")
    with open(os.path.join(models["converted_uncased"], casing.RECORD_FILE)) as f:
        assert json.load(f)["do_lower_case"] is True
    hf = make_hf_model(tmp_path / "hf", CASED_VOCAB_TOKENS, {"do_lower_case": False})
    assert cc.main(["--hf_dir", hf, "--output_dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert (f"casing: do_lower_case=false (from tokenizer_config.json), recorded in "
            f"{tmp_path / 'out' / 'tokenizer_config.json'}: run_classifier.py follows it (pass "
            "--do_lower_case=False or leave the flag out)") in out


@pytest.mark.parametrize("tokens, tokenizer_config, expected, source, warning", [
    (CASED_VOCAB_TOKENS, None, False, "vocab.txt: cased (53 word pieces with upper-case letters, "
                                      "e.g. 'A', 'An', 'The')", None),
    (UNCASED_VOCAB_TOKENS, None, True, "vocab.txt: uncased (no word piece has an upper-case letter)", None),
    (CASED_VOCAB_TOKENS, {"model_max_length": 512}, False, "vocab.txt: cased", None),  # no do_lower_case key
    (CASED_VOCAB_TOKENS, {"do_lower_case": True}, True, "tokenizer_config.json",
     "tokenizer_config.json says do_lower_case=true but vocab.txt is cased"),
    (UNCASED_VOCAB_TOKENS, {"do_lower_case": True, "strip_accents": False}, True, "tokenizer_config.json",
     "tokenizer_config.json has strip_accents=False with do_lower_case=True; Google's tokenizer strips "
     "accents exactly when it lower-cases"),
    (SPECIALS + PUNCTUATION + ["1", "2", "3"], None, True, "BertTokenizer's default",
     "no do_lower_case in tokenizer_config.json and vocab.txt is of unclear casing"),
])
def test_converter_casing_sources(tmp_path, tokens, tokenizer_config, expected, source, warning):
    hf = make_hf_model(tmp_path / "hf", tokens, tokenizer_config)
    do_lower_case, where, warnings = cc.hf_casing(hf, os.path.join(hf, "vocab.txt"))
    assert do_lower_case is expected
    assert where.startswith(source), where
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith(warning), warnings


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not valid JSON"),
    ('{"do_lower_case": "yes"}', "has do_lower_case='yes'; expected true or false"),
])
def test_converter_refuses_a_broken_tokenizer_config(tmp_path, text, message):
    hf = make_hf_model(tmp_path / "hf", UNCASED_VOCAB_TOKENS, None)
    with open(os.path.join(hf, "tokenizer_config.json"), "w") as f:
        f.write(text)
    with pytest.raises(huggingface_weights.ConversionError, match=message):
        cc.convert_hf_to_tf(hf, str(tmp_path / "out"), verbose=False)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------- run_classifier: follows
@pytest.mark.parametrize("model, extra, expected", [
    ("converted_cased", [], False),  # the record, when --do_lower_case is not given
    ("converted_cased", ["--do_lower_case=false"], False),
    ("converted_cased", ["--nodo_lower_case"], False),
    ("converted_uncased", [], True),
    ("converted_uncased", ["--do_lower_case=true"], True),
    ("renamed_cased", ["--do_lower_case=false"], False),
    ("renamed_uncased", [], True),
    ("google_cased", ["--do_lower_case=false"], False),
    ("google_uncased", [], True),
])
def test_tokenizer_settings_follow_the_model(models, model, extra, expected):
    assert settings(models, model, *extra) == (expected, [])


@pytest.mark.parametrize("model, extra, expected, warning", [
    ("converted_cased", ["--do_lower_case=true"], True, "--do_lower_case=True contradicts "),
    ("converted_uncased", ["--do_lower_case=false"], False, "--do_lower_case=False contradicts "),
    ("renamed_cased", [], True, "--do_lower_case=True (the default) lower-cases the input but --vocab_file"),
    ("renamed_uncased", ["--do_lower_case=false"], False, "--do_lower_case=False keeps upper case but"),
])
def test_allow_casing_mismatch_goes_on_with_a_warning(models, monkeypatch, model, extra, expected, warning):
    do_lower_case, warnings = settings(models, model, *extra, "--allow_casing_mismatch", monkeypatch=monkeypatch)
    assert do_lower_case is expected
    assert len(warnings) == 1 and warnings[0].startswith(warning), warnings
    assert warnings[0].endswith("going on as --allow_casing_mismatch is set")


# ------------------------------------------------------------- run_classifier: stops
def test_contradicting_the_record_stops(capsys, models, tmp_path):
    record = os.path.join(models["converted_cased"], "tokenizer_config.json")
    assert run_error(capsys, models, tmp_path, "converted_cased", "--do_lower_case=true") == (
        f"--do_lower_case=True contradicts {record}: the model is cased (do_lower_case=false there); pass "
        "--do_lower_case=False or leave the flag out (--allow_casing_mismatch to go on anyway)")
    record = os.path.join(models["converted_uncased"], "tokenizer_config.json")
    assert run_error(capsys, models, tmp_path, "converted_uncased", "--do_lower_case=false") == (
        f"--do_lower_case=False contradicts {record}: the model is uncased (do_lower_case=true there); "
        "pass --do_lower_case=True or leave the flag out (--allow_casing_mismatch to go on anyway)")


def test_contradicting_the_vocabulary_stops(capsys, models, tmp_path):
    vocab = os.path.join(models["renamed_cased"], "vocab.txt")
    assert run_error(capsys, models, tmp_path, "renamed_cased") == (
        f"--do_lower_case=True (the default) lower-cases the input but --vocab_file {vocab} is cased (53 word "
        "pieces with upper-case letters, e.g. 'A', 'An', 'The'): capitalised words would miss it; pass "
        "--do_lower_case=False (--allow_casing_mismatch to go on anyway)")
    vocab = os.path.join(models["renamed_uncased"], "vocab.txt")
    assert run_error(capsys, models, tmp_path, "renamed_uncased", "--do_lower_case=false") == (
        f"--do_lower_case=False keeps upper case but --vocab_file {vocab} is uncased (no word piece has an "
        "upper-case letter): capitalised words would miss it; pass --do_lower_case=True "
        "(--allow_casing_mismatch to go on anyway)")


def test_the_command_line_prints_one_line(models, tmp_path):
    """Through `python run_classifier.py`: one line on stderr (TensorFlow's C++ log lines
    aside), exit status 1, no output directory."""
    out = tmp_path / "out"
    model = models["converted_cased"]
    proc = run_cli([RUN_CLASSIFIER, "--task_name=csv", f"--data_dir={models['data']}", f"--output_dir={out}",
                    f"--vocab_file={model}/vocab.txt", f"--bert_config_file={model}/bert_config.json",
                    f"--init_checkpoint={model}/bert_model.ckpt", "--max_seq_length=16", "--do_train",
                    "--do_lower_case"],
                   env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not _TF_CPP_LOG.match(line)]
    assert proc.returncode == 1 and lines == [
        f"run_classifier.py: error: --do_lower_case=True contradicts {model}/tokenizer_config.json: the model is "
        "cased (do_lower_case=false there); pass --do_lower_case=False or leave the flag out "
        "(--allow_casing_mismatch to go on anyway)"], proc.stderr
    assert not out.exists()


def test_google_names_keep_the_original_check(capsys, models, tmp_path):
    """The original's name check comes first and is not overridden."""
    for extra in ([], ["--allow_casing_mismatch"]):
        message = run_error(capsys, models, tmp_path, "google_cased", *extra)
        assert message.startswith("--do_lower_case: do_lower_case=True does not match init_checkpoint="), message
        assert "`cased_L-12_H-768_A-12` is a cased model, so pass --do_lower_case=False" in message
    message = run_error(capsys, models, tmp_path, "google_uncased", "--do_lower_case=false")
    assert "`uncased_L-12_H-768_A-12` is an uncased (lower-cased) model" in message


def test_records_that_disagree_and_broken_records_stop(capsys, models, tmp_path):
    message = run_error(capsys, models, tmp_path, "converted_cased", vocab_dir="converted_uncased")
    assert message == (
        f"the casing records disagree: {models['converted_cased']}/tokenizer_config.json says do_lower_case=false, "
        f"{models['converted_uncased']}/tokenizer_config.json says true (are --vocab_file and --init_checkpoint "
        "from different models?)")
    broken = str(tmp_path / "broken")
    shutil.copytree(models["converted_cased"], broken)
    with open(os.path.join(broken, "tokenizer_config.json"), "w") as f:
        f.write('{"do_lower_case": 0}')
    models = dict(models, broken=broken)
    assert run_error(capsys, models, tmp_path, "broken") == (
        f"{broken}/tokenizer_config.json has do_lower_case=0; expected true or false")


# -------------------------------------------------- fine-tune, export, predict: cased
@pytest.fixture(scope="module")
def cased_export(models, tmp_path_factory) -> str:
    """The converted cased model fine-tuned (no --do_lower_case: the record decides) and
    exported by run_classifier.py."""
    root = tmp_path_factory.mktemp("cased_run")
    export_dir = str(root / "export")
    parse(models["converted_cased"], "--do_train", f"--export_dir={export_dir}", out=str(root / "out"),
          data=models["data"])
    try:
        run_classifier.run_main([])
    finally:
        FLAGS.unparse_flags()
    return os.path.join(export_dir, "1")  # TF Serving's layout: the first version


def test_cased_model_is_fine_tuned_exported_and_predicted_cased(models, cased_export, capsys):
    with predictor_lib.load_predictor(cased_export) as predictor:
        assert predictor.info["do_lower_case"] is False
        assert predictor.info["vocab_casing"] == "cased"
        assert predictor.info["casing_record"] == os.path.join(models["converted_cased"], "tokenizer_config.json")
        assert predictor.casing_warning is None
        assert predictor.tokenizer.tokenize("The BBC film") == ["The", "BBC", "film"]
    capsys.readouterr()
    assert predict_cli.main(["--export_dir", cased_export, "John was great"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_predict_warns_when_an_export_lower_cases_a_cased_vocabulary(cased_export, tmp_path, capsys):
    """An export made before casing was checked (no vocab_casing in export_info.json), or
    with --allow_casing_mismatch: predict.py tokenizes as in training, and says so."""
    export_dir = str(tmp_path / "old_export")
    shutil.copytree(cased_export, export_dir)
    info_file = os.path.join(export_dir, "assets.extra", "export_info.json")
    with open(info_file) as f:
        info = json.load(f)
    for key in ("vocab_casing", "casing_record"):
        del info[key]
    with open(info_file, "w") as f:
        json.dump(dict(info, do_lower_case=True), f)
    with predictor_lib.load_predictor(export_dir) as predictor:
        assert predictor.tokenizer.tokenize("The BBC film") == ["the", "[UNK]", "film"]  # as trained
    capsys.readouterr()
    assert predict_cli.main(["--export_dir", export_dir, "John was great"]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warning == [
        f"predict.py: warning: {export_dir} lower-cases texts (do_lower_case=true, as in training) but its "
        "vocabulary is cased: capitalised words miss it; fine-tune again with --do_lower_case=False for a "
        "better model"]
