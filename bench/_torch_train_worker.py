"""Times fine-tuning steps of `transformers` + PyTorch on CPU (for `bench/bench_training.py`).

Runs in `.venv-bench` (torch + transformers; never the product's `.venv`) and reads the
`.npz` of `bench/prepare_features.py`: the token ids OUR tokenizer made for the very
training file the TensorFlow programs read. The recipe is `bench/hf_finetune.py`'s, from
`bench/torch_reference.py`: `BertForSequenceClassification` in train mode (dropout on),
mean cross-entropy, `torch.optim.AdamW` (eps 1e-6, weight decay 0.01 on all but biases
and LayerNorm), BERT's linear warmup/decay schedule, gradients clipped to global norm 1.0.

Batches are consecutive runs of `--batch_size` training examples in the file's order
(wrapping around), padded to `--max_seq_length` (`--padding fixed`, as the TF programs
do) or to the longest member of the batch (`--padding longest`).

The time origin is taken after the model and optimizer exist, before the first step;
`step_end_times[i]` is `time.perf_counter()` after step i's forward, backward, clipping,
optimizer and scheduler step and `zero_grad` (and the batch slicing before them), the
same inter-step measure `bench/_train_timing_launcher.py` takes of the TF programs.

    .venv-bench/bin/python bench/_torch_train_worker.py --features F.npz --model_dir HF_DIR \
        --steps 60 --padding fixed --output timing.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402
from bench.torch_reference import batch_tensors, build_optimizer, training_step  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", required=True)
    parser.add_argument("--model_dir", required=True, help="Hugging Face BERT directory")
    parser.add_argument("--output", required=True, help="timing JSON to write")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--padding", choices=["fixed", "longest"], default="fixed")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Trains `--steps` steps; returns the timing record (see the module docstring)."""
    t_process = time.perf_counter()
    import torch
    import transformers
    from transformers import BertForSequenceClassification

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    with np.load(args.features, allow_pickle=False) as data:
        arrays = {k: data[f"train_{k}"].astype(np.int64) for k in
                  ("input_ids", "input_mask", "segment_ids", "label_ids")}
        max_seq_length = int(data["max_seq_length"])
    n = len(arrays["label_ids"])
    order = np.arange(args.steps * args.batch_size) % n
    tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}

    torch.manual_seed(args.seed)
    model = BertForSequenceClassification.from_pretrained(args.model_dir, num_labels=2)
    optimizer, scheduler = build_optimizer(torch, model, args.learning_rate, args.steps,
                                           int(args.steps * args.warmup_proportion))
    model.train()

    record = {"program": "torch", "padding": args.padding, "threads": torch.get_num_threads(),
              "torch": torch.__version__, "transformers": transformers.__version__,
              "attn_implementation": getattr(model.config, "_attn_implementation", None),
              "max_seq_length": max_seq_length, "train_examples": n,
              "step_end_times": [], "cpu_times": [], "batch_shapes": [], "losses": [], "error": None}
    record["t_session_created"] = time.perf_counter()
    record["cpu_session_created"] = common.cpu_seconds()
    record["setup_seconds"] = record["t_session_created"] - t_process
    for step in range(args.steps):
        idx = torch.from_numpy(order[step * args.batch_size:(step + 1) * args.batch_size])
        ids, mask, seg = batch_tensors(tensors, idx, args.padding)
        loss = training_step(torch, model, optimizer, scheduler, ids, mask, seg, labels=tensors["label_ids"][idx])
        record["step_end_times"].append(time.perf_counter())
        record["cpu_times"].append(common.cpu_seconds())
        record["batch_shapes"].append(list(ids.shape))
        record["losses"].append(loss)
    return record


def report(record: dict, args: argparse.Namespace) -> int:
    """The report is the timing JSON (`bench/bench_training.py` reads it)."""
    common.write_json(args.output, record)
    return 0


main = common.entry_point(parse_args, run, report)


if __name__ == "__main__":
    raise SystemExit(main())
