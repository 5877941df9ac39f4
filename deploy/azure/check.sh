#!/usr/bin/env bash
# Offline checks of the Azure deployment (the Bicep CLI is not obtainable here, see README.md):
#   1. main.bicep parses (pycep-parser, in .venv-azure) -- and the tests compare it with the package's container specs;
#   2. checkov scans it (in .venv-azure-iac: checkov pulls in boto3, which must stay out of .venv-azure);
#      every skipped check carries its reason in main.bicep;
#   3. deploy.sh is shellcheck-clean (when shellcheck is installed) and its dry run prints the az commands.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}

echo "-- bicep: parse (pycep-parser)"
.venv-azure/bin/python -c "
from pathlib import Path
from pycep import BicepParser
tree = BicepParser().parse(file_path=Path('deploy/azure/main.bicep'))
print('parsed:', len(tree['resources']), 'resources,', len(tree['parameters']), 'parameters')
"
echo "-- bicep: checkov"
[ -x .venv-azure-iac/bin/checkov ] || { "$PY" -m venv .venv-azure-iac && .venv-azure-iac/bin/python -m pip install -q --disable-pip-version-check 'checkov>=3.2,<4'; }
.venv-azure-iac/bin/checkov -d deploy/azure --framework bicep --compact --quiet --skip-download
echo "-- deploy.sh"
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck deploy/azure/deploy.sh adapters/azure/test.sh deploy/azure/check.sh
else
  echo "shellcheck not installed: skipped (CI installs it)"
fi
bash deploy/azure/deploy.sh --resource-group rg --prefix fdcheck --payment-gateway fake --entra-audience api://x \
  --dry-run >/dev/null
