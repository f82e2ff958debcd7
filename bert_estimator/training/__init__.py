"""What `run_classifier.py` trains, evaluates and predicts with.

    settings          the settings of a run: its flags, read once
    checks            checks on flags and inputs, before anything is read or written
    estimator_setup   the one RunConfig / Estimator build, and the session config
    train_op_builder  the training op: BERT's recipe plus what `optimization.py` leaves out
    distribution      multi-device and multi-worker training through `tf.distribute`
    evaluation        evaluation during training, the best checkpoint, early stopping
    preemption        SIGTERM / SIGINT during training: a checkpoint at the current step
    output_lock       one writer per output directory
    tfhub             TF-Hub BERT modules in place of a config and checkpoint
    metrics           streaming eval metrics, weighted by `is_real_example`
"""
