#!/usr/bin/env bash
# Fine-tunes BERT-Base, Uncased on a GLUE task with run_classifier.py, with the recipe of
# google-research/bert's README. Run with --help for the details.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
usage: scripts/run_glue.sh TASK [run_classifier.py flags...]

TASK: MRPC, CoLA, SST-2, QQP, QNLI, RTE, WNLI, STS-B, MNLI or MNLI-MM (any case;
SST2 and STSB are accepted too). MNLI-MM evaluates on the mismatched dev/test sets
and reads \$GLUE_DIR/MNLI; to evaluate an MNLI model rather than train again, pass
  --do_train=false --init_checkpoint=\$OUTPUT_DIR_OF_MNLI/model.ckpt-NNNN

Runs run_classifier.py --task_name=<task> --do_train --do_eval --do_predict on
\$GLUE_DIR/<TASK> with the recipe of google-research/bert's README:
  --max_seq_length=128 --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3
(batch 32 at 128 tokens fits a 12 GB GPU with BERT-Base). eval_results.txt (dev set),
test_results.tsv (test-set probabilities, as the original writes them) and the GLUE
submission file (e.g. MRPC.tsv: index<TAB>label, what gluebenchmark.com accepts) land in
\$OUTPUT_DIR. For the paper's full protocol (learning-rate sweep, restarts, selection on
dev, submission.zip) use scripts/reproduce_glue.py.
Flags given after TASK go to run_classifier.py after these defaults and so override
them, e.g. scripts/run_glue.sh RTE --num_train_epochs=4 --seed=1

The task's data is fetched when \$GLUE_DIR/<TASK> is absent, by
  python fetch.py glue --data_dir \$GLUE_DIR --tasks <TASK>
(GLUE's zips from dl.fbaipublicfiles.com, MRPC built from Microsoft's files with GLUE's
dev split, as download_glue_data.py does; resumable, checksum-verified; MNLI comes with
GLUE's diagnostic set). The BERT model is downloaded when absent, as by
scripts/run_imdb.sh (resumable, verified). Without network each download that fails
says in one line which URL to fetch by hand and where to put it.

Environment:
  GLUE_DIR      the GLUE folders (default: $GLUE_DIR_DEFAULT, where
                fetch.py glue puts them)
  BERT_DIR      the model directory: bert_config.json, vocab.txt, bert_model.ckpt.*
                (default: $MODEL_CACHE_DIR/<name>, the model cache
                fetch.py model uses); used as is if complete, or a gs:// path
  BERT_MODEL    one of Google's checkpoints by name (python fetch.py model --list),
                fetched into the model cache by fetch.py model (instead of BERT_URL)
  BERT_MODEL_CACHE  moves the model cache (for fetch.py too)
  FETCH_MIRROR  a base URL (or directory) replacing the host of fetch.py's downloads
  DOWNLOAD_DIR  where the BERT zip of BERT_URL is kept (default: $PROJECT_DIR/.cache/downloads)
  OUTPUT_DIR    checkpoints and results (default: $PROJECT_DIR/output/glue/<task>)
  TPU_NAME      run on this Cloud TPU: adds --use_tpu --tpu_name=\$TPU_NAME (then
                OUTPUT_DIR and BERT_DIR must be gs:// paths)
  PYTHON        default: the project's .venv/bin/python if present, else python3
  BERT_URL      download the model from elsewhere (a mirror, a file:// path)
  BERT_SHA256   the zip's expected SHA-256 ("skip": no check); by default the size of
                Google's zip and the SHA-256 of each file in it are checked
  DRY_RUN=1     print what would be downloaded and the final command; change nothing
  FETCH_ONLY=1  fetch the data and the model (verified, extracted), then stop
EOF
}

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  "")
    usage >&2
    exit 2
    ;;
esac

TASK_ARG=$1
shift
# TASK -> the GLUE folder and run_classifier's --task_name.
case "$(printf '%s' "$TASK_ARG" | tr '[:upper:]' '[:lower:]')" in
  mrpc) GLUE_TASK=MRPC TASK_NAME=mrpc ;;
  cola) GLUE_TASK=CoLA TASK_NAME=cola ;;
  sst-2 | sst2) GLUE_TASK=SST-2 TASK_NAME=sst-2 ;;
  qqp) GLUE_TASK=QQP TASK_NAME=qqp ;;
  qnli) GLUE_TASK=QNLI TASK_NAME=qnli ;;
  rte) GLUE_TASK=RTE TASK_NAME=rte ;;
  wnli) GLUE_TASK=WNLI TASK_NAME=wnli ;;
  sts-b | stsb) GLUE_TASK=STS-B TASK_NAME=sts-b ;;
  mnli) GLUE_TASK=MNLI TASK_NAME=mnli ;;
  mnli-mm | mnlimm) GLUE_TASK=MNLI TASK_NAME=mnli-mm ;;
  *)
    printf '[%s] error: unknown GLUE task %q; use one of MRPC, CoLA, SST-2, QQP, QNLI, RTE, WNLI, STS-B, MNLI, MNLI-MM\n' \
      "$SCRIPT_NAME" "$TASK_ARG" >&2
    exit 2
    ;;
