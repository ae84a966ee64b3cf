#!/usr/bin/env bash
# Builds TensorFlow.js's native backend (@tensorflow/tfjs-node, or -gpu with --gpu) against the
# shared libraries of PyPI's TensorFlow wheel, and installs it into node_modules.
#
#   scripts/build-tensorflow.sh [--gpu] [--if-possible] [--vendor] [--check]
#
# Why (docs/adr/0086): tfjs-node's own install downloads libtensorflow 2.9.1 from a host we
# cannot reach (and its CUDA 11.2 build has no Hopper kernels). Its addon source
# (binding/*.cc + binding.gyp, identical in tfjs-node-gpu) compiles unchanged against
# libtensorflow_cc.so.2 from the `tensorflow-cpu` / `tensorflow` wheels, which export every C and
# eager-C symbol it uses.
#
# The result is cached in $RINGMASTER_CACHE/tensorflow/<key>/ (key: variant, TF version, tfjs
# version, N-API version, machine, glibc), so after `npm ci` (which wipes node_modules) a run
# only copies the addon back and links the libraries: seconds, no rebuild.
#
#   --gpu          tfjs-node-gpu + the `tensorflow` wheel + its pinned CUDA 12 wheels
#   --if-possible  where pip or a C++ compiler is missing, say why in one line and exit 0
#                  (the trainer then falls back to wasm and prints the same reason)
#   --vendor       copy the libraries into the package instead of linking to the cache
#                  (container images: node_modules must stand alone)
#   --check        exit 0 if the backend is installed and loads, 1 otherwise; builds nothing
set -euo pipefail

TF_VERSION="${RINGMASTER_TF_VERSION:-2.18.1}"
# The CUDA 12 wheels of tensorflow==2.18.1[and-cuda], pinned as its metadata pins them.
CUDA_WHEELS=(
  nvidia-cublas-cu12==12.5.3.2 nvidia-cuda-cupti-cu12==12.5.82 nvidia-cuda-nvcc-cu12==12.5.82
  nvidia-cuda-nvrtc-cu12==12.5.82 nvidia-cuda-runtime-cu12==12.5.82 nvidia-cudnn-cu12==9.3.0.75
  nvidia-cufft-cu12==11.2.3.61 nvidia-curand-cu12==10.3.6.82 nvidia-cusolver-cu12==11.6.3.83
  nvidia-cusparse-cu12==12.5.1.3 nvidia-nccl-cu12==2.21.5 nvidia-nvjitlink-cu12==12.5.82
)
NAPI=8

variant=cpu if_possible=0 vendor=0 check=0
for arg in "$@"; do
  case "$arg" in
    --gpu) variant=gpu ;;
    --if-possible) if_possible=1 ;;
    --vendor) vendor=1 ;;
    --check) check=1 ;;
    -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-tensorflow: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cache="${RINGMASTER_CACHE:-$HOME/.cache/ringmaster}"
if [ "$variant" = gpu ]; then pkg=@tensorflow/tfjs-node-gpu wheel=tensorflow; else pkg=@tensorflow/tfjs-node wheel=tensorflow-cpu; fi
pkgdir="$root/node_modules/$pkg"
say() { echo "tensorflow: $*"; }
# A reason this machine cannot build; fatal unless --if-possible.
cannot() {
  if [ "$if_possible" = 1 ]; then say "not built ($1); training falls back to wasm"; exit 0; fi
  echo "build-tensorflow: $1" >&2
  exit 2
}

# Loads the package in a fresh Node and runs one convolution: proof the addon and libraries fit.
smoke() {
  node -e '
    const tf = require(process.argv[1]);
    const x = tf.ones([1, 4, 4, 2]), w = tf.ones([3, 3, 2, 1]);
    const y = tf.conv2d(x, w, 1, "valid").dataSync();
    if (y.length !== 4 || y[0] !== 18) { console.error("unexpected conv result", y); process.exit(1); }
  ' "$pkgdir" 2>&1 | grep -v -E "cuda|cuInit|TF-TRT|rebuild TensorFlow|oneDNN|cpu_feature_guard|^$|To enable|WARNING: All log messages|E0000|W0000|I0000" || true
  return "${PIPESTATUS[0]}"
}

