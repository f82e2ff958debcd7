"""Faults, end to end through the command line, with the tiny model:

* a full disk: one line `run_classifier.py: error: no space left on device writing
  <path>`, exit status 1, no temporary files left, the earlier checkpoint restorable.
  On a real, small tmpfs when this process may mount one (root); else a simulated
  ENOSPC of the checkpoint write;
* two runs on one --output_dir: the second refused, naming the first's pid; the lock of
  a run killed with kill -9 taken over by the next run (in-process: a hand-written
  lock of a dead pid taken over too; of a live pid, or of another host, never);
* SIGTERM during training: exit status 143, one line naming the step, a checkpoint of
  that step, and the rerun of the same command resuming there and ending at
  num_train_steps;
* bytes that are not UTF-8, with and without a BOM: the message names the byte and its
  line, for a task's data file, the vocabulary, and predict.py's input.
"""

from __future__ import annotations

import datetime
import errno
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import PROJECT_ROOT, run_cli, run_log
from tests.test_bad_input import error_lines, snippet_sentences, write_mrpc

RUN_CLASSIFIER = os.path.join(PROJECT_ROOT, "run_classifier.py")
PREDICT = os.path.join(PROJECT_ROOT, "predict.py")
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}
ERROR = "run_classifier.py: error: "


def train_args(data_dir, model_dir, output_dir, epochs) -> list[str]:
    """A csv-task training of the tiny model, 16 steps an epoch (64 examples, batch 4),
    the only checkpoints those of step 0 and the end (or of a stop), a progress line
    every step."""
    return ["--task_name=csv", f"--data_dir={data_dir}", f"--output_dir={output_dir}",
            f"--vocab_file={model_dir}/vocab.txt", f"--bert_config_file={model_dir}/bert_config.json",
            f"--init_checkpoint={model_dir}/bert_model.ckpt", "--max_seq_length=16", "--train_batch_size=4",
            f"--num_train_epochs={epochs}", "--do_train", "--save_checkpoints_steps=100000",
            "--log_every_seconds=0", "--write_reports=false", "--seed=1"]


def last_line(stderr: str) -> str:
    lines = error_lines(stderr)
    return lines[-1] if lines else ""


def checkpoint_steps(output_dir) -> list[int]:
    """The steps of the complete checkpoints in `output_dir`."""
    return sorted(int(re.search(r"ckpt-(\d+)\.index$", p).group(1))
                  for p in glob.glob(os.path.join(output_dir, "model.ckpt-*.index")))


def restored_step(output_dir) -> int:
    """Reads every tensor of the latest checkpoint (it must restore); returns its global_step."""
    import tensorflow.compat.v1 as tf

    path = tf.train.latest_checkpoint(str(output_dir))
    assert path, f"no checkpoint in {output_dir}"
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)
    return int(reader.get_tensor("global_step"))


def temporary_files(directory) -> list[str]:
    """What an interrupted write leaves: TF's `*_temp*` checkpoint staging, `.tmp` files."""
    found = []
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            if re.search(r"_temp|\.tmp|tempstate", name):
                found.append(os.path.join(root, name))
    return found


class Run:
    """A command-line run whose output (stdout and stderr) is read as it comes."""

    def __init__(self, args: list[str]):
        self.proc = subprocess.Popen(
            [sys.executable, RUN_CLASSIFIER, *args], cwd=PROJECT_ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=PROJECT_ROOT, **ENV))
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.lines.append(None)  # end of output
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match:
        """The first output line matching `pattern`, waiting for it."""
        regex = re.compile(pattern)
        deadline = time.time() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    assert line is not None, f"exited before {pattern!r}:\n" + "\n".join(self.lines[-30:-1])
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                left = deadline - time.time()
                assert left > 0, f"no {pattern!r} in {timeout} s:\n" + "\n".join(self.lines[-30:])
                self._changed.wait(left)

    def finish(self, timeout: float = 300) -> tuple[int, str]:
        """(exit status, output)."""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code, "\n".join(line for line in self.lines if line is not None)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()


