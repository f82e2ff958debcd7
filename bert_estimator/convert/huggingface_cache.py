"""Finds a Hugging Face model id in the local Hugging Face cache, offline.

`convert_checkpoint.py --hf_model ID [--revision REV]` reads the model from the cache
that `hf download ID` (or `transformers`' `from_pretrained`) filled, laid
out by huggingface_hub as

    <cache>/models--<org>--<name>/        (models--<name> for an id without an org)
        refs/main                         the commit hash `main` points to (also tags,
                                          other branches; `refs/pr/1` as refs/refs/pr/1)
        snapshots/<commit>/config.json    the files of that commit, symlinks into blobs/
        blobs/<sha256 or git sha1>        the contents

The cache is huggingface_hub's: `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE` (its
older name), else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
`~/.cache/huggingface/hub`.

A revision is a name under `refs/` (default `main`) or a full commit hash with a
snapshot. Nothing is ever downloaded: a model or revision that is not there is a
one-line `CacheError` saying where it looked and the `hf download` command
that fetches it. The models Google published under bare names now live under
`google-bert/` (`bert-base-uncased` is `google-bert/bert-base-uncased`); either name
finds the other's cache folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional

from bert_estimator.convert.huggingface_weights import ConversionError, find_weights_files

_MODEL_ID = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
GOOGLE_ORG = "google-bert"


class CacheError(ConversionError):
    """The model or revision is not (completely) in the cache; one-line message."""


@dataclass(frozen=True)
class Snapshot:
    """A model found in the cache."""

    model_id: str  # as asked
    revision: str  # as asked ("main" by default)
    commit: str
    path: str  # <cache>/models--.../snapshots/<commit>: the HF directory to convert
    cache_dir: str

    def info(self) -> dict:
        """What conversion_info.json records of it."""
        return {"id": self.model_id, "revision": self.revision, "commit": self.commit,
                "cache_dir": self.cache_dir}


def _expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path))


def hub_cache_dir(environ: Optional[Mapping[str, str]] = None) -> tuple[str, str]:
    """(the cache directory, the setting it comes from), in huggingface_hub's order."""
    env = os.environ if environ is None else environ
    if env.get("HF_HUB_CACHE"):
        return _expand(env["HF_HUB_CACHE"]), "$HF_HUB_CACHE"
    if env.get("HUGGINGFACE_HUB_CACHE"):
        return _expand(env["HUGGINGFACE_HUB_CACHE"]), "$HUGGINGFACE_HUB_CACHE"
    if env.get("HF_HOME"):
        return os.path.join(_expand(env["HF_HOME"]), "hub"), "$HF_HOME/hub"
    if env.get("XDG_CACHE_HOME"):
        return os.path.join(_expand(env["XDG_CACHE_HOME"]), "huggingface", "hub"), "$XDG_CACHE_HOME/huggingface/hub"
    return os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub"), "the default"


def repo_dir_name(model_id: str) -> str:
    """huggingface_hub's folder name of a model: models--<org>--<name>."""
    return "models--" + model_id.replace("/", "--")


def download_command(model_id: str, revision: Optional[str] = None) -> str:
    return f"hf download {model_id}" + (f" --revision {revision}" if revision else "")


def check_model_id(model_id: str) -> None:
    """Raises CacheError unless `model_id` is a Hugging Face model id (NAME or ORG/NAME)."""
    if _MODEL_ID.match(model_id) and "--" not in model_id and ".." not in model_id and len(model_id) <= 96:
        return
    hint = f"; for a local directory pass --hf_dir {model_id}" if os.path.isdir(model_id) else ""
    raise CacheError(f"--hf_model {model_id!r} is not a Hugging Face model id (NAME or ORG/NAME){hint}")


def _aliases(model_id: str) -> list[str]:
    """`model_id` and the other name of Google's BERTs (bert-base-uncased, google-bert/...)."""
    if "/" not in model_id:
        return [model_id, f"{GOOGLE_ORG}/{model_id}"]
    org, name = model_id.split("/", 1)
    return [model_id, name] if org == GOOGLE_ORG else [model_id]


