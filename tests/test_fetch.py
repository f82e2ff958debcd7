"""fetch.py / bert_estimator.data.downloads, offline: a local HTTP server (127.0.0.1, a
free port, Range requests honoured) and file:// mirrors serve small fixture files built
here (GLUE zips in GLUE's layout, fake MRPC sources, a fake checkpoint zip), described by
catalogs built from them (the real catalog's hashes cannot match fixtures); the real
catalog is checked for well-formedness only."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import io
import os
import re
import subprocess
import sys
import threading
import zipfile
from typing import Optional

import pytest

from bert_estimator.data import downloads
from bert_estimator.data.downloads import Download, GlueTask, Model
from bert_estimator.tools import fetch
from tests.conftest import PROJECT_ROOT

GLUE = downloads.GLUE_BASE  # fixture catalogs keep the real URLs: --mirror serves them
SENTEVAL = downloads.SENTEVAL_BASE
MODEL_NAME = "uncased_L-2_H-128_A-2"
MODEL_URL = f"{downloads.BERT_BASE}/2020_02_20/{MODEL_NAME}.zip"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def url_path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


# ------------------------------------------------------------------------------ fixture files
def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


COLA_FILES = {
    "train.tsv": b"gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n"
                 b"gj04\t0\t*\tThe more we study verbs, the crazier they get the.\n"
                 b"gj04\t1\t\tDay by day the facts are getting murkier.\n",
    "dev.tsv": b"gj04\t1\t\tThey drank the pub dry.\n",
    "test.tsv": b"index\tsentence\n0\tBill whistled past the house.\n1\tHarry coughed himself.\n",
}
COLA_ZIP = make_zip({**{f"CoLA/{n}": d for n, d in COLA_FILES.items()},
                     "CoLA/original/raw/in_domain_train.tsv": b"x\n", "__MACOSX/CoLA/._train.tsv": b"junk"})
AX_TSV = b"index\tsentence1\tsentence2\n0\tThe cat sat.\tA cat sat.\n1\tIt rains.\tIt is dry.\n"

BOM = "\ufeff"
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
MRPC_TRAIN_ROWS = [
    ("1", "702876", "702977", "Amrozi accused his brother .", "Referring to him , Amrozi accused his brother ."),
    ("0", "2108705", "2108831", "Yucaipa owned Dominick 's .", "Yucaipa bought Dominick 's in 1995 ."),
    ("1", "1330381", "1330521", "They had published an ad .", "On June 10 , they had published an ad ."),
    ("0", "3344667", "3344648", "Around 0335 GMT , Tab shares were up .", "Tab shares jumped 20 cents ."),
    ("1", "1236820", "1236712", "The stock rose $ 2.11 .", "PG & E stock rose $ 2.11 ."),
    ("1", "738533", "737951", "Revenue rose 3.7 percent .", "Revenue rose 3.7 % ."),
]
MRPC_DEV_PAIRS = [("2108705", "2108831"), ("1236820", "1236712")]
MRPC_TEST_ROWS = [
    ("1", "1089874", "1089925", "PCCW 's chief will leave .", "The chief of PCCW will leave ."),
    ("0", "3019446", "3019327", "The world 's two largest makers .", "Two makers merged ."),
    ("1", "1945605", "1945824", "Shares fell 2 percent .", "The shares fell 2 % ."),
]


def crlf_lines(header: str, rows) -> bytes:
    """Microsoft's layout: a byte-order mark, CRLF line ends."""
    return (BOM + header + "\r\n" + "".join("\t".join(r) + "\r\n" for r in rows)).encode("utf-8")


MRPC_TRAIN_TXT = crlf_lines(MRPC_HEADER, MRPC_TRAIN_ROWS)
MRPC_TEST_TXT = crlf_lines(MRPC_HEADER, MRPC_TEST_ROWS)
MRPC_DEV_IDS = "".join(f"{a}\t{b}\n" for a, b in MRPC_DEV_PAIRS).encode()

MODEL_CONFIG = b'{"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 5}'
MODEL_FILES = {"bert_config.json": MODEL_CONFIG, "vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n",
               "bert_model.ckpt.index": b"index bytes", "bert_model.ckpt.data-00000-of-00001": os.urandom(3000)}
