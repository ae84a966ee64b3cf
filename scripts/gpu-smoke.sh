#!/usr/bin/env bash
# GPU smoke test: one ResNet50 training step at 224², batch 64, on the GPU backend
# (tensorflow-gpu: tfjs-node-gpu on PyPI's TensorFlow 2.18.1 + CUDA 12 wheels), checked against
# the CPU backend (tensorflow) on the same seed-generated weights and batch, in two processes.
# Prints images/s, the two losses (≤ 1e-3 relative), logits and gradient norm side by side, and
# the peak GPU memory (nvidia-smi, sampled every 200 ms). Budget: 5 minutes (SMOKE_TIMEOUT).
#
#   npm run setup:tensorflow -- --gpu && npm run setup:tensorflow && scripts/gpu-smoke.sh
#
# Exit 0 passed, 1 failed (numbers disagree, or over budget), 2 cannot run here (no GPU
# visible, a backend not built). It has NEVER run on a GPU: the project's machines have none.
# Only its CPU half has run (at small sizes: SMOKE_SIZE=64 SMOKE_BATCH=8).
# Env: SMOKE_ARCH, SMOKE_SIZE, SMOKE_BATCH, SMOKE_STEPS (timed GPU steps, default 5),
# SMOKE_LOSS_RTOL, SMOKE_RTOL (scripts/gpu-smoke.ts), SMOKE_TIMEOUT (seconds, default 300);
# SMOKE_GPU_BACKEND=tensorflow runs the "GPU" side on the CPU: a test of this script alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
budget="${SMOKE_TIMEOUT:-300}"
start=$(date +%s)
cannot() { echo "gpu-smoke: $1" >&2; exit 2; }

# 1. A GPU, and both native backends.
command -v nvidia-smi >/dev/null || cannot "no NVIDIA GPU visible (nvidia-smi not found: no driver here)"
gpus="$(nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true)"
[ -n "$gpus" ] || cannot "no NVIDIA GPU visible (nvidia-smi lists none)"
bash scripts/build-tensorflow.sh --gpu --check ||
  cannot "the GPU backend is not built: run \`npm run setup:tensorflow -- --gpu\`"
bash scripts/build-tensorflow.sh --check ||
  cannot "the CPU backend (the reference) is not built: run \`npm run setup:tensorflow\`"
echo "$gpus" | sed 's/^/gpu: /'

tmp="$(mktemp -d "${TMPDIR:-/tmp}/rm-gpu-smoke.XXXXXX")"
samplers=()
cleanup() {
  for p in "${samplers[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# side <out.json> <label> [VAR=value…]: one side within what is left of the budget.
side() {
  local out="$1" what="$2"
  shift 2
  local left=$((budget - ($(date +%s) - start)))
  [ "$left" -gt 0 ] || left=1
  local status=0
  timeout "$left" env RINGMASTER_LOG_LEVEL=warn "$@" node --import tsx scripts/gpu-smoke.ts run "$out" || status=$?
  case "$status" in
    0) ;;
    2) exit 2 ;;
    124) echo "gpu-smoke: over the ${budget} s budget, stopped" >&2; exit 1 ;;
    *) echo "gpu-smoke: the $what side failed (exit $status)" >&2; exit 1 ;;
  esac
}

# 2. The GPU side, with nvidia-smi sampling memory per process and per device meanwhile.
nv="$root/node_modules/@tensorflow/tfjs-node-gpu/deps/nvidia"
ld="$(printf '%s:' "$nv"/*/lib)"
nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits >"$tmp/base.csv"
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits -lms 200 >"$tmp/apps.csv" 2>/dev/null &
samplers+=("$!")
nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -lms 200 >"$tmp/dev.csv" 2>/dev/null &
samplers+=("$!")
echo "== tensorflow-gpu: ${SMOKE_ARCH:-resnet50} ${SMOKE_SIZE:-224}² batch ${SMOKE_BATCH:-64}"
side "$tmp/gpu.json" GPU RINGMASTER_BACKEND="${SMOKE_GPU_BACKEND:-tensorflow-gpu}" TF_FORCE_GPU_ALLOW_GROWTH=true \
  LD_LIBRARY_PATH="${ld%:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for p in "${samplers[@]}"; do kill "$p" 2>/dev/null || true; done
samplers=()
gpu_pid="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).pid' "$tmp/gpu.json")"
peak_proc="$(awk -F', *' -v p="$gpu_pid" '$1 == p && $2 + 0 > m { m = $2 + 0 } END { print m + 0 }' "$tmp/apps.csv")"
peak_dev="$(awk -F', *' 'NR == FNR { base[$1] = $2; next } $2 - base[$1] > m { m = $2 - base[$1] } END { print m + 0 }' "$tmp/base.csv" "$tmp/dev.csv")"

# 3. The reference: the CPU backend, same weights and batch, one step.
echo "== tensorflow (CPU reference): the same step"
side "$tmp/cpu.json" CPU RINGMASTER_BACKEND=tensorflow SMOKE_STEPS=0

# 4. Report.
echo "== result"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`images/s on tensorflow-gpu: ${r.imagesPerSecond?.toFixed(1) ?? "n/a"} (${r.arch} ${r.size}² batch ${r.batch}, ${r.timedSteps} steps after the first; the first took ${r.firstStepSeconds.toFixed(1)} s)`);
' "$tmp/gpu.json"
if [ "$peak_proc" != 0 ]; then
  echo "peak GPU memory: $peak_proc MiB (this process, nvidia-smi every 200 ms)"
else
  echo "peak GPU memory: $peak_dev MiB above the idle level (busiest device; nvidia-smi does not list this process, e.g. in a container)"
fi
ok=0
node --import tsx scripts/gpu-smoke.ts compare "$tmp/gpu.json" "$tmp/cpu.json" || ok=1
took=$(($(date +%s) - start))
if [ "$ok" -ne 0 ]; then echo "gpu-smoke: FAILED in $took s"; exit 1; fi
echo "gpu-smoke: passed in $took s"
