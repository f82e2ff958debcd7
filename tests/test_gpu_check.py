"""Tests of gpu_check.py (bert_estimator/tools/gpu_check.py), the self-check of the GPU code paths.

* On any machine with CUDA_VISIBLE_DEVICES="" (this one has no GPU anyway) the command
  says in one line that there is no GPU, checks the CPU path and exits 0;
* a planted mismatch (one initial weight moved by 1e-3 in the runs under test) makes
  it print FAIL rows and exit 1;
* what it would run and conclude on GPUs (the plan, the verdicts on runs that did not
  use the GPU, XLA or float16, a run that crashes) on synthetic results;
* `gpu`: the full check, where TensorFlow sees a GPU; skipped with the reason elsewhere.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import tensorflow as tf

from bert_estimator.core import hardware
from bert_estimator.tools import gpu_check, gpu_checks, gpu_training
from bert_estimator.training import distribution
from tests.conftest import PROJECT_ROOT, run_cli

GPU_CHECK = os.path.join(PROJECT_ROOT, "gpu_check.py")
NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}
FIELDS = ("check", "device", "vs", "loss", "weight", "update", "tolerance", "result", "note")


def table(stdout: str) -> dict:
    """The rows of the printed table, {check: {field: cell}}."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("---------"))
    rows = {}
    for line in lines[start + 1:]:
        if line.startswith(("(", gpu_checks.PROG)):
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = dict(zip(FIELDS, cells + [""] * (len(FIELDS) - len(cells))))
    return rows


