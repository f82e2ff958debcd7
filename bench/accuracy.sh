#!/usr/bin/env bash
# The accuracy comparison of docs/RESULTS.md: all-MiniLM-L6-v2 fine-tuned on SST-2, CoLA
# and MRPC by run_classifier.py (TF 2.15, TPUEstimator on CPU) and, with the same recipe
# and the same token ids, by Hugging Face transformers + PyTorch (bench/hf_finetune.py).
# Run with --help for the details.
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<EOF
usage: bench/accuracy.sh

Fine-tunes all-MiniLM-L6-v2 (fetched and converted as by demo.py) on each task in
\$TASKS, once per seed in \$SEEDS, with each implementation in \$IMPLS, one job at a time
(never in parallel, so the timings are comparable; for each task and seed the two
implementations run back to back). Then writes the tables with
bench/summarize_accuracy.py. The recipes (batch 32, warmup 10%, dev sets for eval):

  sst-2  max_seq_length  64, lr 5e-5, 1 epoch    (6,920 train / 872 dev)
  cola   max_seq_length  64, lr 5e-5, 3 epochs   (8,551 train / 527 dev)
  mrpc   max_seq_length 128, lr 5e-5, 2 epochs   (3,668 train / 408 dev)

Results land in \$RESULTS_DIR: <impl>/<task>/seed<N>/ per run (tf: run_classifier's
output dir, checkpoints deleted unless KEEP_CHECKPOINTS=1; hf: results.json and
dev_predictions.tsv), job.json and run.log beside them, and results.tsv,
results.json and summary.md for all runs. About 50 minutes on 2 CPU cores.

Environment:
  TASKS          tasks to run (default: "sst-2 cola mrpc")
  SEEDS          seeds (default: "0 1")
  IMPLS          implementations: tf (run_classifier.py), hf (transformers + PyTorch)
                 (default: "tf hf")
  RESULTS_DIR    default: $PROJECT_DIR/runs/accuracy
  GLUE_DIR       default: $PROJECT_DIR/../shared/data/glue
  PYTHON         the product's Python (default: .venv/bin/python)
  BENCH_VENV     the reference's virtualenv, created when absent with torch==2.13.0 (CPU
                 wheel) and transformers==5.23.0 (default: .venv-bench)
  HF_ARGS        extra flags for bench/hf_finetune.py, e.g. "--optimizer bert"
  TF_ARGS        extra flags for run_classifier.py
  RESULTS_TAG    a suffix for the implementation's directory names, e.g. "-bertopt"
                 (so a variant's runs do not replace the main ones)
  KEEP_CHECKPOINTS=1  keep the TF checkpoints and TFRecords
EOF
}
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

TASKS=${TASKS:-"sst-2 cola mrpc"}
SEEDS=${SEEDS:-"0 1"}
IMPLS=${IMPLS:-"tf hf"}
RESULTS_DIR=${RESULTS_DIR:-$PROJECT_DIR/runs/accuracy}
GLUE_DIR=${GLUE_DIR:-$PROJECT_DIR/../shared/data/glue}
PYTHON=${PYTHON:-$PROJECT_DIR/.venv/bin/python}
BENCH_VENV=${BENCH_VENV:-$PROJECT_DIR/.venv-bench}
HF_ARGS=${HF_ARGS:-}
TF_ARGS=${TF_ARGS:-}
RESULTS_TAG=${RESULTS_TAG:-}
KEEP_CHECKPOINTS=${KEEP_CHECKPOINTS:-0}
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1

die() { echo "bench/accuracy.sh: error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*"; }

[ -x "$PYTHON" ] || die "$PYTHON not found: run 'make setup' first (or set PYTHON)"
[ -d "$GLUE_DIR" ] || die "GLUE_DIR not found: $GLUE_DIR"

# task -> "DIR SEQ EPOCHS LR"
recipe() {
  case "$1" in
    sst-2) echo "SST-2 64 1 5e-5" ;;
    cola) echo "CoLA 64 3 5e-5" ;;
    mrpc) echo "MRPC 128 2 5e-5" ;;
    *) die "no recipe for task '$1' (known: sst-2 cola mrpc)" ;;
  esac
}
BATCH=32
WARMUP=0.1
EVAL_BATCH=64

t_all=$(date +%s)
mkdir -p "$RESULTS_DIR"

# 1. The reference's virtualenv: torch first and alone (the CPU wheel), then transformers.
if [[ " $IMPLS " == *" hf "* ]] && [ ! -x "$BENCH_VENV/bin/python" ]; then
  log "creating $BENCH_VENV (torch CPU + transformers)"
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install -q torch==2.13.0
  "$BENCH_VENV/bin/pip" install -q transformers==5.23.0
