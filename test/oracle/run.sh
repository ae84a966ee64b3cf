#!/usr/bin/env bash
# Regenerate every oracle fixture: runs each test/oracle/*.py with torch, writing JSON
# under test/fixtures/oracle/. Commit the result; CI compares against it without torch.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="$(bash test/oracle/setup.sh | tail -1)"
for script in test/oracle/*.py; do
  echo "== $script"
  "$python" "$script"
done
