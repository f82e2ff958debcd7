"""convert_checkpoint.py --hf_model: a model id resolved in the local Hugging Face cache.

The caches here are laid out as huggingface_hub lays them out (`models--<org>--<name>/`,
`refs/<ref>` holding a commit hash, `snapshots/<commit>/` of relative symlinks into
`blobs/`), and checked against huggingface_hub itself where it is installed (it comes
with `tokenizers`, a test dependency): `try_to_load_from_cache` must find the same
files, and its constants the same cache directory for each environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from bert_estimator.convert import convert_cli as cc
from bert_estimator.convert import huggingface_cache as hf_cache
from tests.test_convert_checkpoint import TINY_HF_CONFIG, make_hf_dir

COMMIT_1 = "1" * 40
COMMIT_2 = "2c0ffee" + "0" * 33


def add_to_cache(cache, model_id: str, src_dir: str, commit: str, refs=("main",)) -> str:
    """Puts the files of `src_dir` into `cache` as snapshot `commit` of `model_id`, with
    each of `refs` pointing to it; returns the snapshot directory."""
    repo = os.path.join(str(cache), "models--" + model_id.replace("/", "--"))
    snapshot = os.path.join(repo, "snapshots", commit)
    os.makedirs(os.path.join(repo, "blobs"), exist_ok=True)
    os.makedirs(snapshot, exist_ok=True)
    for name in sorted(os.listdir(src_dir)):
        with open(os.path.join(src_dir, name), "rb") as f:
            data = f.read()
        blob = hashlib.sha256(data).hexdigest()
        with open(os.path.join(repo, "blobs", blob), "wb") as f:
            f.write(data)
        os.symlink(os.path.join("..", "..", "blobs", blob), os.path.join(snapshot, name))
    for ref in refs:
        os.makedirs(os.path.dirname(os.path.join(repo, "refs", ref)), exist_ok=True)
        with open(os.path.join(repo, "refs", ref), "w") as f:
            f.write(commit)  # huggingface_hub writes the hash with no newline
    return snapshot


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A cache with tiny BERTs: org/tiny-bert at two commits (main -> COMMIT_2, tag v1 and
    refs/pr/1 -> COMMIT_1), bert-tiny-uncased (no org) and a RoBERTa; HF_HUB_CACHE
    points to it."""
    root = tmp_path / "hub"
    src1 = make_hf_dir(tmp_path / "src1")
    src2 = make_hf_dir(tmp_path / "src2", config=dict(TINY_HF_CONFIG, num_hidden_layers=1),
                       weights=None)
    add_to_cache(root, "org/tiny-bert", src1, COMMIT_1, refs=("v1", "refs/pr/1"))
    add_to_cache(root, "org/tiny-bert", src2, COMMIT_2, refs=("main",))
    add_to_cache(root, "bert-tiny-uncased", src1, COMMIT_1)
    roberta = make_hf_dir(tmp_path / "roberta")
    with open(os.path.join(roberta, "config.json"), "w") as f:
        json.dump(dict(TINY_HF_CONFIG, model_type="roberta"), f)
    add_to_cache(root, "org/tiny-roberta", roberta, COMMIT_1)
    for name in ("HF_HOME", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    return root


def cli_error(capsys, *args) -> str:
    """The one line convert_checkpoint.py prints for `args` (exit status 1)."""
    with pytest.raises(SystemExit) as exit_info:
        cc.main(list(map(str, args)))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 1 and len(err) == 1, err
    assert err[0].startswith("convert_checkpoint.py: error: "), err
    print(f"[hf-cache] {err[0]}")
    return err[0][len("convert_checkpoint.py: error: "):]


# --------------------------------------------------------------------- resolving
@pytest.mark.parametrize("model_id, revision, commit, layers", [
    ("org/tiny-bert", None, COMMIT_2, 1),  # refs/main
    ("org/tiny-bert", "main", COMMIT_2, 1),
    ("org/tiny-bert", "v1", COMMIT_1, 2),  # a tag under refs/
    ("org/tiny-bert", "refs/pr/1", COMMIT_1, 2),  # a pull request ref, as refs/refs/pr/1
    ("org/tiny-bert", COMMIT_1, COMMIT_1, 2),  # a commit hash with a snapshot
    ("bert-tiny-uncased", None, COMMIT_1, 2),  # no org: models--bert-tiny-uncased
    ("google-bert/bert-tiny-uncased", None, COMMIT_1, 2),  # Google's models' new name finds the old folder
])
def test_resolve_finds_the_snapshot_as_huggingface_hub_does(cache, model_id, revision, commit, layers):
    snapshot = hf_cache.resolve(model_id, revision)
    assert snapshot.commit == commit and snapshot.cache_dir == str(cache)
    assert snapshot.path == os.path.join(str(cache), hf_cache.repo_dir_name(model_id.replace("google-bert/", "")),
                                         "snapshots", commit)
    with open(os.path.join(snapshot.path, "config.json")) as f:
        assert json.load(f)["num_hidden_layers"] == layers
    hub = pytest.importorskip("huggingface_hub")
    if not model_id.startswith("google-bert/"):
        assert hub.try_to_load_from_cache(model_id, "config.json", cache_dir=str(cache), revision=revision) == (
            os.path.join(snapshot.path, "config.json"))


def test_cache_layout_is_huggingface_hubs(cache):
    hub = pytest.importorskip("huggingface_hub")
    info = hub.scan_cache_dir(str(cache))
    assert not info.warnings
    repos = {repo.repo_id: repo for repo in info.repos}
    assert sorted(repos) == ["bert-tiny-uncased", "org/tiny-bert", "org/tiny-roberta"]
    assert {r.commit_hash: set(r.refs) for r in repos["org/tiny-bert"].revisions} == {
        COMMIT_1: {"v1", "refs/pr/1"}, COMMIT_2: {"main"}}


def test_cache_directory_precedence(tmp_path):
    home = os.path.expanduser("~")
    env = {"HF_HUB_CACHE": "/a/hub", "HUGGINGFACE_HUB_CACHE": "/b/hub", "HF_HOME": "/c", "XDG_CACHE_HOME": "/d"}
    assert hf_cache.hub_cache_dir(env) == ("/a/hub", "$HF_HUB_CACHE")
    del env["HF_HUB_CACHE"]
    assert hf_cache.hub_cache_dir(env) == ("/b/hub", "$HUGGINGFACE_HUB_CACHE")
    del env["HUGGINGFACE_HUB_CACHE"]
    assert hf_cache.hub_cache_dir(env) == ("/c/hub", "$HF_HOME/hub")
    del env["HF_HOME"]
    assert hf_cache.hub_cache_dir(env) == ("/d/huggingface/hub", "$XDG_CACHE_HOME/huggingface/hub")
    assert hf_cache.hub_cache_dir({}) == (os.path.join(home, ".cache", "huggingface", "hub"), "the default")
    assert hf_cache.hub_cache_dir({"HF_HOME": "~/hf"})[0] == os.path.join(home, "hf", "hub")


def test_cache_directory_precedence_matches_huggingface_hub():
    """huggingface_hub's own constants, computed in a fresh process for each environment."""
    pytest.importorskip("huggingface_hub")
    envs = [{"HF_HUB_CACHE": "/a/hub", "HF_HOME": "/c", "XDG_CACHE_HOME": "/d"},
            {"HUGGINGFACE_HUB_CACHE": "/b/hub", "HF_HOME": "/c"},
            {"HF_HOME": "/c", "XDG_CACHE_HOME": "/d"}, {"XDG_CACHE_HOME": "/d"}, {}]
    code = ("import importlib, json, os, sys\n"
            "import huggingface_hub.constants as c\n"
            "names = ('HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME')\n"
            "for env in json.loads(sys.argv[1]):\n"
            "    for n in names: os.environ.pop(n, None)\n"
            "    os.environ.update(env)\n"
            "    print(importlib.reload(c).HF_HUB_CACHE)\n")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(envs)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [hf_cache.hub_cache_dir(env)[0] for env in envs]


# ------------------------------------------------------------------- converting
def test_cli_converts_a_cached_model_and_records_where_it_came_from(cache, tmp_path, capsys):
    out = tmp_path / "out"
    assert cc.main(["--hf_model", "org/tiny-bert", "--revision", "v1", "--output_dir", str(out)]) == 0
    stdout = capsys.readouterr().out
    snapshot = os.path.join(str(cache), "models--org--tiny-bert", "snapshots", COMMIT_1)
    assert f"convert_checkpoint.py: org/tiny-bert at v1 (commit {COMMIT_1[:12]}) from the Hugging Face cache: " \
           f"{snapshot}" in stdout
    with open(out / "conversion_info.json") as f:
        info = json.load(f)
    assert info["source_model"] == {"id": "org/tiny-bert", "revision": "v1", "commit": COMMIT_1,
                                    "cache_dir": str(cache)}
    assert info["source_dir"] == snapshot
    with open(out / "bert_config.json") as f:
        assert json.load(f)["num_hidden_layers"] == 2
    assert os.path.isfile(out / "tokenizer_config.json") and not os.path.islink(out / "vocab.txt")


def test_hf_home_is_used_without_hf_hub_cache(cache, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # the cache fixture is tmp_path/hub
    assert hf_cache.resolve("org/tiny-bert").commit == COMMIT_2
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))  # HF_HUB_CACHE wins
    with pytest.raises(hf_cache.CacheError, match="from \\$HF_HUB_CACHE"):
        hf_cache.resolve("org/tiny-bert")


