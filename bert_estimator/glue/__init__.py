"""The BERT paper's GLUE protocol.

    submission_files  the files the GLUE server takes, written beside test_results.tsv
    submission_zip    the selected runs' GLUE files gathered into submission.zip, checked first
    sweep             the grid of fine-tuning runs (`scripts/reproduce_glue.py`)
    sweep_summary     a sweep's results: dev metric per run, mean and sd, the selection
"""
