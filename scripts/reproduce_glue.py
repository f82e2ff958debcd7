#!/usr/bin/env python3
"""The BERT paper's GLUE protocol as one command: a grid of run_classifier.py runs,
selection on dev, summary.md/summary.csv and submission.zip. See --help, and
bert_estimator/glue/sweep.py, which this runs.

    python scripts/reproduce_glue.py --tasks MRPC CoLA --bert_dir uncased_L-12_H-768_A-12 \\
        --output_dir glue_sweep

Before the sweep this launcher fetches what is missing, as `python fetch.py` would
(resumable, checksum-verified; FETCH_MIRROR, a base URL or directory, replaces the
host as fetch.py's --mirror does):

* --glue_dir defaults to glue_data in the checkout, where `fetch.py glue` puts GLUE; a
  task whose folder is not in --glue_dir is fetched there first (MNLI with GLUE's
  diagnostic set);
* --bert_dir NAME, when NAME is no path but one of Google's checkpoints
  (`python fetch.py model --list`), means that checkpoint in the model cache
  (.cache/models/NAME, or $BERT_MODEL_CACHE/NAME), fetched once.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Mapping, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bert_estimator.core.errors import run_cli  # noqa: E402
from bert_estimator.data import downloads  # noqa: E402
from bert_estimator.glue import submission_zip, sweep  # noqa: E402

MIRROR_ENV = "FETCH_MIRROR"


class _Unparsable(Exception):
    """argv that sweep's own parser will refuse (with its usage line)."""


class _QuietParser(argparse.ArgumentParser):
    def error(self, message):
        raise _Unparsable(message)


def complete(argv: list[str], glue_catalog: Optional[Mapping[str, downloads.GlueTask]] = None,
             model_catalog: Optional[Mapping[str, downloads.Model]] = None) -> list[str]:
    """`argv` with --glue_dir defaulted, the missing GLUE tasks fetched into it and a
    --bert_dir checkpoint name replaced by its directory in the model cache (fetched
    when absent). One line per fetched task on stdout, per fetched model on stderr."""
    own, extras = (argv[:argv.index("--")], argv[argv.index("--"):]) if "--" in argv else (argv, [])
    if "-h" in own or "--help" in own:
        return argv
    parser = _QuietParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--tasks", nargs="+", default=[])
    parser.add_argument("--glue_dir")
    parser.add_argument("--bert_dir")
    try:
        known, _ = parser.parse_known_args(own)
    except _Unparsable:
        return argv
    mirror = os.environ.get(MIRROR_ENV) or None
    glue_catalog = glue_catalog or downloads.GLUE_TASKS
    model_catalog = model_catalog or downloads.MODELS

    glue_dir = known.glue_dir
    if glue_dir is None:
        glue_dir = downloads.default_glue_dir()
        own = [*own, f"--glue_dir={glue_dir}"]
    if "://" not in glue_dir:
        missing = []
        for text in known.tasks:
            folder = submission_zip.DATA_FOLDERS[sweep.parse_task(text)]
            if not os.path.isdir(os.path.join(glue_dir, folder)):
                missing.append(folder)
                if folder == "MNLI" and not os.path.isdir(os.path.join(glue_dir, "diagnostic")):
                    missing.append("diagnostic")
        for name in dict.fromkeys(missing):
            print(downloads.fetch_glue_task(name, glue_dir, mirror, glue_catalog).summary(), flush=True)

    name = known.bert_dir
    if name and name in model_catalog and "://" not in name and not os.path.exists(name):
        result = downloads.fetch_model(name, mirror=mirror, catalog=model_catalog)
        print(result.summary(), file=sys.stderr, flush=True)
        own = [f"--bert_dir={result.path}" if arg == f"--bert_dir={name}" else arg for arg in own]
        own = [result.path if i and own[i - 1] == "--bert_dir" and arg == name else arg for i, arg in enumerate(own)]
    return own + extras


if __name__ == "__main__":
    sys.exit(sweep.main(run_cli(lambda: complete(sys.argv[1:]), sweep.PROG)))
