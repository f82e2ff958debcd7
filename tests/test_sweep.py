"""scripts/reproduce_glue.py (bert_estimator/glue/sweep.py) and
bert_estimator/glue/submission_zip.py, with a FAKE run_classifier.py: no TensorFlow
training.

The fake (written below into each test's tmp dir) parses the flags the sweep passes,
writes eval_results.txt with a dev metric computed from the learning rate and seed
(`fake_metric`), the GLUE file with one row per test row for --do_predict, and appends
one line per process to a log. Told by the environment, it crashes, or hangs (after
writing a "checkpoint") until SIGTERM, on the run whose output dir contains a string, or
(FAKE_CHECKPOINTS) leaves real checkpoints with Adam's moments and TFRecord files, as
training does, for the pruning of finished runs.
"""

from __future__ import annotations

import csv
import inspect
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import zipfile

import pytest
import tensorflow.compat.v1 as tf

from bert_estimator.glue import submission_zip, sweep
from tests.conftest import PROJECT_ROOT

SHIM = os.path.join(PROJECT_ROOT, "scripts", "reproduce_glue.py")
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}



def fake_metric(task, lr, seed):
    """The fake's dev metric of a run (the fake's source includes this function)."""
    return round(0.5 + 4000 * lr + 0.01 * ((seed * 7 + sum(map(ord, task))) % 5), 6)


FAKE = inspect.getsource(fake_metric) + r'''
import argparse, json, os, signal, sys, time

GLUE = {"mrpc": "MRPC.tsv", "cola": "CoLA.tsv", "rte": "RTE.tsv"}
p = argparse.ArgumentParser()
for name in ("task_name", "data_dir", "output_dir", "learning_rate", "num_train_epochs", "train_batch_size", "seed"):
    p.add_argument("--" + name)
p.add_argument("--do_predict", action="store_true")
p.add_argument("--evaluate_every_epoch", action="store_true")
args, _ = p.parse_known_args()
out = args.output_dir


def note(what):
    with open(os.environ["FAKE_LOG"], "a") as f:
        f.write(f"{what} {os.path.relpath(out, os.environ['FAKE_ROOT'])} {os.environ.get('CUDA_VISIBLE_DEVICES', '-')}\n")


os.makedirs(out, exist_ok=True)
checkpoint = os.path.join(out, "fake.ckpt")
note("resume" if os.path.exists(checkpoint) else "start")
with open(os.path.join(out, "argv.json"), "w") as f:
    json.dump(sys.argv[1:], f)
if os.environ.get("FAKE_CRASH") and os.environ["FAKE_CRASH"] in out:
    print("fake_run_classifier.py: error: boom")
    sys.exit(3)
if os.environ.get("FAKE_HANG") and os.environ["FAKE_HANG"] in out and not os.path.exists(checkpoint):
    def on_term(signum, frame):
        note("terminated")
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    with open(checkpoint, "w") as f:
        f.write("step 5\n")
    note("hanging")
    while True:
        time.sleep(0.05)
time.sleep(float(os.environ.get("FAKE_SECONDS", "0")))
value = fake_metric(args.task_name, float(args.learning_rate), int(args.seed))
with open(os.path.join(out, "eval_results.txt"), "w") as f:
    f.write(f"eval_accuracy = {value}\neval_loss = 0.5\nf1 = {value}\nglobal_step = 10\nmcc = {value}\n")
if args.evaluate_every_epoch:
    os.makedirs(os.path.join(out, "best"), exist_ok=True)
    with open(os.path.join(out, "best", "eval_results.txt"), "w") as f:
        f.write(f"eval_accuracy = {value + 0.1}\nf1 = {value + 0.1}\nmcc = {value + 0.1}\n")
if os.environ.get("FAKE_CHECKPOINTS"):  # training's files: checkpoints model.ckpt-1 and -3, records
    import shutil
    source = os.environ["FAKE_CHECKPOINTS"]
    for name in os.listdir(source):
        shutil.copy(os.path.join(source, name), out)
    with open(os.path.join(out, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "model.ckpt-3"\nall_model_checkpoint_paths: "model.ckpt-1"\n'
                'all_model_checkpoint_paths: "model.ckpt-3"\n')
    for name in ("train.tf_record", "train.tf_record.fingerprint", "eval.tf_record"):
        with open(os.path.join(out, name), "wb") as f:
            f.write(b"r" * 1000)
    if args.evaluate_every_epoch:
        for name in os.listdir(source):
            if name.startswith("model.ckpt-1."):
                shutil.copy(os.path.join(source, name), os.path.join(out, "best"))
        with open(os.path.join(out, "best", "checkpoint"), "w") as f:
            f.write('model_checkpoint_path: "model.ckpt-1"\n')
if args.do_predict:
    with open(os.path.join(args.data_dir, "test.tsv")) as f:
        rows = len(f.read().splitlines()) - 1
    with open(os.path.join(out, GLUE[args.task_name]), "w") as f:
        f.write("index\tprediction\n" + "".join(f"{i}\t1\n" for i in range(rows)))
note("end")
'''

