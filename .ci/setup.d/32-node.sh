#!/usr/bin/env bash
# A real node for the cluster tests (npm run test:cluster), cached in $RINGMASTER_CACHE/bin:
#   - Debian packages: containerd 1.6 + runc (the CRI runtime), containernetworking-plugins
#     (bridge, host-local, loopback, portmap), iptables + nftables (the teardown removes the
#     tables the kubelet created), mmdebstrap (images, 34-node-images.sh);
#   - kube-controller-manager and kube-scheduler, built from test/tools/kube (the same
#     Kubernetes as kube-apiserver, 30-kube.sh: within the version-skew policy by definition);
#   - kubelet v1.31, built from test/tools/kubelet. 1.31 is the last kubelet that runs on this
#     cgroup v1 host with containerd 1.6 unflagged; a kubelet three minors older than the
#     apiserver is within Kubernetes' skew policy (docs/adr/0105-real-node-test-cluster.md).
# Opt-in (RINGMASTER_CLUSTER_TESTS=1): a cold run costs tens of minutes of CPU (docs/deploy.md).
# Stamps (hash of the go.mod/go.sum pinning each set + Go version) make reruns a no-op.
# Go builds run nice'd with -p ${RINGMASTER_GO_BUILD_JOBS:-2}: the machine is shared.
set -euo pipefail
if [ "${RINGMASTER_CLUSTER_TESTS:-0}" != 1 ]; then
  echo "node: skipped (opt-in: RINGMASTER_CLUSTER_TESTS=1, or npm run setup:cluster)"
  exit 0
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${RINGMASTER_CACHE:-$HOME/.cache/ringmaster}"
bin="$cache/bin"
mkdir -p "$bin"
jobs="${RINGMASTER_GO_BUILD_JOBS:-2}"

want=(containerd runc containernetworking-plugins iptables nftables mmdebstrap)
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian starts containerd as a service where systemd runs; the tests start their own.
  systemctl stop containerd 2>/dev/null || true
fi
echo "node: containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}')"

# build MODULE_DIR NAME BINARIES... : go build the k8s.io/kubernetes/cmd/<binary> commands of
# one module with release version stamps, into $bin, unless its stamp says they are current.
build() {
  local mod="$1" name="$2"
  shift 2
  local stamp_file="$bin/.$name.stamp" stamp kv minor ldflags out start b pkgs=()
  stamp="$(cat "$mod/go.mod" "$mod/go.sum" "$0" | sha256sum | cut -c1-16) $(go env GOVERSION)"
  local all=1
  for b in "$@"; do [ -x "$bin/$b" ] || all=0; done
  if [ "$all" = 1 ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
    echo "node: $name cached ($stamp)"
    return
  fi
  kv="$(cd "$mod" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
  [[ "$kv" =~ ^v1\.[0-9]+\.[0-9]+$ ]] || { echo "node: cannot tell the Kubernetes version in $mod ($kv)" >&2; exit 1; }
  minor="$(echo "$kv" | cut -d. -f2)"
  ldflags="-s -w"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags+=" -X $pkg.gitVersion=$kv -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  for b in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  out="$(mktemp -d "$cache/node-build.XXXXXX")"
  start=$(date +%s)
  (cd "$mod" && nice -n 10 go build -p "$jobs" -trimpath "-ldflags=$ldflags" -o "$out/" "${pkgs[@]}") ||
    { rm -rf "$out"; echo "node: building $* failed" >&2; exit 1; }
  for b in "$@"; do
    local v
    v="$("$out/$b" --version)"
    [[ "$v" == *"$kv"* ]] || { rm -rf "$out"; echo "node: $b reports '$v', not $kv" >&2; exit 1; }
    mv -f "$out/$b" "$bin/$b"
  done
  rm -rf "$out"
  echo "$stamp" >"$stamp_file"
  echo "node: built $* ($kv) in $(($(date +%s) - start)) s"
}

build "$root/test/tools/kube" control-plane-extra kube-controller-manager kube-scheduler
build "$root/test/tools/kubelet" kubelet kubelet
