"""Writes the model inputs of a GLUE task, made by OUR pipeline, to a `.npz` for the reference.

The accuracy comparison (`bench/accuracy.sh`) feeds both implementations the same token
ids: `run_classifier.py` builds its TFRecords with `tokenization.FullTokenizer` and
`features.convert_single_example`; this script runs the very same two functions
(same processor, vocabulary, casing, max_seq_length, truncation) and saves the result
as plain integer arrays that `bench/hf_finetune.py` (Hugging Face + PyTorch, in its own
virtualenv) reads. So any difference in accuracy comes from the training code, not from
the tokenizer.

For the reference's tokenizer check it also saves the texts and, per example, our
*untruncated* ids (`[CLS] a [SEP] (b [SEP])`, ragged: `full_ids` + `full_offsets`).

    .venv/bin/python bench/prepare_features.py --task sst-2 \
        --data_dir ../shared/data/glue/SST-2 --vocab_file MODEL/vocab.txt \
        --max_seq_length 64 --output runs/accuracy/features/sst-2_64.npz

Arrays, per split (`train`, `dev`): `{split}_input_ids`, `{split}_input_mask`,
`{split}_segment_ids` (int32, [N, max_seq_length]), `{split}_label_ids` (int32, [N]),
`{split}_text_a`, `{split}_text_b` (unicode; text_b empty for single texts),
`{split}_full_ids` (int32, concatenated) and `{split}_full_offsets` (int64, [N + 1]);
plus `label_list`, `max_seq_length`, `do_lower_case` and `task`.
"""

from __future__ import annotations

import argparse
import os
import sys

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

common.quiet_tensorflow()

import numpy as np  # noqa: E402

import processors  # noqa: E402
import tokenization  # noqa: E402
from bert_estimator.data.features import build_tokens, convert_single_example  # noqa: E402


def split_arrays(examples, label_list, max_seq_length, tokenizer, truncation="head") -> dict:
    """The arrays of one split (see the module docstring), keys without the split prefix."""
    feats = [convert_single_example(i, ex, label_list, max_seq_length, tokenizer, truncation)
             for i, ex in enumerate(examples)]
    full_ids, offsets = [], [0]
    for ex in examples:
        tokens_b = tokenizer.tokenize(ex.text_b) if ex.text_b else None
        tokens, _ = build_tokens(tokenizer.tokenize(ex.text_a), tokens_b)
        full_ids.extend(tokenizer.convert_tokens_to_ids(tokens))
        offsets.append(len(full_ids))
    return {
        "input_ids": np.asarray([f.input_ids for f in feats], dtype=np.int32),
        "input_mask": np.asarray([f.input_mask for f in feats], dtype=np.int32),
        "segment_ids": np.asarray([f.segment_ids for f in feats], dtype=np.int32),
        "label_ids": np.asarray([f.label_id for f in feats], dtype=np.int32),
        "text_a": np.asarray([ex.text_a for ex in examples], dtype=np.str_),
        "text_b": np.asarray([ex.text_b or "" for ex in examples], dtype=np.str_),
        "full_ids": np.asarray(full_ids, dtype=np.int32),
        "full_offsets": np.asarray(offsets, dtype=np.int64),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, help="run_classifier task name (sst-2, cola, mrpc, ...)")
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--vocab_file", required=True)
    parser.add_argument("--max_seq_length", type=int, required=True)
    parser.add_argument("--do_lower_case", type=int, default=1)
    parser.add_argument("--output", required=True, help=".npz file to write")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """The arrays of the module docstring, both splits."""
    processor = processors.get_processor(args.task)
    label_list = processor.get_labels()
    tokenizer = tokenization.FullTokenizer(args.vocab_file, do_lower_case=bool(args.do_lower_case))
    arrays = {"label_list": np.asarray(label_list, dtype=np.str_),
              "max_seq_length": np.int32(args.max_seq_length),
              "do_lower_case": np.int32(args.do_lower_case),
              "task": np.asarray(args.task)}
    for split, get in (("train", processor.get_train_examples), ("dev", processor.get_dev_examples)):
        examples = get(args.data_dir)
        for key, value in split_arrays(examples, label_list, args.max_seq_length, tokenizer).items():
            arrays[f"{split}_{key}"] = value
        lengths = np.diff(arrays[f"{split}_full_offsets"])
        common.log(f"{args.task} {split}: {len(examples)} examples, mean length {lengths.mean():.1f}, "
                   f"max {lengths.max()}, truncated {(lengths > args.max_seq_length).sum()}")
    return arrays


def report(arrays: dict, args: argparse.Namespace) -> int:
    """Writes the arrays to --output (atomically)."""
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    tmp = args.output + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, args.output)
    return 0


main = common.entry_point(parse_args, run, report)


if __name__ == "__main__":
    sys.exit(main())
