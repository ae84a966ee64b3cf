#!/usr/bin/env bash
# Writes a one-layer OCI image archive (an OCI image layout in a tar) from a root filesystem
# tar, with no registry and no container engine: what `ctr -n k8s.io image import` loads.
#   oci-archive.sh ROOTFS.tar IMAGE:TAG OUT.tar [CMD...]
# IMAGE:TAG is the full reference (e.g. registry.k8s.io/pause:3.10); containerd names the
# image from the io.containerd.image.name annotation.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 ROOTFS.tar IMAGE:TAG OUT.tar [CMD...]" >&2; exit 2; }
rootfs="$1" ref="$2" out="$3"
shift 3
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blobs/sha256"

json_str() { # a JSON string literal (the values here are paths and simple words)
  local s="${1//\\/\\\\}"
  printf '"%s"' "${s//\"/\\\"}"
}
blob() { # stores stdin as a blob, prints "sha256:<hex> <size>"
  local tmp="$work/blob.tmp" hex
  cat >"$tmp"
  hex="$(sha256sum "$tmp" | cut -d' ' -f1)"
  mv "$tmp" "$work/blobs/sha256/$hex"
  echo "sha256:$hex $(stat -c %s "$work/blobs/sha256/$hex")"
}

diff_id="sha256:$(sha256sum "$rootfs" | cut -d' ' -f1)"
read -r layer_digest layer_size < <(gzip -1 -n -c "$rootfs" | blob)

cmd_json=""
for a in "$@"; do cmd_json+="${cmd_json:+,}$(json_str "$a")"; done
config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"Cmd\":[${cmd_json}],\"WorkingDir\":\"/\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"$diff_id\"]}}"
read -r config_digest config_size < <(printf '%s' "$config" | blob)

manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$config_digest\",\"size\":$config_size},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$layer_digest\",\"size\":$layer_size}]}"
read -r manifest_digest manifest_size < <(printf '%s' "$manifest" | blob)

printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"io.containerd.image.name":%s,"org.opencontainers.image.ref.name":%s}}]}' \
  "$manifest_digest" "$manifest_size" "$(json_str "$ref")" "$(json_str "${ref##*:}")" >"$work/index.json"
tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner -cf "$out.tmp" oci-layout index.json blobs
mv -f "$out.tmp" "$out"
