#!/usr/bin/env bash
# The backend benchmark matrix: a training step at batch 32 and 100 for the tiny and the
# ResNet-50 image tower (256 px), then inference throughput at batch 100.
#   BACKENDS="jax torch" STEPS=10 bash benchmarks/matrix.sh
set -eu
here="$(dirname "$0")"
backends=${BACKENDS:-tensorflow jax torch}
for backbone in tiny resnet50; do
  for batch in 32 100; do
    python3 "$here/train_step.py" --backends $backends --backbone "$backbone" --batch-size "$batch" --steps "${STEPS:-5}"
    echo
  done
done
for backbone in tiny resnet50; do
  python3 "$here/encode_throughput.py" --backends $backends --backbone "$backbone" --batch-size 100
  echo
done
