"""The installed project: a wheel, installed into a fresh venv, run from outside the repo.

The wheel is built from a copy of the source tree (so no `build/` or `*.egg-info` lands
in the repo) and installed with `--no-deps --no-index`; TensorFlow and the other
requirements come from this project's venv through a `.pth` file, added after the
install, so nothing is downloaded. Every check runs with cwd outside the repo and no
PYTHONPATH: only what the wheel installed is importable.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from tests.conftest import PROJECT_ROOT

# What setup.py installs: the original's four modules under their own names, the
# dataset readers, and everything added under one package.
TOP_LEVEL = {"modeling.py", "tokenization.py", "optimization.py", "run_classifier.py", "processors/",
             "bert_estimator/"}
# Names the project's modules had before they moved into bert_estimator/, and the entry
# scripts at the repo's top: none may be importable once installed.
NOT_INSTALLED = ["assets", "demo", "predict", "reports", "serving", "distribution", "classifier_data",
                 "classifier_metrics", "convert_checkpoint", "fetch", "tests", "bench",
                 "bert_estimator.reference"]
COMMANDS = {  # console script -> a flag its --help must list
    "bert-run-classifier": "--task_name",
    "bert-predict": "--export_dir",
    "bert-convert-checkpoint": "--hf_dir",
    "bert-demo": "--work_dir",
    "bert-fetch": "--mirror",
}
# Left out of the copy that the wheel is built from: VCS, venvs, caches, build output.
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv*", ".cache", ".ruff_cache", ".pytest_cache",
                                     "__pycache__", "build", "dist", "*.egg-info", "output", "runs",
                                     "glue_data", ".whl")


@dataclasses.dataclass
class Installed:
    wheel: str
    python: str
    bin_dir: str
    work_dir: str  # an empty directory outside the repo, the cwd of every command

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"  # no C++ log lines on stderr
        return env

    def run(self, args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=self.work_dir, env=self.env(), capture_output=True, text=True,
                              timeout=timeout)

    def command(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    assert result.returncode == 0, f"{what} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("install")
    junk = [os.path.join(PROJECT_ROOT, name) for name in ("build", "dist", "bert_estimator.egg-info")]
    junk_before = {path for path in junk if os.path.exists(path)}

    src = root / "src"
    shutil.copytree(PROJECT_ROOT, src, ignore=COPY_IGNORE)
    wheels = root / "wheels"
    _check(subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "-w", str(wheels), str(src)],
                          capture_output=True, text=True, timeout=300), "pip wheel")
    found = sorted(wheels.glob("*.whl"))
    assert len(found) == 1, found
    wheel = str(found[0])
    assert {path for path in junk if os.path.exists(path)} == junk_before, "the build wrote into the repo"

    venv = root / "venv"
    _check(subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True,
                          timeout=300), "python -m venv")
    python = str(venv / "bin" / "python")
    work_dir = root / "work"
    work_dir.mkdir()
    inst = Installed(wheel=wheel, python=python, bin_dir=str(venv / "bin"), work_dir=str(work_dir))
    _check(inst.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel]), "pip install")
    # TensorFlow & co. from this project's venv (after the install, so pip never sees them).
    site = inst.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    _check(site, "locating the new venv's site-packages")
    with open(os.path.join(site.stdout.strip(), "_project_requirements.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    return inst


def test_wheel_holds_exactly_the_top_level_names(installed):
    with zipfile.ZipFile(installed.wheel) as zf:
        names = zf.namelist()
        dist_info = {n.split("/")[0] for n in names if re.match(r"bert_estimator-[^/]+\.dist-info/", n)}
        assert len(dist_info) == 1, names
        (dist_info,) = dist_info
        record = zf.read(f"{dist_info}/RECORD").decode()
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    top = {n.split("/")[0] + ("/" if "/" in n else "") for n in names}
    assert top == TOP_LEVEL | {f"{dist_info}/"}
    recorded = {line.split(",")[0] for line in record.splitlines() if line}
    assert recorded == set(names)
    assert "bert_estimator/__init__.py" in names and "processors/__init__.py" in names
    assert not any(n.startswith(("tests/", "bench/", "scripts/")) for n in names)
    for command, target in [("bert-run-classifier", "run_classifier:cli"),
                            ("bert-predict", "bert_estimator.serving.predict_cli:main"),
                            ("bert-convert-checkpoint", "bert_estimator.convert.convert_cli:main"),
                            ("bert-demo", "bert_estimator.tools.demo:main"),
                            ("bert-fetch", "bert_estimator.tools.fetch:main")]:
        assert re.search(rf"^{command} = {re.escape(target)}$", entry_points, flags=re.M), entry_points


def test_installed_modules_import_from_the_venv_only(installed):
    probe = """
import importlib, json, os, sys, zipfile
wheel, root = sys.argv[1], os.path.realpath(sys.argv[2])
modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__")
                 for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py"))
