"""What a run leaves behind besides checkpoints.

    output_files    eval_results.txt and test_results.tsv, in the original's formats, and their readers
    eval_collector  the evaluation's per-example probabilities, collected in its own session runs
    reports         classification report, confusion matrix, plots of a run
"""
