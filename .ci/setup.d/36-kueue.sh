#!/usr/bin/env bash
# Kueue for the Kueue e2e tests (test/e2e/kueue*.test.ts): the manager built from the Go
# module pinned in test/tools/kueue (go.mod `tool sigs.k8s.io/kueue/cmd/kueue`), cached as
#   $RINGMASTER_CACHE/bin/kueue-manager        the manager binary
#   $RINGMASTER_CACHE/kueue/crd/*.yaml          the CRDs from the module's config/components/crd
#   $RINGMASTER_CACHE/kueue/webhook.yaml        the module's webhook configurations (the tests
#                                               register them with a url: and their own CA)
# A stamp (hash of go.mod + go.sum + this script + Go version) makes reruns a no-op.
# The build runs nice'd with -p ${RINGMASTER_GO_BUILD_JOBS:-2}: the machine is shared.
# RINGMASTER_KUEUE=0 skips it (the Kueue tests then fail with a message naming this script).
set -euo pipefail
if [ "${RINGMASTER_KUEUE:-1}" = 0 ]; then
  echo "kueue: skipped (RINGMASTER_KUEUE=0)"
  exit 0
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
mod="$root/test/tools/kueue"
cache="${RINGMASTER_CACHE:-$HOME/.cache/ringmaster}"
bin="$cache/bin"
crds="$cache/kueue/crd"
jobs="${RINGMASTER_GO_BUILD_JOBS:-2}"
mkdir -p "$bin" "$crds"

stamp_file="$bin/.kueue.stamp"
stamp="$(cat "$mod/go.mod" "$mod/go.sum" "$0" | sha256sum | cut -c1-16) $(go env GOVERSION)"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] &&
  [ -x "$bin/kueue-manager" ] && [ -f "$cache/kueue/webhook.yaml" ] &&
  ls "$crds"/*.yaml >/dev/null 2>&1; then
  echo "kueue: cached ($stamp)"
  exit 0
fi

out="$(mktemp -d "$cache/kueue-build.XXXXXX")"
trap 'rm -rf "$out"' EXIT
cd "$mod"
version="$(go list -m -f '{{.Version}}' sigs.k8s.io/kueue)"
dir="$(go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)"
[ -d "$dir/config/components/crd/bases" ] || { echo "kueue: no CRDs in $dir" >&2; exit 1; }
start=$(date +%s)
ldflags="-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$version"
nice -n 10 go build -p "$jobs" -trimpath "-ldflags=$ldflags" -o "$out/kueue-manager" sigs.k8s.io/kueue/cmd/kueue
"$out/kueue-manager" --help >/dev/null 2>&1 || { echo "kueue: the built manager does not start" >&2; exit 1; }
rm -f "$crds"/*.yaml
cp "$dir"/config/components/crd/bases/*.yaml "$crds/"
cp "$dir"/config/components/webhook/manifests.yaml "$cache/kueue/webhook.yaml"
chmod u+w "$crds"/*.yaml "$cache/kueue/webhook.yaml"
mv -f "$out/kueue-manager" "$bin/kueue-manager"
echo "$stamp" >"$stamp_file"
echo "kueue: built kueue-manager $version in $(($(date +%s) - start)) s"
