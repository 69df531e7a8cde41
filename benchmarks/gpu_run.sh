#!/usr/bin/env bash
# Issue 18's GPU half, in one go: run on a machine with an accelerator, from the repository root.
#   bash benchmarks/gpu_run.sh            # JAX + PyTorch, 128/256 px, bf16 + fp32 (~8-10 min on an H100/H200)
#   QUICK=1 bash benchmarks/gpu_run.sh    # 256 px bf16 only (the acceptance number), ~3 min
# Writes benchmarks/results/gpu_train-<device>.{md,json}; commit them. Needs keras, numpy, opencv and
# jax[cuda] and/or a CUDA torch already installed (the device machine may have no network, nor TensorFlow).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TF_CPP_MIN_LOG_LEVEL=2 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
backends=()
python -c "import jax; d = jax.devices()[0]; assert d.platform == 'gpu', d; print('jax', jax.__version__, d.device_kind, len(jax.devices()))" \
    && backends+=(jax) || echo "jax: no GPU backend, skipped"
python -c "import torch; assert torch.cuda.is_available(); print('torch', torch.__version__, torch.cuda.get_device_name(0))" \
    && backends+=(torch) || echo "torch: no CUDA build, skipped"
python -c "import keras, numpy, cv2; print('keras', keras.__version__)" || { echo "keras/numpy/opencv missing"; exit 1; }
[ ${#backends[@]} -gt 0 ] || { echo "no GPU backend"; exit 1; }
if [ -n "${QUICK:-}" ]; then
    args=(--precisions bf16 --sizes 256 --batches 32 64 --pretrain-sizes 256 --pretrain-batches 64)
else
    args=(--precisions bf16 fp32 --sizes 128 256 --batches 32 64 --pretrain-sizes 128 256 --pretrain-batches 64)
fi
python benchmarks/gpu_train.py --backends "${backends[@]}" "${args[@]}" --steps 20 --warmup 3 "$@"
