"""The independent reference: fine-tunes a BERT with Hugging Face `transformers` + PyTorch.

Runs in its own virtualenv (`.venv-bench`: torch CPU + transformers; never the product's
`.venv`) and reads the `.npz` of `bench/prepare_features.py`, i.e. the token ids OUR
tokenizer made, so the two implementations train on identical inputs. Before training it
checks that the reference's own tokenizer (`AutoTokenizer.from_pretrained(model_dir)`)
gives the same ids as ours, on the train and dev sets, and stops (exit status 3) if any
dev example differs, unless `--allow_tokenizer_mismatch`.

The recipe is `run_classifier.py`'s, as closely as PyTorch allows (the optimizer, schedule
and training step live in `torch_reference.py`):

* `BertForSequenceClassification` (pooled [CLS] -> dropout 0.1 -> linear), the model's own
  dropout (hidden 0.1, attention 0.1), mean cross-entropy over the batch;
* num_train_steps = int(N / batch * epochs), num_warmup_steps = int(steps * warmup), the
  examples drawn in a fresh random order per epoch, every batch full, batches running on
  across epoch boundaries (as run_classifier's default pipeline: shuffle each epoch,
  repeat, batch);
* learning rate at step k: lr * k / warmup while k < warmup, else lr * (1 - k / steps),
  BERT's schedule (`--schedule hf` for transformers' `get_linear_schedule_with_warmup`,
  which decays from lr at the end of warmup instead of lr * (1 - warmup / steps));
* gradients clipped to global norm 1.0;
* `--optimizer torch` (default): `torch.optim.AdamW`, betas (0.9, 0.999), eps 1e-6,
  weight decay 0.01 on every parameter but biases and LayerNorm. Unlike BERT's
  `AdamWeightDecayOptimizer` it applies Adam's bias correction. `--optimizer bert` uses a
  PyTorch port of BERT's optimizer instead (no bias correction), for diagnosis;
* each batch is padded to its longest sequence (`--padding longest`, the default;
  mathematically the same as padding to max_seq_length since padded positions are
  masked out, and faster) or to max_seq_length (`--padding max_length`, as TF does).

Writes to `--output_dir`: `results.json` (metrics, timings, losses, settings) and
`dev_predictions.tsv` (the format of run_classifier's report).

    .venv-bench/bin/python bench/hf_finetune.py --features runs/accuracy/features/sst-2_64.npz \
        --model_dir .cache/assets/all-MiniLM-L6-v2 --output_dir runs/accuracy/hf/sst-2/seed0 \
        --seed 0 --learning_rate 5e-5 --train_batch_size 32 --num_train_epochs 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402
from bench.torch_reference import batch_tensors, build_optimizer, training_step  # noqa: E402


def load_features(path: str) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# ----------------------------------------------------------------------- tokenizer check
def tokenizer_agreement(tokenizer, feats: dict, split: str, max_seq_length: int) -> dict:
    """Compares the reference tokenizer's ids with ours on one split.

    Returns counts of examples whose full (untruncated) ids agree, whose truncated ids
    (HF `truncation="longest_first"`, max_length) agree with the features we train on,
    and the first few differing examples.
    """
    text_a = [str(t) for t in feats[f"{split}_text_a"]]
    text_b = [str(t) for t in feats[f"{split}_text_b"]]
    pairs = any(text_b)
    offsets = feats[f"{split}_full_offsets"]
    full_ids = feats[f"{split}_full_ids"]
    ours_full = [full_ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(text_a))]
    ours_cut = [row[mask.astype(bool)].tolist() for row, mask in
                zip(feats[f"{split}_input_ids"], feats[f"{split}_input_mask"])]
    ours_seg = [row[mask.astype(bool)].tolist() for row, mask in
                zip(feats[f"{split}_segment_ids"], feats[f"{split}_input_mask"])]

    kwargs = dict(add_special_tokens=True)
    args = (text_a, text_b) if pairs else (text_a,)
    theirs_full = tokenizer(*args, **kwargs)["input_ids"]
    cut = tokenizer(*args, truncation="longest_first", max_length=max_seq_length,
                    return_token_type_ids=True, **kwargs)
    full_same = [a == b for a, b in zip(ours_full, theirs_full)]
    cut_same = [a == b and s == t for a, b, s, t in
                zip(ours_cut, cut["input_ids"], ours_seg, cut["token_type_ids"])]
    examples = []
    for i, same in enumerate(full_same):
        if not same and len(examples) < 3:
            examples.append({"index": i, "text_a": text_a[i], "text_b": text_b[i],
                             "ours": tokenizer.convert_ids_to_tokens(ours_full[i]),
                             "theirs": tokenizer.convert_ids_to_tokens(theirs_full[i])})
    n = len(text_a)
    return {"examples": n, "full_ids_agree": int(sum(full_same)), "truncated_ids_agree": int(sum(cut_same)),
            "full_agreement": sum(full_same) / n, "truncated_agreement": sum(cut_same) / n,
            "first_differences": examples}


def dev_predictions_tsv(label_names, gold, probs) -> str:
    """The layout of run_classifier's dev_predictions.tsv (reports.dev_predictions_tsv)."""
    lines = ["\t".join(["index", "gold", "predicted", "correct", *(f"prob_{n}" for n in label_names)])]
    for i, (g, row) in enumerate(zip(gold, probs)):
        p = int(row.argmax())
        lines.append("\t".join([str(i), label_names[g], label_names[p], str(int(p == g)),
                                *(f"{x:.6f}" for x in row)]))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", required=True, help=".npz of bench/prepare_features.py")
    parser.add_argument("--model_dir", required=True, help="Hugging Face BERT directory")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--eval_batch_size", type=int, default=64)
    parser.add_argument("--num_train_epochs", type=float, default=3.0)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument("--weight_decay", type=float, default=0.01)
    parser.add_argument("--max_train_examples", type=int, default=None,
                        help="train on the first N training examples only")
    parser.add_argument("--optimizer", choices=["torch", "bert"], default="torch")
    parser.add_argument("--schedule", choices=["bert", "hf"], default="bert")
    parser.add_argument("--padding", choices=["longest", "max_length"], default="longest")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log_every", type=int, default=10, help="steps between progress lines")
    parser.add_argument("--allow_tokenizer_mismatch", action="store_true")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Checks the tokenizer, trains, evaluates on dev; returns results.json's content and
    the text of dev_predictions.tsv."""
    t_process = time.time()
    import torch
    import transformers
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    feats = load_features(args.features)
    max_seq_length = int(feats["max_seq_length"])
    label_list = [str(x) for x in feats["label_list"]]
    os.makedirs(args.output_dir, exist_ok=True)

    # 1. The reference's own tokenizer must agree with ours.
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    agreement = {split: tokenizer_agreement(tokenizer, feats, split, max_seq_length)
                 for split in ("train", "dev")}
    for split, a in agreement.items():
        print(f"tokenizer agreement ({type(tokenizer).__name__} vs ours) on {split}: "
              f"{a['full_ids_agree']}/{a['examples']} full, {a['truncated_ids_agree']}/{a['examples']} "
              f"truncated to {max_seq_length}", flush=True)
        for d in a["first_differences"]:
            print(f"  differs: {d}", flush=True)
    if agreement["dev"]["full_ids_agree"] != agreement["dev"]["examples"] and not args.allow_tokenizer_mismatch:
        print("hf_finetune: the reference tokenizer disagrees with ours on the dev set; refusing to go on "
              "(--allow_tokenizer_mismatch to override)", file=sys.stderr)
        raise SystemExit(3)

    # 2. Data, model, optimizer, schedule.
    n_train = len(feats["train_label_ids"])
    if args.max_train_examples:
        n_train = min(n_train, args.max_train_examples)
    tr = {k: torch.from_numpy(feats[f"train_{k}"][:n_train].astype(np.int64))
          for k in ("input_ids", "input_mask", "segment_ids", "label_ids")}
    num_train_steps = int(n_train / args.train_batch_size * args.num_train_epochs)
    num_warmup_steps = int(num_train_steps * args.warmup_proportion)
    rng = np.random.default_rng(args.seed)
    order = np.concatenate([rng.permutation(n_train) for _ in
                            range(math.ceil(num_train_steps * args.train_batch_size / n_train))])

    torch.manual_seed(args.seed)  # the classifier's init and the dropout masks
    model = BertForSequenceClassification.from_pretrained(args.model_dir, num_labels=len(label_list))
    optimizer, scheduler = build_optimizer(torch, model, args.learning_rate, num_train_steps, num_warmup_steps,
                                           optimizer=args.optimizer, schedule=args.schedule,
                                           weight_decay=args.weight_decay)

    print(f"training: {n_train} examples, {num_train_steps} steps of {args.train_batch_size} "
          f"({num_warmup_steps} warmup), lr {args.learning_rate}, optimizer {args.optimizer}, "
          f"schedule {args.schedule}, padding {args.padding}, torch threads {torch.get_num_threads()}, "
          f"attention {model.config._attn_implementation}", flush=True)

    # 3. Train.
    model.train()
    losses, lrs = [], []
    t_train = time.time()
    t_log = t_train
    for step in range(num_train_steps):
        idx = torch.from_numpy(order[step * args.train_batch_size:(step + 1) * args.train_batch_size])
        lrs.append(scheduler.get_last_lr()[0])
        losses.append(training_step(torch, model, optimizer, scheduler, *batch_tensors(tr, idx, args.padding),
                                    labels=tr["label_ids"][idx]))
        if (step + 1) % args.log_every == 0 or step + 1 == num_train_steps:
            now = time.time()
            rate = args.train_batch_size * (step + 1) / (now - t_train)
            print(f"step {step + 1}/{num_train_steps} loss {np.mean(losses[-args.log_every:]):.4f} "
                  f"lr {lrs[-1]:.3g} {rate:.1f} examples/sec, {now - t_log:.1f}s", flush=True)
            t_log = now
    train_seconds = time.time() - t_train

    # 4. Evaluate on dev.
    model.eval()
    dev = {k: torch.from_numpy(feats[f"dev_{k}"].astype(np.int64))
           for k in ("input_ids", "input_mask", "segment_ids", "label_ids")}
    n_dev = len(dev["label_ids"])
    probs, dev_losses = [], []
    t_eval = time.time()
    with torch.no_grad():
        for start in range(0, n_dev, args.eval_batch_size):
            idx = torch.arange(start, min(start + args.eval_batch_size, n_dev))
            ids, mask, seg = batch_tensors(dev, idx, args.padding)
            logits = model(input_ids=ids, attention_mask=mask, token_type_ids=seg).logits
            dev_losses.append(torch.nn.functional.cross_entropy(logits, dev["label_ids"][idx], reduction="sum"))
            probs.append(torch.softmax(logits, dim=-1).numpy())
    eval_seconds = time.time() - t_eval
    probs = np.concatenate(probs)
    gold = feats["dev_label_ids"].astype(np.int64)
    metrics = common.binary_metrics(gold, probs.argmax(axis=1))
    metrics["eval_loss"] = float(sum(dev_losses)) / n_dev

    result = {
        "implementation": "hf",
        "task": str(feats["task"]),
        "seed": args.seed,
        "metrics": metrics,
        "train_examples": n_train,
        "num_train_steps": num_train_steps,
        "num_warmup_steps": num_warmup_steps,
        "train_seconds": train_seconds,
        "train_examples_per_sec": num_train_steps * args.train_batch_size / train_seconds,
        "eval_seconds": eval_seconds,
        "process_seconds": time.time() - t_process,
        "losses": losses,
        "learning_rates": lrs,
        "tokenizer_agreement": agreement,
        "settings": {k: v for k, v in vars(args).items()} | {
            "max_seq_length": max_seq_length, "torch": torch.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
            "attn_implementation": model.config._attn_implementation,
            "tokenizer_class": type(tokenizer).__name__},
    }
    return {"result": result, "dev_predictions_tsv": dev_predictions_tsv(label_list, gold, probs)}


def report(results: dict, args: argparse.Namespace) -> int:
    """Writes dev_predictions.tsv and results.json to --output_dir; prints the dev metrics."""
    result = results["result"]
    with open(os.path.join(args.output_dir, "dev_predictions.tsv"), "w") as f:
        f.write(results["dev_predictions_tsv"])
    with open(os.path.join(args.output_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(f"dev: {json.dumps(result['metrics'])}; train {result['train_seconds']:.0f}s "
          f"({result['train_examples_per_sec']:.1f} examples/sec)", flush=True)
    return 0


main = common.entry_point(parse_args, run, report)


if __name__ == "__main__":
    sys.exit(main())
