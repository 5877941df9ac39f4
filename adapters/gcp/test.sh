#!/usr/bin/env bash
# The GCP package's stage of the test command (scripts/test calls it; run it alone from anywhere):
#   1. .venv-gcp (repo root): the core + fooddelivery_gcp with its test and dev extras (the Google Cloud client
#      libraries, functions-framework, python-hcl2, checkov); .venv-workflows: workflows-emulator (it pins an old
#      FastAPI, so it lives apart)
#   2. ruff, mypy --strict, the deployment checks (deploy/gcp/check.sh: Terraform parsed and scanned offline)
#   3. pytest adapters/gcp/tests: starts the official Firestore and Pub/Sub emulators (google-cloud-cli, Java 17) and
#      functions-framework servers on free loopback ports, and stops them by process group
# Extra arguments go to pytest. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
PIP_FLAGS=(-q --disable-pip-version-check)

echo "== gcp: install (.venv-gcp; workflows-emulator in .venv-workflows)"
[ -x .venv-gcp/bin/python ] || "$PY" -m venv .venv-gcp
.venv-gcp/bin/python -m pip install "${PIP_FLAGS[@]}" -e . -e 'adapters/gcp[test,dev]'
[ -x .venv-workflows/bin/python ] || "$PY" -m venv .venv-workflows
.venv-workflows/bin/python -m pip install "${PIP_FLAGS[@]}" 'workflows-emulator==1.10.0'
for tool in gcloud java; do
  command -v "$tool" >/dev/null 2>&1 || { echo "gcp: $tool is missing (the Firestore and Pub/Sub emulators need google-cloud-cli and Java 17)" >&2; exit 1; }
done

echo "== gcp: ruff"
.venv-gcp/bin/ruff check adapters/gcp deploy/gcp
echo "== gcp: mypy (strict)"
(cd adapters/gcp && ../../.venv-gcp/bin/python -m mypy)
echo "== gcp: deployment checks"
bash deploy/gcp/check.sh
echo "== gcp: pytest (Firestore and Pub/Sub emulators, functions-framework, workflows-emulator)"
.venv-gcp/bin/python -m pytest -q -p no:cacheprovider adapters/gcp/tests "$@"
