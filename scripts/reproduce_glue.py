#!/usr/bin/env python3
"""The BERT paper's GLUE protocol as one command: a grid of run_classifier.py runs,
selection on dev, summary.md/summary.csv and submission.zip. See --help, and
bert_estimator/sweep.py, which this runs.

    python scripts/reproduce_glue.py --tasks MRPC CoLA --glue_dir glue_data \\
        --bert_dir uncased_L-12_H-768_A-12 --output_dir glue_sweep
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bert_estimator import sweep  # noqa: E402

if __name__ == "__main__":
    sys.exit(sweep.main())
