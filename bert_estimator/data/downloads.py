"""Downloads that resume, verify and land atomically; GLUE's data and Google's BERT
checkpoints by name.

What is fetched, from where (a `--mirror` base URL replaces the scheme and host and keeps
the path, so a mirror is a copy of these paths; file:// mirrors work offline):

* GLUE's task zips, https://dl.fbaipublicfiles.com/glue/data/<TASK>.zip (QQP-clean.zip,
  QNLIv2.zip) and the diagnostic set AX.tsv: the files W4ngatang's download_glue_data.py
  (the gist google-research/bert's README points to) and Hugging Face `datasets`' glue
  script download.
* MRPC, which GLUE does not redistribute: SentEval's copies of Microsoft's
  msr_paraphrase_train.txt / msr_paraphrase_test.txt
  (https://dl.fbaipublicfiles.com/senteval/senteval_data/) and GLUE's mrpc_dev_ids.tsv,
  from which `build_mrpc` writes train.tsv / dev.tsv / test.tsv as download_glue_data.py
  does (the 408 listed pairs are dev, the other 3,668 train; test gets an `index`).
* Google's checkpoints, https://storage.googleapis.com/bert_models/<release>/<name>.zip,
  as google-research/bert's README lists them: the 2018-10-18 BERT-Base/Large
  (un)cased, the 2018-11 multilingual and Chinese, the 2019-05-30 whole word masking
  and the 24 smaller BERTs of 2020-02-20 (Turc et al., 2019).

Each catalog entry cites where its size and SHA-256 come from; where none is published
the entry says so and what can be checked is checked: the checkpoint files' own SHA-256
(listed by NVIDIA for seven of the zips), the bert_config.json against the shape the name
promises (L layers, H hidden, A heads), and the row counts of the MRPC split.

Every download goes to FILE.part first, resumed with an HTTP Range request (or a seek for
file://), and becomes FILE only once its size and SHA-256 match. A file that does not
match is deleted and downloaded once more; a second mismatch is an error. Archives are
extracted into a temporary directory beside the target and renamed into place, so a task
or model directory either is complete or is not there. A network failure is one line
naming the URL and the path to put the file at by hand.

    fetch_glue_task("MRPC", "glue_data")          # -> GlueResult; .summary() is one line
    fetch_model("uncased_L-12_H-768_A-12")        # -> ModelResult; .path is the directory
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

from bert_estimator.core.errors import UserError
from bert_estimator.data.assets import checkout_dir, sha256_file

# ------------------------------------------------------------------------------ locations
MODEL_CACHE_ENV = "BERT_MODEL_CACHE"  # scripts/lib.sh reads the same variable


def default_model_cache() -> str:
    """The one model cache: `$BERT_MODEL_CACHE`, else `.cache/models` in the checkout
    (where scripts/run_glue.sh and run_imdb.sh put models), else, installed,
    `$XDG_CACHE_HOME/bert-estimator/models` (`~/.cache/...`). Model NAME lives in NAME/."""
    if os.environ.get(MODEL_CACHE_ENV):
        return os.environ[MODEL_CACHE_ENV]
    root = checkout_dir()
    if root:
        return os.path.join(root, ".cache", "models")
    user_cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(user_cache, "bert-estimator", "models")


def default_glue_dir() -> str:
    """`glue_data` in the checkout (scripts/run_glue.sh's GLUE_DIR), else, installed, in
    the current directory (as download_glue_data.py)."""
    return os.path.join(checkout_dir() or os.getcwd(), "glue_data")


# ------------------------------------------------------------------------------ errors
class FetchError(UserError):
    """A download failed or stayed corrupt; the message is one line saying what to do."""


class DownloadError(FetchError):
    """The URL could not be read (offline, not found, connection cut)."""


class CorruptDownloadError(FetchError):
    """A download or what it holds is not what the catalog says (checksum, size, layout)."""


# ------------------------------------------------------------------------------ catalog types
@dataclass(frozen=True)
class Download:
    """One file to fetch; `sha256` / `size` are None where no published value is known."""

    url: str
    sha256: Optional[str] = None
    size: Optional[int] = None

    @property
    def filename(self) -> str:
        return os.path.basename(urllib.parse.urlsplit(self.url).path)


@dataclass(frozen=True)
class GlueTask:
    """One folder of GLUE's data.

    Attributes:
      name: the folder (and the name --tasks takes): CoLA, SST-2, MRPC, ...
      kind: "zip" (a zip holding the folder), "mrpc" (built by `build_mrpc` from
        `downloads` = train text, test text, dev ids) or "tsv" (the one download becomes
        `files[0]`).
      downloads: what is fetched.
      files: the files a complete folder holds.
      headerless: those of `files` without a header row.
      rows: the data rows each file must have (None: not checked; the downloads'
        SHA-256 is the check).
    """

    name: str
    kind: str
    downloads: tuple[Download, ...]
    files: tuple[str, ...]
    headerless: frozenset = frozenset()
    rows: Optional[Mapping[str, int]] = None


@dataclass(frozen=True)
class Model:
    """One of Google's checkpoints: a zip holding bert_config.json, vocab.txt and
    bert_model.ckpt.*; `members` maps file names in it to their SHA-256 where known."""

    name: str
    release: str
    description: str
    download: Download
    members: Optional[Mapping[str, str]] = None

    def checks(self) -> str:
        """What is verified, in words (for `--list` and the result line)."""
        done = []
        if self.download.sha256:
            done.append("zip sha256")
        elif self.download.size:
            done.append("zip size")
        if self.members:
            done.append(f"sha256 of {len(self.members)} files")
        if not done:
            done.append("no published checksum; config shape")
        return ", ".join(done)


# ------------------------------------------------------------------------------ the GLUE catalog
GLUE_BASE = "https://dl.fbaipublicfiles.com/glue/data"
SENTEVAL_BASE = "https://dl.fbaipublicfiles.com/senteval/senteval_data"
_SPLITS = ("train.tsv", "dev.tsv", "test.tsv")


def _glue_zip(name: str, zip_name: str, sha256: str, size: int, files: tuple[str, ...] = _SPLITS,
              headerless: frozenset = frozenset()) -> GlueTask:
    return GlueTask(name, "zip", (Download(f"{GLUE_BASE}/{zip_name}", sha256, size),), files, headerless)


# Sizes and SHA-256: Hugging Face datasets, datasets/glue/dataset_infos.json
# ("download_checksums" of each config, for these dl.fbaipublicfiles.com URLs). TensorFlow
# Datasets' tensorflow_datasets/url_checksums/glue.txt lists the same size and SHA-256
# for the same files at their older firebasestorage URLs (all but QQP-clean.zip, which
# TFDS has in its pre-cleaning version).
GLUE_TASKS: dict[str, GlueTask] = {t.name: t for t in (
    _glue_zip("CoLA", "CoLA.zip", "f212fcd832b8f7b435fb991f101abf89f96b933ab400603bf198960dfc32cbff", 376971,
              headerless=frozenset({"train.tsv", "dev.tsv"})),
    _glue_zip("SST-2", "SST-2.zip", "d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa", 7439277),
    GlueTask(
        "MRPC", "mrpc",
        (
            # Sizes and SHA-256 of all three: HF dataset_infos.json (mrpc) and TFDS glue.txt.
            Download(f"{SENTEVAL_BASE}/msr_paraphrase_train.txt",
                     "60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89", 1047044),
            Download(f"{SENTEVAL_BASE}/msr_paraphrase_test.txt",
                     "a04e271090879aaba6423d65b94950c089298587d9c084bf9cd7439bd785f784", 441275),
            Download(f"{GLUE_BASE}/mrpc_dev_ids.tsv",
                     "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7", 6222),
        ),
        _SPLITS,
        # The split this module builds is checked against GLUE's published sizes (HF
        # dataset_infos.json: train 3668, validation 408, test 1725).
        rows={"train.tsv": 3668, "dev.tsv": 408, "test.tsv": 1725},
    ),
    _glue_zip("QQP", "QQP-clean.zip", "40e7c862c04eb26ee04b67fd900e76c45c6ba8e6d8fab4f8f1f8072a1a3fbae0", 41696084),
    _glue_zip("STS-B", "STS-B.zip", "e60a6393de5a8b5b9bac5020a1554b54e3691f9d600b775bd131e613ac179c85", 802872),
    _glue_zip("MNLI", "MNLI.zip", "e7c1d896d26ed6caf700110645df426cc2d8ebf02a5ab743d5a5c68ac1c83633", 312783507,
              files=("train.tsv", "dev_matched.tsv", "dev_mismatched.tsv", "test_matched.tsv",
                     "test_mismatched.tsv")),
    _glue_zip("QNLI", "QNLIv2.zip", "e634e78627a29adaecd4f955359b22bf5e70f2cbd93b493f2d624138a0c0e5f5", 10627589),
    _glue_zip("RTE", "RTE.zip", "6bf86de103ecd335f3441bd43574d23fef87ecc695977a63b82d5efb206556ee", 697150),
    _glue_zip("WNLI", "WNLI.zip", "ae0e8e4d16f4d46d4a0a566ec7ecceccfd3fbfaa4a7a4b4e02848c0f2561ac46", 28999),
    # The diagnostic set (AX), which run_classifier.py scores with an MNLI model; HF
    # dataset_infos.json (ax) / TFDS glue.txt give its size and SHA-256.
    GlueTask("diagnostic", "tsv",
             (Download(f"{GLUE_BASE}/AX.tsv", "0e13510b1bb14436ff7e2ee82338f0efb0133ecf2e73507a697dc210db3f05fd",
                       222257),),
             ("diagnostic.tsv",)),
)}
# Other names --tasks accepts (download_glue_data.py's among them), lower case.
GLUE_ALIASES = {"sst": "SST-2", "sst2": "SST-2", "sts": "STS-B", "stsb": "STS-B", "ax": "diagnostic"}


def glue_task_names(text: str, catalog: Mapping[str, GlueTask] = GLUE_TASKS) -> list[str]:
    """`all` or a comma-separated list of task names (any case, aliases) -> catalog names."""
    by_lower = {name.lower(): name for name in catalog}
    names: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.lower() == "all":
            names.extend(catalog)
            continue
        name = by_lower.get(item.lower()) or by_lower.get(GLUE_ALIASES.get(item.lower(), "").lower())
        if name is None:
            raise UserError(f"--tasks: unknown GLUE task {item!r}; use all or some of {', '.join(catalog)}")
        names.append(name)
    if not names:
        raise UserError("--tasks is empty: give all or some of " + ", ".join(catalog))
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------------------ the model catalog
BERT_BASE = "https://storage.googleapis.com/bert_models"

# The SHA-256 of the files inside seven zips: NVIDIA/DeepLearningExamples,
# PyTorch/LanguageModeling/BERT/data/GooglePretrainedWeightDownloader.py (checked there
# after extraction, as here). The uncased English vocab.txt also matches this project's
# copy (tests/real_data.py UNCASED_VOCAB_SHA256).
_UNCASED_VOCAB = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
_CASED_VOCAB = "eeaa9875b23b04b4c54ef759d03db9d1ba1554838f8fb26c5d96fa551df93d02"


def _members(config: str, data: str, index: str, meta: str, vocab: str) -> dict[str, str]:
    return {"bert_config.json": config, "bert_model.ckpt.data-00000-of-00001": data,
            "bert_model.ckpt.index": index, "bert_model.ckpt.meta": meta, "vocab.txt": vocab}


def _model(name: str, release: str, description: str, sha256: Optional[str] = None, size: Optional[int] = None,
           members: Optional[dict[str, str]] = None, zip_name: Optional[str] = None) -> Model:
    url = f"{BERT_BASE}/{release.replace('-', '_')}/{zip_name or name}.zip"
    return Model(name, release, description, Download(url, sha256, size), members)


_MODELS = [
    # The zip's size: a download log in asyml/texar-pytorch examples/bert/README.md
    # ("Successfully downloaded uncased_L-12_H-768_A-12.zip 407727028 bytes"); no SHA-256
    # of the zip itself is published.
    _model("uncased_L-12_H-768_A-12", "2018-10-18", "BERT-Base, Uncased", size=407727028, members=_members(
        "7b4e5f53efbd058c67cda0aacfafb340113ea1b5797d9ce6ee411704ba21fcbc",
        "58580dc5e0bf0ae0d2efd51d0e8272b2f808857f0a43a88aaf7549da6d7a8a84",
        "04c1323086e2f1c5b7c0759d8d3e484afbb0ab45f51793daab9f647113a0117b",
        "dd5682170a10c3ea0280c2e9b9a45fee894eb62da649bbdea37b38b0ded5f60e", _UNCASED_VOCAB)),
    # The zip's SHA-256: stagedml/stagedml, src/stagedml/stages/all.py (all_fetch_largebert,
    # verified there by pylightnix's fetchurl).
    _model("uncased_L-24_H-1024_A-16", "2018-10-18", "BERT-Large, Uncased",
           sha256="f1999b33fa1f38ffe2d9b2871bdbb3d1ddf228f9077a70a7b2176b61cd46ddbc", members=_members(
               "bfa42236d269e2aeb3a6d30412a33d15dbe8ea597e2b01dc9518c63cc6efafcb",
               "bc6b3363e3be458c99ecf64b7f472d2b7c67534fd8f564c0556a678f90f4eea1",
               "68b52f2205ffc64dc627d1120cf399c1ef1cbc35ea5021d1afc889ffe2ce2093",
               "6fcce8ff7628f229a885a593625e3d5ff9687542d5ef128d9beb1b0c05edc4a1", _UNCASED_VOCAB)),
    _model("cased_L-12_H-768_A-12", "2018-10-18", "BERT-Base, Cased", members=_members(
        "f11dfb757bea16339a33e1bf327b0aade6e57fd9c29dc6b84f7ddb20682f48bc",
        "734d5a1b68bf98d4e9cb6b6692725d00842a1937af73902e51776905d8f760ea",
        "517d6ef5c41fc2ca1f595276d6fccf5521810d57f5a74e32616151557790f7b1",
        "5f8a9771ff25dadd61582abb4e3a748215a10a6b55947cbb66d0f0ba1694be98", _CASED_VOCAB)),
    _model("cased_L-24_H-1024_A-16", "2018-10-18", "BERT-Large, Cased", members=_members(
        "7adb2125c8225da495656c982fd1c5f64ba8f20ad020838571a3f8a954c2df57",
        "6ff33640f40d472f7a16af0c17b1179ca9dcc0373155fb05335b6a4dd1657ef0",
        "ef42a53f577fbe07381f4161b13c7cab4f4fc3b167cec6a9ae382c53d18049cf",
        "d2ddff3ed33b80091eac95171e94149736ea74eb645e575d942ec4a5e01a40a1", _CASED_VOCAB)),
    # NVIDIA calls this one bert_large_multilingual_uncased; the URL is the 12-layer model.
    _model("multilingual_L-12_H-768_A-12", "2018-11-03", "BERT-Base, Multilingual Uncased (102 languages)",
           members=_members(
               "49063bb061390211d2fdd108cada1ed86faa5f90b80c8f6fdddf406afa4c4624",
               "3cd83912ebeb0efe2abf35c9f1d5a515d8e80295e61c49b75c8853f756658429",
               "87c372c1a3b1dc7effaaa9103c80a81b3cbab04c7933ced224eec3b8ad2cc8e7",
               "27f504f34f02acaa6b0f60d65195ec3e3f9505ac14601c6a32b421d0c8413a29",
               "87b44292b452f6c05afa49b2e488e7eedf79ea4f4c39db6f2f4b37764228ef3f")),
    _model("chinese_L-12_H-768_A-12", "2018-11-03", "BERT-Base, Chinese", members=_members(
        "7aaad0335058e2640bcb2c2e9a932b1cd9da200c46ea7b8957d54431f201c015",
        "756699356b78ad0ef1ca9ba6528297bcb3dd1aef5feadd31f4775d7c7fc989ba",
        "46315546e05ce62327b3e2cd1bed22836adcb2ff29735ec87721396edb21b82e",
        "c0f8d51e1ab986604bc2b25d6ec0af7fd21ff94cf67081996ec3f3bf5d823047",
        "45bbac6b341c319adc98a532532882e91a9cefc0329aa57bac9ae761c27b291c")),
    # The zip's SHA-256: stagedml/stagedml, src/stagedml/stages/all.py (all_fetch_multibert).
    _model("multi_cased_L-12_H-768_A-12", "2018-11-23", "BERT-Base, Multilingual Cased (104 languages)",
           sha256="60ec8d9a7c3cc1c15f6509a6cbe1a8d30b7f823b77cb7460f6d31383200aec9d", members=_members(
               "e76c3964bc14a8bb37a5530cdc802699d2f4a6fddfab0611e153aa2528f234f0",
               "55b8a2df41f69c60c5180e50a7c31b7cdf6238909390c4ddf05fbc0d37aa1ac5",
               "7d8509c2a62b4e300feb55f8e5f1eef41638f4998dd4d887736f42d4f6a34b37",
               "95e5f1997e8831f1c31e5cf530f1a2e99f121e9cd20887f2dce6fe9e3343e3fa",
               "fe0fda7c425b48c516fc8f160d594c8022a0808447475c1a7c6d6479763f310c")),
    # Whole word masking: no published checksum found (only the config shape is checked).
    _model("wwm_uncased_L-24_H-1024_A-16", "2019-05-30", "BERT-Large, Uncased (Whole Word Masking)"),
    _model("wwm_cased_L-24_H-1024_A-16", "2019-05-30", "BERT-Large, Cased (Whole Word Masking)"),
]
# The 24 smaller BERTs (Turc et al., 2019), all uncased English. Zip SHA-256 known for two,
# from stagedml/stagedml, src/stagedml/stages/all.py (all_fetchminibert, all_fetchbert);
# for the other 22 none was found. Their 12/768 is a re-trained BERT-Base, not the
# 2018-10-18 one: it is named with its release date so the two do not collide.
_SMALL_SHA256 = {
    (4, 256): "5f087a0c6c73aed0b0a13f9a99dade56bece97d0594b713195821e031266fae9",
    (12, 768): "d15224e1e7d950fb9a8b29497ce962201dff7d27b379f5bfb4638b4a73540a04",
}
_SMALL_NICKNAMES = {(2, 128): "BERT-Tiny", (4, 256): "BERT-Mini", (4, 512): "BERT-Small", (8, 512): "BERT-Medium",
                    (12, 768): "BERT-Base, re-trained"}
for _layers in (2, 4, 6, 8, 10, 12):
    for _hidden in (128, 256, 512, 768):
        _zip = f"uncased_L-{_layers}_H-{_hidden}_A-{_hidden // 64}"
        _MODELS.append(_model(
            f"{_zip}_2020_02_20" if (_layers, _hidden) == (12, 768) else _zip, "2020-02-20",
            _SMALL_NICKNAMES.get((_layers, _hidden), f"Smaller BERT, {_layers} layers, {_hidden} hidden"),
            sha256=_SMALL_SHA256.get((_layers, _hidden)), zip_name=_zip))
MODELS: dict[str, Model] = {m.name: m for m in _MODELS}


# ------------------------------------------------------------------------------ downloading
CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60
USER_AGENT = "bert-estimator-fetch/1"
Progress = Callable[[str, int, Optional[int]], None]  # (file name, bytes so far, total or None)


def mirrored(url: str, mirror: Optional[str]) -> str:
    """`url` with its scheme and host replaced by the base URL `mirror` (a plain local
    directory is taken as file://); the path is kept."""
    if not mirror:
        return url
    if "://" not in mirror:
        mirror = "file://" + urllib.request.pathname2url(os.path.abspath(mirror))
    return mirror.rstrip("/") + urllib.parse.urlsplit(url).path


def check_file(path: str, sha256: Optional[str], size: Optional[int]) -> Optional[str]:
    """None when `path` has that size and SHA-256 (None: not checked), else the reason."""
    actual_size = os.path.getsize(path)
    if size is not None and actual_size != size:
        return f"{actual_size} bytes, expected {size}"
    if sha256:
        actual = sha256_file(path)
        if actual != sha256:
            return f"sha256 {actual}, expected {sha256}"
    return None


def _by_hand(dest: str) -> str:
    return f"download it by hand and put it at {os.path.abspath(dest)}, then run again"


def _open(url: str, offset: int):
    """(stream, start, total): `url` read from byte `offset` when the source can
    resume (start == offset), else from 0; total is the full size when known."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        stream = open(urllib.request.url2pathname(parts.path), "rb")
        total = os.fstat(stream.fileno()).st_size
        start = offset if offset <= total else 0
        stream.seek(start)
        return stream, start, total
    if parts.scheme not in ("http", "https"):
        raise DownloadError(f"cannot download {url}: only http(s):// and file:// URLs are supported")
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the partial file is as long as the source or longer: start over
            return _open(url, 0)
        raise
    length = response.headers.get("Content-Length")
    if response.status == 206:
        match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != offset:
            response.close()
            raise DownloadError(f"{url} answered a resume with a wrong Content-Range: "
                                f"{response.headers.get('Content-Range')!r}")
        total = int(match.group(2)) if match.group(2) != "*" else None
        return response, offset, total
    return response, 0, int(length) if length is not None else None


def _transfer(url: str, part: str, progress: Optional[Progress]) -> None:
    """Appends the rest of `url` to `part` (or rewrites it when the source cannot resume)."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    stream, start, total = _open(url, offset)
    done, last = start, 0.0
    with stream, open(part, "ab" if start else "wb") as out:
        for block in iter(lambda: stream.read(CHUNK_BYTES), b""):
            out.write(block)
            done += len(block)
            if progress and time.monotonic() - last > 0.5:
                progress(os.path.basename(part)[:-len(".part")], done, total)
                last = time.monotonic()
    if total is not None and done != total:
        raise DownloadError(f"the connection to {url} closed after {done} of {total} bytes")


def fetch_file(url: str, dest: str, sha256: Optional[str] = None, size: Optional[int] = None,
               progress: Optional[Progress] = None) -> bool:
    """Makes `dest` a verified copy of `url`; returns True when it was downloaded, False
    when `dest` was there already and verified.

    The download goes to `dest.part`, resumed from its current length. A file that fails
    the size/SHA-256 check (`dest` found in place, or a finished download) is deleted and
    downloaded once more from the start.

    Raises:
      DownloadError: the URL could not be read (the partial file, if any, is kept).
      CorruptDownloadError: the second download failed the check too (it was deleted).
    """
    if os.path.exists(dest):
        if check_file(dest, sha256, size) is None:
            return False
        os.remove(dest)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = f"{dest}.part"
    if os.path.exists(part):
        have = os.path.getsize(part)
        if size is not None and have > size:
            os.remove(part)
        elif (size is not None and have == size) or (size is None and sha256):
            if check_file(part, sha256, size) is None:  # finished, but not renamed
                os.replace(part, dest)
                return True
            if size is not None:
                os.remove(part)
    problem = None
    for _ in range(2):
        try:
            _transfer(url, part, progress)
        except (DownloadError, OSError, http.client.HTTPException, ValueError) as e:
            if os.path.exists(part) and os.path.getsize(part) == 0:
                os.remove(part)
            what = str(e) if isinstance(e, DownloadError) else f"could not download {url} ({_reason(e)})"
            raise DownloadError(f"{what}: {_by_hand(dest)}") from e
        problem = check_file(part, sha256, size)
        if problem is None:
            os.replace(part, dest)
            return True
        os.remove(part)
    raise CorruptDownloadError(f"{url} failed verification twice ({problem}) and was deleted: {_by_hand(dest)}")


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    if isinstance(error, FileNotFoundError):
        return "no such file"
    return str(error) or type(error).__name__


def extract_zip(path: str, dest_dir: str) -> None:
    """Extracts the zip `path` into `dest_dir`; a broken zip, or a member that would land
    outside `dest_dir`, is a CorruptDownloadError."""
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if name.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", name):
                    raise CorruptDownloadError(f"{path} holds an unsafe path {name!r}")
            zf.extractall(dest_dir)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise CorruptDownloadError(f"{path} is not a readable zip ({e})") from e


def _find_dir(root: str, required: Sequence[str], prefer: str = "", depth: int = 2) -> Optional[str]:
    """The directory at most `depth` levels under `root` holding every file in `required`
    (`root/prefer` first), or None."""
    candidates = [os.path.join(root, prefer)] if prefer else []
    for dirpath, dirnames, _ in os.walk(root):
        if dirpath[len(root):].count(os.sep) >= depth:
            dirnames[:] = []
        dirnames[:] = sorted(d for d in dirnames if d != "__MACOSX")
        candidates.append(dirpath)
    for candidate in candidates:
        if all(os.path.isfile(os.path.join(candidate, name)) for name in required):
            return candidate
    return None


def _fetch_and_install(sources: Sequence[tuple[Download, str]], install: Callable[[], object],
                       mirror: Optional[str], progress: Optional[Progress]) -> tuple[bool, object]:
    """Fetches every (download, local path), then runs `install()`. When the install finds
    the content wrong (CorruptDownloadError), the sources are deleted and fetched once
    more. Returns (anything downloaded, what install returned)."""
    problem: Optional[CorruptDownloadError] = None
    for _ in range(2):
        downloaded = False
        for download, path in sources:
            downloaded |= fetch_file(mirrored(download.url, mirror), path, download.sha256, download.size, progress)
        try:
            return downloaded, install()
        except CorruptDownloadError as e:
            problem = e
            for _, path in sources:
                if os.path.exists(path):
                    os.remove(path)
    first, path = sources[0]
    raise CorruptDownloadError(f"{problem}; downloaded twice and deleted: download {mirrored(first.url, mirror)} "
                               f"by hand and put it at {os.path.abspath(path)}, then run again")


# ------------------------------------------------------------------------------ GLUE
def count_rows(path: str, header: bool = True) -> int:
    """Data rows of a TSV file as the processors read it: lines ending at LF, trailing
    blank lines ignored, minus the header row."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    while lines and not lines[-1].strip(b"\r"):
        lines.pop()
    return max(len(lines) - (1 if header else 0), 0)


def build_mrpc(train_txt: str, test_txt: str, dev_ids_tsv: str, out_dir: str) -> dict[str, int]:
    """Writes MRPC's train.tsv, dev.tsv and test.tsv into `out_dir` as
    download_glue_data.py does, from Microsoft's msr_paraphrase_train.txt /
    msr_paraphrase_test.txt and GLUE's mrpc_dev_ids.tsv (`#1 ID<TAB>#2 ID` per line):

    * train.tsv / dev.tsv: the train file's header line (with its byte-order mark, as
      GLUE's files have it), then its rows `Quality #1_ID #2_ID #1_String #2_String`,
      those whose id pair is in the dev ids going to dev.tsv, in file order;
    * test.tsv: the header `index #1 ID #2 ID #1 String #2 String`, then per test row
      its 0-based index and the row without its label.

    Rows are stripped of surrounding white space and rejoined with tabs, LF line ends.
    Returns the data rows per file; a row without 5 fields, or a dev id pair missing
    from the train file, is a CorruptDownloadError.
    """
    with open(dev_ids_tsv, encoding="utf-8-sig") as f:
        dev_ids = {tuple(line.strip().split("\t")) for line in f if line.strip()}

    def rows(path: str) -> tuple[str, list[list[str]]]:
        with open(path, encoding="utf-8") as f:
            header = f.readline()
            body = []
            for number, line in enumerate(f, 2):
                if not line.strip():
                    continue
                fields = line.strip().split("\t")
                if len(fields) != 5:
                    raise CorruptDownloadError(f"{path} line {number}: {len(fields)} fields, expected 5")
                body.append(fields)
        return header, body

    header, train_rows = rows(train_txt)
    _, test_rows = rows(test_txt)
    train = [r for r in train_rows if (r[1], r[2]) not in dev_ids]
    dev = [r for r in train_rows if (r[1], r[2]) in dev_ids]
    if len(dev) != len(dev_ids):
        raise CorruptDownloadError(f"{len(dev_ids) - len(dev)} of the {len(dev_ids)} id pairs of {dev_ids_tsv} "
                                   f"are not in {train_txt}")
    files = {
        "train.tsv": header + "".join("\t".join(r) + "\n" for r in train),
        "dev.tsv": header + "".join("\t".join(r) + "\n" for r in dev),
        "test.tsv": "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                    + "".join(f"{i}\t" + "\t".join(r[1:]) + "\n" for i, r in enumerate(test_rows)),
    }
    for name, text in files.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return {"train.tsv": len(train), "dev.tsv": len(dev), "test.tsv": len(test_rows)}


@dataclass
class GlueResult:
    """What `fetch_glue_task` did; `summary()` is its one line."""

    task: GlueTask
    path: str
    present: bool  # complete already: nothing done
    rows: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        if self.present:
            return f"{self.task.name}: already there"
        counts = " / ".join(f"{n} {name[:-len('.tsv')]}" for name, n in self.rows.items())
        if all(d.sha256 for d in self.task.downloads):
            check = "sha256 ok"
        else:
            check = "no sha256 published; row counts ok" if self.task.rows else "no sha256 published"
        return f"{self.task.name}: {counts} rows in {self.path} ({check})"


def glue_task_complete(task: GlueTask, path: str) -> bool:
    return all(os.path.isfile(os.path.join(path, name)) for name in task.files)


def fetch_glue_task(name: str, data_dir: str, mirror: Optional[str] = None,
                    catalog: Mapping[str, GlueTask] = GLUE_TASKS, progress: Optional[Progress] = None) -> GlueResult:
    """Makes `data_dir/<name>` GLUE's folder of task `name` (see GLUE_TASKS): skipped when
    complete; else its downloads are fetched into `data_dir` (resumed, verified), the
    folder is staged in a temporary directory beside it and renamed into place, and the
    downloads are removed.

    Raises:
      FetchError: as `fetch_file`; or the folder exists but lacks some of its files (it is
        not touched: remove it to fetch again).
    """
    task = catalog[name]
    target = os.path.join(data_dir, task.name)
    if glue_task_complete(task, target):
        return GlueResult(task, target, present=True)
    if os.path.lexists(target):
        missing = [f for f in task.files if not os.path.isfile(os.path.join(target, f))]
        raise FetchError(f"{target} exists but lacks {', '.join(missing)}: remove it to fetch {task.name} again")
    created = not os.path.isdir(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    sources = [(d, os.path.join(data_dir, d.filename)) for d in task.downloads]

    def install() -> dict[str, int]:
        staging = tempfile.mkdtemp(prefix=f".{task.name}.tmp-", dir=data_dir)
        try:
            folder = os.path.join(staging, task.name)
            if task.kind == "zip":
                unpacked = os.path.join(staging, "unpacked")  # mkdtemp's own mode is 0700: not renamed
                os.mkdir(unpacked)
                extract_zip(sources[0][1], unpacked)
                found = _find_dir(unpacked, task.files, prefer=task.name)
                if found is None:
                    raise CorruptDownloadError(f"{sources[0][1]} holds no folder with {', '.join(task.files)}")
                folder = found
            elif task.kind == "mrpc":
                os.mkdir(folder)
                build_mrpc(*(path for _, path in sources), folder)
            elif task.kind == "tsv":
                os.mkdir(folder)
                shutil.copyfile(sources[0][1], os.path.join(folder, task.files[0]))
            else:
                raise ValueError(f"GLUE task {task.name}: unknown kind {task.kind!r}")
            rows = {f: count_rows(os.path.join(folder, f), header=f not in task.headerless) for f in task.files}
            if task.rows is not None:
                wrong = {f: n for f, n in rows.items() if task.rows.get(f) not in (None, n)}
                if wrong:
                    raise CorruptDownloadError(f"{task.name}: " + ", ".join(
                        f"{f} has {n} rows, expected {task.rows[f]}" for f, n in wrong.items()))
            os.rename(folder, target)
            return rows
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    try:
        _, rows = _fetch_and_install(sources, install, mirror, progress)
    except FetchError:
        if created and not os.listdir(data_dir):  # nothing came: leave no empty --data_dir behind
            os.rmdir(data_dir)
        raise
    for _, path in sources:
        os.remove(path)
    return GlueResult(task, target, present=False, rows=rows)


# ------------------------------------------------------------------------------ models
REQUIRED_MODEL_FILES = ("bert_config.json", "vocab.txt", "bert_model.ckpt.index")
_SHAPE = re.compile(r"_L-(\d+)_H-(\d+)_A-(\d+)")


def model_present(path: str) -> bool:
    """Whether `path` holds a checkpoint directory (bert_config.json, vocab.txt,
    bert_model.ckpt.index), as scripts/lib.sh's bert_present."""
    return all(os.path.isfile(os.path.join(path, name)) for name in REQUIRED_MODEL_FILES)


def check_model_dir(path: str, model: Model) -> None:
    """Raises CorruptDownloadError unless `path` holds the checkpoint's files, with the
    SHA-256 the catalog lists and a bert_config.json of the shape the name promises."""
    missing = [n for n in REQUIRED_MODEL_FILES if not os.path.isfile(os.path.join(path, n))]
    if not any(n.startswith("bert_model.ckpt.data-") for n in os.listdir(path)):
        missing.append("bert_model.ckpt.data-*")
    if missing:
        raise CorruptDownloadError(f"{model.name}: the zip lacks {', '.join(missing)}")
    for member, digest in (model.members or {}).items():
        member_path = os.path.join(path, member)
        actual = sha256_file(member_path) if os.path.isfile(member_path) else "missing"
        if actual != digest:
            raise CorruptDownloadError(f"{model.name}: {member} in the zip has sha256 {actual}, expected {digest}")
    shape = _SHAPE.search(model.name)
    if shape:
        try:
            with open(os.path.join(path, "bert_config.json"), encoding="utf-8") as f:
                config = json.load(f)
        except ValueError as e:
            raise CorruptDownloadError(f"{model.name}: bert_config.json is not JSON ({e})") from e
        want = dict(zip(("num_hidden_layers", "hidden_size", "num_attention_heads"), map(int, shape.groups())))
        got = {key: config.get(key) for key in want}
        if got != want:
            raise CorruptDownloadError(f"{model.name}: bert_config.json has {got}, the name promises {want}")


@dataclass
class ModelResult:
    """What `fetch_model` did: the model directory and whether it was there already."""

    model: Model
    path: str
    present: bool

    def summary(self) -> str:
        if self.present:
            return f"{self.model.name}: already there"
        return f"{self.model.name}: downloaded to {self.path} ({self.model.checks()} ok)"


def fetch_model(name: str, cache_dir: Optional[str] = None, mirror: Optional[str] = None,
                catalog: Mapping[str, Model] = MODELS, progress: Optional[Progress] = None) -> ModelResult:
    """Makes `cache_dir/<name>` (default: `default_model_cache()`) Google's checkpoint
    `name` (see MODELS): kept when present; else the zip is fetched to
    `cache_dir/<name>.zip` (resumed, verified), extracted into a temporary directory
    beside the target, checked (`check_model_dir`), renamed into place and deleted.

    Raises:
      UserError: `name` is not in the catalog, or `cache_dir/<name>` exists but is no
        checkpoint directory (it is not touched).
      FetchError: as `fetch_file`, or the zip's content stayed wrong.
    """
    if name not in catalog:
        raise UserError(f"unknown model {name!r}; `fetch.py model --list` lists the {len(catalog)} names")
    model = catalog[name]
    cache_dir = cache_dir or default_model_cache()
    target = os.path.join(cache_dir, model.name)
    if model_present(target):
        return ModelResult(model, target, present=True)
    if os.path.lexists(target) and (not os.path.isdir(target) or os.listdir(target)):
        raise FetchError(f"{target} exists but lacks {' or '.join(REQUIRED_MODEL_FILES)}: "
                         f"remove it to fetch {model.name} again")
    os.makedirs(cache_dir, exist_ok=True)
    archive = os.path.join(cache_dir, f"{model.name}.zip")

    def install() -> None:
        staging = tempfile.mkdtemp(prefix=f".{model.name}.tmp-", dir=cache_dir)
        try:
            unpacked = os.path.join(staging, "unpacked")  # mkdtemp's own mode is 0700: not renamed
            os.mkdir(unpacked)
            extract_zip(archive, unpacked)
            found = _find_dir(unpacked, ("bert_config.json",))
            if found is None:
                raise CorruptDownloadError(f"{archive} holds no bert_config.json: not a BERT checkpoint")
            check_model_dir(found, model)
            if os.path.isdir(target):
                os.rmdir(target)  # empty (checked above)
            os.rename(found, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    _fetch_and_install([(model.download, archive)], install, mirror, progress)
    os.remove(archive)
    return ModelResult(model, target, present=False)


def terminal_progress(stream=sys.stderr) -> Optional[Progress]:
    """A progress callback that rewrites one line on `stream` when it is a terminal
    (None otherwise: logs stay one line per task); `clear_progress` wipes it."""
    if not stream.isatty():
        return None

    def show(name: str, done: int, total: Optional[int]) -> None:
        of = f" of {total / 1e6:.1f} MB ({100 * done // total}%)" if total else " MB"
        stream.write(f"\r\033[K{name}: {done / 1e6:.1f}{of}")
        stream.flush()

    return show


def clear_progress(stream=sys.stderr) -> None:
    if stream.isatty():
        stream.write("\r\033[K")
        stream.flush()
