#!/usr/bin/env bash
# On a lent GPU machine (the `device` tool), after `bash model/device_pack.sh` here:
#   run(command="bash model/device_train.sh 8", carry=[".device"], timeout_s=600)
# Trains from the shipped weights for the given minutes, then exports fp16 safetensors (~14 MB, under the 16 MB a
# returned file may be) and the loss log into $OUT. Flags after the minutes go to train.py and win over these.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-8}; shift || true
out=${OUT:?set OUT to the folder that comes back}
if [ -z "${SKIP_WHEELS:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .device/wheels/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
device=${DEVICE:-cuda}
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, \
'cuda', torch.cuda.is_available())"
python3 model/train.py --run device --device "$device" --init-from dgemma_lsp/diffusion/embedded \
    --train .device/train.jsonl.xz --valid .device/valid.jsonl.xz --time-budget-min "$minutes" \
    --data-workers "${WORKERS:-12}" --batch-tokens "${BATCH_TOKENS:-65536}" --threads 4 --log-every 20 \
    --eval-every 200 --checkpoint-every 1000 --checkpoint-every-min 3 --canvas-draws 4 --heal-indentation "$@" | tail -n 40
python3 model/export.py model/runs/device "$out/model" | tail -n 5
cp model/runs/device/log.jsonl "$out/log.jsonl"