MRPC_TEST_ROWS, COLA_TEST_ROWS = 7, 5


def write_glue(glue_dir):
    """Tiny GLUE-format MRPC and CoLA folders (a header and an index column where GLUE has them)."""
    mrpc = glue_dir / "MRPC"
    mrpc.mkdir(parents=True)
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    for split in ("train", "dev"):
        (mrpc / f"{split}.tsv").write_text(header + "1\t1\t2\tA cat sat.\tA cat was sitting.\n" * 4)
    (mrpc / "test.tsv").write_text("index\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                                   + "".join(f"{i}\t1\t2\tA dog.\tThe dog.\n" for i in range(MRPC_TEST_ROWS)))
    cola = glue_dir / "CoLA"
    cola.mkdir()
    for split in ("train", "dev"):
        (cola / f"{split}.tsv").write_text("gj04\t1\t\tThe cat sat.\n" * 4)
    (cola / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\tCats sat.\n" for i in range(COLA_TEST_ROWS)))


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    """GLUE data, a BERT dir, the fake and its log; the sweep's environment variables unset."""
    write_glue(tmp_path / "glue")
    bert = tmp_path / "uncased_L-2_H-128_A-2"
    bert.mkdir()
    for name in ("vocab.txt", "bert_config.json", "bert_model.ckpt.index"):
        (bert / name).write_text("x")
    fake = tmp_path / "fake_run_classifier.py"
    fake.write_text(FAKE)
    for name in ("LEARNING_RATES", "EPOCHS", "BATCH_SIZES", "SEEDS", "CUDA_VISIBLE_DEVICES", "FAKE_CRASH", "FAKE_HANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "fake.log"))
    monkeypatch.setenv("FAKE_ROOT", str(tmp_path / "out"))
    return {"tmp": tmp_path, "glue": tmp_path / "glue", "bert": bert, "fake": fake, "out": tmp_path / "out",
            "log": tmp_path / "fake.log"}


def argv(s, *extra, tasks=("MRPC",), lrs="5e-5,2e-5", seeds="0,1,2"):
    return ["--tasks", *tasks, "--glue_dir", str(s["glue"]), "--bert_dir", str(s["bert"]), "--output_dir",
            str(s["out"]), "--run_classifier", str(s["fake"]), *(["--learning_rates", lrs] if lrs is not None else []),
            *(["--seeds", seeds] if seeds is not None else []), *extra]


def fake_log(s):
    """The fake's log as (event, run dir, CUDA_VISIBLE_DEVICES) triples."""
    if not s["log"].exists():
        return []
    return [tuple(line.split(" ")) for line in s["log"].read_text().splitlines()]


def launches(s):
    """How many processes the fake saw, per run dir."""
    counts = {}
    for event, run_dir, _ in fake_log(s):
        if event in ("start", "resume"):
            counts[run_dir] = counts.get(run_dir, 0) + 1
    return counts


def run_main(args, capsys):
    """sweep.main in-process: (exit status, stdout, stderr)."""
    try:
        code = sweep.main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def zip_rows(path):
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name).decode().splitlines() for name in z.namelist()}


# ------------------------------------------------------------------ the whole sweep
def test_sweep_summary_and_submission(setup, capsys):
    s = setup
    code, out, err = run_main(argv(s, tasks=("MRPC", "cola")), capsys)
    assert code == 0, err
    # 2 tasks x 2 learning rates x 3 seeds, each run once, in order.
    assert len(launches(s)) == 12 and set(launches(s).values()) == {1}
    assert "run 1/12 MRPC lr=5e-05 ep=3 bs=32 seed=0 ... done in " in out
    assert f"(dev f1 {fake_metric('mrpc', 5e-5, 0):.4f}); ETA " in out
    assert "run 12/12 CoLA lr=2e-05 ep=3 bs=32 seed=2 ... done in " in out
    assert f"(dev mcc {fake_metric('cola', 2e-5, 2):.4f})\nwrote {s['out']}/summary.md and summary.csv\n" in out
    # The model flags: --bert_dir expanded, lower case for an uncased model; the grid's values.
    run_dir = s["out"] / "MRPC" / "lr5e-05_ep3_bs32" / "seed1"
    args = (run_dir / "argv.json").read_text()
    for flag in (f"--vocab_file={s['bert']}/vocab.txt", f"--bert_config_file={s['bert']}/bert_config.json",
                 f"--init_checkpoint={s['bert']}/bert_model.ckpt", "--do_lower_case=True", "--learning_rate=5e-05",
                 "--num_train_epochs=3", "--train_batch_size=32", "--seed=1", "--max_seq_length=128",
                 f"--data_dir={s['glue']}/MRPC", "--do_predict", "--task_name=mrpc"):
        assert f'"{flag}"' in args
    assert (run_dir / ".done").exists() and (run_dir / "run.log").exists()

    # summary.csv: per configuration, mean and sample sd of the seeds, as computed here.
    rows = read_csv(s["out"] / "summary.csv")
    assert len(rows) == 12
    for task, metric in (("mrpc", "f1"), ("cola", "mcc")):
        for lr in (5e-5, 2e-5):
            values = [fake_metric(task, lr, seed) for seed in (0, 1, 2)]
            config_rows = [r for r in rows if r["task"] == sweep.DISPLAY[task] and float(r["learning_rate"]) == lr]
            assert [float(r["dev"]) for r in config_rows] == values
            assert {r["metric"] for r in config_rows} == {metric}
            assert float(config_rows[0]["mean"]) == pytest.approx(statistics.mean(values), abs=1e-12)
            assert float(config_rows[0]["sd"]) == pytest.approx(statistics.stdev(values), abs=1e-12)
    # The best single run per task is selected, on dev.
    best = {r["task"]: r for r in rows if r["best_run"] == "1"}
    for task in ("mrpc", "cola"):
        expected = max(((lr, seed) for lr in (5e-5, 2e-5) for seed in (0, 1, 2)),
                       key=lambda c: fake_metric(task, *c))
        assert (float(best[sweep.DISPLAY[task]]["learning_rate"]), int(best[sweep.DISPLAY[task]]["seed"])) == expected

    # summary.md shows the same numbers, the best marked.
    md = (s["out"] / "summary.md").read_text()
    values = [fake_metric("mrpc", 5e-5, seed) for seed in (0, 1, 2)]
    cells = [f"**{v:.4f}** (best)" if v == max(values) else f"{v:.4f}" for v in values]
    mean = f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"
    assert f"| 5e-05 | 3 | 32 | {' | '.join(cells)} | **{mean}** (best) |" in md
    assert "## CoLA (dev mcc)" in md and "| learning rate | epochs | batch size | seed 0 | seed 1 | seed 2 | mean ± sd |" in md

    # submission.zip: the selected runs' GLUE files, every test row.
    files = zip_rows(s["out"] / "submission.zip")
    assert sorted(files) == ["CoLA.tsv", "MRPC.tsv"]
    assert len(files["MRPC.tsv"]) == 1 + MRPC_TEST_ROWS and len(files["CoLA.tsv"]) == 1 + COLA_TEST_ROWS
    assert files["MRPC.tsv"][0] == "index\tprediction"
    assert "note: the zip has 2 of GLUE's 11 files" in err

    # Run again: everything is done, nothing runs, the same summary.
    code, out, _ = run_main(argv(s, tasks=("MRPC", "cola")), capsys)
    assert code == 0 and len(fake_log(s)) == 24  # start + end per run, from the first sweep only
    assert "12 runs in" in out and "12 already done" in out and "... already done (dev f1" in out
    assert (s["out"] / "summary.md").read_text() == md


def test_one_seed_has_no_sd(setup, capsys):
    s = setup
    code, _, err = run_main(argv(s, lrs="3e-5", seeds="4"), capsys)
    assert code == 0, err
    value = fake_metric("mrpc", 3e-5, 4)
    md = (s["out"] / "summary.md").read_text()
    assert f"| 3e-05 | 3 | 32 | **{value:.4f}** (best) | **{value:.4f} ± n/a** (best) |" in md
    [row] = read_csv(s["out"] / "summary.csv")
    assert row["sd"] == "n/a" and row["n"] == "1" and float(row["mean"]) == value


def test_grid_and_seeds_from_environment(setup, capsys, monkeypatch):
    s = setup
    monkeypatch.setenv("LEARNING_RATES", "1e-5")
    monkeypatch.setenv("SEEDS", "7")
    monkeypatch.setenv("EPOCHS", "2.5")
    code, _, err = run_main(argv(s, lrs=None, seeds=None), capsys)
    assert code == 0, err
    assert list(launches(s)) == ["MRPC/lr1e-05_ep2.5_bs32/seed7"]
    # a flag wins over the environment
    code, _, err = run_main(argv(s, lrs="2e-5", seeds="1", tasks=("CoLA",)), capsys)
    assert code == 0, err
    assert "CoLA/lr2e-05_ep2.5_bs32/seed1" in launches(s)


def test_default_grid_is_the_papers(setup):
    args = sweep.build_parser().parse_args(argv(setup, lrs=None, seeds=None, tasks=("MRPC", "SST-2")))
    (setup["glue"] / "SST-2").mkdir()
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (setup["glue"] / "SST-2" / name).write_text("sentence\tlabel\n")
    plan = sweep.make_plan(args, [])
    mrpc = [r for r in plan.runs if r.task == "mrpc"]
    assert sorted({r.learning_rate for r in mrpc}) == [2e-5, 3e-5, 4e-5, 5e-5]
    assert {(r.epochs, r.batch_size) for r in plan.runs} == {(3.0, 32)}
    assert len(mrpc) == 4 * 5 and len(plan.runs) == 4 * 5 + 4  # restarts on the small task only
    assert plan.metrics == {"mrpc": "f1", "sst-2": "eval_accuracy"}


def test_evaluation_during_training_selects_on_best_checkpoint(setup, capsys):
    s = setup
    code, _, err = run_main(argv(s, "--", "--evaluate_every_epoch", "--save_checkpoints_steps=7", lrs="5e-5",
                                 seeds="0"), capsys)
    assert code == 0, err
    run_dir = s["out"] / "MRPC" / "lr5e-05_ep3_bs32" / "seed0"
    args = (run_dir / "argv.json").read_text()
    assert '"--predict_from=best"' in args and '"--save_checkpoints_steps=7"' in args
    [row] = read_csv(s["out"] / "summary.csv")
    assert float(row["dev"]) == pytest.approx(fake_metric("mrpc", 5e-5, 0) + 0.1)


@pytest.mark.parametrize("extras, during", [
    ([], False),
    (["--evaluate_every_epoch"], True),
    (["--evaluate_every_epoch=T"], True),
    (["--evaluate_every_epoch=false"], False),
    (["--noevaluate_every_epoch"], False),
    (["--evaluate_every_n_steps=0", "--use_amp"], False),
    (["--evaluate_every_n_steps", "50"], True),
    (["--evaluate_every_n_steps=0x10"], True),  # absl reads integers in any base
])
def test_flags_after_dashes_are_read_as_run_classifier_reads_them(extras, during):
    assert sweep.evaluates_during_training(sweep.passed_flags(extras)) is during


def test_parallel_runs_get_a_device_each(setup, capsys, monkeypatch):
    s = setup
    monkeypatch.setenv("FAKE_SECONDS", "0.3")
    code, out, err = run_main(argv(s, "--parallel", "2"), capsys)
    assert code == 0, err
    devices = [device for event, _, device in fake_log(s) if event == "start"]
    assert len(devices) == 6 and set(devices) == {"0", "1"}
    assert "started (CUDA_VISIBLE_DEVICES=0)" in out and "started (CUDA_VISIBLE_DEVICES=1)" in out
    # two at once: the second run starts before the first ends
    events = [(event, run_dir) for event, run_dir, _ in fake_log(s)]
    assert events.index(("start", "MRPC/lr5e-05_ep3_bs32/seed1")) < events.index(("end", "MRPC/lr5e-05_ep3_bs32/seed0"))
    assert len(zip_rows(s["out"] / "submission.zip")["MRPC.tsv"]) == 1 + MRPC_TEST_ROWS


def test_parallel_devices_come_from_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,6")
    assert sweep.device_slots(2) == ["3", "5"]
    assert sweep.device_slots(1) == [None]  # one at a time: the environment's devices, untouched
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert sweep.device_slots(3) == ["0", "1", "2"]


# ------------------------------------------------------------------------- resuming
def test_killed_sweep_resumes_skipping_finished_runs(setup, capsys):
    """Kill the driver mid-run (SIGTERM), run it again: finished runs are not run again,
    the interrupted one resumes, the rest run once."""
    s = setup
    hang_dir = "MRPC/lr2e-05_ep3_bs32/seed0"  # run 4 of 6
    env = dict(os.environ, **ENV, FAKE_HANG=hang_dir)
    env.pop("PYTHONPATH", None)  # the shim puts the repository on sys.path itself
    with open(s["tmp"] / "driver.out", "w") as stdout, open(s["tmp"] / "driver.err", "w") as stderr:
        driver = subprocess.Popen([sys.executable, SHIM, *argv(s)], stdout=stdout, stderr=stderr, env=env,
                                  cwd=s["tmp"])
        deadline = time.time() + 50
        while not any(event == "hanging" for event, _, _ in fake_log(s)):
            assert driver.poll() is None and time.time() < deadline, (s["tmp"] / "driver.err").read_text()
            time.sleep(0.05)
        driver.send_signal(signal.SIGTERM)
        assert driver.wait(timeout=30) == 130
    assert (s["tmp"] / "driver.err").read_text().strip().splitlines()[-1] == "reproduce_glue.py: interrupted"
    assert "stopping 1 running run(s)" in (s["tmp"] / "driver.out").read_text()
    assert ("terminated", hang_dir, "-") in fake_log(s)  # the run got SIGTERM and could save a checkpoint
    done = sorted(str(p.parent.relative_to(s["out"])) for p in s["out"].glob("*/*/*/.done"))
    assert done == ["MRPC/lr5e-05_ep3_bs32/seed0", "MRPC/lr5e-05_ep3_bs32/seed1", "MRPC/lr5e-05_ep3_bs32/seed2"]
    assert not (s["out"] / "summary.md").exists()

    code, out, err = run_main(argv(s), capsys)
    assert code == 0, err
    counts = launches(s)
    assert sum(counts.values()) == 6 + 1 and counts[hang_dir] == 2
    assert ("resume", hang_dir, "-") in fake_log(s)
    assert "6 runs in" in out and "3 already done" in out
    assert len(list(s["out"].glob("*/*/*/.done"))) == 6 and (s["out"] / "submission.zip").exists()


def test_failed_run_stops_the_sweep_and_is_retried(setup, capsys, monkeypatch):
    s = setup
    monkeypatch.setenv("FAKE_CRASH", "lr5e-05_ep3_bs32/seed1")
    code, out, err = run_main(argv(s), capsys)
    assert code == 1
    [line] = err.strip().splitlines()
    log = s["out"] / "MRPC" / "lr5e-05_ep3_bs32" / "seed1" / "run.log"
    assert line == (f"reproduce_glue.py: error: run MRPC lr=5e-05 ep=3 bs=32 seed=1 failed: exit status 3; see {log}; "
                    "last line: fake_run_classifier.py: error: boom")
    assert "run 2/6 MRPC lr=5e-05 ep=3 bs=32 seed=1 ... failed (exit status 3)" in out
    assert sum(launches(s).values()) == 2  # stopped at the failure
    assert (s["out"] / "summary.md").exists() and not (s["out"] / "submission.zip").exists()

    monkeypatch.delenv("FAKE_CRASH")
    code, out, err = run_main(argv(s), capsys)
    assert code == 0, err
    assert launches(s)["MRPC/lr5e-05_ep3_bs32/seed1"] == 2 and sum(launches(s).values()) == 7


def test_keep_going_runs_the_rest(setup, capsys, monkeypatch):
    s = setup
    monkeypatch.setenv("FAKE_CRASH", "lr5e-05_ep3_bs32/seed1")
    code, _, err = run_main(argv(s, "--keep_going"), capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert sum(launches(s).values()) == 6
    [row] = [r for r in read_csv(s["out"] / "summary.csv") if r["dev"] == ""]
    assert row["seed"] == "1" and row["n"] == "2"
    assert "(n=2)" in (s["out"] / "summary.md").read_text()


# ------------------------------------------------------------------------- pruning
@pytest.fixture()
def checkpoints(setup, monkeypatch):
    """Two checkpoints (steps 1 and 3) of a model with Adam's moments, as training leaves
    them (index, data, meta), which the fake copies into each run (FAKE_CHECKPOINTS)."""
    directory = setup["tmp"] / "checkpoints"
    with tf.Graph().as_default():
        variables = [tf.Variable(tf.random.normal([64, 32], seed=1), name=name)
                     for name in ("bert/kernel", "bert/kernel/adam_m", "bert/kernel/adam_v", "output_weights",
                                  "output_weights/adam_m", "output_weights/adam_v")]
        step = tf.train.get_or_create_global_step()
        saver = tf.train.Saver()
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            for value in (1, 3):
                session.run(step.assign(value))
                saver.save(session, str(directory / "model.ckpt"), global_step=value)
    (directory / "checkpoint").unlink()
    monkeypatch.setenv("FAKE_CHECKPOINTS", str(directory))
    return {"variables": {v.op.name for v in variables} | {"global_step"}}


def tree_bytes(directory) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(directory) for f in files)


def variables(prefix) -> set:
    return {name for name, _ in tf.train.list_variables(str(prefix))}


@pytest.mark.parametrize("during", [False, True], ids=["last", "best"])
def test_finished_runs_are_pruned_to_the_checkpoint_they_predict_from(setup, checkpoints, capsys, during):
    s = setup
    extras = ["--", "--evaluate_every_epoch"] if during else []
    code, _, err = run_main(argv(s, *extras, lrs="5e-5", seeds="0,1"), capsys)
    assert code == 0, err
    weights = {"bert/kernel", "output_weights", "global_step"}
    for seed in (0, 1):
        run_dir = s["out"] / "MRPC" / "lr5e-05_ep3_bs32" / f"seed{seed}"
        files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
        kept = run_dir / "best" / "model.ckpt-1" if during else run_dir / "model.ckpt-3"
        # Only the checkpoint the run predicted from is left, its weights only; no records.
        assert [f for f in files if "model.ckpt" in f or f.endswith("checkpoint")] == sorted(
            str((kept.parent / name).relative_to(run_dir))
            for name in ("checkpoint", kept.name + ".data-00000-of-00001", kept.name + ".index"))
        assert variables(kept) == weights and not any("tf_record" in f for f in files)
        # The results stay; .pruned says what was kept and the bytes before and after.
        for name in ("eval_results.txt", "MRPC.tsv", "run.log", ".done", "argv.json"):
            assert name in files
        marker = json.loads((run_dir / ".pruned").read_text())
        assert marker["kept_checkpoint"] == str(kept.relative_to(run_dir))
        assert marker["bytes_after"] == tree_bytes(run_dir) - (run_dir / ".pruned").stat().st_size
        assert marker["bytes_before"] > 2 * marker["bytes_after"]
    # summary.md: the disk the task's runs use, and the total.
    total = tree_bytes(s["out"] / "MRPC")
    md = (s["out"] / "summary.md").read_text()
    assert f"Disk: 2 run directories, {sweep.size_text(total)}." in md
    assert f"Disk: the runs use {sweep.size_text(total)} in all." in md
    # The selection and the submission came from the pruned runs; a rerun skips them.
    assert zip_rows(s["out"] / "submission.zip")["MRPC.tsv"][0] == "index\tprediction"
    code, out, err = run_main(argv(s, *extras, lrs="5e-5", seeds="0,1"), capsys)
    assert code == 0, err
    assert "2 already done" in out and "to their weights and results" not in out and sum(launches(s).values()) == 2
    assert (s["out"] / "summary.md").read_text() == md


def test_keep_checkpoints_keeps_everything_until_a_sweep_without_it(setup, checkpoints, capsys):
    s = setup
    code, _, err = run_main(argv(s, "--keep_checkpoints", tasks=("MRPC", "CoLA"), lrs="5e-5", seeds="0"), capsys)
    assert code == 0, err
    run_dir = s["out"] / "CoLA" / "lr5e-05_ep3_bs32" / "seed0"
    before = tree_bytes(run_dir)
    assert not (run_dir / ".pruned").exists() and (run_dir / "train.tf_record").exists()
    assert variables(run_dir / "model.ckpt-1") == checkpoints["variables"]
    md = (s["out"] / "summary.md").read_text()
    assert f"Disk: 1 run directory, {sweep.size_text(before)}." in md
    # Without the flag, the finished runs are pruned as the sweep starts (and not run again).
    code, out, err = run_main(argv(s, tasks=("MRPC", "CoLA"), lrs="5e-5", seeds="0"), capsys)
    assert code == 0, err
    freed = before - tree_bytes(run_dir) + (run_dir / ".pruned").stat().st_size
    mrpc = s["out"] / "MRPC" / "lr5e-05_ep3_bs32" / "seed0"
    freed += json.loads((mrpc / ".pruned").read_text())["bytes_before"] - json.loads(
        (mrpc / ".pruned").read_text())["bytes_after"]
    assert f"pruned 2 finished run(s) to their weights and results: {sweep.size_text(freed)} freed" in out
    assert sum(launches(s).values()) == 2
    assert variables(run_dir / "model.ckpt-3") == {"bert/kernel", "output_weights", "global_step"}


def test_size_text():
    assert sweep.size_text(999) == "999 bytes"
    assert sweep.size_text(275_123_456) == "275.1 MB (275,123,456 bytes)"
    assert sweep.size_text(1_400_000_000) == "1.4 GB (1,400,000,000 bytes)"


# ------------------------------------------------------------------------ bad input
def break_glue(s):
    for p in sorted((s["glue"] / "CoLA").iterdir()):
        p.unlink()
    (s["glue"] / "CoLA").rmdir()


BAD_INPUT = [
    ("empty grid", ["--learning_rates="], {}, None, "--learning_rates is empty: the grid needs at least one value"),
    ("empty seeds", ["--seeds", ","], {}, None, "--seeds is empty"),
    ("empty env grid", [], {"BATCH_SIZES": ""}, None, "$BATCH_SIZES is empty"),
    ("not a number", ["--learning_rates", "5e-5,fast"], {}, None, "--learning_rates: 'fast' is not a number"),
    ("zero lr", ["--learning_rates", "0"], {}, None, "--learning_rates: 0 must be positive"),
    ("negative seed", ["--seeds", "-1"], {}, None, "--seeds: -1 must be 0 or more"),
    ("bad env seeds", [], {"SEEDS": "1.5"}, None, "$SEEDS: '1.5' is not an integer"),
    ("unknown task", ["--tasks", "MRPC", "SQuAD"], {}, None, "--tasks: unknown task 'SQuAD'"),
    ("missing data dir", ["--tasks", "MRPC", "CoLA"], {}, break_glue, "no CoLA data: "),
    ("missing glue dir", ["--glue_dir", "/nonexistent/glue"], {}, None, "--glue_dir not found: /nonexistent/glue"),
    ("missing bert dir", ["--bert_dir", "/nonexistent/bert"], {}, None, "--bert_dir not found: /nonexistent/bert"),
    ("remote output dir", ["--output_dir", "gs://bucket/sweep"], {}, None, "--output_dir must be a local directory"),
    ("grid flag after --", ["--", "--learning_rate=1e-5"], {}, None,
     "--learning_rate after --: the sweep sets it for each run (use --learning_rates)"),
    ("parallel 0", ["--parallel", "0"], {}, None, "--parallel must be at least 1, got 0"),
    ("too few devices", ["--parallel", "3"], {"CUDA_VISIBLE_DEVICES": "0,1"}, None,
     "--parallel 3 needs 3 devices; $CUDA_VISIBLE_DEVICES lists 2"),
    ("two models", ["--bert_hub_module_handle", "https://tfhub.dev/x"], {}, None, "not allowed with argument"),
    ("unknown flag", ["--learning_rate", "1e-5"], {}, None, "unrecognized arguments"),
    ("bad boolean after --", ["--", "--evaluate_every_epoch=yes"], {}, None,
     "--evaluate_every_epoch after --: 'yes' is not a valid value"),
    ("bad integer after --", ["--", "--evaluate_every_n_steps=1e3"], {}, None,
     "--evaluate_every_n_steps after --: '1e3' is not a valid value"),
]


@pytest.mark.parametrize("extra, env, breaker, message", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_one_line(setup, capsys, monkeypatch, extra, env, breaker, message):
    s = setup
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if breaker:
        breaker(s)
    args = argv(s, seeds=None) if "SEEDS" in env else argv(s)  # a flag would win over $SEEDS
    code, out, err = run_main(args + extra, capsys)  # a later flag wins over argv's
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith("reproduce_glue.py: error: ") and message in line
    assert not s["out"].exists() and not s["log"].exists()


def test_no_model_is_an_error(setup, capsys):
    s = setup
    args = [a for a in argv(s) if a not in ("--bert_dir", str(s["bert"]))]
    code, _, err = run_main(args, capsys)
    assert code == 1 and "error: no model: give --bert_dir DIR" in err
    # the model flags after -- are enough (e.g. a converted checkpoint with other file names)
    code, _, err = run_main(args + ["--", f"--bert_config_file={s['bert']}/bert_config.json",
                                    f"--vocab_file={s['bert']}/vocab.txt"], capsys)
    assert code == 0, err


def test_hub_module_is_passed_through(setup, capsys):
    s = setup
    args = [a for a in argv(s, lrs="5e-5", seeds="0") if a not in ("--bert_dir", str(s["bert"]))]
    code, _, err = run_main(args + ["--bert_hub_module_handle", "https://tfhub.dev/google/bert/1"], capsys)
    assert code == 0, err
    argv_json = (s["out"] / "MRPC" / "lr5e-05_ep3_bs32" / "seed0" / "argv.json").read_text()
    assert '"--bert_hub_module_handle=https://tfhub.dev/google/bert/1"' in argv_json and "vocab_file" not in argv_json


# ----------------------------------------------------------------------- submission
@pytest.fixture()
def runs(setup, capsys):
    """Two finished runs (MRPC, CoLA) of the fake."""
    s = setup
    code, _, err = run_main(argv(setup, tasks=("MRPC", "CoLA"), lrs="5e-5", seeds="0"), capsys)
    assert code == 0, err
    return [s["out"] / "MRPC" / "lr5e-05_ep3_bs32" / "seed0", s["out"] / "CoLA" / "lr5e-05_ep3_bs32" / "seed0"]


def gather_main(args, capsys):
    try:
        code = submission_zip.main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    return (code, *capsys.readouterr())


def test_submission_gathers_checked_files(setup, runs, capsys):
    out = setup["tmp"] / "sub" / "submission.zip"
    code, stdout, err = gather_main(["--runs", *runs, "--glue_dir", setup["glue"], "--output", out], capsys)
    assert code == 0, err
    assert stdout.strip() == f"wrote {out}: CoLA.tsv ({COLA_TEST_ROWS} rows), MRPC.tsv ({MRPC_TEST_ROWS} rows)"
    files = zip_rows(out)
    assert {name: len(lines) - 1 for name, lines in files.items()} == {"CoLA.tsv": COLA_TEST_ROWS,
                                                                     "MRPC.tsv": MRPC_TEST_ROWS}
    first = out.read_bytes()
    gather_main(["--runs", *runs, "--glue_dir", setup["glue"], "--output", out], capsys)
    assert out.read_bytes() == first  # reproducible


def test_submission_task_from_files_without_marker(setup, runs, capsys):
    (runs[0] / ".done").unlink()
    code, _, err = gather_main(["--runs", runs[0], "--glue_dir", setup["glue"], "--output", setup["tmp"] / "s.zip"],
                               capsys)
    assert code == 0, err
    assert sorted(zip_rows(setup["tmp"] / "s.zip")) == ["MRPC.tsv"]


def _drop_last_row(path):
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))


