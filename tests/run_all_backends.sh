#!/usr/bin/env bash
# Runs the test suite once per Keras backend; fails if any backend fails.
set -u
export TF_CPP_MIN_LOG_LEVEL=3 HF_HUB_OFFLINE=1
# Idle OpenMP threads (torch on CPU) spin by default; on a shared 2-core CPU that slowed torch several-fold.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$HOME/.cache/dove_keras/jax}"
status=0
for backend in ${DOVE_BACKENDS:-tensorflow jax torch}; do
  echo "=== KERAS_BACKEND=$backend ==="
  KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider "$@" tests
  rc=$?
  if [ "$rc" = 5 ]; then
    echo "backend $backend: pytest collected no tests (exit 5): treated as a failure"
  fi
  [ "$rc" = 0 ] || { echo "backend $backend FAILED (exit $rc)"; status=1; }
done
exit $status
