# shellcheck shell=bash
# shellcheck disable=SC2034  # the constants and TPU_FLAGS are read by the scripts sourcing this
# Shared by scripts/run_imdb.sh and scripts/run_glue.sh: download with resume, checksum
# verification, idempotent extraction and the run_classifier.py command line; GLUE and
# Google's checkpoints by name (BERT_MODEL) are left to fetch.py (fetch_py).
# Source it (it defines functions and constants only); do not run it.

# ------------------------------------------------------------------------------ constants
LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_DIR="$(cd "$LIB_DIR/.." && pwd)"
SCRIPT_NAME="$(basename "$0")"

# The one model cache, shared with fetch.py (bert_estimator/data/downloads.py,
# default_model_cache): Google's checkpoint NAME lives in $MODEL_CACHE_DIR/NAME.
# BERT_MODEL_CACHE moves it, for these scripts and fetch.py alike.
MODEL_CACHE_DIR="${BERT_MODEL_CACHE:-$PROJECT_DIR/.cache/models}"
# Where `fetch.py glue` puts GLUE by default (downloads.default_glue_dir).
GLUE_DIR_DEFAULT="$PROJECT_DIR/glue_data"

# Large Movie Review Dataset v1.0 (Maas et al., 2011).
# Size and SHA-256 as recorded by TensorFlow Datasets, tensorflow/datasets:
#   tensorflow_datasets/url_checksums/imdb_reviews.txt and
#   tensorflow_datasets/datasets/imdb_reviews/checksums.tsv
# (there for the http:// address of the same file).
IMDB_URL_DEFAULT="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256_DEFAULT="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_SIZE_DEFAULT=84125825

# BERT-Base, Uncased (google-research/bert, 2018-10-18).
# No published SHA-256 of the zip itself was found, so what is verified is:
#  * the zip's size, 407,727,028 bytes (a download log in asyml/texar-pytorch:
#    examples/bert/README.md, "Successfully downloaded uncased_L-12_H-768_A-12.zip
#    407727028 bytes"), checked before extraction;
#  * the SHA-256 of every file inside it, checked after extraction and before the model
#    directory is put in place, as listed by NVIDIA in NVIDIA/DeepLearningExamples:
#    PyTorch/LanguageModeling/BERT/data/GooglePretrainedWeightDownloader.py
#    (bert_base_uncased_sha). The vocab.txt hash also matches this project's
#    ../shared/data/vocab/uncased_vocab.txt and assets.py's MiniLM vocab.txt.
# Set BERT_SHA256 to check the whole zip instead (e.g. once you have computed it).
BERT_URL_DEFAULT="https://storage.googleapis.com/bert_models/2018_10_18/uncased_L-12_H-768_A-12.zip"
BERT_BASE_UNCASED_ZIP="uncased_L-12_H-768_A-12.zip"
BERT_BASE_UNCASED_SIZE=407727028
BERT_BASE_UNCASED_MEMBERS=(
  "bert_config.json 7b4e5f53efbd058c67cda0aacfafb340113ea1b5797d9ce6ee411704ba21fcbc"
  "bert_model.ckpt.data-00000-of-00001 58580dc5e0bf0ae0d2efd51d0e8272b2f808857f0a43a88aaf7549da6d7a8a84"
  "bert_model.ckpt.index 04c1323086e2f1c5b7c0759d8d3e484afbb0ab45f51793daab9f647113a0117b"
  "bert_model.ckpt.meta dd5682170a10c3ea0280c2e9b9a45fee894eb62da649bbdea37b38b0ded5f60e"
  "vocab.txt 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
)

# ------------------------------------------------------------------------------ messages
log() { printf '[%s] %s\n' "$SCRIPT_NAME" "$*" >&2; }
warn() { printf '[%s] warning: %s\n' "$SCRIPT_NAME" "$*" >&2; }
# die LINE... : prints an error (first line prefixed, the others indented) and exits 1.
die() {
  printf '[%s] error: %s\n' "$SCRIPT_NAME" "$1" >&2
  shift
  local line
  for line in "$@"; do printf '    %s\n' "$line" >&2; done
  exit 1
}

# ------------------------------------------------------------------------------ cleanup
_CLEANUP_PATHS=()
_cleanup() {
  local p
  for p in "${_CLEANUP_PATHS[@]+"${_CLEANUP_PATHS[@]}"}"; do rm -rf -- "$p"; done
}
trap _cleanup EXIT
# make_temp_dir PARENT : sets TEMP_DIR to a fresh directory inside PARENT (same file
# system, so its contents can be renamed into place), removed when the script exits.
TEMP_DIR=""
make_temp_dir() {
  mkdir -p -- "$1"
  TEMP_DIR="$(mktemp -d "$1/.tmp-extract.XXXXXX")"
  _CLEANUP_PATHS+=("$TEMP_DIR")
}

