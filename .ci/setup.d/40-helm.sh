#!/usr/bin/env bash
# helm, for `helm lint` / `helm template` of charts/ringmaster in the integration tests.
# Built from its Go module into $RINGMASTER_CACHE/bin; a stamp makes reruns a no-op.
# HELM_BIN (an existing helm) skips the build.
set -euo pipefail
version=v3.19.5
cache="${RINGMASTER_CACHE:-$HOME/.cache/ringmaster}"
bin="$cache/bin"
mkdir -p "$bin"

if [ -n "${HELM_BIN:-}" ]; then
  "$HELM_BIN" version --short
  exit 0
fi
stamp_file="$bin/.helm.stamp"
stamp="$version $(sha256sum <"$0" | cut -c1-16) $(go env GOVERSION)"
if [ -x "$bin/helm" ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  echo "helm: cached ($stamp)"
  exit 0
fi

start=$(date +%s)
tmp="$(mktemp -d "$cache/helm-build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# Release builds set at link time the version helm reports and the Kubernetes version that
# `helm template`/`lint` assume (1.20 otherwise, which fails the chart's kubeVersion).
k8s_minor=34 # helm v3.19 is built on client-go v0.34
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
GOBIN="$tmp" nice -n 10 go install -trimpath -ldflags="$ldflags" "helm.sh/helm/v3/cmd/helm@$version"
mv -f "$tmp/helm" "$bin/helm"
echo "$stamp" >"$stamp_file"
echo "helm: built $version in $(($(date +%s) - start)) s"
"$bin/helm" version --short
