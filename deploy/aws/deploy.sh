#!/usr/bin/env bash
# Deploy the fooddelivery stack to one AWS account and region: what the reference design's
# scripts/deploy-serverless.sh means to do, without its faults (no bucket, account id or role ARN written
# anywhere; the state machine, alarms and tracing are in the template, not created beside it).
#
#   deploy/aws/deploy.sh [--dry-run] [--saga-mode queue|stepfunctions] --payment-gateway GATEWAY ENV REGION
#
#   ENV     dev | staging | prod (the template's Environment parameter; the stack is food-delivery-ENV)
#   REGION  e.g. us-east-1
#   --dry-run     print the commands, run none of them (needs neither AWS credentials nor the SAM CLI)
#   --saga-mode   the template's SagaMode parameter (default: queue)
#   --payment-gateway  the template's PaymentGateway parameter (FOODDELIVERY_PAYMENT_GATEWAY): 'module:factory'
#                 of the real card processor, or 'fake' (demos: never charges). Required: no stack charges by default.
#
# Steps: 1. the template is current (build_template.py --check); 2. the Lambda artefact
# (build_artifact.py -> build/aws/fooddelivery-aws.zip); 3. sam deploy with an S3 bucket SAM manages
# (--resolve-s3), the IAM capabilities and the parameters; prod asks before executing its change set;
# 4. the stack's outputs (the API URL among them).
# Credentials come from the usual AWS chain (AWS_PROFILE, environment, SSO...); this script reads none.
# Environment: PYTHON (default .venv-aws/bin/python, else python3), SAM (default .venv-sam/bin/sam, else sam).
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() {
  echo "usage: deploy/aws/deploy.sh [--dry-run] [--saga-mode queue|stepfunctions] --payment-gateway GATEWAY ENV REGION" >&2
  exit 2
}

DRY_RUN=0
SAGA_MODE=queue
PAYMENT_GATEWAY=
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --saga-mode) [ $# -ge 2 ] || usage; SAGA_MODE=$2; shift ;;
    --saga-mode=*) SAGA_MODE=${1#*=} ;;
    --payment-gateway) [ $# -ge 2 ] || usage; PAYMENT_GATEWAY=$2; shift ;;
    --payment-gateway=*) PAYMENT_GATEWAY=${1#*=} ;;
    -h|--help) usage ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
[ ${#ARGS[@]} -eq 2 ] || usage
ENVIRONMENT=${ARGS[0]}
REGION=${ARGS[1]}

case "$ENVIRONMENT" in dev|staging|prod) ;; *) echo "ENV must be dev, staging or prod, not '$ENVIRONMENT'" >&2; usage ;; esac
case "$SAGA_MODE" in queue|stepfunctions) ;; *) echo "--saga-mode must be queue or stepfunctions" >&2; usage ;; esac
if ! [[ "$PAYMENT_GATEWAY" =~ ^(fake|[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*)$ ]]; then
  echo "--payment-gateway is required: 'module:factory' of the card processor, or 'fake' (demos only)" >&2
  usage
fi
if ! [[ "$REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]; then
  echo "REGION does not look like an AWS region: '$REGION'" >&2
  usage
fi

if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x .venv-aws/bin/python ]; then PY=.venv-aws/bin/python
else PY=python3; fi
if [ -n "${SAM:-}" ]; then SAM_CLI=$SAM
elif [ -x .venv-sam/bin/sam ]; then SAM_CLI=.venv-sam/bin/sam
else SAM_CLI=sam; fi

STACK="food-delivery-$ENVIRONMENT"
TEMPLATE=deploy/aws/template.yaml

run() {  # run CMD...: print it (shell-quoted); execute it unless --dry-run
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  if [ "$DRY_RUN" -eq 0 ]; then
    "$@"
  fi
}

echo "== deploy $STACK to $REGION (SagaMode=$SAGA_MODE)$([ "$DRY_RUN" -eq 1 ] && echo ', dry run')"

echo "== 1. the template is current"
run "$PY" deploy/aws/build_template.py --check

echo "== 2. the Lambda artefact"
run "$PY" deploy/aws/build_artifact.py

echo "== 3. sam deploy"
DEPLOY=(
  "$SAM_CLI" deploy
  --template-file "$TEMPLATE"
  --stack-name "$STACK"
  --region "$REGION"
  --resolve-s3
  --s3-prefix "$STACK"
  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND
  --parameter-overrides "Environment=$ENVIRONMENT" "SagaMode=$SAGA_MODE" "PaymentGateway=$PAYMENT_GATEWAY"
  --tags "Environment=$ENVIRONMENT" "Application=fooddelivery"
  --no-fail-on-empty-changeset
)
if [ "$ENVIRONMENT" = prod ]; then
  DEPLOY+=(--confirm-changeset)
else
  DEPLOY+=(--no-confirm-changeset)
fi
run "${DEPLOY[@]}"

echo "== 4. outputs"
run "$SAM_CLI" list stack-outputs --stack-name "$STACK" --region "$REGION" --output table

if [ "$DRY_RUN" -eq 0 ]; then
  API_URL=$("$SAM_CLI" list stack-outputs --stack-name "$STACK" --region "$REGION" --output json \
    | "$PY" -c 'import json,sys; print(next(o["OutputValue"] for o in json.load(sys.stdin) if o["OutputKey"] == "ApiUrl"))')
  echo "API: $API_URL"
  echo "health check: curl -s $API_URL/health"
fi
echo "payment key: aws secretsmanager put-secret-value --region $REGION --secret-id food-delivery/$ENVIRONMENT/payment --secret-string '{\"provider\": \"...\", \"apiKey\": \"...\"}'"