files, missing = {}, {}
for name in modules:  # every module the wheel ships, submodules included
    files[name] = importlib.import_module(name).__file__
for name in sys.argv[3:]:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        missing[name] = e.name
on_path = [p for p in sys.path if os.path.realpath(p or os.getcwd()) == root]
print(json.dumps({"files": files, "missing": missing, "on_path": on_path, "prefix": sys.prefix}))
"""
    r = installed.run([installed.python, "-c", probe, installed.wheel, PROJECT_ROOT, *NOT_INSTALLED])
    _check(r, "importing the installed modules")
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["on_path"] == [], "the project root is on sys.path"
    files = report["files"]
    for name in ("modeling", "tokenization", "optimization", "run_classifier", "processors", "bert_estimator",
                 "bert_estimator.serving.predict_cli", "bert_estimator.tools.demo", "bert_estimator.convert.convert_cli"):
        assert name in files, name
    for name, path in files.items():
        assert path.startswith(report["prefix"] + os.sep), (name, path)
        assert not os.path.realpath(path).startswith(os.path.realpath(PROJECT_ROOT) + os.sep), (name, path)
    assert report["missing"] == {name: name for name in NOT_INSTALLED}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_console_script_help(installed, command):
    r = installed.run([installed.command(command), "--help"])
    assert r.returncode == 0, f"{command} --help exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    assert COMMANDS[command] in r.stdout, f"{command} --help does not list {COMMANDS[command]}:\n{r.stdout}"


def test_bad_flag_gives_one_line_and_exit_1(installed, tiny_bert_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.tsv").write_text("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                                    "1\t1\t2\tThe film is a delight.\tA delightful film.\n")
    out = tmp_path / "out"
    r = installed.run([installed.command("bert-run-classifier"), "--task_name=nope", f"--data_dir={data}",
                       f"--output_dir={out}", f"--vocab_file={tiny_bert_dir}/vocab.txt",
                       f"--bert_config_file={tiny_bert_dir}/bert_config.json",
                       f"--init_checkpoint={tiny_bert_dir}/bert_model.ckpt", "--do_train"])
    assert r.returncode == 1, r.stderr[-3000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr[-3000:]
    assert lines[0].startswith("run_classifier.py: error: ") and "nope" in lines[0], lines
    assert not out.exists()


def _python_range_of(requirement: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """(lowest, highest) minor version admitted by a ">=3.X,<3.Y" specifier."""
    low = re.search(r">=\s*3\.(\d+)", requirement)
    high = re.search(r"<\s*3\.(\d+)", requirement)
    return (3, int(low.group(1))), (3, int(high.group(1)) - 1)


def test_the_supported_pythons_agree_everywhere():
    """setup.py's python_requires, the Makefile's list and the README's statement name the
    range that the pins really install on: TensorFlow 2.15.1 runs on 3.9-3.11, and the
    newest lower bound among the pinned packages (scipy 1.14.1: >= 3.10) raises it."""
    with open(os.path.join(PROJECT_ROOT, "setup.py"), encoding="utf-8") as f:
        requires = re.search(r'python_requires="([^"]+)"', f.read()).group(1)
    low, high = _python_range_of(requires)
    pins = {}
    with open(os.path.join(PROJECT_ROOT, "constraints.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if "==" in line:
                name, version = line.split("==")
                pins[name.lower()] = version
    # The pins' own lower bounds, from the installed distributions' metadata: the range
    # cannot start below the highest of them (scipy 1.14.1 says >= 3.10).
    floors = []
    for name in pins:
        try:
            spec = importlib.metadata.metadata(name).get("Requires-Python") or ""
        except importlib.metadata.PackageNotFoundError:
            continue
        found = re.search(r">=\s*3\.(\d+)", spec)
        if found:
            floors.append((3, int(found.group(1))))
    assert low == max(floors), f"python_requires starts at {low}, the pins need {max(floors)}"
    # TensorFlow 2.15.1 publishes wheels for CPython 3.9-3.11 only (its metadata has no upper bound).
    assert pins["tensorflow"] == "2.15.1" and high == (3, 11)
    with open(os.path.join(PROJECT_ROOT, "Makefile"), encoding="utf-8") as f:
        makefile = f.read()
    listed = re.search(r"^SUPPORTED_PYTHONS := (.+)$", makefile, flags=re.M).group(1).split()
    assert listed == [f"3.{minor}" for minor in range(low[1], high[1] + 1)]
    for doc in ("README.md", os.path.join("docs", "GPU.md")):
        with open(os.path.join(PROJECT_ROOT, doc), encoding="utf-8") as f:
            text = f.read()
        assert f"Python 3.{low[1]} or 3.{high[1]}" in text, doc
        assert not re.search(r"3\.9\s*[-\u2013]\s*3\.11", text), doc