@pytest.fixture()
def start_run():
    """`start_run(args) -> Run`: starts run_classifier.py; any run still going when the
    test ends is killed."""
    started: list[Run] = []

    def start(args: list[str]) -> Run:
        started.append(Run(args))
        return started[-1]

    yield start
    for run in started:
        if run.proc.poll() is None:
            os.kill(run.pid, signal.SIGCONT)
        run.kill()


# ------------------------------------------------------------------------ a full disk
# A TensorFlow checkpoint write that fails as on a full disk, where no file system can
# be mounted: from `ENOSPC_FROM_STEP` on, Saver.save leaves TF's staging directory and
# raises TF's error, the path and text as TF's C++ file system gives them.
SIMULATED_ENOSPC = r"""
import numbers, os, runpy, sys
import tensorflow.compat.v1 as tf
from tensorflow.python.training import saver, training_util

_save = saver.Saver.save

def save(self, sess, save_path, global_step=None, *args, **kwargs):
    step = global_step if isinstance(global_step, numbers.Integral) else training_util.global_step(sess, global_step)
    if global_step is not None and step >= int(os.environ["ENOSPC_FROM_STEP"]):
        staging = f"{save_path}-{step}_temp"
        os.makedirs(staging, exist_ok=True)
        part = os.path.join(staging, "part-00000-of-00001.data-00000-of-00001.tempstate1674177479647509645")
        open(part, "wb").close()
        raise tf.errors.ResourceExhaustedError(None, None, (
            "Graph execution error:\n\nDetected at node 'save/SaveV2' defined at (most recent call last):\n"
            f"Node: 'save/SaveV2'\n{part}; No space left on device\n\t [[{{{{node save/SaveV2}}}}]]"))
    return _save(self, sess, save_path, global_step, *args, **kwargs)

saver.Saver.save = save
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _mount_tmpfs(path, size_mb: int) -> bool:
    if os.environ.get("BERT_TEST_SIMULATE_ENOSPC"):
        return False
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def _fill(path, leave_bytes: int) -> None:
    """Fills the file system of `path` but `leave_bytes`."""
    stat = os.statvfs(path)
    size = stat.f_bavail * stat.f_frsize - leave_bytes
    assert size > 0
    fd = os.open(os.path.join(path, "filler"), os.O_WRONLY | os.O_CREAT)
    try:
        os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)


def test_disk_full_is_one_line_and_keeps_the_last_checkpoint(tiny_bert_dir, sentiment_dir, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "out"
    mounted = _mount_tmpfs(disk, 64)
    try:
        # 8 steps: checkpoints 0 and 8, about 30 MB (12 MB each: the weights and Adam's slots).
        r = run_cli([RUN_CLASSIFIER, *train_args(sentiment_dir, tiny_bert_dir, out, 0.5)], env=ENV)
        assert r.returncode == 0, r.stderr[-3000:]
        assert checkpoint_steps(out) == [0, 8]

        # To 16 steps with 8 MB free: the next checkpoint (12 MB) does not fit.
        longer = train_args(sentiment_dir, tiny_bert_dir, out, 1)
        if mounted:
            _fill(disk, 8 << 20)
            r = run_cli([RUN_CLASSIFIER, *longer], env=ENV)
        else:
            script = tmp_path / "simulated_enospc.py"
            script.write_text(SIMULATED_ENOSPC)
            r = run_cli([str(script), RUN_CLASSIFIER, *longer], env=dict(ENV, ENOSPC_FROM_STEP="9"))
        assert r.returncode == 1, r.stderr[-3000:]
        line = last_line(r.stderr)
        print(f"[reliability] {'tmpfs' if mounted else 'simulated'}: {line}")
        assert re.fullmatch(re.escape(f"{ERROR}no space left on device writing {out}/model.ckpt-") + r"\d+", line), \
            r.stderr[-3000:]
        assert "Traceback" not in r.stderr
        assert temporary_files(out) == []
        assert not (out / ".lock").exists()
        assert checkpoint_steps(out) == [0, 8]
        assert restored_step(out) == 8
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], check=False)


# --------------------------------------------------------------- one run per directory
def test_second_run_is_refused_and_a_killed_runs_lock_taken_over(tiny_bert_dir, sentiment_dir, tmp_path, start_run):
    out = tmp_path / "out"
    args = train_args(sentiment_dir, tiny_bert_dir, out, 4)  # 64 steps
    first = start_run(args)
    first.wait_for(r"train step \d+/64")
    os.kill(first.pid, signal.SIGSTOP)  # holds the lock, mid-training, for as long as we need
    with open(out / ".lock", encoding="utf-8") as f:
        holder = json.load(f)
    assert (holder["pid"], holder["host"]) == (first.pid, socket.gethostname())
    files = sorted(os.listdir(out))

    second = run_cli([RUN_CLASSIFIER, *args], env=ENV)
    assert second.returncode == 1, second.stderr[-3000:]
    line = last_line(second.stderr)
    print(f"[reliability] {line}")
    assert line == (f"{ERROR}--output_dir {out} is in use by pid {first.pid} on host {socket.gethostname()} "
                    f"since {holder['since']} (lock file {out}/.lock)")
    assert sorted(os.listdir(out)) == files  # the second run wrote nothing

    first.proc.kill()  # kill -9, while stopped
    assert first.finish()[0] == -signal.SIGKILL
    assert os.path.exists(out / ".lock")  # left behind, naming a pid that is gone

    third = run_cli([RUN_CLASSIFIER, *args], env=ENV)
    assert third.returncode == 0, third.stderr[-3000:]
    assert (f"Taking over the lock of {out}: pid {first.pid} on this host ({socket.gethostname()}) is gone"
            in third.stderr)
    assert restored_step(out) == 64
    assert not os.path.exists(out / ".lock")


def _write_lock(directory, host: str, pid: int) -> None:
    directory.mkdir(exist_ok=True)
    since = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    (directory / ".lock").write_text(json.dumps({"host": host, "pid": pid, "since": since}))


def test_lock_holders_that_are_gone_or_not(tmp_path):
    """A dead pid on this host is taken over; a live pid, or another host's, never."""
    from bert_estimator.core.errors import UsageError
    from bert_estimator.training.output_lock import OutputDirLock

    dead = subprocess.Popen(["true"])
    dead.wait()
    _write_lock(tmp_path / "dead", socket.gethostname(), dead.pid)
    with OutputDirLock(str(tmp_path / "dead")):
        assert json.loads((tmp_path / "dead" / ".lock").read_text())["pid"] == os.getpid()
    assert not (tmp_path / "dead" / ".lock").exists()

    live = subprocess.Popen(["sleep", "60"])
    try:
        _write_lock(tmp_path / "live", socket.gethostname(), live.pid)
        with pytest.raises(UsageError, match=f"is in use by pid {live.pid} on host {socket.gethostname()}"):
            OutputDirLock(str(tmp_path / "live")).acquire()
    finally:
        live.kill()
        live.wait()
    _write_lock(tmp_path / "remote", "another-host", dead.pid)
    with pytest.raises(UsageError, match=f"is in use by pid {dead.pid} on host another-host"):
        OutputDirLock(str(tmp_path / "remote")).acquire()
    for name in ("live", "remote"):
        assert json.loads((tmp_path / name / ".lock").read_text())["pid"] != os.getpid()  # untouched


