#!/usr/bin/env bash
# Test control plane binaries: kube-apiserver, kubectl and etcd, built once from the Go
# modules pinned in test/tools/kube/go.mod and cached in $RINGMASTER_CACHE/bin.
#   - KUBEBUILDER_ASSETS (a dir with etcd, kube-apiserver, kubectl) wins: nothing is built.
#   - A stamp (hash of go.mod + go.sum + Go version) makes reruns a no-op.
# etcd is built from the same module graph (v3.6, what Kubernetes 1.34 is tested with):
# Debian's etcd 3.4.23 is older than the 3.4.29 that kube-apiserver >= 1.31 assumes.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
mod="$root/test/tools/kube"
cache="${RINGMASTER_CACHE:-$HOME/.cache/ringmaster}"
bin="$cache/bin"
mkdir -p "$bin"

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  for b in etcd kube-apiserver kubectl; do
    [ -x "$KUBEBUILDER_ASSETS/$b" ] || { echo "kube: KUBEBUILDER_ASSETS has no $b" >&2; exit 1; }
  done
  echo "kube: using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  exit 0
fi

stamp_file="$bin/.kube-tools.stamp"
stamp="$(cat "$mod/go.mod" "$mod/go.sum" "$0" | sha256sum | cut -c1-16) $(go env GOVERSION)"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] &&
  [ -x "$bin/etcd" ] && [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ]; then
  echo "kube: cached ($stamp)"
  exit 0
fi

# Build into a scratch dir and move into place only when all three succeeded, so an
# interrupted build never leaves a half-updated set behind the stamp.
out="$(mktemp -d "$cache/kube-build.XXXXXX")"
trap 'rm -rf "$out"' EXIT
cd "$mod"
# Release builds stamp the version at link time (hack/lib/version.sh); without it the
# server reports v0.0.0-master and version constraints (helm's kubeVersion) fail.
kv="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
[[ "$kv" =~ ^v1\.[0-9]+\.[0-9]+$ ]] || { echo "kube: cannot tell the Kubernetes version ($kv)" >&2; exit 1; }
minor="$(echo "$kv" | cut -d. -f2)"
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  ldflags+=" -X $pkg.gitVersion=$kv -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
flags=(-trimpath "-ldflags=$ldflags")
start=$(date +%s)
# nice: CI shares 2 cores with nothing else, but developers' machines do; -p 2 keeps memory sane.
nice -n 10 go build -p 2 "${flags[@]}" -o "$out/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
nice -n 10 go build -p 2 "${flags[@]}" -o "$out/etcd" go.etcd.io/etcd/server/v3
# Smoke-check before anything replaces the cached set.
# (Output captured first: with pipefail, `| head` would SIGPIPE the binary and fail.)
"$out/kube-apiserver" --version
kubectl_version="$("$out/kubectl" version --client=true -o yaml)"
[[ "$kubectl_version" == *"gitVersion: $kv"* ]] || { echo "kube: kubectl is not $kv" >&2; exit 1; }
etcd_version="$("$out/etcd" --version)"
echo "${etcd_version%%$'\n'*}"
for b in etcd kube-apiserver kubectl; do mv -f "$out/$b" "$bin/$b"; done
echo "$stamp" >"$stamp_file"
echo "kube: built etcd, kube-apiserver, kubectl in $(($(date +%s) - start)) s"