# ------------------------------------------------------------------- bad input
def test_missing_model_says_where_it_looked_and_how_to_download(cache, capsys, tmp_path):
    assert cli_error(capsys, "--hf_model", "bert-base-uncased", "--output_dir", tmp_path / "out") == (
        f"--hf_model bert-base-uncased is not in the Hugging Face cache: no models--bert-base-uncased or "
        f"models--google-bert--bert-base-uncased in {cache} (from $HF_HUB_CACHE; set HF_HUB_CACHE or HF_HOME to "
        "look elsewhere); download it first with `hf download bert-base-uncased` (this converter "
        "never goes online)")
    assert not (tmp_path / "out").exists()


def test_missing_revision_lists_what_the_cache_has(cache, capsys, tmp_path):
    repo = os.path.join(str(cache), "models--org--tiny-bert")
    assert cli_error(capsys, "--hf_model", "org/tiny-bert", "--revision", "v2", "--output_dir", tmp_path / "o") == (
        f"--hf_model org/tiny-bert: revision v2 is not in the cache ({repo} has refs: main, refs/pr/1, v1; "
        f"snapshots: {COMMIT_1}, {COMMIT_2}); download it with `hf download org/tiny-bert "
        "--revision v2`")
    message = cli_error(capsys, "--hf_model", "org/tiny-bert", "--revision", "3" * 40, "--output_dir", tmp_path / "o")
    assert message.startswith(f"--hf_model org/tiny-bert: revision {'3' * 40} is not in the cache")


