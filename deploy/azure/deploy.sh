#!/usr/bin/env bash
# Deploy fooddelivery to Azure with the az CLI: the Bicep template (main.bicep) into a resource group, then the app
# package (build_package.py) to the Function App(s) with a remote build.
#
#   deploy/azure/deploy.sh --resource-group RG --prefix NAME --payment-gateway 'module:factory' \
#       --entra-audience api://fooddelivery [--location westeurope] [--saga-mode servicebus|durable] \
#       [--sagas-container orders|sagas] [--function-apps one|two] [--dry-run]
#
# --function-apps (default one) is the template's functionApps: 'one' app runs every function; 'two' runs the HTTP API
# in NAME-func and the background work (runtime queue, change feed, sweep, Durable) in NAME-work, the same package
# deployed to both (app setting FOODDELIVERY_AZURE_FUNCTIONS chooses the functions).
# --sagas-container (default: $COSMOS_SAGAS_CONTAINER, else orders) is the template's sagasContainer: where the saga
# instances live. 'orders' (their orders' partitions: the native unit of work) or 'sagas' (the earlier layout: keep it
# while that container holds instances in flight; README.md, "Saga instances"). Every deployment sets the app
# setting from it: a value set by hand on the app is replaced.
# --dry-run prints the az commands instead of running them. Needs: az (logged in), python3 with pip.
set -euo pipefail

usage() { sed -n '2,16p' "$0"; }

RG="" PREFIX="" GATEWAY="" AUDIENCE="" LOCATION="westeurope" SAGA_MODE="servicebus" FUNCTION_APPS="one" DRY_RUN=0
SAGAS_CONTAINER=${COSMOS_SAGAS_CONTAINER:-orders}
while [ $# -gt 0 ]; do
  case "$1" in
    --resource-group) RG=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --payment-gateway) GATEWAY=$2; shift 2 ;;
    --entra-audience) AUDIENCE=$2; shift 2 ;;
    --location) LOCATION=$2; shift 2 ;;
    --saga-mode) SAGA_MODE=$2; shift 2 ;;
    --sagas-container) SAGAS_CONTAINER=$2; shift 2 ;;
    --function-apps) FUNCTION_APPS=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$RG" ] || { echo "missing --resource-group" >&2; exit 2; }
[ -n "$PREFIX" ] || { echo "missing --prefix" >&2; exit 2; }
[ -n "$GATEWAY" ] || { echo "missing --payment-gateway (FOODDELIVERY_PAYMENT_GATEWAY: no default)" >&2; exit 2; }
[ -n "$AUDIENCE" ] || { echo "missing --entra-audience" >&2; exit 2; }
case "$SAGAS_CONTAINER" in
  orders|sagas) ;;
  *) echo "--sagas-container must be orders or sagas, not '$SAGAS_CONTAINER'" >&2; exit 2 ;;
esac
case "$FUNCTION_APPS" in
  one|two) ;;
  *) echo "--function-apps must be one or two, not '$FUNCTION_APPS'" >&2; exit 2 ;;
esac

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

run() {
  if [ "$DRY_RUN" -eq 1 ]; then
    printf '%q ' "$@"; echo
  else
    "$@"
  fi
}

run az group create --name "$RG" --location "$LOCATION" --output none
run az deployment group create --resource-group "$RG" --name fooddelivery \
  --template-file "$HERE/main.bicep" \
  --parameters prefix="$PREFIX" paymentGateway="$GATEWAY" entraAudience="$AUDIENCE" sagaMode="$SAGA_MODE" \
  sagasContainer="$SAGAS_CONTAINER" functionApps="$FUNCTION_APPS" --output none
PACKAGE="$ROOT/build/azure/app.zip"
run python3 "$HERE/build_package.py" --out "$PACKAGE"
APPS=("$PREFIX-func")
[ "$FUNCTION_APPS" = one ] || APPS+=("$PREFIX-work")
for APP in "${APPS[@]}"; do
  run az functionapp deploy --resource-group "$RG" --name "$APP" --src-path "$PACKAGE" --type zip --build-remote true
done