def _bad_header(path):
    path.write_text(path.read_text().replace("index\tprediction", "id\tlabel", 1))


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "missing MRPC.tsv in "),
    (_drop_last_row, f"MRPC.tsv has {MRPC_TEST_ROWS - 1} rows, expected {MRPC_TEST_ROWS}"),
    (_bad_header, "not a GLUE submission file"),
], ids=["missing", "short", "header"])
def test_submission_bad_file_is_one_line(setup, runs, capsys, damage, message):
    damage(runs[0] / "MRPC.tsv")
    out = setup["tmp"] / "submission.zip"
    code, _, err = gather_main(["--runs", *runs, "--glue_dir", setup["glue"], "--output", out], capsys)
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith("python -m bert_estimator.glue.submission_zip: error: ") and message in line
    assert not out.exists()


def test_submission_two_runs_of_one_task(setup, runs, capsys):
    code, _, err = gather_main(["--runs", runs[0], runs[0], "--glue_dir", setup["glue"]], capsys)
    assert code == 1 and "two runs for MRPC.tsv" in err


def test_submission_cli_runs_alone(setup, runs):
    """python -m bert_estimator.glue.submission_zip, as a program: a short file is one line, exit 1."""
    _drop_last_row(runs[1] / "CoLA.tsv")
    r = subprocess.run([sys.executable, "-m", "bert_estimator.glue.submission_zip", "--runs", *map(str, runs), "--glue_dir",
                        str(setup["glue"]), "--output", str(setup["tmp"] / "submission.zip")],
                       capture_output=True, text=True, cwd=PROJECT_ROOT, env=dict(os.environ, **ENV), timeout=120)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"python -m bert_estimator.glue.submission_zip: error: {runs[1] / 'CoLA.tsv'} has {COLA_TEST_ROWS - 1} rows, "
        f"expected {COLA_TEST_ROWS} (one per row of the task's test file)"]
