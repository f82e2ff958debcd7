"""What this project adds around Google's BERT fine-tuning code.

The original's modules stay top-level, where a reader of google-research/bert looks
for them: `modeling`, `tokenization`, `optimization`, `run_classifier` and the dataset
readers in `processors`. Everything added lives here, in sub-packages by job (each
`__init__` lists its modules), from the top layer down:

    tools       the programs around the main one: the demo, the GPU self-check, downloads
    glue        the paper's GLUE protocol: submission files, the sweep, its summary
    training    what run_classifier.py runs on: settings, checks, Estimator, train op, metrics
    serving     the SavedModel export, in-graph tokenization, predictions from an export
    results     eval_results.txt / test_results.tsv, per-example probabilities, reports
    convert     Hugging Face BERT weights into Google's checkpoint layout
    data        examples to TFRecords (faithful and fast), input_fns, casing, assets
    core        errors, atomic file writes, UTF-8 decoding, progress lines

A package imports only from the layers below it (`run_classifier` sits between tools
and glue, `processors` between data and core, beside which lie the original's
`modeling`, `tokenization` and `optimization`); `lint-imports` enforces this contract,
written in pyproject.toml.
"""