MODEL_ZIP = make_zip({f"{MODEL_NAME}/{n}": d for n, d in MODEL_FILES.items()})

FILES = {  # URL path -> bytes: what a faithful mirror serves
    url_path(f"{GLUE}/CoLA.zip"): COLA_ZIP,
    url_path(f"{GLUE}/AX.tsv"): AX_TSV,
    url_path(f"{SENTEVAL}/msr_paraphrase_train.txt"): MRPC_TRAIN_TXT,
    url_path(f"{SENTEVAL}/msr_paraphrase_test.txt"): MRPC_TEST_TXT,
    url_path(f"{GLUE}/mrpc_dev_ids.tsv"): MRPC_DEV_IDS,
    url_path(MODEL_URL): MODEL_ZIP,
}


def dl(url: str, data: bytes) -> Download:
    return Download(url, sha256(data), len(data))


GLUE_CATALOG = {
    "CoLA": GlueTask("CoLA", "zip", (dl(f"{GLUE}/CoLA.zip", COLA_ZIP),), downloads.GLUE_TASKS["CoLA"].files,
                     downloads.GLUE_TASKS["CoLA"].headerless),
    "MRPC": GlueTask("MRPC", "mrpc", (dl(f"{SENTEVAL}/msr_paraphrase_train.txt", MRPC_TRAIN_TXT),
                                      dl(f"{SENTEVAL}/msr_paraphrase_test.txt", MRPC_TEST_TXT),
                                      dl(f"{GLUE}/mrpc_dev_ids.tsv", MRPC_DEV_IDS)),
                     downloads.GLUE_TASKS["MRPC"].files, rows={"train.tsv": 4, "dev.tsv": 2, "test.tsv": 3}),
    "diagnostic": GlueTask("diagnostic", "tsv", (dl(f"{GLUE}/AX.tsv", AX_TSV),), ("diagnostic.tsv",)),
}
MODEL_CATALOG = {MODEL_NAME: Model(MODEL_NAME, "2020-02-20", "BERT-Tiny", dl(MODEL_URL, MODEL_ZIP),
                                   {n: sha256(d) for n, d in MODEL_FILES.items()})}


# ------------------------------------------------------------------------------ the server
class Server:
    """Serves FILES over HTTP on 127.0.0.1 with Range support. `bad[path] = n` serves the
    next n responses for `path` with corrupted bytes; `ranges=False` ignores Range
    headers (200 and the whole file). `requests` logs (path, Range header)."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.bad: dict[str, int] = {}
        self.ranges = True
        self.requests: list[tuple[str, Optional[str]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server API)
                server.requests.append((self.path, self.headers.get("Range")))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                if server.bad.get(self.path, 0) > 0:
                    server.bad[self.path] -= 1
                    data = bytes(b ^ 0xFF for b in data)
                start, status = 0, 200
                match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
                if match and server.ranges:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    status = 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(data) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                self.wfile.write(data[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self, url: str) -> int:
        return sum(1 for path, _ in self.requests if path == url_path(url))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server(FILES)
    yield s
    s.close()


@pytest.fixture
def file_mirror(tmp_path) -> str:
    root = tmp_path / "mirror"
    for path, data in FILES.items():
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).write_bytes(data)
    return f"file://{root}"


def run_fetch(capsys, *argv: str) -> tuple[int, str, str]:
    """fetch.py's main with the fixture catalogs: (exit status, stdout, stderr)."""
    try:
        status = fetch.main(list(argv), glue_catalog=GLUE_CATALOG, model_catalog=MODEL_CATALOG)
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


