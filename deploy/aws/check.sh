#!/usr/bin/env bash
# Lint the AWS deployment offline (no AWS account, no credentials, no Docker):
#   0. template.yaml is what build_template.py generates from the code (with .venv-aws; else skipped, loudly)
#   1. cfn-lint deploy/aws/template.yaml
#   2. sam validate --lint -t deploy/aws/template.yaml
#   3. cfn-lint on the CloudFormation the SAM translator expands it into (deploy/aws/sam_translate.py, offline):
#      the roles and policies, event source mappings, the API deployment, the state machines with their ASL
#   4. shellcheck on the deploy scripts (skipped, loudly, where shellcheck is not installed)
#   5. sam package against a local S3 (moto server from .venv-aws; deploy/aws/package_check.py): the artefact and
#      the ASL are uploaded exactly as built (skipped, loudly, without .venv-aws; CHECK_PACKAGE=0 skips it)
# cfn-lint and the SAM CLI live in their own virtual environment, .venv-sam (the SAM CLI pins its own boto3),
# created and filled from deploy/aws/requirements-sam.txt when missing or when that file changed.
# Environment: PYTHON (interpreter for the venv, default python3), SAM_VENV (default .venv-sam).
# Exits non-zero on the first finding.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PYTHON:-python3}
VENV=${SAM_VENV:-.venv-sam}
TEMPLATE=deploy/aws/template.yaml
REQUIREMENTS=deploy/aws/requirements-sam.txt
STAMP="$VENV/.requirements-sam.txt"

if [ ! -x "$VENV/bin/python" ]; then
  echo "== deploy/aws: creating $VENV"
  "$PY" -m venv "$VENV"
fi
if ! cmp -s "$REQUIREMENTS" "$STAMP"; then
  echo "== deploy/aws: installing cfn-lint and aws-sam-cli into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$STAMP"
fi

# Offline of AWS: a region, no credentials, no telemetry, no update check.
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_VERSION_CHECK=1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

if [ -x .venv-aws/bin/python ]; then
  echo "== deploy/aws: template.yaml is current"
  .venv-aws/bin/python deploy/aws/build_template.py --check
else
  echo "== deploy/aws: SKIPPED template freshness: no .venv-aws (scripts/test creates it)" >&2
fi
echo "== deploy/aws: cfn-lint $("$VENV/bin/cfn-lint" --version | awk '{print $2}')"
"$VENV/bin/cfn-lint" "$TEMPLATE"
echo "== deploy/aws: sam validate --lint ($("$VENV/bin/sam" --version))"
"$VENV/bin/sam" validate --lint --template-file "$TEMPLATE" --region "$AWS_REGION"
echo "== deploy/aws: cfn-lint on the translated template"
"$VENV/bin/python" deploy/aws/sam_translate.py --out build/aws/template.translated.json
"$VENV/bin/cfn-lint" build/aws/template.translated.json

if command -v shellcheck >/dev/null 2>&1; then
  echo "== deploy/aws: shellcheck"
  shellcheck deploy/aws/*.sh
else
  echo "== deploy/aws: SKIPPED shellcheck: not installed (apt-get install -y shellcheck)" >&2
fi

if [ "${CHECK_PACKAGE:-1}" = 0 ]; then
  echo "== deploy/aws: SKIPPED sam package check (CHECK_PACKAGE=0)" >&2
elif [ -x .venv-aws/bin/moto_server ]; then
  echo "== deploy/aws: sam package against moto S3"
  .venv-aws/bin/python deploy/aws/package_check.py --sam "$VENV/bin/sam"
else
  echo "== deploy/aws: SKIPPED sam package check: no .venv-aws with moto (scripts/test creates it)" >&2
fi
echo "== deploy/aws: clean"
