#!/usr/bin/env python3
"""Fetches GLUE's data and Google's BERT checkpoints, resumable and checksum-verified.

Runnable as `python fetch.py` from a checkout; installed as the `bert-fetch` command.
The program lives in `bert_estimator/tools/fetch.py`.
"""

import sys

from bert_estimator.tools.fetch import main

if __name__ == "__main__":
    sys.exit(main())
