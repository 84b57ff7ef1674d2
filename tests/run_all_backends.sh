#!/usr/bin/env bash
# Runs the test suite once per Keras backend; fails if any backend fails.
# DOVE_BACKENDS: the backends, in order (default: tensorflow jax torch).
# DOVE_PARALLEL_BACKENDS=N: run up to N backends at once (default 1); each one's output
# is printed whole, in DOVE_BACKENDS order, once it is done.
set -u
export TF_CPP_MIN_LOG_LEVEL=3 HF_HUB_OFFLINE=1
# Idle OpenMP threads (torch on CPU) spin by default; on a shared 2-core CPU that slowed torch several-fold.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# The README installs with `pip --no-compile` (a minute less); imports then write the bytecode caches.
unset PYTHONDONTWRITEBYTECODE
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$HOME/.cache/dove_keras/jax}"
# Cache every XLA compile, not only those over 1 s: the many small ones (one per op and shape in
# eager calls, one per weight shape in the initializers) then compile once per run, not once per process.
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="${JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-0}"
backends=(${DOVE_BACKENDS:-tensorflow jax torch})
parallel="${DOVE_PARALLEL_BACKENDS:-1}"

run_backend() {  # backend, then pytest's extra arguments
  local backend=$1
  shift
  KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider "$@" tests
}

report() {  # backend, exit code: the summary lines a failing backend adds
  if [ "$2" = 5 ]; then
    echo "backend $1: pytest collected no tests (exit 5): treated as a failure"
  fi
  [ "$2" = 0 ] || { echo "backend $1 FAILED (exit $2)"; return 1; }
}

status=0
if [ "$parallel" -le 1 ]; then
  for backend in "${backends[@]}"; do
    echo "=== KERAS_BACKEND=$backend ==="
    run_backend "$backend" "$@"
    report "$backend" $? || status=1
  done
  exit $status
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
for backend in "${backends[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
    wait -n
  done
  { run_backend "$backend" "$@" > "$logs/$backend.log" 2>&1; echo $? > "$logs/$backend.rc"; } &
done
wait
for backend in "${backends[@]}"; do
  echo "=== KERAS_BACKEND=$backend ==="
  cat "$logs/$backend.log"
  report "$backend" "$(cat "$logs/$backend.rc")" || status=1
done
exit $status
