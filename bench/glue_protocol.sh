#!/usr/bin/env bash
# The BERT paper's GLUE protocol, reduced to fit a 2-core CPU, on real data: a learning-rate
# grid with random restarts per task, selection on dev, summaries, MRPC's submission file.
# It is scripts/reproduce_glue.py run three times (one per task, each with the recipe of
# docs/RESULTS.md's single runs); docs/RESULTS.md ("The paper's protocol") shows its tables.
# Run with --help for the details.
set -euo pipefail

PROJECT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
  cat <<EOF
usage: bench/glue_protocol.sh

Fine-tunes all-MiniLM-L6-v2 (fetched and converted as by demo.py) with
scripts/reproduce_glue.py on each task of \$TASKS: every learning rate of
\$LEARNING_RATES x every seed of \$SEEDS, evaluation on dev at each epoch end with the
best checkpoint kept (--evaluate_every_epoch), selection on dev. The reduced recipe (the
paper's is 3 epochs at 5e-5, 4e-5, 3e-5, 2e-5, max_seq_length 128):

  sst-2  max_seq_length  64, 1 epoch    (6,920 train / 872 dev; no test set here)
  cola   max_seq_length  64, 3 epochs   (8,551 train / 527 dev; no test set here)
  mrpc   max_seq_length 128, 2 epochs   (3,668 train / 408 dev / 1,725 test: MRPC.tsv)

Training batches are bucketed by length (--bucket_by_length) to fit the machine.
Results in \$RESULTS_DIR/<task>/: the runs, summary.md, summary.csv (and, for MRPC,
submission.zip). Rerun to resume: finished runs are skipped. About 45 minutes on 2 cores.

Environment:
  TASKS           default: "mrpc cola sst-2"
  LEARNING_RATES  default: 5e-5,3e-5
  SEEDS           default: 0,1,2
  RESULTS_DIR     default: $PROJECT_DIR/runs/protocol
  GLUE_DIR        default: $PROJECT_DIR/../shared/data/glue
  PYTHON          default: .venv/bin/python
EOF
}
if [[ ${1:-} == -h || ${1:-} == --help ]]; then usage; exit 0; fi
if [[ $# -gt 0 ]]; then echo "glue_protocol.sh: error: no arguments expected (see --help)" >&2; exit 2; fi

TASKS=${TASKS:-"mrpc cola sst-2"}
LEARNING_RATES=${LEARNING_RATES:-5e-5,3e-5}
SEEDS=${SEEDS:-0,1,2}
RESULTS_DIR=${RESULTS_DIR:-$PROJECT_DIR/runs/protocol}
GLUE_DIR=${GLUE_DIR:-$PROJECT_DIR/../shared/data/glue}
PYTHON=${PYTHON:-$PROJECT_DIR/.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

if [[ ! -d $GLUE_DIR ]]; then
  echo "glue_protocol.sh: error: GLUE_DIR $GLUE_DIR does not exist (GLUE's MRPC/, CoLA/, SST-2/ folders)" >&2
  exit 1
fi
mkdir -p "$RESULTS_DIR"
TF_MODEL="$RESULTS_DIR/minilm_tf"
"$PYTHON" "$PROJECT_DIR/bench/common.py" minilm "$TF_MODEL" >/dev/null

for task in $TASKS; do
  case $task in
    sst-2) seq=64; epochs=1; submission=--no_submission ;;
    cola) seq=64; epochs=3; submission=--no_submission ;;
    mrpc) seq=128; epochs=2; submission= ;;
    *) echo "glue_protocol.sh: error: TASKS holds $task; use sst-2, cola or mrpc" >&2; exit 1 ;;
  esac
  echo "== $task: lr $LEARNING_RATES x seeds $SEEDS, $epochs epoch(s), max_seq_length $seq"
  # shellcheck disable=SC2086  # $submission is one flag or none
  "$PYTHON" "$PROJECT_DIR/scripts/reproduce_glue.py" --tasks "$task" --glue_dir "$GLUE_DIR" \
    --bert_dir "$TF_MODEL" --output_dir "$RESULTS_DIR/$task" --learning_rates "$LEARNING_RATES" \
    --seeds "$SEEDS" --epochs "$epochs" --batch_sizes 32 --max_seq_length "$seq" $submission \
    -- --evaluate_every_epoch --bucket_by_length --eval_batch_size=64 --save_checkpoints_steps=100000
done
