#!/usr/bin/env bash
# Training throughput on a lent GPU machine (finishes in well under 5 minutes): bench/train_scaling.py with
# use_gpu on every GPU of the machine — raypipe's trainer in-process (1 GPU), Ray Train with 1 worker and with one
# worker per GPU, and sentence-transformers' trainer (1 GPU), all-MiniLM-L6-v2 + MNRL, one global batch.
#   bash bench/gpu_train.sh            (from the repository root, after the README's set-up with a CUDA torch)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
gpus=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -lt 1 ]; then echo "no CUDA device visible to torch" >&2; exit 1; fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# global batch 64 per GPU, 60 steps: long enough to leave start-up behind, short enough for the time budget
timeout 280 python bench/train_scaling.py --model minilm --use-gpu --workers "$gpus" --steps 60 \
    --global-batch $((64 * gpus)) --repeats 1 --json "${OUT:-.}/gpu_train.json"
