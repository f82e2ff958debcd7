"""Classify raw sentences with a model exported by `run_classifier.py --export_dir`.

    python predict.py --export_dir=/tmp/my_model "a gripping film" "two hours I will never get back"
    python predict.py --export_dir=/tmp/my_model --input_file=sentences.txt   # one text a line
    cat sentences.txt | python predict.py --export_dir=/tmp/my_model          # stdin

For pair tasks a TAB separates text_a from text_b (on a line, or inside an argument);
a text without one is refused when the export says the model reads pairs. Blank lines
are skipped. The model is loaded once; texts are tokenized as in training
and each batch is padded only to its longest member.

Output on stdout, one line per text, in input order:

    text (default)  `pos  0.9731  neg=0.0269 pos=0.9731  <text>`; regression: `3.2150  <text>`;
                    multi-label: `a,c  a=0.9731 b=0.0269 c=0.6120  <text>` (the predicted
                    labels joined by the export's label separator, `(none)` for none)
    tsv             a header, then label, one probability column per label (`p_<label>`),
                    text (and text_b for pairs); regression: value, text; multi-label:
                    labels (joined by the label separator, empty for none), then the same
    json            JSON lines: {"text": ..., "label": ..., "probabilities": {label: p}};
                    regression: {"text": ..., "value": v}; multi-label:
                    {"text": ..., "labels": [...], "probabilities": {label: p}}; pairs add "text_b"

A multi-label model predicts the labels whose probability reaches the export's
threshold for them (export_info.json's `thresholds`), as its `predicted` output does.

Timings go to stderr: the load time (with a warm-up call), then sentences/sec and, at
--batch_size=1, the mean and median latency per sentence (tokenization included).
--benchmark measures both batch 1 and --batch_size on the inputs.

--export_dir is a version directory (`models/sst2/3`) or the base directory that
run_classifier.py --export_dir fills with numbered versions (`models/sst2`: the highest
version is used). --in_graph_tokenizer sends the raw strings to the export's
`serving_text` signature, tokenized inside the graph as TF Serving does, instead of
tokenizing in Python for `serving_default`; with --benchmark both paths are timed side
by side (interleaved, so that the machine's load weighs on both alike) and the largest
difference of their outputs is printed.
Errors are one line, `predict.py: error: ...`, with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from bert_estimator.core.errors import UserError, run_cli
from bert_estimator.core.textfiles import decode_utf8

PROG = "predict.py"


class InputError(UserError, ValueError):
    """Unusable input: one-line message, exit status 1."""


# ------------------------------------------------------------------------------ input
def parse_text(line: str):
    """A str, or a (text_a, text_b) pair when `line` holds a TAB (split at the first)."""
    if "\t" in line:
        text_a, text_b = line.split("\t", 1)
        return (text_a, text_b) if text_b.strip() else text_a
    return line


def _numbered_lines(content: str) -> list[tuple[str, object]]:
    """("line N", text) of each non-blank line of `content`: lines end at "\n" (an "\r"
    before it is dropped), as the line numbers of decode_utf8's errors count them."""
    return [(f"line {n}", parse_text(line.rstrip("\r")))
            for n, line in enumerate(content.split("\n"), 1) if line.strip()]


def read_numbered_inputs(sentences: list[str], input_file: str | None, stdin=None):
    """([(where, text)], source): the texts to classify, each with where it came from
    ("argument 2", "line 7"), and the source ("the arguments", the file, "stdin")."""
    if sentences and input_file:
        raise InputError("give sentences as arguments or --input_file, not both")
    if sentences:
        texts = [(f"argument {n}", parse_text(s)) for n, s in enumerate(sentences, 1) if s.strip()]
        source = "the arguments"
    elif input_file:
        if not os.path.isfile(input_file):
            raise InputError(f"--input_file not found: {input_file}")
        try:
            with open(input_file, "rb") as f:
                data = f.read()
        except OSError as e:
            raise InputError(f"--input_file {input_file} cannot be read: {e.strerror}") from None
        texts = _numbered_lines(_decode(data, input_file))
        source = input_file
    else:
        stdin = stdin if stdin is not None else sys.stdin
        if stdin.isatty():
            print(f"{PROG}: reading texts from stdin, one a line (end with Ctrl-D)", file=sys.stderr)
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
        texts = _numbered_lines(_decode(data, "stdin") if isinstance(data, bytes) else data)
        source = "stdin"
    if not texts:
        raise InputError(f"no text to classify in {source} (all lines empty)")
    return texts, source