if [ "$check" = 1 ]; then
  [ -f "$pkgdir/lib/napi-v$NAPI/tfjs_binding.node" ] && smoke >/dev/null && exit 0
  exit 1
fi

# 1. The package's JavaScript and addon source. It is an optional dependency whose install
#    script fails here (it downloads), so npm drops it; the lockfile still pins it. Restoring it
#    without scripts is exact and quick.
if [ ! -f "$pkgdir/binding.gyp" ]; then
  say "restoring $pkg from package-lock.json (npm install --ignore-scripts)"
  npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  [ -f "$pkgdir/binding.gyp" ] || cannot "npm did not install $pkg"
fi
tfjs_version="$(node -p "require('$pkgdir/package.json').version")"
# Not `ldd --version | head -n1`: under pipefail, ldd's SIGPIPE made that fail now and then,
# and the key became "2.36<newline>unknown" (a new cache entry, a rebuild).
glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | grep -oE '[0-9]+\.[0-9]+$')" || glibc=unknown
key="$variant-tf$TF_VERSION-tfjs$tfjs_version-napi$NAPI-$(uname -m)-glibc$glibc"
dir="$cache/tensorflow/$key"
addon="$pkgdir/lib/napi-v$NAPI/tfjs_binding.node"

# 2. Build into the cache once per key.
if [ ! -f "$dir/.complete" ]; then
  command -v python3 >/dev/null || cannot "python3 not found (pip downloads the TensorFlow wheel)"
  python3 -m pip --version >/dev/null 2>&1 || cannot "pip not found (python3 -m pip)"
  command -v g++ >/dev/null || cannot "no C++ compiler (g++) to build the addon"
  command -v make >/dev/null || cannot "make not found (node-gyp needs it)"
  gyp="$root/node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$gyp" ] || gyp="$(dirname "$(dirname "$(realpath "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$gyp" ] || cannot "node-gyp not found (npm ci installs it as a dev dependency)"
  nodedir="${npm_config_nodedir:-}"
  for d in "$nodedir" "$(dirname "$(dirname "$(realpath "$(command -v node)")")")" /usr /usr/local; do
    [ -n "$d" ] && [ -f "$d/include/node/node_api.h" ] && { nodedir="$d"; break; }
  done
  [ -f "$nodedir/include/node/node_api.h" ] || cannot "Node's headers (include/node/node_api.h) not found"

  start=$(date +%s)
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/rm-tf-build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  wheels="$cache/wheels"
  mkdir -p "$wheels"
  pipdl() {
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_17_x86_64 -d "$wheels" "$@"
  }
  say "downloading the $wheel==$TF_VERSION wheel from PyPI (about $([ "$variant" = gpu ] && echo 600 || echo 230) MB; cached in $wheels)"
  pipdl "$wheel==$TF_VERSION" || cannot "pip could not download $wheel==$TF_VERSION"
  whl="$(ls "$wheels"/"${wheel//-/_}"-"$TF_VERSION"-*.whl | head -n1)"

  say "unpacking libtensorflow_cc.so.2, libtensorflow_framework.so.2 and the C API headers"
  python3 - "$whl" "$tmp/stage" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
heads = ("tensorflow/include/tensorflow/c/", "tensorflow/include/tensorflow/core/platform/ctstring",
         "tensorflow/include/tsl/platform/ctstring", "tensorflow/include/xla/tsl/c/")
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if name in ("tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"):
            dest = os.path.join(out, "tensorflow", os.path.basename(name))
        elif name.startswith(heads) and name.endswith(".h"):
            dest = os.path.join(out, "include", name[len("tensorflow/include/"):])
        else:
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(name) as src, open(dest, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
PY
  if [ "$variant" = gpu ]; then
    # libtensorflow_cc.so.2 opens CUDA from $ORIGIN/../nvidia/<lib>/lib: keep that shape.
    say "downloading the CUDA 12 wheels (${#CUDA_WHEELS[@]}, several GB)"
    pipdl "${CUDA_WHEELS[@]}" || cannot "pip could not download the CUDA 12 wheels"
    for spec in "${CUDA_WHEELS[@]}"; do
      name="${spec%%==*}" version="${spec##*==}"
      f="$(ls "$wheels"/"${name//-/_}"-"$version"-*.whl | head -n1)"
      python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith("nvidia/") and "/lib/" in n]' "$f" "$tmp/stage"
    done
  fi

  # The addon's build wants deps/lib/libtensorflow{,_framework}.so and deps/include.
  # deps/lib/libtensorflow.so.2.9.1 makes tfjs's scripts/install.js (if anyone runs it) keep deps/.
  build="$tmp/pkg"
  cp -r "$pkgdir" "$build"
  rm -rf "$build/deps" "$build/build" "$build/lib"
  mkdir -p "$build/deps/lib"
  ln -s "$tmp/stage/include" "$build/deps/include"
  for f in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do ln -s "$tmp/stage/tensorflow/$f" "$build/deps/lib/$f"; done
  ln -s libtensorflow_cc.so.2 "$build/deps/lib/libtensorflow.so"
  ln -s libtensorflow_framework.so.2 "$build/deps/lib/libtensorflow_framework.so"
  say "compiling the addon with node-gyp (about 40 s on 2 cores)"
  (cd "$build" && node "$gyp" rebuild --silent --nodedir="$nodedir" --module_name=tfjs_binding \
    --module_path="$build/lib/napi-v$NAPI" --napi_build_version=$NAPI >"$tmp/gyp.log" 2>&1) || {
    tail -n 30 "$tmp/gyp.log" >&2
    cannot "node-gyp could not compile the addon (log above)"
  }
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  mv "$tmp/stage/tensorflow" "$tmp/stage/include" "$dir.partial/"
  [ -d "$tmp/stage/nvidia" ] && mv "$tmp/stage/nvidia" "$dir.partial/"
  cp "$build/lib/napi-v$NAPI/tfjs_binding.node" "$dir.partial/"
  echo "$key" >"$dir.partial/.complete"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  # The wheels are only a source of these files; keep the disk (the GPU set is several GB).
  [ "${RINGMASTER_KEEP_WHEELS:-0}" = 1 ] || rm -f "$whl" "$wheels"/nvidia_*.whl
  say "built $key in $(($(date +%s) - start)) s"
fi

# 3. Install from the cache: the addon where node-pre-gyp looks, the libraries where its rpath
#    ($ORIGIN/../../deps/lib) points.
rm -rf "$pkgdir/deps" "$pkgdir/lib/napi-v$NAPI"
mkdir -p "$pkgdir/deps/lib" "$pkgdir/lib/napi-v$NAPI"
cp "$dir/tfjs_binding.node" "$addon"
for f in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
  if [ "$vendor" = 1 ]; then cp "$dir/tensorflow/$f" "$pkgdir/deps/lib/$f"; else ln -s "$dir/tensorflow/$f" "$pkgdir/deps/lib/$f"; fi
done
touch "$pkgdir/deps/lib/libtensorflow.so.2.9.1"
if [ -d "$dir/nvidia" ]; then
  if [ "$vendor" = 1 ]; then cp -r "$dir/nvidia" "$pkgdir/deps/nvidia"; else ln -s "$dir/nvidia" "$pkgdir/deps/nvidia"; fi
fi
smoke || cannot "the built addon does not load (see above); remove $dir to rebuild"
say "installed $pkg ($key)"