# ------------------------------------------------------------------------------ GLUE
def test_fresh_fetch_then_idempotent_rerun(capsys, tmp_path, server):
    data_dir = str(tmp_path / "glue_data")
    status, out, err = run_fetch(capsys, "glue", "--data_dir", data_dir, "--tasks", "all", "--mirror", server.url)
    assert status == 0, err
    assert out.splitlines() == [
        f"CoLA: 3 train / 1 dev / 2 test rows in {data_dir}/CoLA (sha256 ok)",
        f"MRPC: 4 train / 2 dev / 3 test rows in {data_dir}/MRPC (sha256 ok)",
        f"diagnostic: 2 diagnostic rows in {data_dir}/diagnostic (sha256 ok)",
    ]
    for name, data in COLA_FILES.items():
        assert (tmp_path / "glue_data" / "CoLA" / name).read_bytes() == data
    assert (tmp_path / "glue_data" / "diagnostic" / "diagnostic.tsv").read_bytes() == AX_TSV
    assert sorted(os.listdir(data_dir)) == ["CoLA", "MRPC", "diagnostic"]  # downloads removed, nothing staged
    requests = len(server.requests)

    status, out, _ = run_fetch(capsys, "glue", "--data_dir", data_dir, "--tasks", "mrpc,COLA,AX",
                               "--mirror", server.url)
    assert status == 0
    assert out.splitlines() == ["MRPC: already there", "CoLA: already there", "diagnostic: already there"]
    assert len(server.requests) == requests  # nothing fetched


def test_fetch_from_a_file_mirror(capsys, tmp_path, file_mirror):
    status, out, err = run_fetch(capsys, "glue", "--data_dir", str(tmp_path / "g"), "--tasks", "CoLA,MRPC",
                                 "--mirror", file_mirror)
    assert status == 0, err
    assert len(out.splitlines()) == 2 and all("(sha256 ok)" in line for line in out.splitlines())
    assert sorted(os.listdir(tmp_path / "g")) == ["CoLA", "MRPC"]


@pytest.mark.parametrize("via", ["http", "file"])
def test_partial_download_is_resumed(capsys, tmp_path, server, file_mirror, via):
    """CoLA.zip.part holds the first k bytes; the source's first k bytes are zeros. Only a
    transfer that resumes at byte k yields the right checksum."""
    k = len(COLA_ZIP) // 2
    served = b"\0" * k + COLA_ZIP[k:]
    path = url_path(f"{GLUE}/CoLA.zip")
    server.files[path] = served
    (tmp_path / "mirror" / path.lstrip("/")).write_bytes(served)
    data_dir = tmp_path / "glue_data"
    data_dir.mkdir()
    (data_dir / "CoLA.zip.part").write_bytes(COLA_ZIP[:k])
    mirror = server.url if via == "http" else file_mirror
    status, out, err = run_fetch(capsys, "glue", "--data_dir", str(data_dir), "--tasks", "CoLA", "--mirror", mirror)
    assert status == 0, err
    assert out.startswith("CoLA: 3 train / 1 dev / 2 test rows")
    if via == "http":
        assert server.requests == [(path, f"bytes={k}-")]
    assert sorted(os.listdir(data_dir)) == ["CoLA"]


def test_server_without_ranges_restarts_from_the_start(tmp_path, server):
    """A server that answers a Range request with 200 and the whole file: the partial
    file is rewritten, not appended to."""
    server.ranges = False
    dest = str(tmp_path / "CoLA.zip")
    with open(dest + ".part", "wb") as f:
        f.write(COLA_ZIP[:100])
    assert downloads.fetch_file(f"{server.url}/glue/data/CoLA.zip", dest, sha256(COLA_ZIP), len(COLA_ZIP))
    assert open(dest, "rb").read() == COLA_ZIP and not os.path.exists(dest + ".part")


def test_finished_part_is_renamed_without_downloading(tmp_path):
    dest = str(tmp_path / "AX.tsv")
    with open(dest + ".part", "wb") as f:
        f.write(AX_TSV)
    assert downloads.fetch_file("http://127.0.0.1:9/AX.tsv", dest, sha256(AX_TSV), len(AX_TSV))  # nothing listens
    assert open(dest, "rb").read() == AX_TSV


def test_corrupt_download_is_deleted_and_fetched_once_more(capsys, tmp_path, server):
    server.bad[url_path(f"{GLUE}/CoLA.zip")] = 1
    status, out, err = run_fetch(capsys, "glue", "--data_dir", str(tmp_path), "--tasks", "CoLA", "--mirror", server.url)
    assert status == 0, err
    assert out.startswith("CoLA: 3 train") and "(sha256 ok)" in out
    assert server.count(f"{GLUE}/CoLA.zip") == 2