def check_pairs(numbered: list, source: str, pair, export_dir: str) -> None:
    """Refuses a single text when the export's model reads sentence pairs (`pair` True)."""
    if not pair:
        return
    for where, text in numbered:
        if isinstance(text, str):
            place = where if source == "the arguments" else f"{source} {where}"
            raise InputError(f"{place} has no TAB: the model of {export_dir} reads sentence pairs, "
                             "give text_a<TAB>text_b")


def check_text_signature(numbered: list, source: str, predictor) -> None:
    """Refuses a pair when the export's serving_text signature takes single texts."""
    if predictor.text_inputs != ("text",):
        return
    for where, text in numbered:
        if not isinstance(text, str):
            place = where if source == "the arguments" else f"{source} {where}"
            raise InputError(f"{place} is a pair (it has a TAB), but the serving_text signature of "
                             f"{predictor.export_dir} takes single texts")


def benchmark_both_paths(predictor, texts: list, batch_size: int) -> dict:
    """Times both tokenizer paths on `texts` (stderr), interleaved so that a change in
    the machine's load hits both alike: at batch 1 text by text, the two paths taking
    turns to go first; at `batch_size`, whole passes in the order Python, graph, graph,
    Python, each path's faster pass reported. Returns {in_graph: outputs}."""
    paths = (False, True)
    if batch_size != 1:
        calls = {path: [] for path in paths}
        for i, text in enumerate(texts):
            for path in (paths if i % 2 == 0 else paths[::-1]):
                predictor.predict([text], batch_size=1, timings=calls[path], in_graph=path)
        for path in paths:
            print(timing_line(calls[path], 1, PATH_NAMES[path]), file=sys.stderr)
    passes = {path: [] for path in paths}
    results = {}
    for path in (False, True, True, False):
        results[path], calls = timed_predict(predictor, texts, batch_size, in_graph=path)
        passes[path].append(calls)
    for path in paths:
        fastest = min(passes[path], key=lambda calls: sum(seconds for _, seconds in calls))
        print(timing_line(fastest, batch_size, PATH_NAMES[path]), file=sys.stderr)
    return results


def comparison_line(python_outputs, graph_outputs, is_regression: bool, predicted=None) -> str:
    """How far the two tokenizer paths' outputs are apart. `predicted`: for a
    multi-label model, the function of the outputs [N, num_labels] to the multi-hot
    predictions (`Predictor.predicted`): label sets are compared, not the top labels."""
    import numpy as np  # NumPy (0.1 s) only when predicting: `predict.py --help` answers at once

    n = len(python_outputs)
    difference = float(np.abs(np.asarray(python_outputs) - np.asarray(graph_outputs)).max()) if n else 0.0
    line = (f"{PROG}: serving_text vs Python tokenization + serving_default over {n} text(s): largest "
            f"difference of the {'values' if is_regression else 'probabilities'} {difference:.1e}")
    if predicted is not None and n:
        same = int((predicted(python_outputs) == predicted(graph_outputs)).all(axis=1).sum())
        line += f", same label set for {same} of {n}"
    elif not is_regression and n:
        same = int((np.argmax(python_outputs, axis=1) == np.argmax(graph_outputs, axis=1)).sum())
        line += f", same label for {same} of {n}"
    return line


def _decode(data: bytes, name: str) -> str:
    return decode_utf8(data, name, InputError)


# ----------------------------------------------------------------------------- output
def _clean(value: float) -> float:
    """A float32 output as the shortest float that reads back to it (0.97312, not
    0.9731200337409973)."""
    import numpy as np  # NumPy (0.1 s) only when predicting: `predict.py --help` answers at once

    return float(str(np.float32(value)))


def _one_line(text: str) -> str:
    return " ".join(text.split("\t")).replace("\r", " ").replace("\n", " ")


def _texts(text) -> tuple[str, str | None]:
    return (text, None) if isinstance(text, str) else (text[0], text[1])


NO_LABEL = "(none)"  # the text format's label column for a multi-label text with no label


