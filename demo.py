#!/usr/bin/env python3
"""The main job, offline: fine-tune a real BERT on 10k movie-review snippets, evaluate, predict, serve.

Runnable as `python demo.py` from a checkout; installed as the `bert-demo` command.
The program lives in `bert_estimator/tools/demo.py`.
"""

import sys

from bert_estimator.tools.demo import main

if __name__ == "__main__":
    sys.exit(main())
