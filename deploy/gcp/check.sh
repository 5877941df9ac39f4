#!/usr/bin/env bash
# Check the GCP deployment offline (no Google Cloud account, no credentials; the terraform binary is not
# obtainable here):
#   1. every .tf file parses (python-hcl2) -- the structure is asserted by adapters/gcp/tests/test_deploy_gcp.py
#   2. checkov scans the Terraform (policy checks; no download of Prisma Cloud data)
#   3. shellcheck on this script (skipped, loudly, where shellcheck is not installed)
# Uses .venv-gcp (adapters/gcp/test.sh creates it). Exits non-zero on the first finding.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv-gcp/bin/python
[ -x "$PY" ] || { echo "deploy/gcp: .venv-gcp is missing (run adapters/gcp/test.sh)" >&2; exit 1; }

echo "== deploy/gcp: Terraform parses (python-hcl2)"
"$PY" - <<'PYEOF'
import pathlib, sys
import hcl2
files = sorted(pathlib.Path("deploy/gcp").glob("*.tf"))
assert files, "no Terraform files"
for path in files:
    with path.open() as f:
        hcl2.load(f)
print(f"{len(files)} files parsed")
PYEOF

echo "== deploy/gcp: checkov"
.venv-gcp/bin/checkov -d deploy/gcp --framework terraform --quiet --compact --skip-download

if command -v shellcheck >/dev/null 2>&1; then
  echo "== deploy/gcp: shellcheck"
  shellcheck deploy/gcp/check.sh adapters/gcp/test.sh
else
  echo "== deploy/gcp: shellcheck NOT RUN (not installed)"
fi
