#!/usr/bin/env bash
# Images for the real-node cluster tests (npm run test:cluster), built with no registry and
# no container engine, cached as OCI archives in $RINGMASTER_CACHE/images:
#   - pause.oci.tar: registry.k8s.io/pause:3.10, a static Go binary (test/cluster/images/pause),
#     the sandbox image containerd's CRI config names;
#   - base.oci.tar: ringmaster.local/base:bookworm-node20, Debian bookworm minbase from
#     Debian's packages (mmdebstrap) plus ca-certificates and Node 20. Debian bookworm ships
#     nodejs 18.20 only; the trainer needs Node 20, so the image gets the host's own `node`
#     binary (the one running these tests; it links only libc, libstdc++ and libgcc).
# test/cluster's harness imports them with `ctr -n k8s.io image import` at cluster start.
# Opt-in, like 32-node.sh (RINGMASTER_CLUSTER_TESTS=1). A stamp (inputs' hash + Node
# version) makes reruns a no-op.
set -euo pipefail
if [ "${RINGMASTER_CLUSTER_TESTS:-0}" != 1 ]; then
  echo "node-images: skipped (opt-in: RINGMASTER_CLUSTER_TESTS=1, or npm run setup:cluster)"
  exit 0
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${RINGMASTER_CACHE:-$HOME/.cache/ringmaster}"
out="$cache/images"
mkdir -p "$out"
for t in mmdebstrap go node; do
  command -v "$t" >/dev/null || { echo "node-images: $t missing (run .ci/setup.d/32-node.sh)" >&2; exit 1; }
done
imgdir="$root/test/cluster/images"
node_bin="$(readlink -f "$(command -v node)")"
stamp="$(cat "$0" "$imgdir/oci-archive.mjs" "$imgdir/pause/main.go" | sha256sum | cut -c1-16) $(node --version) $(go env GOVERSION)"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] &&
  [ -s "$out/pause.oci.tar" ] && [ -s "$out/base.oci.tar" ]; then
  echo "node-images: cached ($stamp)"
  exit 0
fi
start=$(date +%s)
work="$(mktemp -d "$cache/images-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# pause: one static binary in an otherwise empty filesystem.
mkdir -p "$work/pause-root"
(cd "$imgdir/pause" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/pause-root/pause" .)
tar -C "$work/pause-root" --owner=0 --group=0 --numeric-owner -cf "$work/pause-rootfs.tar" pause
node "$imgdir/oci-archive.mjs" --layer "$work/pause-rootfs.tar" --name registry.k8s.io/pause:3.10 \
  --out "$work/pause.oci.tar" --entrypoint '["/pause"]'

# base: Debian's packages only, then Node 20 copied in.
nice -n 10 mmdebstrap --quiet --variant=minbase --include=ca-certificates \
  --customize-hook="copy-in $node_bin /usr/local/bin" \
  --customize-hook='chroot "$1" /usr/local/bin/node --version' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*' \
  bookworm "$work/base-rootfs.tar" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
node "$imgdir/oci-archive.mjs" --layer "$work/base-rootfs.tar" --name ringmaster.local/base:bookworm-node20 \
  --out "$work/base.oci.tar" --cmd '["/usr/local/bin/node"]'

mv -f "$work/pause.oci.tar" "$work/base.oci.tar" "$out/"
echo "$stamp" >"$out/.stamp"
echo "node-images: built pause + base in $(($(date +%s) - start)) s ($(du -sh "$out" | cut -f1))"
