"""Fetches GLUE's data and Google's BERT checkpoints, resumable and checksum-verified:

    python fetch.py glue                                  # all of GLUE into glue_data/
    python fetch.py glue --data_dir glue_data --tasks MRPC,CoLA
    python fetch.py model uncased_L-12_H-768_A-12         # prints the model directory
    python fetch.py model --list                          # the names it knows

Installed, the command is `bert-fetch`. `glue` prints one line per task (`MRPC: 3668
train / 408 dev / 1725 test rows in glue_data/MRPC (sha256 ok)`, or `CoLA: already
there`); `model` prints the model directory on stdout (its one line of what was done on
stderr), so `BERT_DIR=$(python fetch.py model NAME)` works. A download that cannot be
made is one line saying which URL to download by hand and where to put it, exit status
1. The sources, checksums and guarantees are those of `bert_estimator.data.downloads`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Mapping, Optional, Sequence

from bert_estimator.core.errors import UsageError, run_cli
from bert_estimator.data import downloads

PROG = "fetch.py"

EPILOG = f"""\
Defaults: GLUE goes to {downloads.default_glue_dir()} (glue_data in the checkout, where
scripts/run_glue.sh and scripts/reproduce_glue.py look; in the current directory when
installed). Models go to the one model cache, {downloads.default_model_cache()}
(${downloads.MODEL_CACHE_ENV} overrides it), one directory per name: the BERT_DIR of
scripts/run_glue.sh and scripts/run_imdb.sh.

--mirror URL replaces the scheme and host of every download and keeps its path, e.g.
with --mirror file:///srv/mirror GLUE's CoLA is read from
/srv/mirror/glue/data/CoLA.zip and BERT-Base from
/srv/mirror/bert_models/2018_10_18/uncased_L-12_H-768_A-12.zip (a plain directory is
taken as file://). Checksums are checked the same.

Without network: download the file the error names by hand, put it at the path it
names, and run the same command again (the file is verified before use)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Fetches GLUE's data and Google's BERT checkpoints, resumable and "
                               "checksum-verified.", epilog=EPILOG, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{glue,model}")
    glue = commands.add_parser(
        "glue", help="GLUE's tasks, one folder each", allow_abbrev=False,
        description="Fetches GLUE's tasks into DIR/<task>/ (train.tsv, dev*.tsv, test*.tsv), MRPC built from "
                    "Microsoft's files with GLUE's dev split; a task already complete is skipped.")
    glue.add_argument("--data_dir", default=None, metavar="DIR",
                      help=f"where the task folders go (default: {downloads.default_glue_dir()})")
    glue.add_argument("--tasks", default="all", metavar="all|TASK,TASK",
                      help=f"any case, comma-separated: {', '.join(downloads.GLUE_TASKS)} (default: all)")
    glue.add_argument("--mirror", metavar="URL", help="a base URL (or directory) replacing every download's host")
    model = commands.add_parser(
        "model", help="one of Google's BERT checkpoints", allow_abbrev=False,
        description="Fetches Google's checkpoint NAME into CACHE/NAME/ (bert_config.json, vocab.txt, "
                    "bert_model.ckpt.*) unless there, and prints that directory.")
    model.add_argument("name", nargs="?", metavar="NAME", help="e.g. uncased_L-12_H-768_A-12 (see --list)")
    model.add_argument("--list", action="store_true", help="list the names, releases and checks, then exit")
    model.add_argument("--cache_dir", metavar="DIR",
                       help=f"the model cache (default: {downloads.default_model_cache()})")
    model.add_argument("--mirror", metavar="URL", help="a base URL (or directory) replacing the download's host")
    return parser


def list_models(catalog: Mapping[str, downloads.Model]) -> str:
    width = max(len(name) for name in catalog)
    return "\n".join(f"{m.name:<{width}}  {m.release}  {m.description} [{m.checks()}]" for m in catalog.values())


def run(args: argparse.Namespace, glue_catalog: Mapping[str, downloads.GlueTask],
        model_catalog: Mapping[str, downloads.Model]) -> int:
    progress = downloads.terminal_progress()
    try:
        if args.command == "glue":
            data_dir = args.data_dir or downloads.default_glue_dir()
            for name in downloads.glue_task_names(args.tasks, glue_catalog):
                result = downloads.fetch_glue_task(name, data_dir, args.mirror, glue_catalog, progress)
                downloads.clear_progress()
                print(result.summary(), flush=True)
            return 0
        if args.list:
            print(list_models(model_catalog))
            return 0
        if not args.name:
            raise UsageError("model: give a NAME (or --list to see them)")
        result = downloads.fetch_model(args.name, args.cache_dir, args.mirror, model_catalog, progress)
        downloads.clear_progress()
        print(result.summary(), file=sys.stderr)
        print(result.path)
        return 0
    finally:
        downloads.clear_progress()


def main(argv: Optional[Sequence[str]] = None, glue_catalog: Optional[Mapping[str, downloads.GlueTask]] = None,
         model_catalog: Optional[Mapping[str, downloads.Model]] = None) -> int:
    """The command line; the catalogs default to downloads.GLUE_TASKS / MODELS (tests pass their own)."""
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args, glue_catalog or downloads.GLUE_TASKS, model_catalog or downloads.MODELS), PROG)