def format_results(texts: list, outputs, labels: list[str], is_regression: bool, fmt: str,
                   label_sets: list | None = None, label_separator: str = ",") -> list[str]:
    """The output lines of `texts` and their model `outputs` (see the module docstring).
    `label_sets`: for a multi-label model, the predicted labels of each text (a tuple
    of str each, `Predictor.label_sets`), shown joined by `label_separator`."""
    if label_sets is not None:
        return _format_multi_label(texts, outputs, labels, fmt, label_sets, label_separator)
    has_pairs = any(not isinstance(t, str) for t in texts)
    lines = []
    if fmt == "tsv":
        head = ["value"] if is_regression else ["label", *(f"p_{label}" for label in labels)]
        lines.append("\t".join([*head, "text", *(["text_b"] if has_pairs else [])]))
    for text, out in zip(texts, outputs):
        text_a, text_b = _texts(text)
        if is_regression:
            values = {"value": _clean(out)}
            best = None
        else:
            probs = [_clean(p) for p in out]
            best = labels[max(range(len(probs)), key=probs.__getitem__)]
        if fmt == "json":
            record = {"text": text_a, **({"text_b": text_b} if text_b is not None else {})}
            if is_regression:
                record.update(values)
            else:
                record.update(label=best, probabilities=dict(zip(labels, probs)))
            lines.append(json.dumps(record, ensure_ascii=False))
        elif fmt == "tsv":
            cols = [repr(values["value"])] if is_regression else [best, *(repr(p) for p in probs)]
            cols.append(_one_line(text_a))
            if has_pairs:
                cols.append(_one_line(text_b or ""))
            lines.append("\t".join(cols))
        else:
            shown = _one_line(text_a) if text_b is None else f"{_one_line(text_a)}  |||  {_one_line(text_b)}"
            if is_regression:
                lines.append(f"{values['value']:.4f}  {shown}")
            else:
                best_p = probs[labels.index(best)]
                all_p = " ".join(f"{label}={p:.4f}" for label, p in zip(labels, probs))
                lines.append(f"{best}  {best_p:.4f}  {all_p}  {shown}")
    return lines


def _format_multi_label(texts: list, outputs, labels: list[str], fmt: str, label_sets: list,
                        label_separator: str) -> list[str]:
    """`format_results` for a multi-label model: the label set of each text in place of
    its one label."""
    has_pairs = any(not isinstance(t, str) for t in texts)
    lines = []
    if fmt == "tsv":
        head = ["labels", *(f"p_{label}" for label in labels), "text", *(["text_b"] if has_pairs else [])]
        lines.append("\t".join(head))
    for text, out, chosen in zip(texts, outputs, label_sets):
        text_a, text_b = _texts(text)
        probs = [_clean(p) for p in out]
        if fmt == "json":
            record = {"text": text_a, **({"text_b": text_b} if text_b is not None else {})}
            record.update(labels=list(chosen), probabilities=dict(zip(labels, probs)))
            lines.append(json.dumps(record, ensure_ascii=False))
        elif fmt == "tsv":
            cols = [label_separator.join(chosen), *(repr(p) for p in probs), _one_line(text_a)]
            if has_pairs:
                cols.append(_one_line(text_b or ""))
            lines.append("\t".join(cols))
        else:
            shown = _one_line(text_a) if text_b is None else f"{_one_line(text_a)}  |||  {_one_line(text_b)}"
            all_p = " ".join(f"{label}={p:.4f}" for label, p in zip(labels, probs))
            lines.append(f"{label_separator.join(chosen) or NO_LABEL}  {all_p}  {shown}")
    return lines


# ----------------------------------------------------------------------------- timing
def timed_predict(predictor, texts: list, batch_size: int, in_graph: bool | None = None):
    """(outputs, [(texts in call, seconds)]) of `predictor` on `texts`; `in_graph`: the
    tokenizer path (default: the predictor's)."""
    calls = []
    outputs = predictor.predict(texts, batch_size=batch_size, timings=calls, in_graph=in_graph)
    return outputs, calls


PATH_NAMES = {False: "Python tokenizer + serving_default", True: "in-graph tokenizer: serving_text"}