def test_without_a_gpu_it_says_so_and_checks_the_cpu_path():
    r = run_cli([GPU_CHECK], env=NO_GPU, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    said = [line for line in r.stdout.splitlines() if "no GPU" in line]
    assert said == ["gpu_check.py: no GPU visible to TensorFlow 2.15.1 (CUDA_VISIBLE_DEVICES=''; install and "
                    "drivers: see docs/GPU.md); checking the CPU path only"]
    assert "  CPU:0  " in r.stdout
    rows = table(r.stdout)
    assert list(rows) == ["float32", "xla", "amp", "mirrored"]
    assert {row["result"] for row in rows.values()} == {"ok"}
    assert rows["float32"]["loss"] == rows["float32"]["weight"] == rows["float32"]["update"] == "0"  # deterministic
    assert rows["xla"]["tolerance"] == "1e-05 / 1e-04 / 1e-04" and "XLA clusters" in rows["xla"]["note"]
    assert rows["amp"]["tolerance"] == "1e-02 / - / 1e-01"
    assert rows["mirrored"]["device"] == "2x CPU" and "2 replicas" in rows["mirrored"]["note"]
    # oneDNN rewrites to bfloat16 where the CPU has it natively; elsewhere it may skip the
    # rewrite (seen on a CPU without AVX-512): the note and the numbers must then agree.
    rewritten = "bfloat16 ops" in rows["amp"]["note"]
    assert rewritten or not hardware.cpu_has_bfloat16()
    if rewritten:
        assert float(rows["amp"]["loss"]) > 0  # bfloat16 did change the numbers
    else:
        # float32 throughout; only the loss scaling's rounding is left (within float32's tolerance)
        assert "the bfloat16 rewrite changed nothing" in rows["amp"]["note"]
        assert float(rows["amp"]["loss"]) <= gpu_checks.TOLERANCES["float32"].loss
    assert re.search(r"4 ok, 0 FAIL, 0 skipped; 5 runs of 20 steps in [\d.]+ s", r.stdout), r.stdout


def test_a_planted_mismatch_fails():
    r = run_cli([GPU_CHECK, "--variants=float32,xla", "--perturb_weight=1e-3"], env=NO_GPU, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    rows = table(r.stdout)
    assert rows["float32"]["result"] == rows["xla"]["result"] == "FAIL", r.stdout
    assert float(rows["xla"]["weight"]) >= 1e-3  # the planted difference, far above 1e-4
    assert "0 ok, 2 FAIL" in r.stdout


@pytest.mark.parametrize("flag, message", [
    ("--variants=float32,fp8", "gpu_check.py: error: --variants 'float32,fp8': choose from float32, tf32,"),
    ("--tolerance_scale=-1", "gpu_check.py: error: --tolerance_scale must be >= 0, got -1.0"),
])
def test_bad_flags_are_one_line_errors(flag, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main([flag])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


# ------------------------------------------------- the GPU logic, on synthetic results
def _gpus(count: int, capability=(8, 0)) -> list:
    return [(f"/device:GPU:{i}", capability) for i in range(count)]


def test_plan_on_one_older_gpu():
    checks = gpu_checks.plan(_gpus(1, (7, 5)), gpu_checks.VARIANTS)
    assert [(c.spec.name, c.spec.device_label, c.reference and c.reference.name, c.tolerance) for c in checks] == [
        ("float32", "GPU:0", "CPU float32", "float32"),
        ("tf32", "GPU:0", None, "float32"),
        ("xla", "GPU:0", "CPU xla", "float32"),
        ("amp", "GPU:0", "CPU float32", "reduced"),
        ("mirrored", "GPU:0", None, "float32")]
    assert "7.5 < 8.0" in checks[1].note and "1 is visible" in checks[4].note
    assert not any(c.spec.tf32 for c in checks if c.spec.name != "tf32")  # float32 means float32


def test_amp_on_a_gpu_older_than_volta_is_float32_and_not_a_failure():
    check = gpu_checks.plan(_gpus(1, (6, 0)), ["amp"])[0]
    assert "compute capability < 7.0" in check.note and not check.needs_float16
    ok, row = gpu_checks.evaluate(check, _result(), _result(), INIT, 1.0)
    assert ok, row


def test_plan_on_several_ampere_gpus():
    checks = {c.spec.name: c for c in gpu_checks.plan(_gpus(3), gpu_checks.VARIANTS)}
    assert checks["tf32"].reference == gpu_checks.CPU_FLOAT32 and checks["tf32"].tolerance == "reduced"
    assert checks["mirrored"].spec.devices == ("/device:GPU:0", "/device:GPU:1")  # a batch of 8 splits in 2
    assert "2 of 3 GPUs" in checks["mirrored"].note
    assert gpu_checks.plan(_gpus(4), ["mirrored"])[0].spec.devices == tuple(d for d, _ in _gpus(4))


def _result(shift=0.0, counts=None, losses=None):
    weights = {"w": [np.full((2, 2), 1.0 + shift, np.float32)]}
    counts = dict({"target": 100, "xla": 0, "low_precision": 0}, **(counts or {}))
    return gpu_checks.Result(np.full(20, 0.7) if losses is None else losses, weights, counts)


INIT = {"w": np.zeros((2, 2), np.float32)}


@pytest.mark.parametrize("spec, run, ok, note", [
    (gpu_checks.Spec("float32", ("/device:GPU:0",)), _result(1e-6), True, ""),
    (gpu_checks.Spec("float32", ("/device:GPU:0",)), _result(1e-3), False, ""),
    (gpu_checks.Spec("float32", ("/device:GPU:0",)), _result(counts={"target": 0}), False, "no op ran on a GPU"),
    (gpu_checks.Spec("float32", ("/device:GPU:0",)), _result(losses=np.full(20, np.nan)), False, ""),
    (gpu_checks.Spec("xla", ("/device:GPU:0",), use_xla=True), _result(), False, "XLA compiled nothing"),
    (gpu_checks.Spec("xla", ("/device:GPU:0",), use_xla=True), _result(counts={"xla": 3}), True, "3 XLA clusters"),
    (gpu_checks.Spec("amp", ("/device:GPU:0",), use_amp=True), _result(), False, "float16 rewrite changed nothing"),
    (gpu_checks.Spec("amp", ("/device:GPU:0",), use_amp=True), _result(2e-2, {"low_precision": 9}), True,
     "9 float16 ops"),
])
def test_verdicts(spec, run, ok, note):
    tolerance = "reduced" if spec.use_amp else "float32"
    got_ok, row = gpu_checks.evaluate(gpu_checks.Check(spec, gpu_checks.CPU_FLOAT32, tolerance), run, _result(),
                                     INIT, 1.0)
    assert got_ok is ok, row
    assert ("ok" if ok else "FAIL") in row.split() and note in row


def test_the_checks_name_the_logical_cpus_variable_of_distribution():
    assert gpu_checks.LOGICAL_CPUS_ENV == distribution.LOGICAL_CPUS_ENV


def test_a_crashing_run_is_a_fail_row_and_the_others_still_run(monkeypatch, capsys):
    def train(spec, data, init):
        if spec.use_xla and spec.device_type == "GPU":
            raise RuntimeError("XLA compilation failed\nmore detail")
        return _result(counts={"xla": 2, "low_precision": 5})

    monkeypatch.setattr(gpu_training, "train", train)
    monkeypatch.setattr(gpu_training, "initial_values", lambda: INIT)
    failed, runs = gpu_training.run_checks(gpu_checks.plan(_gpus(2), ["float32", "xla", "amp"]), 1.0)
    rows = table(capsys.readouterr().out)
    assert (failed, runs) == (1, 5)
    assert rows["xla"]["result"] == "FAIL" and rows["xla"]["note"] == "RuntimeError: XLA compilation failed"
    assert rows["float32"]["result"] == rows["amp"]["result"] == "ok"


# ------------------------------------------------------------------------ on a GPU
@pytest.mark.gpu
@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="no GPU visible to TensorFlow")
def test_the_full_check_passes_on_this_gpu():
    r = run_cli([GPU_CHECK], timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = table(r.stdout)
    assert rows["float32"]["device"] == "GPU:0" and rows["float32"]["result"] == "ok"
    assert {row["result"] for row in rows.values()} <= {"ok", "skip"}
    assert "no GPU" not in r.stdout