esac

PYTHON="${PYTHON:-$(default_python)}"
GLUE_DIR="${GLUE_DIR:-$GLUE_DIR_DEFAULT}"
TASK_DIR="$GLUE_DIR/$GLUE_TASK"
BERT_URL="${BERT_URL:-$BERT_URL_DEFAULT}"
BERT_NAME="$(bert_zip_name "$BERT_URL")"
BERT_DIR="${BERT_DIR:-$MODEL_CACHE_DIR/${BERT_MODEL:-${BERT_NAME%.zip}}}"
DOWNLOAD_DIR="${DOWNLOAD_DIR:-$PROJECT_DIR/.cache/downloads}"
OUTPUT_DIR="${OUTPUT_DIR:-$PROJECT_DIR/output/glue/$TASK_NAME}"
# The tasks fetch.py glue fetches when TASK_DIR is absent: MNLI with GLUE's diagnostic
# set, which run_classifier.py scores with an MNLI model.
GLUE_FETCH=$GLUE_TASK
if [[ $GLUE_TASK == MNLI && ! -d "$GLUE_DIR/diagnostic" ]]; then GLUE_FETCH="MNLI,diagnostic"; fi

glue_present() { is_remote_path "$TASK_DIR" || [[ -d "$TASK_DIR" ]]; }

ensure_glue() {
  if glue_present; then
    log "GLUE's $GLUE_TASK found in $TASK_DIR"
    return 0
  fi
  log "fetching GLUE's $GLUE_FETCH into $GLUE_DIR (fetch.py glue)"
  fetch_py glue "--data_dir=$GLUE_DIR" "--tasks=$GLUE_FETCH" >&2
}

set_tpu_flags OUTPUT_DIR BERT_DIR
cmd=(
  "$PYTHON" "$PROJECT_DIR/run_classifier.py"
  "--task_name=$TASK_NAME"
  --do_train --do_eval --do_predict
  "--data_dir=$TASK_DIR"
  "--vocab_file=$BERT_DIR/vocab.txt"
  "--bert_config_file=$BERT_DIR/bert_config.json"
  "--init_checkpoint=$BERT_DIR/bert_model.ckpt"
  "--do_lower_case=$(lower_case_for "$BERT_DIR")"
  --max_seq_length=128
  --train_batch_size=32
  --learning_rate=2e-5
  --num_train_epochs=3.0
  "--output_dir=$OUTPUT_DIR"
  "${TPU_FLAGS[@]+"${TPU_FLAGS[@]}"}"
  "$@"
)

if is_truthy "${DRY_RUN:-}"; then
  if ! glue_present; then
    log "would fetch GLUE's $GLUE_FETCH into $GLUE_DIR (fetch.py glue)"
  fi
  if ! is_remote_path "$BERT_DIR" && ! bert_present "$BERT_DIR"; then
    if [[ -n "${BERT_MODEL:-}" ]]; then
      log "would fetch $BERT_MODEL into $BERT_DIR (fetch.py model)"
    else
      log "would fetch $BERT_URL to $DOWNLOAD_DIR/$BERT_NAME and extract it into $BERT_DIR"
    fi
  fi
  run_or_print "${cmd[@]}"
  exit 0
fi

ensure_glue
ensure_model "$BERT_DIR" "$BERT_URL" "$DOWNLOAD_DIR"
if is_truthy "${FETCH_ONLY:-}"; then
  log "FETCH_ONLY: data in $TASK_DIR, model in $BERT_DIR; not training"
  exit 0
fi
run_or_print "${cmd[@]}"
