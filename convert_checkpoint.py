#!/usr/bin/env python3
"""Convert a Hugging Face BERT into Google's checkpoint layout (bert_config.json, vocab.txt, bert_model.ckpt).

Runnable as `python convert_checkpoint.py` from a checkout; installed as the `bert-convert-checkpoint` command.
The program lives in `bert_estimator/convert/convert_cli.py`.
"""

import sys

from bert_estimator.convert.convert_cli import main

if __name__ == "__main__":
    sys.exit(main())
