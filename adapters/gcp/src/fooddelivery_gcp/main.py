"""The Cloud Functions of the GCP deployment, registered with functions-framework (each deployed function names
one of them as its entry point; ``functions-framework --target=<name> --source=<this file>`` serves one locally).

========================  ======================  ===========================================================
target                    trigger                 what it does (``fooddelivery_gcp.entrypoints``)
========================  ======================  ===========================================================
``http_api``              HTTPS                   every route of the core's HTTP API
``runtime_event``         Pub/Sub (Eventarc)      the saga runtime: events of the runtime topic
``saga_timer``            HTTPS (Cloud Tasks)     saga timers, OIDC-checked
``outbox_sweep``          HTTPS (Cloud Scheduler) publishes what callers could not, OIDC-checked
``saga_step``             HTTPS (Cloud Workflows) one step of the generated workflow, OIDC-checked
========================  ======================  ===========================================================

Each invocation exports its telemetry before it returns or raises (:func:`fooddelivery.observability.setup.flushing`:
an instance is throttled between requests and may be stopped, so spans left in a batch would wait or be lost).
Importing this module registers the functions and nothing else: the application (settings, clients) is built on
the first request of the instance and cached (:func:`fooddelivery_gcp.bootstrap.gcp_app`).
"""

from __future__ import annotations

from typing import Any

import functions_framework
from flask import Request, Response

from fooddelivery.observability.setup import flushing
from fooddelivery_gcp import entrypoints


@functions_framework.http
@flushing()
def http_api(request: Request) -> Response:
    """The HTTP API."""
    from fooddelivery_gcp.bootstrap import gcp_app

    return entrypoints.handle_http(request, gcp_app())


@functions_framework.cloud_event
@flushing()
def runtime_event(cloud_event: Any) -> None:
    """The saga runtime: return acks, raise nacks."""
    from fooddelivery_gcp.bootstrap import gcp_app

    entrypoints.handle_runtime_event(cloud_event.data, gcp_app(), source=str(cloud_event.get("source") or "runtime"))


@functions_framework.http
@flushing()
def saga_timer(request: Request) -> Response:
    """Cloud Tasks' target for saga timers."""
    from fooddelivery_gcp.bootstrap import gcp_app

    return entrypoints.handle_timer(request, gcp_app())


@functions_framework.http
@flushing()
def outbox_sweep(request: Request) -> Response:
    """Cloud Scheduler's target: the outbox sweep."""
    from fooddelivery_gcp.bootstrap import gcp_app

    return entrypoints.handle_sweep(request, gcp_app())


@functions_framework.http
@flushing()
def saga_step(request: Request) -> Response:
    """One step of the Cloud Workflows saga."""
    from fooddelivery_gcp.bootstrap import gcp_app
    from fooddelivery_gcp.workflows.steps import handle_step

    return handle_step(request, gcp_app())