def test_wrong_file_in_place_is_replaced(tmp_path, server):
    """A file already at the destination that fails its check (e.g. put there by hand)
    is deleted and downloaded."""
    dest = tmp_path / "AX.tsv"
    dest.write_bytes(b"not the diagnostic set")
    assert downloads.fetch_file(f"{server.url}/glue/data/AX.tsv", str(dest), sha256(AX_TSV), len(AX_TSV))
    assert dest.read_bytes() == AX_TSV
    assert not downloads.fetch_file(f"{server.url}/glue/data/AX.tsv", str(dest), sha256(AX_TSV), len(AX_TSV))
    assert server.count(f"{GLUE}/AX.tsv") == 1  # the second call found it verified


def test_persistently_corrupt_download_is_one_line_and_leaves_nothing(capsys, tmp_path, server):
    server.bad[url_path(f"{GLUE}/CoLA.zip")] = 10
    data_dir = tmp_path / "glue_data"
    status, out, err = run_fetch(capsys, "glue", "--data_dir", str(data_dir), "--tasks", "CoLA", "--mirror", server.url)
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("fetch.py: error: ") and "failed verification twice" in err
    assert f"{server.url}/glue/data/CoLA.zip" in err and str(data_dir / "CoLA.zip") in err
    assert server.count(f"{GLUE}/CoLA.zip") == 2
    assert not data_dir.exists()  # "leaves nothing": not even the --data_dir it made


def test_wrong_content_behind_a_right_checksum_is_refetched_then_refused(capsys, tmp_path, server):
    """MRPC's split must have the catalog's row counts: sources that verify but build
    another split are deleted, fetched once more, then refused in one line."""
    catalog = dict(GLUE_CATALOG)
    catalog["MRPC"] = GlueTask("MRPC", "mrpc", GLUE_CATALOG["MRPC"].downloads, GLUE_CATALOG["MRPC"].files,
                               rows={"train.tsv": 4, "dev.tsv": 3, "test.tsv": 3})
    try:
        fetch.main(["glue", "--data_dir", str(tmp_path), "--tasks", "MRPC", "--mirror", server.url],
                   glue_catalog=catalog)
        status = 0
    except SystemExit as e:
        status = e.code
    err = capsys.readouterr().err
    assert status == 1 and len(err.splitlines()) == 1
    assert "dev.tsv has 2 rows, expected 3" in err and "downloaded twice" in err
    assert server.count(f"{SENTEVAL}/msr_paraphrase_train.txt") == 2
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("mirror", ["http://127.0.0.1:9", "file:///nonexistent/mirror"])
def test_offline_is_one_line_naming_url_and_target(capsys, tmp_path, mirror):
    data_dir = tmp_path / "glue_data"
    status, out, err = run_fetch(capsys, "glue", "--data_dir", str(data_dir), "--tasks", "CoLA", "--mirror", mirror)
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert f"could not download {mirror}/glue/data/CoLA.zip" in err
    assert f"put it at {data_dir / 'CoLA.zip'}" in err
    assert not data_dir.exists()  # no empty .part, no folder, not even the --data_dir it would have made
    data_dir.mkdir()  # a --data_dir that was there stays
    run_fetch(capsys, "glue", "--data_dir", str(data_dir), "--tasks", "CoLA", "--mirror", mirror)
    assert os.listdir(data_dir) == []


def test_cut_connection_keeps_the_partial_file_for_a_resume(tmp_path, server):
    """A transfer that ends short of Content-Length is a download error; the bytes that
    came stay in .part, and the next call resumes from them."""
    path = url_path(f"{GLUE}/CoLA.zip")

    class Short(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(COLA_ZIP)))
            self.end_headers()
            self.wfile.write(COLA_ZIP[:50])
            self.close_connection = True

        def log_message(self, *args):
            pass

    short = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Short)
    threading.Thread(target=short.serve_forever, daemon=True).start()
    dest = str(tmp_path / "CoLA.zip")
    try:
        with pytest.raises(downloads.DownloadError, match="closed after 50 of"):
            downloads.fetch_file(f"http://127.0.0.1:{short.server_address[1]}{path}", dest,
                                 sha256(COLA_ZIP), len(COLA_ZIP))
    finally:
        short.shutdown()
        short.server_close()
    assert os.path.getsize(dest + ".part") == 50
    assert downloads.fetch_file(f"{server.url}{path}", dest, sha256(COLA_ZIP), len(COLA_ZIP))
    assert server.requests == [(path, "bytes=50-")]