# ------------------------------------------------------------------------------ helpers
default_python() {
  if [[ -x "$PROJECT_DIR/.venv/bin/python" ]]; then
    printf '%s\n' "$PROJECT_DIR/.venv/bin/python"
  else
    printf '%s\n' python3
  fi
}

is_truthy() { [[ "${1:-}" =~ ^(1|true|True|TRUE|yes|on)$ ]]; }

# A gs:// (or other URL) path: nothing to download or check locally.
is_remote_path() { [[ "$1" == *://* ]]; }

file_size() {
  local n
  n="$(wc -c <"$1")"
  printf '%s\n' "$((n))"
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum -- "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 -- "$1" | cut -d' ' -f1
  else
    "${PYTHON:-python3}" -c 'import hashlib,sys; h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"
  fi
}

# verify_file FILE SHA256 SIZE : 0 if FILE has that size and SHA-256 (an empty SIZE or
# SHA256, or SHA256=skip, is not checked); else 1 with the reason in VERIFY_ERROR.
VERIFY_ERROR=""
verify_file() {
  local file=$1 sha=$2 size=$3 actual
  VERIFY_ERROR=""
  if [[ -n "$size" ]]; then
    actual="$(file_size "$file")"
    if [[ "$actual" != "$size" ]]; then
      VERIFY_ERROR="size is $actual bytes, expected $size bytes"
      return 1
    fi
  fi
  if [[ -n "$sha" && "$sha" != skip ]]; then
    actual="$(sha256_of "$file")"
    if [[ "$actual" != "$sha" ]]; then
      VERIFY_ERROR="sha256 is $actual, expected $sha"
      return 1
    fi
  fi
  return 0
}

# download URL OUT : resumes OUT from its current size; returns the downloader's status.
download() {
  local url=$1 out=$2 rc=0
  if command -v curl >/dev/null 2>&1; then
    local quiet=(-sS)
    if [[ -t 2 ]]; then quiet=(--progress-bar); fi
    curl -fL --connect-timeout 30 --retry 3 --retry-delay 5 "${quiet[@]}" -C - -o "$out" "$url" || rc=$?
    if [[ $rc == 33 ]]; then  # the server does not do byte ranges: start again
      log "the server cannot resume; downloading $url from the start"
      rm -f -- "$out"
      rc=0
      curl -fL --connect-timeout 30 --retry 3 --retry-delay 5 "${quiet[@]}" -o "$out" "$url" || rc=$?
    fi
  elif command -v wget >/dev/null 2>&1; then
    local quiet=(-q)
    if [[ -t 2 ]]; then quiet=(--progress=bar); fi
    wget -c --tries=3 --timeout=30 "${quiet[@]}" -O "$out" "$url" || rc=$?
  else
    log "neither curl nor wget is installed"
    rc=127
  fi
  return "$rc"
}

# fetch URL DEST SHA256 SIZE SHA_VAR
#   Makes DEST a verified copy of URL. An existing DEST is verified and re-used; else
#   URL is downloaded into DEST.part (resumed if DEST.part exists), verified, and renamed
#   to DEST. A file that fails verification becomes DEST.bad and the script exits 1.
#   SHA_VAR names the environment variable that overrides SHA256, for the messages.
fetch() {
  local url=$1 dest=$2 sha=$3 size=$4 sha_var=$5
  local part="$dest.part" bad="$dest.bad" rc=0
  if [[ "$sha" == skip ]]; then
    warn "$sha_var=skip: $dest is not checksum-verified"
  elif [[ -z "$sha" && -z "$size" ]]; then
    warn "no checksum known for $url; set $sha_var to verify it"
  fi
  mkdir -p -- "$(dirname -- "$dest")"

  if [[ -f "$dest" ]]; then
    if verify_file "$dest" "$sha" "$size"; then
      log "re-using $dest"
      return 0
    fi
    mv -f -- "$dest" "$bad"
    die "$dest failed verification: $VERIFY_ERROR." \
        "It was moved to $bad. Delete that file and run again to download $url afresh," \
        "or set $sha_var if you deliberately use a different file."
  fi

  if [[ -s "$part" ]]; then
    local have
    have="$(file_size "$part")"
    if [[ -n "$size" && "$have" -gt "$size" ]]; then
      log "discarding $part: larger ($have bytes) than the expected $size bytes"
      rm -f -- "$part"
    elif [[ -n "$size" && "$have" == "$size" ]] || [[ -z "$size" && -n "$sha" && "$sha" != skip ]]; then
      # Complete already (e.g. interrupted before the rename)?
      if verify_file "$part" "$sha" "$size"; then
        mv -f -- "$part" "$dest"
        log "completed $dest from an earlier download"
        return 0
      elif [[ "$have" == "$size" ]]; then
        mv -f -- "$part" "$bad"
        die "$part is complete but failed verification: $VERIFY_ERROR." \
            "It was moved to $bad; delete it and run again to download $url afresh."
      fi
    fi
  fi

  if [[ -s "$part" ]]; then
    log "resuming $url into $part (from byte $(file_size "$part"))"
  else
    log "downloading $url to $dest"
  fi
  download "$url" "$part" || rc=$?
  if [[ $rc != 0 ]]; then
    if [[ -f "$part" && ! -s "$part" ]]; then rm -f -- "$part"; fi
    local lines=(
      "No network here? Download the file by hand, e.g. on another machine:"
      "    curl -fL -o $(basename -- "$dest") $url"
      "and put it at exactly this path:"
      "    $dest"
      "then run this script again (the file is verified before use)."
    )
    if [[ -s "$part" ]]; then lines+=("The partial download $part is kept: running again resumes it."); fi
    die "could not download $url (downloader exit status $rc)." "${lines[@]}"
  fi
  if ! verify_file "$part" "$sha" "$size"; then
    mv -f -- "$part" "$bad"
    die "checksum mismatch for $url: $VERIFY_ERROR." \
        "The downloaded file was moved to $bad (delete it, then run again to retry)." \
        "If you deliberately use a different file, set $sha_var to its sha256."
  fi
  mv -f -- "$part" "$dest"
  log "downloaded and verified $dest"
}

# fetch_py ARGS... : runs fetch.py (GLUE and Google's checkpoints by name: resumable,
# checksum-verified, atomic), with --mirror=$FETCH_MIRROR when that is set. When it
# fails it has said in one line what to download and where to put it: exit 1.
fetch_py() {
  local cmd=("$PYTHON" "$PROJECT_DIR/fetch.py" "$@")
  if [[ -n "${FETCH_MIRROR:-}" ]]; then cmd+=("--mirror=$FETCH_MIRROR"); fi
  "${cmd[@]}" || exit 1
}

# ------------------------------------------------------------------------------ BERT
bert_present() {
  [[ -f "$1/bert_config.json" && -f "$1/vocab.txt" && -f "$1/bert_model.ckpt.index" ]]
}

# The --do_lower_case of the model in $1: its casing record (a converted model), else
# what its name implies (False for Google's cased models).
lower_case_for() {
  # A converted model records its casing (convert_checkpoint.py's tokenizer_config.json).
  local record="$1/tokenizer_config.json"
  if [[ -f "$record" ]]; then
    if grep -Eq '"do_lower_case": *false' "$record"; then printf 'False\n'; return; fi
    if grep -Eq '"do_lower_case": *true' "$record"; then printf 'True\n'; return; fi
  fi
  case "$(basename -- "$1")" in
    cased_* | multi_cased_* | wwm_cased_*) printf 'False\n' ;;
    *) printf 'True\n' ;;
  esac
}

# bert_zip_name URL : the file name a BERT zip URL ends with (no query string), or
# Google's name for BERT-Base, Uncased when that is no *.zip name.
bert_zip_name() {
  local name="${1%%\?*}"
  name="${name##*/}"
  if [[ "$name" != ?*.zip ]]; then name=$BERT_BASE_UNCASED_ZIP; fi
  printf '%s\n' "$name"
}

# ensure_bert BERT_DIR URL DOWNLOAD_DIR
#   Makes BERT_DIR hold bert_config.json, vocab.txt and bert_model.ckpt.*: re-used when
#   there, else the zip at URL is fetched into DOWNLOAD_DIR, verified and extracted.
#   Honours BERT_SHA256 (the zip's SHA-256; "skip" to verify nothing).
ensure_bert() {
  local bert_dir=$1 url=$2 download_dir=$3
  if is_remote_path "$bert_dir"; then
    log "BERT_DIR=$bert_dir is remote: used as is"
    return 0
  fi
  if bert_present "$bert_dir"; then
    log "BERT model found in $bert_dir"
    return 0
  fi
  if [[ -d "$bert_dir" ]] && [[ -n "$(ls -A -- "$bert_dir")" ]]; then
    die "$bert_dir exists but lacks bert_config.json, vocab.txt or bert_model.ckpt.index." \
        "Complete it, or remove it to have it downloaded from $url."
  fi

  local zip_name sha size check_members=0
  zip_name="$(bert_zip_name "$url")"
  sha="${BERT_SHA256:-}"
  size="${BERT_SIZE:-}"
  if [[ -z "$sha" && "$zip_name" == "$BERT_BASE_UNCASED_ZIP" ]]; then
    size="${size:-$BERT_BASE_UNCASED_SIZE}"
    check_members=1
  fi
  local zip="$download_dir/$zip_name"
  fetch "$url" "$zip" "$sha" "$size" BERT_SHA256

  log "extracting $zip"
  local tmp model
  make_temp_dir "$(dirname -- "$bert_dir")"
  tmp=$TEMP_DIR
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$zip" -d "$tmp" || die "could not extract $zip (corrupt? delete it and run again)"
  else
    "$PYTHON" -m zipfile -e "$zip" "$tmp" || die "could not extract $zip (corrupt? delete it and run again)"
  fi
  model="$(find "$tmp" -maxdepth 2 -name bert_config.json -print | head -n 1)"
  [[ -n "$model" ]] || die "$zip holds no bert_config.json: not a BERT model archive"
  model="$(dirname -- "$model")"
  bert_present "$model" || die "$zip lacks vocab.txt or bert_model.ckpt.index"

  if [[ $check_members == 1 ]]; then
    local entry name want got
    for entry in "${BERT_BASE_UNCASED_MEMBERS[@]}"; do
      name="${entry%% *}"
      want="${entry##* }"
      [[ -f "$model/$name" ]] || { mv -f -- "$zip" "$zip.bad"; die "$zip lacks $name; it was moved to $zip.bad"; }
      got="$(sha256_of "$model/$name")"
      if [[ "$got" != "$want" ]]; then
        mv -f -- "$zip" "$zip.bad"
        die "checksum mismatch for $name inside $zip: sha256 is $got, expected $want." \
            "The archive was moved to $zip.bad (delete it, then run again to retry)." \
            "If you deliberately use a different archive, set BERT_SHA256 to its sha256."
      fi
    done
    log "verified the sha256 of the ${#BERT_BASE_UNCASED_MEMBERS[@]} files in $zip_name"
  fi
  if [[ -d "$bert_dir" ]]; then rmdir -- "$bert_dir"; fi
  mkdir -p -- "$(dirname -- "$bert_dir")"
  mv -- "$model" "$bert_dir"
  rm -rf -- "$tmp"
  log "BERT model ready in $bert_dir"
}

# ensure_model BERT_DIR URL DOWNLOAD_DIR
#   With BERT_MODEL set (one of `fetch.py model --list`), BERT_DIR (which must end in
#   that name) is fetched by `fetch.py model` into its parent, the model cache; else
#   ensure_bert fetches URL.
ensure_model() {
  if [[ -z "${BERT_MODEL:-}" ]]; then
    ensure_bert "$@"
    return
  fi
  local bert_dir=$1
  if is_remote_path "$bert_dir" || bert_present "$bert_dir"; then
    log "BERT model found in $bert_dir"
    return 0
  fi
  if [[ "$(basename -- "$bert_dir")" != "$BERT_MODEL" ]]; then
    die "BERT_DIR=$bert_dir lacks bert_config.json, vocab.txt or bert_model.ckpt.index," \
        "and BERT_MODEL=$BERT_MODEL would be fetched into $(dirname -- "$bert_dir")/$BERT_MODEL." \
        "Unset BERT_DIR to use the model cache ($MODEL_CACHE_DIR), or complete $bert_dir."
  fi
  log "fetching $BERT_MODEL into $bert_dir (fetch.py model)"
  fetch_py model "$BERT_MODEL" "--cache_dir=$(dirname -- "$bert_dir")" >/dev/null
}

# ------------------------------------------------------------------------------ running
# set_tpu_flags VAR... : sets TPU_FLAGS to the flags TPU_NAME adds (none without it) and
# warns about each named variable whose path is local (a TPU reads only gs://).
TPU_FLAGS=()
set_tpu_flags() {
  TPU_FLAGS=()
  if [[ -n "${TPU_NAME:-}" ]]; then
    TPU_FLAGS=(--use_tpu "--tpu_name=$TPU_NAME")
    local var
    for var in "$@"; do
      if ! is_remote_path "${!var}"; then
        warn "TPU_NAME is set but $var=${!var} is local: a Cloud TPU reads and writes gs:// paths only"
      fi
    done
  fi
}

# run_or_print CMD... : runs CMD, or with DRY_RUN=1 prints it (shell-quoted) to stdout.
run_or_print() {
  if is_truthy "${DRY_RUN:-}"; then
    local quoted
    printf -v quoted '%q ' "$@"
    printf '%s\n' "${quoted% }"
    return 0
  fi
  log "running: $*"
  "$@"
}