fi

# 2. The weights: Hugging Face directory and its Google-style conversion (the same helper
#    as bench_training.py and bench_inference.py; converts only when TF_MODEL has none).
TF_MODEL="$RESULTS_DIR/minilm_tf"
HF_DIR=$("$PYTHON" "$PROJECT_DIR/bench/common.py" minilm "$TF_MODEL")

# Runs "$@" with its output in $dir/run.log; writes $dir/job.json (command, wall time,
# load average before and after, the project's git commit).
run_job() {
  local dir=$1 impl=$2 task=$3 seed=$4
  shift 4
  local load_before t0 t1 rc=0
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(date +%s.%N)
  "$@" >"$dir.log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  mkdir -p "$dir"
  mv "$dir.log" "$dir/run.log"
  local commit
  commit=$(git -C "$PROJECT_DIR" rev-parse HEAD 2>/dev/null || echo unknown)
  "$PYTHON" - "$dir/job.json" "$impl" "$task" "$seed" "$t0" "$t1" "$rc" "$load_before" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$commit" "$@" <<'EOF'
import json, shlex, sys
path, impl, task, seed, t0, t1, rc, before, after, commit, *cmd = sys.argv[1:]
json.dump({"implementation": impl, "task": task, "seed": int(seed), "wall_seconds": float(t1) - float(t0),
           "exit_status": int(rc), "loadavg_before": before, "loadavg_after": after, "git_commit": commit,
           "command": shlex.join(cmd)}, open(path, "w"), indent=1)
EOF
  [ "$rc" = 0 ] || die "$impl $task seed $seed failed (exit $rc); log: $dir/run.log"
}

for task in $TASKS; do
  read -r dir seq epochs lr <<<"$(recipe "$task")"
  features="$RESULTS_DIR/features/${task}_${seq}.npz"
  if [[ " $IMPLS " == *" hf "* ]]; then
    log "$task: features for the reference (our tokenizer, max_seq_length $seq)"
    (cd "$PROJECT_DIR" && "$PYTHON" bench/prepare_features.py --task "$task" --data_dir "$GLUE_DIR/$dir" \
      --vocab_file "$TF_MODEL/vocab.txt" --max_seq_length "$seq" --output "$features")
  fi
  for seed in $SEEDS; do
    for impl in $IMPLS; do
      out="$RESULTS_DIR/$impl$RESULTS_TAG/$task/seed$seed"
      rm -rf "$out" "$out.log"
      mkdir -p "$(dirname "$out")"
      log "$task seed $seed: $impl -> $out"
      case "$impl" in
        tf)
          # shellcheck disable=SC2086
          run_job "$out" "tf$RESULTS_TAG" "$task" "$seed" \
            "$PYTHON" "$PROJECT_DIR/run_classifier.py" --task_name="$task" --data_dir="$GLUE_DIR/$dir" \
            --vocab_file="$TF_MODEL/vocab.txt" --bert_config_file="$TF_MODEL/bert_config.json" \
            --init_checkpoint="$TF_MODEL/bert_model.ckpt" --do_lower_case=true \
            --do_train --do_eval --max_seq_length="$seq" --train_batch_size=$BATCH \
            --learning_rate="$lr" --num_train_epochs="$epochs" --warmup_proportion=$WARMUP \
            --eval_batch_size=$EVAL_BATCH --seed="$seed" --save_summary_steps=10 \
            --output_dir="$out" $TF_ARGS
          if [ "$KEEP_CHECKPOINTS" != 1 ]; then
            rm -f "$out"/model.ckpt-* "$out"/*.tf_record "$out"/*.tf_record.fingerprint
          fi
          ;;
        hf)
          # shellcheck disable=SC2086
          run_job "$out" "hf$RESULTS_TAG" "$task" "$seed" \
            "$BENCH_VENV/bin/python" "$PROJECT_DIR/bench/hf_finetune.py" --features "$features" \
            --model_dir "$HF_DIR" --output_dir "$out" --seed "$seed" --learning_rate "$lr" \
            --train_batch_size $BATCH --num_train_epochs "$epochs" --warmup_proportion $WARMUP \
            --eval_batch_size $EVAL_BATCH --threads 2 $HF_ARGS
          ;;
        *) die "unknown implementation '$impl' (tf, hf)" ;;
      esac
      log "$task seed $seed: $impl done in $("$PYTHON" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['wall_seconds']))" "$out/job.json") s"
    done
  done
done

log "all runs done in $(($(date +%s) - t_all)) s; summarizing"
(cd "$PROJECT_DIR" && "$PYTHON" bench/summarize_accuracy.py --results_dir "$RESULTS_DIR")
