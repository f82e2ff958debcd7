"""What this project adds around Google's BERT fine-tuning code.

The original's modules stay top-level, where a reader of google-research/bert looks
for them: `modeling`, `tokenization`, `optimization`, `run_classifier` and the dataset
readers in `processors`. Everything added lives here, one job per module:

    features        the faithful path: truncation, convert_single_example, the TFRecord writer
    fast_records    the same records, serialized directly (the fast backend)
    parallel        an ordered parallel map with a bounded window (memory stays flat)
    feature_cache   reuse of TFRecords whose inputs are unchanged and that are still whole
    input_pipeline  tf.data input_fns for training, eval and prediction
    checks          flag and input checks, before anything is written
    hub             TF-Hub BERT modules instead of a checkpoint
    runtime         session config and the one RunConfig/Estimator build
    progress        one progress/ETA format for data preparation and training
    fileio          atomic file writes
    errors          user errors and the one-line error handler of the programs
    textfiles       UTF-8 decoding with errors that name the byte and its line
    output_lock     one writer per --output_dir
    preemption      SIGTERM/SIGINT during training: a checkpoint at the current step
    outputs         eval_results.txt and test_results.tsv, in the original's formats
    evaluation      evaluation during training, the best checkpoint, early stopping
    glue_submission the files the GLUE server takes
    sweep, sweep_results, submission
                    the paper's protocol: the grid of runs, summaries, submission.zip
    metrics         eval metrics (accuracy, F1, MCC, AUC, Pearson/Spearman)
    reports         classification report, confusion matrix, plots
    serving, text_signature, predict
                    the SavedModel export (ids and raw-text signatures), predictions
    hf_cache, casing
                    models from the Hugging Face cache; the casing record and checks
    distribution    tf.distribute training (mirrored, multi-worker)
    assets          real weights and sentences fetched from the package index, cached
    hf_weights, name_map, convert_checkpoint, verify_conversion
                    Hugging Face BERT weights into Google's checkpoint layout
    gpu_check       the GPU paths checked against the CPU on the user's machine
    demo            the main job, end to end
    reference       Google's original code under TF 2.15 (tests, bench, --verify)
"""
