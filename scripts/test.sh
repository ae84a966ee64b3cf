#!/usr/bin/env bash
# The test command: unit + integration, then end-to-end. Servers they need (MinIO,
# kube-apiserver, etcd) are started and stopped by the tests themselves; binaries come
# from .ci/setup.d (see README). Exit status is non-zero if any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
npx mocha 'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts' || status=1
if compgen -G "test/e2e/*.test.ts" >/dev/null; then npm run --silent test:e2e || status=1; fi
exit $status