def test_incomplete_downloads_are_named(cache, capsys, tmp_path):
    snapshot = os.path.join(str(cache), "models--org--tiny-bert", "snapshots", COMMIT_2)
    os.remove(os.path.join(snapshot, "vocab.txt"))
    assert cli_error(capsys, "--hf_model", "org/tiny-bert", "--output_dir", tmp_path / "o") == (
        f"--hf_model org/tiny-bert: the cached snapshot {snapshot} lacks vocab.txt (only some files were "
        "downloaded?); download it again with `hf download org/tiny-bert`")
    blob = os.path.realpath(os.path.join(snapshot, "model.safetensors"))
    os.remove(blob)
    message = cli_error(capsys, "--hf_model", "org/tiny-bert", "--output_dir", tmp_path / "o")
    assert message.startswith(f"--hf_model org/tiny-bert: {snapshot}/model.safetensors points to a missing blob "
                              "../../blobs/")
    with open(os.path.join(str(cache), "models--org--tiny-bert", "refs", "main"), "w") as f:
        f.write("4" * 40)
    assert cli_error(capsys, "--hf_model", "org/tiny-bert", "--output_dir", tmp_path / "o") == (
        f"--hf_model org/tiny-bert: refs/main in {os.path.dirname(os.path.dirname(snapshot))} points to "
        f"'{'4' * 40}', which has no snapshot (an interrupted download?); download it again with "
        "`hf download org/tiny-bert`")


@pytest.mark.parametrize("args, message", [
    (["--hf_model", "a/b/c"], "--hf_model 'a/b/c' is not a Hugging Face model id (NAME or ORG/NAME)"),
    (["--hf_model", "org/tiny-bert", "--revision", "../../x"], "--revision '../../x' is not a branch, tag or "
                                                               "commit hash"),
    (["--hf_model", "org/tiny-roberta"], "config.json has model_type 'roberta'; only 'bert' can be converted "
                                         "to Google's BertModel"),
])
def test_bad_ids_revisions_and_models_are_one_line(cache, capsys, tmp_path, args, message):
    assert cli_error(capsys, *args, "--output_dir", tmp_path / "out") == message
    assert not (tmp_path / "out").exists()


def test_a_directory_given_as_an_id_and_revision_without_an_id(cache, capsys, tmp_path, monkeypatch):
    hf_dir = make_hf_dir(tmp_path / "my" / "model")
    monkeypatch.chdir(tmp_path)
    assert cli_error(capsys, "--hf_model", "./my/model", "--output_dir", tmp_path / "out") == (
        "--hf_model './my/model' is not a Hugging Face model id (NAME or ORG/NAME); for a local directory "
        "pass --hf_dir ./my/model")
    assert cli_error(capsys, "--hf_model", "my/model", "--output_dir", tmp_path / "out").endswith(
        "; a directory my/model exists here: pass --hf_dir my/model")
    assert cli_error(capsys, "--hf_dir", hf_dir, "--revision", "main", "--output_dir", tmp_path / "out") == (
        "--revision needs --hf_model (an --hf_dir is converted as it is)")
