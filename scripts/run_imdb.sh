#!/usr/bin/env bash
# Fine-tunes BERT-Base, Uncased on IMDB (aclImdb) with run_classifier.py: downloads and
# verifies the data and the model when absent, then trains, evaluates and predicts.
# Run with --help for the details.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF
usage: scripts/run_imdb.sh [run_classifier.py flags...]

Fine-tunes BERT on the IMDB movie reviews (Maas et al., 2011; 25,000 train and
25,000 test reviews, binary sentiment):

 1. downloads aclImdb_v1.tar.gz ($IMDB_URL_DEFAULT)
    and BERT-Base, Uncased ($BERT_URL_DEFAULT)
    unless already there; downloads resume (curl -C - / wget -c into FILE.part) and are
    checksum-verified before use (a file that fails goes to FILE.bad, exit status 1);
 2. extracts them once (aclImdb without its unlabelled train/unsup reviews);
 3. runs run_classifier.py --task_name=imdb --do_train --do_eval --do_predict with:
      --max_seq_length=512 --truncation_strategy=head_tail (the first 128 and the
      last 382 tokens of longer reviews, Sun et al. 2019) --learning_rate=2e-5
      --num_train_epochs=3 --train_batch_size=\$TRAIN_BATCH_SIZE
    evaluating on the test split (--imdb_dev_split=heldout for a held-out slice of train).
    eval_results.txt and test_results.tsv land in \$OUTPUT_DIR.

Flags given to this script go to run_classifier.py after these defaults and so
override them, e.g. scripts/run_imdb.sh --max_seq_length=256 --seed=1

