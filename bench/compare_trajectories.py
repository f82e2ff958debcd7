"""Step-for-step check: does our training step compute what Hugging Face + PyTorch computes?

The accuracy comparison (bench/accuracy.sh) differs between the implementations in
everything random (classifier init, dropout masks, batch order) and in the optimizer's
bias correction, so it can only compare distributions of results. This script removes
all of that and compares training *trajectories*: the same checkpoint, the same
classifier initialisation (a fixed random matrix), no dropout, the same batches in the
same order, the same learning-rate schedule, gradient clipping and weight decay. Then
the per-step training losses of

* ours: `run_classifier.create_model` + `optimization.create_optimizer` (TF 2.15 graph
  mode; the checkpoint restored with `modeling.get_assignment_map_from_checkpoint` and
  `tf.train.init_from_checkpoint`, as run_classifier's model_fn does), and
* the reference: `BertForSequenceClassification` trained by PyTorch with
  `--optimizer bert` (a port of BERT's AdamWeightDecay: no bias correction) and with
  `--optimizer torch` (torch.optim.AdamW, eps 1e-6: bias-corrected)

must agree to float32 rounding with the BERT optimizer, and show what bias correction
alone changes with torch's AdamW.

    .venv/bin/python bench/compare_trajectories.py tf --features F.npz --tf_model_dir M --out tf.json
    .venv-bench/bin/python bench/compare_trajectories.py hf --features F.npz --hf_model_dir H \
        --optimizer bert --out hf_bert.json
    .venv-bench/bin/python bench/compare_trajectories.py hf ... --optimizer torch --out hf_torch.json
    python3 bench/compare_trajectories.py compare tf.json hf_bert.json hf_torch.json

Only numpy is imported at module level: each mode runs in its own virtualenv.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

CLASSIFIER_INIT_SEED = 1234


def load_batches(features: str, steps: int, batch_size: int):
    """The first steps * batch_size training examples in file order, as int32 arrays."""
    with np.load(features, allow_pickle=False) as data:
        n = steps * batch_size
        arrays = {k: data[f"train_{k}"][:n] for k in ("input_ids", "input_mask", "segment_ids", "label_ids")}
        num_labels = len(data["label_list"])
    if len(arrays["label_ids"]) < n:
        raise SystemExit(f"{features}: fewer than {n} training examples")
    return arrays, num_labels


def classifier_init(num_labels: int, hidden: int):
    rng = np.random.default_rng(CLASSIFIER_INIT_SEED)
    return (rng.standard_normal((num_labels, hidden)) * 0.02).astype(np.float32), np.zeros(num_labels, np.float32)


def schedule(steps: int, warmup_proportion: float):
    return steps, int(steps * warmup_proportion)


# ------------------------------------------------------------------------------------ TF
def run_tf(args) -> dict:
    common.quiet_tensorflow()
    import tensorflow.compat.v1 as tf

    import modeling
    import optimization
    import run_classifier
    from bert_estimator.training.train_op_builder import TrainOpOptions

    tf.disable_eager_execution()
    tf.get_logger().setLevel("ERROR")
    data, num_labels = load_batches(args.features, args.steps, args.batch_size)
    config = modeling.BertConfig.from_json_file(os.path.join(args.tf_model_dir, "bert_config.json"))
    config.hidden_dropout_prob = 0.0
    config.attention_probs_dropout_prob = 0.0
    num_steps, num_warmup = schedule(args.steps, args.warmup_proportion)
    seq = data["input_ids"].shape[1]
    ckpt = os.path.join(args.tf_model_dir, "bert_model.ckpt")
    with tf.Graph().as_default():
        ph = {k: tf.placeholder(tf.int32, [args.batch_size, seq], k) for k in ("input_ids", "input_mask", "segment_ids")}
        labels = tf.placeholder(tf.int32, [args.batch_size], "labels")
        # is_training=False: no dropout anywhere (BertModel's and the classifier's).
        loss, _, _, _ = run_classifier.create_model(config, False, ph["input_ids"], ph["input_mask"],
                                                    ph["segment_ids"], labels, num_labels, False)
        tvars = tf.trainable_variables()
        assignment_map, _ = modeling.get_assignment_map_from_checkpoint(tvars, ckpt)
        tf.train.init_from_checkpoint(ckpt, assignment_map)
        train_op = optimization.create_optimizer(loss, args.learning_rate, num_steps, num_warmup, False,
                                                 build_train_op=TrainOpOptions())  # run_classifier's training op
        w0, b0 = classifier_init(num_labels, config.hidden_size)
        by_name = {v.op.name: v for v in tf.global_variables()}
        set_classifier = [by_name["output_weights"].assign(w0), by_name["output_bias"].assign(b0)]
        with tf.Session(config=tf.ConfigProto(intra_op_parallelism_threads=args.threads,
                                              inter_op_parallelism_threads=args.threads)) as sess:
            sess.run(tf.global_variables_initializer())
            sess.run(set_classifier)
            losses = []
            t0 = time.time()
            for k in range(num_steps):
                sl = slice(k * args.batch_size, (k + 1) * args.batch_size)
                feed = {ph[n]: data[n][sl] for n in ph}
                feed[labels] = data["label_ids"][sl]
                loss_value, _ = sess.run([loss, train_op], feed)
                losses.append(float(loss_value))
            seconds = time.time() - t0
    return {"impl": "tf (run_classifier.create_model + optimization.create_optimizer)", "losses": losses,
            "seconds": seconds}


# ------------------------------------------------------------------------------------ HF
def run_hf(args) -> dict:
    import torch
    import transformers
    from transformers import BertForSequenceClassification

    from bench.torch_reference import build_optimizer

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    data, num_labels = load_batches(args.features, args.steps, args.batch_size)
    model = BertForSequenceClassification.from_pretrained(
        args.hf_model_dir, num_labels=num_labels, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        classifier_dropout=0.0)
    w0, b0 = classifier_init(num_labels, model.config.hidden_size)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(w0))
        model.classifier.bias.copy_(torch.from_numpy(b0))
    num_steps, num_warmup = schedule(args.steps, args.warmup_proportion)
    optimizer, scheduler = build_optimizer(torch, model, args.learning_rate, num_steps, num_warmup,
                                           optimizer=args.optimizer, schedule="bert")
    model.train()  # dropout probabilities are 0
    word_embeddings = model.bert.embeddings.word_embeddings
    occurrence_grads = []
    if args.clip_norm == "tf":
        # TF's clip_by_global_norm takes the norm of the word embeddings' gradient as
        # tf.gather's IndexedSlices hold it: one row per token occurrence, duplicates not
        # summed. Those rows are the gradient w.r.t. the looked-up vectors.
        def keep_occurrence_grads(module, inputs, output):
            output.register_hook(occurrence_grads.append)

        word_embeddings.register_forward_hook(keep_occurrence_grads)
    grad_norms = []
    losses = []
    t0 = time.time()
    for k in range(num_steps):
        sl = slice(k * args.batch_size, (k + 1) * args.batch_size)
        mask = torch.from_numpy(data["input_mask"][sl].astype(np.int64))
        length = int(mask.sum(dim=1).max())  # pad to the batch's longest: the masked tail changes nothing
        out = model(input_ids=torch.from_numpy(data["input_ids"][sl, :length].astype(np.int64)),
                    attention_mask=mask[:, :length],
                    token_type_ids=torch.from_numpy(data["segment_ids"][sl, :length].astype(np.int64)),
                    labels=torch.from_numpy(data["label_ids"][sl].astype(np.int64)))
        occurrence_grads.clear()
        out.loss.backward()
        if args.clip_norm == "tf":
            squares = sum(float(p.grad.double().pow(2).sum()) for p in model.parameters()
                          if p.grad is not None and p is not word_embeddings.weight)
            squares += sum(float(g.double().pow(2).sum()) for g in occurrence_grads)
            norm = squares ** 0.5
            with torch.no_grad():
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad.mul_(1.0 / max(norm, 1.0))
        else:
            norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
        grad_norms.append(norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(out.loss.detach()))
    return {"impl": f"hf (BertForSequenceClassification, optimizer {args.optimizer}, clip norm {args.clip_norm})",
            "losses": losses, "grad_norms": grad_norms,
            "seconds": time.time() - t0, "torch": torch.__version__, "transformers": transformers.__version__}


# ------------------------------------------------------------------------------- compare
def compare(paths: list[str]) -> int:
    """Prints the loss table of the runs in `paths` (JSON files; the first is the baseline)."""
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append(json.load(f))
    base = runs[0]
    n = len(base["losses"])
    marks = sorted({0, 1, 2, 3, 5, 10, n // 4, n // 2, 3 * n // 4, n - 1} & set(range(n)))
    print(common.markdown_row(["step", *(r["impl"] for r in runs)]))
    print("|---" * (len(runs) + 1) + "|")
    for k in marks:
        print(common.markdown_row([k + 1, *(f"{r['losses'][k]:.6f}" for r in runs)]))
    for r in runs[1:]:
        diff = np.abs(np.asarray(r["losses"]) - np.asarray(base["losses"]))
        print(f"max |loss difference| vs {base['impl']}: {r['impl']}: {diff.max():.2e} "
              f"(at step {int(diff.argmax()) + 1}); mean over the last quarter {diff[3 * n // 4:].mean():.2e}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["tf", "hf", "compare"])
    parser.add_argument("files", nargs="*", help="compare: the JSON files (the first is the baseline)")
    parser.add_argument("--features", help=".npz of bench/prepare_features.py")
    parser.add_argument("--tf_model_dir", help="converted checkpoint dir (bert_config.json, bert_model.ckpt)")
    parser.add_argument("--hf_model_dir", help="Hugging Face model dir")
    parser.add_argument("--optimizer", choices=["bert", "torch"], default="bert")
    parser.add_argument("--clip_norm", choices=["dense", "tf"], default="dense",
                        help="hf: the global norm for clipping from the dense gradients (PyTorch's "
                             "clip_grad_norm_) or as TF computes it (word-embedding rows per occurrence)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="JSON file to write (tf, hf)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """One implementation's trajectory (modes tf and hf), with the settings it ran with."""
    result = run_tf(args) if args.mode == "tf" else run_hf(args)
    result.update(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                  warmup_proportion=args.warmup_proportion, features=args.features)
    return result


def report(result: dict, args: argparse.Namespace) -> int:
    """Writes the trajectory to --out and prints a one-line summary."""
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"{result['impl']}: {len(result['losses'])} steps in {result['seconds']:.0f}s; "
          f"loss {result['losses'][0]:.4f} -> {result['losses'][-1]:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.mode == "compare":  # the report of earlier runs
        return compare(args.files)
    results = run(args)
    return report(results, args)


if __name__ == "__main__":
    sys.exit(main())