def test_incomplete_task_folder_is_left_alone(capsys, tmp_path, server):
    (tmp_path / "CoLA").mkdir()
    (tmp_path / "CoLA" / "train.tsv").write_text("mine\n")
    status, _, err = run_fetch(capsys, "glue", "--data_dir", str(tmp_path), "--tasks", "CoLA", "--mirror", server.url)
    assert status == 1 and "lacks dev.tsv, test.tsv" in err and "remove it" in err
    assert os.listdir(tmp_path / "CoLA") == ["train.tsv"] and server.requests == []


def test_unknown_task_is_refused(capsys, tmp_path):
    status, _, err = run_fetch(capsys, "glue", "--data_dir", str(tmp_path), "--tasks", "MRPC,SQuAD")
    assert status == 1 and "unknown GLUE task 'SQuAD'" in err


def test_task_names_and_aliases():
    assert downloads.glue_task_names("all") == list(downloads.GLUE_TASKS)
    assert downloads.glue_task_names("sst, STS,mrpc,AX,mrpc") == ["SST-2", "STS-B", "MRPC", "diagnostic"]


# ------------------------------------------------------------------------------ MRPC's split
def test_mrpc_split_is_glues_and_reads_with_the_processor(tmp_path):
    sources = {}
    for name, data in (("train.txt", MRPC_TRAIN_TXT), ("test.txt", MRPC_TEST_TXT), ("ids.tsv", MRPC_DEV_IDS)):
        sources[name] = tmp_path / name
        sources[name].write_bytes(data)
    out = tmp_path / "MRPC"
    out.mkdir()
    rows = downloads.build_mrpc(str(sources["train.txt"]), str(sources["test.txt"]), str(sources["ids.tsv"]), str(out))
    assert rows == {"train.tsv": 4, "dev.tsv": 2, "test.tsv": 3}

    header = BOM + MRPC_HEADER + "\n"  # the train file's header, byte-order mark kept, LF
    dev = [r for r in MRPC_TRAIN_ROWS if (r[1], r[2]) in MRPC_DEV_PAIRS]
    train = [r for r in MRPC_TRAIN_ROWS if (r[1], r[2]) not in MRPC_DEV_PAIRS]
    assert (out / "train.tsv").read_bytes().decode("utf-8") == header + "".join("\t".join(r) + "\n" for r in train)
    assert (out / "dev.tsv").read_bytes().decode("utf-8") == header + "".join("\t".join(r) + "\n" for r in dev)
    assert (out / "test.tsv").read_bytes().decode("utf-8") == (
        "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        + "".join(f"{i}\t" + "\t".join(r[1:]) + "\n" for i, r in enumerate(MRPC_TEST_ROWS)))

    import processors  # TensorFlow: only this test needs it

    processor = processors.get_processor("mrpc")
    examples = processor.get_dev_examples(str(out))
    assert [(e.guid, e.text_a, e.text_b, e.label) for e in examples] == [
        (f"dev-{i}", r[3], r[4], r[0]) for i, r in enumerate(dev, 1)]
    assert [e.text_b for e in processor.get_train_examples(str(out))] == [r[4] for r in train]
    assert [e.text_a for e in processor.get_test_examples(str(out))] == [r[3] for r in MRPC_TEST_ROWS]
    assert processor.get_test_ids(str(out)) == ["0", "1", "2"]


def test_mrpc_dev_ids_missing_from_train_are_an_error(tmp_path):
    (tmp_path / "train.txt").write_bytes(MRPC_TRAIN_TXT)
    (tmp_path / "test.txt").write_bytes(MRPC_TEST_TXT)
    (tmp_path / "ids.tsv").write_bytes(MRPC_DEV_IDS + b"111\t222\n")
    (tmp_path / "MRPC").mkdir()
    with pytest.raises(downloads.CorruptDownloadError, match="1 of the 3 id pairs"):
        downloads.build_mrpc(*(str(tmp_path / n) for n in ("train.txt", "test.txt", "ids.tsv", "MRPC")))


# ------------------------------------------------------------------------------ models
def test_model_fetch_prints_the_directory_then_reuses_it(capsys, tmp_path, server):
    cache = str(tmp_path / "models")
    status, out, err = run_fetch(capsys, "model", MODEL_NAME, "--cache_dir", cache, "--mirror", server.url)
    assert status == 0, err
    assert out == f"{cache}/{MODEL_NAME}\n"
    assert err == f"{MODEL_NAME}: downloaded to {cache}/{MODEL_NAME} (zip sha256, sha256 of 4 files ok)\n"
    for name, data in MODEL_FILES.items():
        assert (tmp_path / "models" / MODEL_NAME / name).read_bytes() == data
    assert os.listdir(cache) == [MODEL_NAME]  # the zip is gone, nothing staged

    status, out, err = run_fetch(capsys, "model", MODEL_NAME, "--cache_dir", cache, "--mirror", server.url)
    assert (status, out, err) == (0, f"{cache}/{MODEL_NAME}\n", f"{MODEL_NAME}: already there\n")
    assert server.count(MODEL_URL) == 1


def test_model_zip_without_a_folder(tmp_path, server):
    """A zip whose files sit at its top (no NAME/ folder) installs the same; the model
    directory gets the usual permissions, not those of a temporary directory."""
    flat = make_zip(MODEL_FILES)
    server.files[url_path(MODEL_URL)] = flat
    catalog = {MODEL_NAME: Model(MODEL_NAME, "2020-02-20", "BERT-Tiny", dl(MODEL_URL, flat))}
    result = downloads.fetch_model(MODEL_NAME, str(tmp_path), server.url, catalog)
    assert not result.present and result.path == str(tmp_path / MODEL_NAME)
    assert sorted(os.listdir(result.path)) == sorted(MODEL_FILES)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(result.path).st_mode & 0o777 == 0o777 & ~umask
    assert os.listdir(tmp_path) == [MODEL_NAME]


def test_model_default_cache_is_the_environment_variable(capsys, tmp_path, server, monkeypatch):
    monkeypatch.setenv(downloads.MODEL_CACHE_ENV, str(tmp_path / "cache"))
    status, out, _ = run_fetch(capsys, "model", MODEL_NAME, "--mirror", server.url)
    assert status == 0 and out.strip() == str(tmp_path / "cache" / MODEL_NAME)


@pytest.mark.parametrize("wrong", ["member", "shape"])
def test_model_with_wrong_content_is_refetched_then_refused(capsys, tmp_path, server, wrong):
    """The zip verifies (its SHA-256 is unknown here) but a file in it does not: the
    zip is deleted and fetched once more, then refused; nothing is left in the cache."""
    files = dict(MODEL_FILES)
    if wrong == "member":
        files["vocab.txt"] = b"another vocabulary\n"
    else:
        files["bert_config.json"] = MODEL_CONFIG.replace(b'"hidden_size": 128', b'"hidden_size": 256')
    bad_zip = make_zip({f"{MODEL_NAME}/{n}": d for n, d in files.items()})
    server.files[url_path(MODEL_URL)] = bad_zip
    members = {n: sha256(d) for n, d in MODEL_FILES.items()} if wrong == "member" else None
    catalog = {MODEL_NAME: Model(MODEL_NAME, "2020-02-20", "BERT-Tiny", Download(MODEL_URL), members)}
    cache = tmp_path / "models"
    try:
        fetch.main(["model", MODEL_NAME, "--cache_dir", str(cache), "--mirror", server.url], model_catalog=catalog)
        status = 0
    except SystemExit as e:
        status = e.code
    captured = capsys.readouterr()
    assert status == 1 and captured.out == "" and len(captured.err.splitlines()) == 1
    assert ("vocab.txt in the zip has sha256" if wrong == "member" else "the name promises") in captured.err
    assert f"put it at {cache / (MODEL_NAME + '.zip')}" in captured.err
    assert server.count(MODEL_URL) == 2
    assert os.listdir(cache) == []


def test_model_offline_is_one_line(capsys, tmp_path):
    status, out, err = run_fetch(capsys, "model", MODEL_NAME, "--cache_dir", str(tmp_path),
                                 "--mirror", "http://127.0.0.1:9")
    assert status == 1 and out == "" and len(err.splitlines()) == 1
    assert f"http://127.0.0.1:9{url_path(MODEL_URL)}" in err and str(tmp_path / f"{MODEL_NAME}.zip") in err
    assert os.listdir(tmp_path) == []


def test_model_list_and_unknown_names(capsys):
    assert fetch.main(["model", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(downloads.MODELS)
    with pytest.raises(SystemExit) as e:
        fetch.main(["model", "bert-base-uncased"])
    assert e.value.code == 1 and "unknown model 'bert-base-uncased'" in capsys.readouterr().err


# ------------------------------------------------------------------------------ the real catalog
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def test_real_glue_catalog_is_well_formed():
    assert list(downloads.GLUE_TASKS) == ["CoLA", "SST-2", "MRPC", "QQP", "STS-B", "MNLI", "QNLI", "RTE", "WNLI",
                                          "diagnostic"]
    for task in downloads.GLUE_TASKS.values():
        assert task.kind in ("zip", "mrpc", "tsv") and task.files
        for d in task.downloads:
            assert d.url.startswith("https://dl.fbaipublicfiles.com/"), d.url
            assert HEX64.match(d.sha256) and d.size > 0, d  # every GLUE file has a published checksum
        assert task.headerless <= set(task.files)
    assert downloads.GLUE_TASKS["MRPC"].rows == {"train.tsv": 3668, "dev.tsv": 408, "test.tsv": 1725}
    # GLUE's processors read these files from these folders.
    import processors

    for task, folder in (("mnli", "MNLI"), ("mnli-mm", "MNLI"), ("cola", "CoLA"), ("qnli", "QNLI")):
        p = processors.get_processor(task)
        assert {p.TRAIN_FILE, p.DEV_FILE, p.TEST_FILE} <= set(downloads.GLUE_TASKS[folder].files)


def test_real_model_catalog_is_well_formed():
    models = downloads.MODELS
    assert len(models) == 9 + 24
    small = [m for m in models.values() if m.release == "2020-02-20"]
    assert sorted((int(s), int(h)) for s, h in (re.search(r"L-(\d+)_H-(\d+)", m.name).groups() for m in small)) == \
        [(L, H) for L in (2, 4, 6, 8, 10, 12) for H in (128, 256, 512, 768)]
    for m in models.values():
        d = m.download
        assert d.url.startswith("https://storage.googleapis.com/bert_models/"), d.url
        assert d.url.endswith(".zip") and f"/{m.release.replace('-', '_')}/" in d.url
        assert d.sha256 is None or HEX64.match(d.sha256)
        assert d.size is None or d.size > 0
        for name, digest in (m.members or {}).items():
            assert name in downloads.REQUIRED_MODEL_FILES or name.startswith("bert_model.ckpt.")
            assert HEX64.match(digest)
        L, H, A = map(int, re.search(r"_L-(\d+)_H-(\d+)_A-(\d+)", m.name).groups())
        assert A == H // 64
    # Google's README names: these four exist, the 2020 BERT-Base does not shadow 2018's.
    for name in ("uncased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16", "multi_cased_L-12_H-768_A-12",
                 "wwm_uncased_L-24_H-1024_A-16"):
        assert name in models
    assert models["uncased_L-12_H-768_A-12"].download.url.endswith("/2018_10_18/uncased_L-12_H-768_A-12.zip")
    assert models["uncased_L-12_H-768_A-12_2020_02_20"].download.url.endswith(
        "/2020_02_20/uncased_L-12_H-768_A-12.zip")


def test_bert_base_facts_agree_with_scripts_lib():
    """scripts/lib.sh verifies BERT-Base, Uncased with the same size and member hashes."""
    lib = open(os.path.join(PROJECT_ROOT, "scripts", "lib.sh")).read()
    model = downloads.MODELS["uncased_L-12_H-768_A-12"]
    assert f"BERT_BASE_UNCASED_SIZE={model.download.size}" in lib
    assert f'BERT_URL_DEFAULT="{model.download.url}"' in lib
    for name, digest in model.members.items():
        assert f'"{name} {digest}"' in lib


# ------------------------------------------------------------------------------ locations, launcher
def _bash_value(expression: str, **env: str) -> str:
    script = f'source "{PROJECT_ROOT}/scripts/lib.sh"; printf "%s" {expression}'
    full_env = {k: v for k, v in os.environ.items() if k != downloads.MODEL_CACHE_ENV}
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env={**full_env, **env}, check=True)
    return r.stdout


def test_scripts_and_python_share_the_default_locations(monkeypatch, tmp_path):
    monkeypatch.delenv(downloads.MODEL_CACHE_ENV, raising=False)
    assert _bash_value('"$MODEL_CACHE_DIR"') == downloads.default_model_cache() == \
        os.path.join(PROJECT_ROOT, ".cache", "models")
    assert _bash_value('"$GLUE_DIR_DEFAULT"') == downloads.default_glue_dir() == os.path.join(PROJECT_ROOT, "glue_data")
    monkeypatch.setenv(downloads.MODEL_CACHE_ENV, str(tmp_path))
    assert _bash_value('"$MODEL_CACHE_DIR"', **{downloads.MODEL_CACHE_ENV: str(tmp_path)}) == \
        downloads.default_model_cache() == str(tmp_path)


def test_launcher_help_and_offline_failure(tmp_path):
    launcher = os.path.join(PROJECT_ROOT, "fetch.py")
    r = subprocess.run([sys.executable, launcher, "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "glue" in r.stdout and "model" in r.stdout and "--mirror" in r.stdout
    # The real catalog, a mirror with nothing in it: one line, exit status 1.
    r = subprocess.run([sys.executable, launcher, "glue", "--data_dir", str(tmp_path / "g"), "--tasks", "RTE",
                        "--mirror", str(tmp_path / "empty")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"fetch.py: error: could not download file://{tmp_path}/empty/glue/data/RTE.zip (no such file): "
        f"download it by hand and put it at {tmp_path}/g/RTE.zip, then run again"]
    assert not (tmp_path / "g").exists()


def load_reproduce_glue():
    """scripts/reproduce_glue.py as a module (it is a launcher, not in a package)."""
    spec = importlib.util.spec_from_file_location("reproduce_glue", os.path.join(PROJECT_ROOT, "scripts",
                                                                                  "reproduce_glue.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reproduce_glue_fetches_missing_tasks_and_named_models(capsys, tmp_path, server, monkeypatch):
    launcher = load_reproduce_glue()
    monkeypatch.setenv("FETCH_MIRROR", server.url)
    monkeypatch.setenv(downloads.MODEL_CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(downloads, "default_glue_dir", lambda: str(tmp_path / "glue_data"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "glue_data" / "CoLA").mkdir(parents=True)  # there: not fetched
    argv = launcher.complete(["--tasks", "mrpc", "cola", "--bert_dir", MODEL_NAME, "--output_dir", "out",
                              "--", "--bert_dir", MODEL_NAME], GLUE_CATALOG, MODEL_CATALOG)
    model_dir = f"{tmp_path}/cache/{MODEL_NAME}"
    assert argv == ["--tasks", "mrpc", "cola", "--bert_dir", model_dir, "--output_dir", "out",
                    f"--glue_dir={tmp_path}/glue_data", "--", "--bert_dir", MODEL_NAME]
    captured = capsys.readouterr()
    assert captured.out == f"MRPC: 4 train / 2 dev / 3 test rows in {tmp_path}/glue_data/MRPC (sha256 ok)\n"
    assert captured.err.startswith(f"{MODEL_NAME}: downloaded to {model_dir}")
    assert os.path.isfile(os.path.join(model_dir, "bert_config.json"))
    assert server.count(f"{GLUE}/CoLA.zip") == 0

    # Everything there: nothing fetched; the --bert_dir=NAME form; a path is kept as given.
    requests = len(server.requests)
    argv = launcher.complete(["--tasks", "MRPC", f"--bert_dir={MODEL_NAME}", "--glue_dir", "glue_data"],
                             GLUE_CATALOG, MODEL_CATALOG)
    assert argv == ["--tasks", "MRPC", f"--bert_dir={model_dir}", "--glue_dir", "glue_data"]
    os.makedirs(tmp_path / MODEL_NAME)
    argv = ["--tasks", "MRPC", "--bert_dir", MODEL_NAME, "--glue_dir", "glue_data"]
    assert launcher.complete(argv, GLUE_CATALOG, MODEL_CATALOG) == argv
    assert len(server.requests) == requests
