#!/usr/bin/env python3
"""Classify raw sentences with a model exported by `run_classifier.py --export_dir`.

Runnable as `python predict.py` from a checkout; installed as the `bert-predict` command.
The program lives in `bert_estimator/serving/predict_cli.py`.
"""

import sys

from bert_estimator.serving.predict_cli import main

if __name__ == "__main__":
    sys.exit(main())
