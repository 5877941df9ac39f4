"""The ``--source`` of the functions-framework servers the tests start: the package's functions as deployed
(``fooddelivery_gcp.main``), with the application pre-built for a machine without Google credentials:

- OIDC tokens are checked against the test's own key (``TEST_OIDC_JWKS``) instead of Google's published keys;
- Cloud Tasks calls go to the test's recording stand-in (``TEST_TASKS_ENDPOINT``) over the REST transport;
- Workflows executions calls go to the workflows-emulator (``TEST_WORKFLOWS_ENDPOINT``), when a test runs one.

Everything else (the telemetry set-up, settings, Firestore and Pub/Sub on their emulators, the HTTP API, the
runtime) is the production code path.
"""

from __future__ import annotations

import json
import os
from typing import Any

from google.auth.credentials import AnonymousCredentials

from fooddelivery.observability.setup import configure
from fooddelivery_gcp.bootstrap import build_gcp_app, reset_gcp_app
from fooddelivery_gcp.main import http_api, outbox_sweep, runtime_event, saga_step, saga_timer
from fooddelivery_gcp.tasks import OidcVerifier

__all__ = ["http_api", "outbox_sweep", "runtime_event", "saga_step", "saga_timer"]


def _install() -> None:
    tasks_client: Any = None
    endpoint = os.environ.get("TEST_TASKS_ENDPOINT")
    if endpoint:
        from google.cloud import tasks_v2

        tasks_client = tasks_v2.CloudTasksClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
        )
    executions_client: Any = None
    workflows = os.environ.get("TEST_WORKFLOWS_ENDPOINT")
    if workflows:
        from google.cloud.workflows import executions_v1

        executions_client = executions_v1.ExecutionsClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": workflows}
        )
    # what gcp_app() does first on a deployed instance: log lines and, when OTEL_* variables ask, the SDK
    configure("fooddelivery-gcp", platform=True)
    app = build_gcp_app(tasks_client=tasks_client, executions_client=executions_client)
    with open(os.environ["TEST_OIDC_JWKS"]) as f:
        jwks = json.load(f)
    settings = app.settings
    for audience, account in (
        (settings.timer_url, settings.tasks_service_account),
        (settings.sweep_url, settings.scheduler_service_account),
        (settings.step_url, settings.workflows_service_account),
    ):
        if audience and account:
            app.install_verifier(audience, OidcVerifier(audience, (account,), jwks=jwks), account)
    reset_gcp_app(app)


_install()