def resolve(model_id: str, revision: Optional[str] = None,
            environ: Optional[Mapping[str, str]] = None) -> Snapshot:
    """The cached snapshot of `model_id` at `revision` (default main), checked to hold
    config.json, vocab.txt and weights whose blobs are present. Raises CacheError."""
    check_model_id(model_id)
    cache, setting = hub_cache_dir(environ)
    revision = revision or "main"
    names = [repo_dir_name(alias) for alias in _aliases(model_id)]
    repo_dir = next((os.path.join(cache, n) for n in names if os.path.isdir(os.path.join(cache, n))), None)
    if repo_dir is None:
        local = f"; a directory {model_id} exists here: pass --hf_dir {model_id}" if os.path.isdir(model_id) else ""
        where = "the default location" if setting == "the default" else f"from {setting}"
        raise CacheError(
            f"--hf_model {model_id} is not in the Hugging Face cache: no {' or '.join(names)} in {cache} "
            f"({where}; set HF_HUB_CACHE or HF_HOME to look elsewhere); download it first with "
            f"`{download_command(model_id)}` (this converter never goes online){local}")
    commit = _commit_of(repo_dir, model_id, revision)
    snapshot = Snapshot(model_id, revision, commit, os.path.join(repo_dir, "snapshots", commit), cache)
    _check_snapshot(snapshot)
    return snapshot


def _listing(path: str) -> str:
    try:
        entries = sorted(os.listdir(path))
    except OSError:
        return "none"
    return ", ".join(entries) or "none"


def _refs(repo_dir: str) -> list[str]:
    refs_dir = os.path.join(repo_dir, "refs")
    return sorted(os.path.relpath(os.path.join(root, f), refs_dir)
                  for root, _, files in os.walk(refs_dir) for f in files)


def _commit_of(repo_dir: str, model_id: str, revision: str) -> str:
    """The commit `revision` names in `repo_dir`: a ref under refs/, or a commit hash
    with a snapshot."""
    parts = revision.replace("\\", "/").split("/")
    if os.path.isabs(revision) or any(p in ("", ".", "..") for p in parts):
        raise CacheError(f"--revision {revision!r} is not a branch, tag or commit hash")
    snapshots = os.path.join(repo_dir, "snapshots")
    ref_file = os.path.join(repo_dir, "refs", revision)
    if os.path.isfile(ref_file):
        with open(ref_file, encoding="utf-8") as f:
            commit = f.read().strip()
        if not _COMMIT.match(commit) or not os.path.isdir(os.path.join(snapshots, commit)):
            raise CacheError(
                f"--hf_model {model_id}: refs/{revision} in {repo_dir} points to {commit!r}, which has no "
                f"snapshot (an interrupted download?); download it again with "
                f"`{download_command(model_id, None if revision == 'main' else revision)}`")
        return commit
    if _COMMIT.match(revision) and os.path.isdir(os.path.join(snapshots, revision)):
        return revision
    refs = ", ".join(_refs(repo_dir)) or "none"
    raise CacheError(
        f"--hf_model {model_id}: revision {revision} is not in the cache ({repo_dir} has refs: {refs}; "
        f"snapshots: {_listing(snapshots)}); download it with `{download_command(model_id, revision)}`")


def _check_snapshot(snapshot: Snapshot) -> None:
    """Raises CacheError when the snapshot lacks a file the converter needs, or a file's
    blob is missing (an interrupted download)."""
    again = f"download it again with `{download_command(snapshot.model_id, _named(snapshot))}`"
    for root, _, files in os.walk(snapshot.path):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) and not os.path.exists(path):
                raise CacheError(f"--hf_model {snapshot.model_id}: {path} points to a missing blob "
                                 f"{os.readlink(path)} (an interrupted download?); {again}")
    for name in ("config.json", "vocab.txt"):
        if not os.path.isfile(os.path.join(snapshot.path, name)):
            raise CacheError(f"--hf_model {snapshot.model_id}: the cached snapshot {snapshot.path} lacks {name} "
                             f"(only some files were downloaded?); {again}")
    try:
        find_weights_files(snapshot.path)
    except ConversionError as e:
        raise CacheError(f"--hf_model {snapshot.model_id}: {e}; {again}") from None


def _named(snapshot: Snapshot) -> Optional[str]:
    return None if snapshot.revision == "main" else snapshot.revision
