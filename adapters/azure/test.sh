#!/usr/bin/env bash
# The Azure stage of the test command (scripts/test calls it; runnable alone from anywhere):
#   install  .venv-azure at the repository root (core + fooddelivery_azure + Azure SDKs, no other cloud's SDK),
#            .venv-azure-iac (checkov: its own environment, it pulls in boto3), npm tools in adapters/azure/node
#            (the Cosmos DB stand-in @vercel/cosmosdb-server, from package-lock.json);
#   checks   ruff, mypy (strict), the import contract (no other cloud's package or SDK), the deployment checks of
#            deploy/azure/check.sh (Bicep parsed with pycep-parser and scanned with checkov, shellcheck);
#   tests    pytest adapters/azure/tests (starts the Cosmos DB stand-in itself on a free loopback port).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
PIP_FLAGS=(-q --disable-pip-version-check)

venv() {  # venv DIR: create it if missing
  [ -x "$1/bin/python" ] || "$PY" -m venv "$1"
}

echo "== azure: install (.venv-azure; npm tools in adapters/azure/node)"
venv .venv-azure
.venv-azure/bin/python -m pip install "${PIP_FLAGS[@]}" -e . -e 'adapters/azure[test,dev]'
npm ci --prefix adapters/azure/node --no-audit --no-fund --loglevel=error
if .venv-azure/bin/python -c "import boto3" 2>/dev/null; then
  echo "another cloud's SDK (boto3) is installed in .venv-azure: refusing to test the Azure package with it" >&2
  exit 1
fi
echo "== azure: ruff"
.venv-azure/bin/ruff check adapters/azure deploy/azure
echo "== azure: mypy (strict)"
(cd adapters/azure && ../../.venv-azure/bin/python -m mypy)
echo "== azure: import contract (no other cloud)"
(cd adapters/azure && ../../.venv-azure/bin/lint-imports)
echo "== azure: deployment checks"
bash deploy/azure/check.sh
echo "== azure: pytest (Cosmos DB stand-in)"
.venv-azure/bin/python -m pytest -q -p no:cacheprovider adapters/azure/tests "$@"