# --------------------------------------------------------------------------- SIGTERM
def test_sigterm_saves_the_step_and_the_rerun_resumes_there(tiny_bert_dir, sentiment_dir, tmp_path, start_run):
    out = tmp_path / "out"
    args = train_args(sentiment_dir, tiny_bert_dir, out, 8)  # 128 steps
    run = start_run(args)
    run.wait_for(r"train step [3-9]/128")
    os.kill(run.pid, signal.SIGTERM)
    code, output = run.finish()
    line = output.splitlines()[-1]
    print(f"[reliability] {line}")
    match = re.fullmatch(re.escape(f"{ERROR}training stopped by SIGTERM at step ") + r"(\d+)" +
                         re.escape(f"; its checkpoint is saved in {out}: rerun the same command to resume "
                                   "from step ") + r"\1", line)
    assert match, output[-3000:]
    assert code == 128 + signal.SIGTERM == 143
    step = int(match.group(1))
    assert 3 <= step < 128
    assert checkpoint_steps(out) == [0, step]
    assert restored_step(out) == step
    assert not (out / ".lock").exists()

    r = run_cli([RUN_CLASSIFIER, *args], env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"Restoring parameters from {out}/model.ckpt-{step}" in run_log(out, last_run=True)
    assert re.findall(r"train step (\d+)/128", r.stderr)[0] == str(step + 1)
    assert checkpoint_steps(out)[-1] == 128
    assert restored_step(out) == 128


# ------------------------------------------------------- a damaged latest checkpoint
def _truncate(path, keep: float = 0.5) -> None:
    """Cuts the file at `path` short, as a copy stopped midway or a full disk leaves it."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:int(len(data) * keep)])


def test_truncated_latest_checkpoint_resumes_from_the_intact_one(tiny_bert_dir, sentiment_dir, tmp_path):
    out = tmp_path / "out"
    r = run_cli([RUN_CLASSIFIER, *train_args(sentiment_dir, tiny_bert_dir, out, 0.5)], env=ENV)  # 8 steps
    assert r.returncode == 0, r.stderr[-3000:]
    assert checkpoint_steps(out) == [0, 8]
    _truncate(out / "model.ckpt-8.data-00000-of-00001")

    # Without --do_train nothing is written, and the line says how to go on.
    r = run_cli([RUN_CLASSIFIER, *[a for a in train_args(sentiment_dir, tiny_bert_dir, out, 1) if a != "--do_train"],
                 "--do_eval"], env=ENV)
    assert r.returncode == 1
    assert last_line(r.stderr).startswith(f"{ERROR}the latest checkpoint {out}/model.ckpt-8 cannot be read ("), \
        r.stderr[-3000:]
    assert last_line(r.stderr).endswith(f"rerun with --do_train to go back to {out}/model.ckpt-0, the newest "
                                        "intact checkpoint, and train from there")
    assert checkpoint_steps(out) == [0, 8]

    r = run_cli([RUN_CLASSIFIER, *train_args(sentiment_dir, tiny_bert_dir, out, 1)], env=ENV)  # to 16 steps
    assert r.returncode == 0, r.stderr[-3000:]
    warning = [line for line in r.stderr.splitlines() if "cannot be read" in line]
    assert len(warning) == 1, r.stderr[-3000:]
    print(f"[reliability] {warning[0]}")
    assert f"the latest checkpoint {out}/model.ckpt-8 cannot be read (" in warning[0]
    assert warning[0].endswith(f"going back to {out}/model.ckpt-0, the newest intact checkpoint, and training "
                               "from there (the damaged files are deleted)")
    assert "Traceback" not in r.stderr
    assert f"Restoring parameters from {out}/model.ckpt-0" in run_log(out)
    assert re.findall(r"train step (\d+)/16", r.stderr)[0] == "1"
    assert checkpoint_steps(out) == [0, 16]
    assert restored_step(out) == 16
    # The checkpoint file lists the directory's checkpoints by their names, as the Estimator writes it.
    state = (out / "checkpoint").read_text()
    assert 'model_checkpoint_path: "model.ckpt-16"' in state and "model.ckpt-8" not in state


def test_no_intact_checkpoint_stops_with_one_line(tiny_bert_dir, sentiment_dir, tmp_path):
    out = tmp_path / "out"
    r = run_cli([RUN_CLASSIFIER, *train_args(sentiment_dir, tiny_bert_dir, out, 0.5)], env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    for step in (0, 8):
        _truncate(out / f"model.ckpt-{step}.data-00000-of-00001")
    before = sorted(os.listdir(out))
    r = run_cli([RUN_CLASSIFIER, *train_args(sentiment_dir, tiny_bert_dir, out, 1)], env=ENV)
    assert r.returncode == 1
    line = last_line(r.stderr)
    print(f"[reliability] {line}")
    assert line.startswith(f"{ERROR}the latest checkpoint {out}/model.ckpt-8 cannot be read ("), r.stderr[-3000:]
    assert line.endswith(f", nor can the 1 before it, and no checkpoint of {out} is intact: remove its "
                         "model.ckpt-* files and its checkpoint file to train from --init_checkpoint again")
    assert "Traceback" not in r.stderr
    assert sorted(os.listdir(out)) == before  # nothing written


# ---------------------------------------------------------------- bytes not UTF-8
BOMS = pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no_bom", "bom"])


def _latin1_line(text: str) -> bytes:
    """A line starting with a Latin-1 byte (0xe9): were a BOM miscounted, the byte
    named would be another one, on the line before."""
    return ("\xe9t\xe9: " + text + "\n").encode("latin-1", errors="replace")


@BOMS
def test_non_utf8_task_file(tiny_bert_dir, tmp_path, bom):
    data = write_mrpc(tmp_path / "mrpc")
    dev = os.path.join(data, "dev.tsv")
    with open(dev, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    a, b = snippet_sentences(2)
    lines[4] = b"1\t7\t8\t" + _latin1_line(f"{a}\t{b}")  # line 5
    with open(dev, "wb") as f:
        f.write(bom + b"".join(lines))
    out = tmp_path / "out"
    r = run_cli([RUN_CLASSIFIER, "--task_name=mrpc", f"--data_dir={data}", f"--output_dir={out}",
                 f"--vocab_file={tiny_bert_dir}/vocab.txt", f"--bert_config_file={tiny_bert_dir}/bert_config.json",
                 f"--init_checkpoint={tiny_bert_dir}/bert_model.ckpt", "--do_eval"], env=ENV)
    assert r.returncode == 1
    line = last_line(r.stderr)
    print(f"[reliability] {line}")
    assert line.startswith(f"{ERROR}{dev} line 5: byte 0xe9 is not valid UTF-8; re-encode"), r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    assert not out.exists()


@BOMS
def test_non_utf8_vocab(tiny_bert_dir, sentiment_dir, tmp_path, bom):
    with open(os.path.join(tiny_bert_dir, "vocab.txt"), "rb") as f:
        lines = f.read().splitlines(keepends=True)
    lines[1999] = b"\xe9t\xe9\n"  # line 2000
    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes(bom + b"".join(lines))
    out = tmp_path / "out"
    r = run_cli([RUN_CLASSIFIER, *train_args(sentiment_dir, tiny_bert_dir, out, 1), f"--vocab_file={vocab}"],
                env=ENV)
    assert r.returncode == 1
    line = last_line(r.stderr)
    print(f"[reliability] {line}")
    assert line == f"{ERROR}--vocab_file: vocab file {vocab} line 2000: byte 0xe9 is not valid UTF-8", \
        r.stderr[-3000:]
    assert not out.exists()


@BOMS
def test_non_utf8_predict_input(tmp_path, bom):
    texts = tmp_path / "texts.txt"
    a, b, c = snippet_sentences(3)
    texts.write_bytes(bom + f"{a}\r\n\r\n{b}\r\n".encode() + _latin1_line(c))
    # The input is read before the export is loaded: any directory will do.
    r = run_cli([PREDICT, f"--export_dir={tmp_path}", f"--input_file={texts}"], env=ENV)
    assert r.returncode == 1
    assert r.stdout == ""
    lines = error_lines(r.stderr)
    print(f"[reliability] {lines}")
    assert lines == [f"predict.py: error: {texts} line 4: byte 0xe9 is not valid UTF-8; re-encode the file as "
                     "UTF-8 (e.g. iconv -f latin1 -t utf-8)"]


def test_storage_errors_name_the_file_being_written():
    """The message names the file a write was producing, from TF's text or Python's
    OSError: not a node name of TF's error text, not a temporary name."""
    from bert_estimator.core.errors import storage_error

    tf_text = ("Graph execution error:\n\nDetected at node 'save/SaveV2' defined at (most recent call last):\n"
               '  File "/work/run_classifier.py", line 9, in <module>\nNode: \'save/SaveV2\'\n'
               "/out/model.ckpt-8_temp/part-00000-of-00001.data-00000-of-00001.tempstate167417; No space left "
               "on device\n\t [[{{node save/SaveV2}}]]")
    assert storage_error(RuntimeError(tf_text)) == "no space left on device writing /out/model.ckpt-8"
    assert storage_error(OSError(errno.ENOSPC, "No space left on device", "/out/.train.tf_record.tmp-12-0a1b2c3d")) \
        == "no space left on device writing /out/train.tf_record"
    assert storage_error(OSError(errno.EROFS, "Read-only file system", "/out/eval_results.txt")) \
        == "read-only file system writing /out/eval_results.txt"
    assert storage_error(RuntimeError("gs://b/o/checkpoint.tmp0123456789abcdef0123456789abcdef; Disk quota "
                                      "exceeded")) == "disk quota exceeded writing gs://b/o/checkpoint"
    assert storage_error(ValueError("no such thing")) is None


# ------------------------------------------------------------------ verified feature cache
def _record_count(path) -> int:
    import tensorflow.compat.v1 as tf

    return sum(1 for _ in tf.io.tf_record_iterator(str(path)))


@pytest.fixture(scope="module")
def trained_once(tiny_bert_dir, sentiment_dir, tmp_path_factory):
    """An output dir after a complete 1-epoch training: train.tf_record (64 records) and its sidecar."""
    out = tmp_path_factory.mktemp("cache") / "out"
    r = run_cli([RUN_CLASSIFIER, *train_args(sentiment_dir, tiny_bert_dir, out, 1)], env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


@pytest.mark.parametrize("cut", ["record_boundary", "mid_record"])
def test_truncated_cache_is_rebuilt_and_training_reads_every_example(trained_once, tiny_bert_dir, sentiment_dir,
                                                                     tmp_path, cut):
    summary = json.loads((trained_once / "train.tf_record.fingerprint").read_text())
    assert summary["records"] == _record_count(trained_once / "train.tf_record") == 64
    out = tmp_path / "out"
    out.mkdir()
    data = (trained_once / "train.tf_record").read_bytes()
    boundary = 0
    for _ in range(32):  # TFRecord framing: 8-byte length, 4-byte CRC, data, 4-byte CRC
        boundary += 16 + int.from_bytes(data[boundary:boundary + 8], "little")
    size = boundary + (0 if cut == "record_boundary" else 7)
    (out / "train.tf_record").write_bytes(data[:size])
    (out / "train.tf_record.fingerprint").write_text(json.dumps(summary))

    r = run_cli([RUN_CLASSIFIER, *train_args(sentiment_dir, tiny_bert_dir, out, 1)], env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    tail = "" if cut == "record_boundary" else ", the last 7 bytes a cut record"
    assert f"train.tf_record is damaged (32 of 64 records, {size} of {summary['bytes']} bytes{tail}): rebuilding" \
        in r.stderr
    assert _record_count(out / "train.tf_record") == 64
    assert (out / "train.tf_record").read_bytes() == data  # the same records as the first build
    assert restored_step(out) == 16  # 64 examples / batch 4: every example of the epoch read once


def test_cache_damaged_after_its_check_stops_with_one_line(trained_once, tiny_bert_dir, sentiment_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    data = bytearray((trained_once / "train.tf_record").read_bytes())
    data[100] ^= 0xFF  # inside the first record's data: size and framing unchanged, its CRC broken
    (out / "train.tf_record").write_bytes(bytes(data))
    (out / "train.tf_record.fingerprint").write_bytes((trained_once / "train.tf_record.fingerprint").read_bytes())

    r = run_cli([RUN_CLASSIFIER, *train_args(sentiment_dir, tiny_bert_dir, out, 1)], env=ENV)
    assert r.returncode == 1
    line = last_line(r.stderr)
    assert line.startswith(f"{ERROR}{out / 'train.tf_record'} is damaged (")
    assert line.endswith("delete it and rerun the same command, which rebuilds it from the data")
    assert "Traceback" not in r.stderr
