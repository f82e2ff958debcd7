#!/usr/bin/env python3
"""Check the GPU code paths (float32, --use_amp, --use_xla, mirrored) against the CPU.

Runnable as `python gpu_check.py` from a checkout; installed as the `bert-gpu-check` command.
The program lives in `bert_estimator/tools/gpu_check.py`; docs/GPU.md explains its output.
"""

import sys

from bert_estimator.tools.gpu_check import main

if __name__ == "__main__":
    sys.exit(main())
