"""Benchmarks inference of a fine-tuned BERT against Hugging Face `transformers` + PyTorch.

The model is the real all-MiniLM-L6-v2 (6 layers, hidden 384, the uncased vocabulary),
converted to Google's layout (`bert_estimator.convert.convert_cli.convert_hf_to_tf`) and
given a seeded classifier layer (2 labels), as a fine-tuned checkpoint would have; PyTorch runs
the very same weights (the Hugging Face files plus that layer). The texts are a seeded
sample of the real movie-review snippets. Three ways to predict:

* ours, `--do_predict`: what `run_classifier.py --do_predict` runs: `estimator.predict`
  over the TFRecords, batch 32, each batch padded to its longest member in input order
  (the default off TPU), and with `--fixed_padding` every example padded to
  max_seq_length 128, as the original did (the
  estimator builds its graph and restores the checkpoint on every call: "total" counts
  that, "steady" leaves the first batch out);
* ours, exported: `run_classifier.py --do_predict --export_dir` writes a SavedModel;
  `bert_estimator.serving.predictor.load_predictor` loads it once, tokenizes and pads
  each batch to its longest member (texts sorted by length first, as
  `Predictor.predict` does);
* PyTorch (`transformers` BertForSequenceClassification, `BertTokenizerFast`), each
  batch padded to its longest member, in a worker process of `.venv-bench`
  (torch is not installed in the project's virtualenv).

Batch throughput (sentences/s, tokenization included) is measured in two batch orders:
"sorted" (the predictor's own grouping by length; PyTorch gets the same batches) and
"input" (consecutive batches of 32 in the sample's order). Single-sentence latency
(median ms, tokenization included) runs each sentence alone at its own length.
Repetitions are interleaved between implementations; medians are reported. Outputs of
the exported model and PyTorch are compared (max |p_ours - p_torch|).

    .venv/bin/python bench/bench_inference.py [--sentences 1024] [--reps 3] [--latency 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time

if __name__ == "__main__":  # `python bench/NAME.py`: import from the project root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from bench import common  # noqa: E402

LABELS = ["0", "1"]
MAX_SEQ_LENGTH = 128
BATCH = 32
HEAD_SEED, HEAD_STDDEV = 0, 0.2


# =================================================================== PyTorch worker
def torch_worker(hf_dir: str, head_file: str) -> None:
    """Runs under .venv-bench: answers JSON commands on stdin, one per line."""
    import numpy as np
    import torch
    import transformers

    torch.set_num_threads(os.cpu_count() or 1)
    tokenizer = transformers.BertTokenizerFast(os.path.join(hf_dir, "vocab.txt"), do_lower_case=True)
    model = transformers.BertForSequenceClassification.from_pretrained(hf_dir, num_labels=2)
    head = np.load(head_file)
    with torch.no_grad():
        # Google's layout: output_weights [num_labels, hidden], as torch's Linear.weight.
        model.classifier.weight.copy_(torch.from_numpy(head["output_weights"]))
        model.classifier.bias.copy_(torch.from_numpy(head["output_bias"]))
    model.eval()

    def probabilities(texts):
        inputs = tokenizer(texts, padding=True, truncation=True, max_length=MAX_SEQ_LENGTH, return_tensors="pt")
        return torch.softmax(model(**inputs).logits, dim=-1)

    with torch.inference_mode():
        probabilities(["warm up"] * 2)
        for line in sys.stdin:
            request = json.loads(line)
            cmd, texts = request["cmd"], request.get("texts", [])
            torch.set_num_threads(request.get("threads", os.cpu_count() or 1))
            if cmd == "info":
                reply = {"torch": torch.__version__, "transformers": transformers.__version__}
            elif cmd == "probs":
                reply = {"probs": probabilities(texts).tolist()}
            elif cmd == "batch":
                start = time.perf_counter()
                for begin in range(0, len(texts), request["batch_size"]):
                    probabilities(texts[begin:begin + request["batch_size"]])
                reply = {"seconds": time.perf_counter() - start}
            elif cmd == "latency":
                ms = []
                for text in texts:
                    start = time.perf_counter()
                    probabilities([text])
                    ms.append(1000 * (time.perf_counter() - start))
                reply = {"ms": ms}
            else:
                reply = {"error": f"unknown command {cmd}"}
            print(json.dumps(reply), flush=True)


class TorchPeer:
    """The PyTorch worker process, driven over pipes."""

    def __init__(self, python: str, hf_dir: str, head_file: str):
        self.proc = subprocess.Popen(
            [python, os.path.abspath(__file__), "--torch-worker", hf_dir, head_file],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=common.PROJECT_ROOT)

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the PyTorch worker exited (see its stderr above)")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# ====================================================================== our side
def prepare(work_dir: str, texts: list[str], refresh: bool) -> dict:
    """Converts the weights, writes the fine-tuned-looking checkpoint and the export."""
    import numpy as np

    hf_dir, tf_dir = common.minilm_checkpoint(os.path.join(work_dir, "minilm_tf"), refresh)
    paths = {"hf_dir": hf_dir, "tf_dir": tf_dir,
             "finetuned": os.path.join(work_dir, "finetuned", "bert_model.ckpt"),
             "head": os.path.join(work_dir, "finetuned", "head.npz"),
             "data_dir": os.path.join(work_dir, "data"), "export_dir": os.path.join(work_dir, "export"),
             "output_dir": os.path.join(work_dir, "output")}
    if refresh or not os.path.exists(paths["finetuned"] + ".index"):
        head = common.write_classifier_checkpoint(paths["tf_dir"], paths["finetuned"], HEAD_SEED, HEAD_STDDEV)
        np.savez(paths["head"], **head)
    from bert_estimator.serving import saved_model

    if refresh or not saved_model.export_versions(paths["export_dir"]):
        paths["cli_seconds"] = common.export_classifier(
            paths["tf_dir"], paths["finetuned"], [(LABELS[i % 2], text) for i, text in enumerate(texts)],
            paths["data_dir"], paths["output_dir"], paths["export_dir"], MAX_SEQ_LENGTH, BATCH,
            os.path.join(work_dir, "export.log"))
    return paths


class EstimatorPath:
    """`run_classifier.py --do_predict`'s path: TFRecords, TPUEstimator (CPU); fixed padding
    (`--fixed_padding`) or, with `bucket_by_length`, each batch cut to its longest member
    in input order (what the input pipeline does for inference by default off TPU)."""

    def __init__(self, paths: dict, texts: list[str], work_dir: str, bucket_by_length: bool = False):
        import tensorflow.compat.v1 as tf

        import modeling
        import run_classifier
        import tokenization
        from bert_estimator.data import features, input_pipeline
        from processors import InputExample

        self.tf = tf
        tokenizer = tokenization.FullTokenizer(os.path.join(paths["tf_dir"], "vocab.txt"), do_lower_case=True)
        self.record_file = os.path.join(work_dir, "predict.tf_record")
        examples = [InputExample(str(i), t, None, LABELS[i % 2]) for i, t in enumerate(texts)]
        features.file_based_convert_examples_to_features(
            examples, LABELS, MAX_SEQ_LENGTH, tokenizer, self.record_file)
        bert_config = modeling.BertConfig.from_json_file(os.path.join(paths["tf_dir"], "bert_config.json"))
        model_fn = run_classifier.model_fn_builder(
            bert_config=bert_config, num_labels=len(LABELS), init_checkpoint=paths["finetuned"],
            learning_rate=5e-5, num_train_steps=None, num_warmup_steps=None, use_tpu=False,
            use_one_hot_embeddings=False)
        self.model_dir = os.path.join(work_dir, "estimator_bucketed" if bucket_by_length else "estimator")
        config = tf.estimator.tpu.RunConfig(model_dir=self.model_dir)
        self.estimator = tf.estimator.tpu.TPUEstimator(
            use_tpu=False, model_fn=model_fn, config=config, train_batch_size=BATCH,
            eval_batch_size=BATCH, predict_batch_size=BATCH)
        self.input_fn = input_pipeline.file_based_input_fn_builder(
            self.record_file, MAX_SEQ_LENGTH, is_training=False, drop_remainder=False,
            bucket_by_length=bucket_by_length)
        self.n = len(texts)

    def run(self) -> tuple[float, float, list]:
        """(total seconds, seconds after the first batch, probabilities)."""
        start = time.perf_counter()
        first, probs = None, []
        for i, prediction in enumerate(self.estimator.predict(self.input_fn)):
            probs.append(prediction["probabilities"])
            if i == BATCH - 1:
                first = time.perf_counter()
        end = time.perf_counter()
        return end - start, end - first, probs


def ours_batch(predictor, texts: list[str], order: str) -> float:
    start = time.perf_counter()
    if order == "sorted":
        predictor.predict(texts, batch_size=BATCH)
    else:
        for begin in range(0, len(texts), BATCH):
            predictor.predict(texts[begin:begin + BATCH], batch_size=BATCH)
    return time.perf_counter() - start


def ours_latency(predictor, texts: list[str]) -> list[float]:
    ms = []
    for text in texts:
        start = time.perf_counter()
        predictor.predict([text], batch_size=1)
        ms.append(1000 * (time.perf_counter() - start))
    return ms


def sorted_like_predictor(predictor, texts: list[str]) -> list[str]:
    """`texts` in the order `Predictor.predict` batches them (stable sort by length)."""
    lengths = [len(predictor.featurize(t)[0]) for t in texts]
    return [texts[i] for i in sorted(range(len(texts)), key=lengths.__getitem__)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=1024, help="snippets in the throughput sample")
    parser.add_argument("--latency", type=int, default=200, help="snippets timed one at a time, per rep")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (medians reported)")
    parser.add_argument("--work_dir", default=os.path.join(common.PROJECT_ROOT, ".cache", "bench_inference"))
    parser.add_argument("--torch_python", default=common.DEFAULT_TORCH_PYTHON,
                        help="python of a virtualenv with torch and transformers")
    parser.add_argument("--no-estimator", dest="estimator", action="store_false",
                        help="skip the --do_predict (estimator) path, the slowest")
    parser.add_argument("--refresh", action="store_true", help="rebuild the checkpoint and the export")
    parser.add_argument("--torch-worker", nargs=2, metavar=("HF_DIR", "HEAD"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Times every path, interleaved; returns the raw times, latencies and output checks."""
    common.quiet_tensorflow("3")
    import numpy as np
    import tensorflow.compat.v1 as tf

    from bert_estimator.serving import predictor as predictor_lib

    tf.logging.set_verbosity(tf.logging.ERROR)
    if not os.path.exists(args.torch_python):
        print(f"error: no PyTorch virtualenv at {args.torch_python} (torch must not go into .venv); "
              "create one with torch and transformers, or pass --torch_python", file=sys.stderr)
        raise SystemExit(2)
    snippets = common.load_snippets()
    rng = random.Random(0)
    texts = rng.sample(snippets, args.sentences)
    latency_texts = rng.sample(snippets, args.latency)
    os.makedirs(args.work_dir, exist_ok=True)
    paths = prepare(args.work_dir, texts, args.refresh)

    torch_peer = TorchPeer(args.torch_python, paths["hf_dir"], paths["head"])
    predictor = predictor_lib.load_predictor(paths["export_dir"], batch_size=BATCH)
    estimator = EstimatorPath(paths, texts, args.work_dir) if args.estimator else None
    # `--do_predict` (default off TPU): each batch cut to its longest member, order kept.
    bucketed = EstimatorPath(paths, texts, args.work_dir, bucket_by_length=True) if args.estimator else None
    results = {"n": len(texts), "tf_version": tf.__version__, "cli_seconds": paths.get("cli_seconds"),
               "estimator": estimator is not None}
    try:
        results["info"] = torch_peer.ask(cmd="info")
        # PyTorch with one thread and with one per core: its OpenMP threads spin at
        # barriers, which a busy machine punishes; the faster setting is the peer.
        torch_threads = results["torch_threads"] = sorted({1, os.cpu_count() or 1})
        # Same weights, same outputs?
        probe = texts[:64]
        ours_p = predictor.predict(probe, batch_size=BATCH)
        torch_p = np.array(torch_peer.ask(cmd="probs", texts=probe)["probs"])
        results["max_diff"] = float(np.abs(ours_p - torch_p).max())
        sorted_texts = sorted_like_predictor(predictor, texts)
        results["lengths"] = [len(predictor.featurize(t)[0]) for t in texts]

        times: dict[str, list[float]] = {}
        latencies: dict[str, list[float]] = {"ours": []}
        results["load_before"] = common.format_load()
        for rep in range(args.reps):
            if estimator is not None:
                total, steady, est_p = estimator.run()
                times.setdefault("estimator_total", []).append(total)
                times.setdefault("estimator_steady", []).append(steady)
                total, steady, bucketed_p = bucketed.run()
                times.setdefault("bucketed_total", []).append(total)
                times.setdefault("bucketed_steady", []).append(steady)
            for order, order_texts in (("sorted", sorted_texts), ("input", texts)):
                times.setdefault(f"ours_{order}", []).append(ours_batch(predictor, texts, order))
                for threads in torch_threads:
                    times.setdefault(f"torch{threads}_{order}", []).append(torch_peer.ask(
                        cmd="batch", texts=order_texts, batch_size=BATCH, threads=threads)["seconds"])
            latencies["ours"] += ours_latency(predictor, latency_texts)
            for threads in torch_threads:
                latencies.setdefault(f"torch{threads}", []).extend(
                    torch_peer.ask(cmd="latency", texts=latency_texts, threads=threads)["ms"])
            common.log(f"rep {rep + 1}/{args.reps}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
        results["load_after"] = common.format_load()
        results["times"], results["latencies"] = times, latencies
        if estimator is not None:
            exported_p = predictor.predict(texts, batch_size=BATCH)
            results["est_diff"] = float(np.abs(np.array(est_p) - exported_p).max())
            results["bucketed_diff"] = float(np.abs(np.array(bucketed_p) - np.array(est_p)).max())
    finally:
        torch_peer.close()
        predictor.close()
    return results


def report(results: dict, args: argparse.Namespace) -> int:
    """Prints the throughput and latency tables."""
    n, info, torch_threads, lengths = results["n"], results["info"], results["torch_threads"], results["lengths"]
    times, latencies = results["times"], results["latencies"]
    rate = {key: (n - (BATCH if key.endswith("_steady") else 0)) / statistics.median(v) for key, v in times.items()}
    lat = {key: statistics.median(v) for key, v in latencies.items()}
    best = {order: max((f"torch{t}_{order}" for t in torch_threads), key=rate.__getitem__)
            for order in ("sorted", "input")}
    best_lat = min((f"torch{t}" for t in torch_threads), key=lat.__getitem__)
    print(f"Inference, all-MiniLM-L6-v2 (6 layers, hidden 384) + 2-label classifier; {n:,} movie-review "
          f"snippets (median {statistics.median(lengths):.0f} tokens, max {max(lengths)}), batch {BATCH}; "
          f"median of {args.reps} interleaved repetitions; Python {platform.python_version()}, "
          f"TF {results['tf_version']}, torch {info['torch']}, transformers {info['transformers']}, "
          f"{os.cpu_count()} CPUs; load average (1/5/15 min) {results['load_before']} before, "
          f"{results['load_after']} after. Max |p_ours - p_torch| on 64 snippets: {results['max_diff']:.1e}"
          + (f"; estimator vs exported: {results['est_diff']:.1e}; default (dynamic padding) vs --fixed_padding: "
             f"{results['bucketed_diff']:.1e}" if results["estimator"] else "") + ".\n")
    print("| implementation | padding | batch order | sentences/s | vs best PyTorch (same order) |")
    print("|---|---|---|---:|---:|")
    if results["estimator"]:
        for key, what in (("estimator_total", "total, graph build + restore included"),
                          ("estimator_steady", "steady, first batch left out")):
            print(f"| ours, `--do_predict --fixed_padding` (estimator.predict), {what} | fixed {MAX_SEQ_LENGTH} | input | "
                  f"{rate[key]:,.1f} | {rate[key] / rate[best['input']]:.2f}x |")
        for key, what in (("bucketed_total", "total"), ("bucketed_steady", "steady")):
            print(f"| **ours, `--do_predict` (default)**, {what} | longest in batch | input | "
                  f"{rate[key]:,.1f} | {rate[key] / rate[best['input']]:.2f}x |")
    for order in ("sorted", "input"):
        print(f"| **ours, exported (`predictor.load_predictor`)** | longest in batch | {order} | "
              f"{rate[f'ours_{order}']:,.1f} | {rate[f'ours_{order}'] / rate[best[order]]:.2f}x |")
        for t in torch_threads:
            key = f"torch{t}_{order}"
            print(f"| PyTorch {info['torch']} + transformers, {t} thread(s) | longest in batch | {order} | "
                  f"{rate[key]:,.1f} | {rate[key] / rate[best[order]]:.2f}x |")
    print(f"\nSingle-sentence latency ({args.latency} snippets x {args.reps} reps, each at its own length, "
          "tokenization included):\n")
    print("| implementation | median ms | p90 ms | vs best PyTorch |")
    print("|---|---:|---:|---:|")
    names = {"ours": "**ours, exported (`Predictor.predict([text], batch_size=1)`)**"}
    names.update({f"torch{t}": f"PyTorch {info['torch']} + transformers, {t} thread(s)" for t in torch_threads})
    for key, name in names.items():
        p90 = statistics.quantiles(latencies[key], n=10)[-1]
        print(f"| {name} | {lat[key]:.2f} | {p90:.2f} | {lat[key] / lat[best_lat]:.2f}x |")
    if results["cli_seconds"] is not None:
        print(f"\n(`run_classifier.py --do_predict --export_dir` on the {n:,} snippets, end to end with "
              f"TF start-up and the export: {results['cli_seconds']:.1f} s.)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.torch_worker:  # the PyTorch peer, under .venv-bench (TorchPeer starts it)
        torch_worker(*args.torch_worker)
        return 0
    results = run(args)
    return report(results, args)


if __name__ == "__main__":
    sys.exit(main())