Batch size and memory (BERT-Base at 512 tokens): the default TRAIN_BATCH_SIZE=24
(Sun et al.'s IMDB recipe) needs about 40 GB: an 80 GB A100/H100 or a TPU v3-8 takes
24-32. About 6 fits a 12 GB GPU, 8 a 16 GB one, 16 a 32 GB one. With a smaller batch
you may want a smaller learning rate, e.g. TRAIN_BATCH_SIZE=8 ... --learning_rate=1e-5.

Environment:
  DATA_DIR          where aclImdb/ is extracted (default: $PROJECT_DIR/.cache/imdb);
                    an existing aclImdb/ (or DATA_DIR pointing at aclImdb itself, or a
                    Kaggle "IMDB Dataset.csv" in it) is used as is
  BERT_DIR          the model directory: bert_config.json, vocab.txt, bert_model.ckpt.*
                    (default: $MODEL_CACHE_DIR/<name>, the model
                    cache fetch.py model uses); used as is if complete, or a gs:// path
  BERT_MODEL        one of Google's checkpoints by name (python fetch.py model --list),
                    fetched into the model cache by fetch.py model (instead of BERT_URL)
  BERT_MODEL_CACHE  moves the model cache (for fetch.py too)
  FETCH_MIRROR      a base URL (or directory) replacing the host of fetch.py's downloads
  DOWNLOAD_DIR      where the archives are kept (default: $PROJECT_DIR/.cache/downloads)
  OUTPUT_DIR        checkpoints and results (default: $PROJECT_DIR/output/imdb)
  TRAIN_BATCH_SIZE  default 24 (see above)
  TPU_NAME          run on this Cloud TPU: adds --use_tpu --tpu_name=\$TPU_NAME (then
                    OUTPUT_DIR and BERT_DIR must be gs:// paths)
  PYTHON            default: the project's .venv/bin/python if present, else python3
  IMDB_URL, BERT_URL        download from elsewhere (a mirror, a file:// path)
  IMDB_SHA256, BERT_SHA256  expected SHA-256 of the archives ("skip": no check).
                    IMDB: $IMDB_SHA256_DEFAULT
                    (TensorFlow Datasets' checksum). BERT: no published SHA-256 of the
                    zip is known, so by default its size ($BERT_BASE_UNCASED_SIZE bytes) and the
                    SHA-256 of each file in it (as listed by NVIDIA's
                    DeepLearningExamples) are checked; BERT_SHA256 checks the zip instead.
  DRY_RUN=1         print what would be downloaded and the final command; change nothing
  FETCH_ONLY=1      download, verify and extract, then stop (e.g. on a login node)

Without network: put aclImdb_v1.tar.gz and uncased_L-12_H-768_A-12.zip in DOWNLOAD_DIR
by hand (the script says where, and verifies them); with BERT_MODEL, fetch.py says
which zip to put where.
EOF
}

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  usage
  exit 0
fi

PYTHON="${PYTHON:-$(default_python)}"
DATA_DIR="${DATA_DIR:-$PROJECT_DIR/.cache/imdb}"
IMDB_URL="${IMDB_URL:-$IMDB_URL_DEFAULT}"
BERT_URL="${BERT_URL:-$BERT_URL_DEFAULT}"
BERT_NAME="$(bert_zip_name "$BERT_URL")"
BERT_DIR="${BERT_DIR:-$MODEL_CACHE_DIR/${BERT_MODEL:-${BERT_NAME%.zip}}}"
DOWNLOAD_DIR="${DOWNLOAD_DIR:-$PROJECT_DIR/.cache/downloads}"
OUTPUT_DIR="${OUTPUT_DIR:-$PROJECT_DIR/output/imdb}"
TRAIN_BATCH_SIZE="${TRAIN_BATCH_SIZE:-24}"
IMDB_TARBALL="$DOWNLOAD_DIR/aclImdb_v1.tar.gz"

# The IMDB checksums: TensorFlow Datasets' size and SHA-256, unless overridden.
if [[ -n "${IMDB_SHA256:-}" ]]; then
  IMDB_SIZE="${IMDB_SIZE:-}"
else
  IMDB_SHA256="$IMDB_SHA256_DEFAULT"
  IMDB_SIZE="${IMDB_SIZE:-$IMDB_SIZE_DEFAULT}"
fi

imdb_present() {
  local d=$1
  [[ -d "$d/aclImdb/train/pos" && -d "$d/aclImdb/train/neg" && -d "$d/aclImdb/test/pos" && -d "$d/aclImdb/test/neg" ]] ||
    [[ -d "$d/train/pos" && -d "$d/train/neg" && -d "$d/test/pos" && -d "$d/test/neg" ]] ||
    [[ -f "$d/IMDB Dataset.csv" ]]
}

ensure_imdb() {
  if is_remote_path "$DATA_DIR"; then
    log "DATA_DIR=$DATA_DIR is remote: used as is"
    return 0
  fi
  if imdb_present "$DATA_DIR"; then
    log "IMDB data found in $DATA_DIR"
    return 0
  fi
  if [[ -e "$DATA_DIR/aclImdb" ]]; then
    die "$DATA_DIR/aclImdb exists but lacks train/{pos,neg} or test/{pos,neg}." \
        "Remove it to have it extracted again from $IMDB_TARBALL."
  fi
  fetch "$IMDB_URL" "$IMDB_TARBALL" "$IMDB_SHA256" "$IMDB_SIZE" IMDB_SHA256
  log "extracting $IMDB_TARBALL into $DATA_DIR (without train/unsup)"
  make_temp_dir "$DATA_DIR"
  tar -xzf "$IMDB_TARBALL" -C "$TEMP_DIR" --exclude=aclImdb/train/unsup ||
    die "could not extract $IMDB_TARBALL (corrupt? delete it and run again)"
  if [[ ! -d "$TEMP_DIR/aclImdb" ]] || ! imdb_present "$TEMP_DIR"; then
    die "$IMDB_TARBALL holds no aclImdb/{train,test}/{pos,neg}: not the IMDB archive"
  fi
  mv -- "$TEMP_DIR/aclImdb" "$DATA_DIR/aclImdb"
  rm -rf -- "$TEMP_DIR"
  log "IMDB data ready in $DATA_DIR/aclImdb"
}

set_tpu_flags OUTPUT_DIR BERT_DIR
cmd=(
  "$PYTHON" "$PROJECT_DIR/run_classifier.py"
  --task_name=imdb
  --do_train --do_eval --do_predict
  "--data_dir=$DATA_DIR"
  "--vocab_file=$BERT_DIR/vocab.txt"
  "--bert_config_file=$BERT_DIR/bert_config.json"
  "--init_checkpoint=$BERT_DIR/bert_model.ckpt"
  "--do_lower_case=$(lower_case_for "$BERT_DIR")"
  --max_seq_length=512
  --truncation_strategy=head_tail
  "--train_batch_size=$TRAIN_BATCH_SIZE"
  --learning_rate=2e-5
  --num_train_epochs=3.0
  "--output_dir=$OUTPUT_DIR"
  "${TPU_FLAGS[@]+"${TPU_FLAGS[@]}"}"
  "$@"
)

if is_truthy "${DRY_RUN:-}"; then
  if ! is_remote_path "$DATA_DIR" && ! imdb_present "$DATA_DIR"; then
    log "would fetch $IMDB_URL to $IMDB_TARBALL and extract it into $DATA_DIR"
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

ensure_imdb
ensure_model "$BERT_DIR" "$BERT_URL" "$DOWNLOAD_DIR"
if is_truthy "${FETCH_ONLY:-}"; then
  log "FETCH_ONLY: data in $DATA_DIR, model in $BERT_DIR; not training"
  exit 0
fi
run_or_print "${cmd[@]}"