def timing_line(calls: list, batch_size: int, path: str | None = None) -> str:
    """sentences/sec over `calls`, plus the per-sentence latency at batch 1; `path`
    names the tokenizer path measured."""
    n = sum(size for size, _ in calls)
    total = sum(seconds for _, seconds in calls)
    line = (f"{PROG}: {n} sentence(s) at batch {batch_size} in {1000 * total:.1f} ms: "
            f"{n / max(total, 1e-9):.0f} sentences/sec")
    if batch_size == 1:
        per = [1000 * seconds for _, seconds in calls]
        line += f"; latency per sentence: mean {statistics.mean(per):.2f} ms, median {statistics.median(per):.2f} ms"
    return line + (f" [{path}]" if path else "")


# ------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0],
        epilog="Texts come from the arguments, else --input_file, else stdin.")
    parser.add_argument("sentences", nargs="*", help="texts to classify (TAB separates a pair)")
    parser.add_argument("--export_dir", required=True, help="the directory run_classifier.py --export_dir wrote")
    parser.add_argument("--input_file", help="UTF-8 file, one text a line (TAB separates a pair)")
    parser.add_argument("--output_format", choices=("text", "tsv", "json"), default="text")
    parser.add_argument("--batch_size", type=int, default=32, help="texts per model call (default 32)")
    parser.add_argument("--benchmark", action="store_true",
                        help="also time the inputs at batch 1 and at --batch_size (stderr); with "
                             "--in_graph_tokenizer, both tokenizer paths, and their largest difference")
    parser.add_argument("--in_graph_tokenizer", action="store_true",
                        help="send the raw texts to the export's serving_text signature, tokenized in the graph "
                             "(as TF Serving runs it), instead of tokenizing in Python")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (1 after a one-line error)."""
    args = build_parser().parse_args(argv)
    try:
        return run_cli(lambda: run(args), PROG)
    except SystemExit as e:  # run_cli exits after printing the error: return its status
        return e.code


def run(args) -> int:
    if args.batch_size <= 0:
        raise InputError(f"--batch_size must be positive, got {args.batch_size}")
    if not os.path.isdir(args.export_dir):
        raise InputError(f"--export_dir not found: {args.export_dir}")
    numbered, source = read_numbered_inputs(args.sentences, args.input_file)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow.compat.v1 as tf  # TensorFlow (about 2 s) after the inputs are read: --help is instant

    verbosity = tf.logging.get_verbosity()
    tf.logging.set_verbosity(tf.logging.ERROR)  # no deprecation warnings around the output
    try:
        return _predict(args, numbered, source)
    finally:
        tf.logging.set_verbosity(verbosity)


def _predict(args, numbered: list, source: str) -> int:
    # imports TensorFlow (about 2 s): only once there is something to predict
    from bert_estimator.serving import predictor as predictor_lib

    texts = [text for _, text in numbered]
    in_graph = args.in_graph_tokenizer
    start = time.perf_counter()
    with predictor_lib.load_predictor(args.export_dir, batch_size=args.batch_size,
                                in_graph_tokenizer=in_graph) as predictor:
        check_pairs(numbered, source, predictor.pair, args.export_dir)
        if in_graph:
            check_text_signature(numbered, source, predictor)
        print(f"{PROG}: loaded {predictor.export_dir} in {time.perf_counter() - start:.2f} s "
              "(with a warm-up call)", file=sys.stderr)
        if predictor.casing_warning:  # tokenized as in training all the same
            print(f"{PROG}: warning: {predictor.casing_warning}", file=sys.stderr)
        labels, is_regression = predictor.labels, predictor.is_regression
        multi_label = predictor.is_multi_label
        if in_graph and args.benchmark:
            results = benchmark_both_paths(predictor, texts, args.batch_size)
            print(comparison_line(results[False], results[True], is_regression,
                                  predictor.predicted if multi_label else None), file=sys.stderr)
            outputs = results[True]
        else:
            if args.benchmark and args.batch_size != 1:
                _, calls = timed_predict(predictor, texts, 1)
                print(timing_line(calls, 1), file=sys.stderr)
            outputs, calls = timed_predict(predictor, texts, args.batch_size)
            print(timing_line(calls, args.batch_size), file=sys.stderr)

        label_sets = predictor.label_sets(outputs) if multi_label else None
    lines = format_results(texts, outputs, labels, is_regression, args.output_format, label_sets,
                           predictor.label_separator or ",")
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()
    return 0

if __name__ == "__main__":
    sys.exit(main())
