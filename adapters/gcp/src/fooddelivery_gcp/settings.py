"""The GCP deployment's settings: typed, read from the environment in one place, validated at cold start.

Every function of the deployment reads the same variables (``deploy/gcp`` sets them). A missing required variable
fails :meth:`GcpSettings.from_env` with an error naming it.

================================  ==============================================================================
variable                          meaning
================================  ==============================================================================
``GOOGLE_CLOUD_PROJECT``          the project - required
``FIRESTORE_DATABASE``            the Firestore database id - optional (default ``(default)``)
``FOODDELIVERY_COLLECTION_PREFIX`` prepended to every Firestore collection name - optional
``ORDER_EVENTS_TOPIC``            topic id of every order event - required
``RUNTIME_TOPIC``                 topic id of the events the saga runtime reacts to - required
``DEAD_LETTER_TOPIC``             topic id of poison messages - required
``NOTIFICATIONS_TOPIC``           topic id of customer and restaurant notifications - required
``ALERTS_TOPIC``                  topic id of operations alerts - optional (default: the notifications topic)
``LOCATIONS_TOPIC``               topic id of driver positions - required
``FOODDELIVERY_SAGA_MODE``        ``pubsub`` (default: Pub/Sub + Cloud Tasks) or ``workflows``
``TASKS_QUEUE``                   ``projects/<p>/locations/<l>/queues/<q>`` of the saga timers - pubsub mode
``TIMER_URL``                     URL of the ``saga_timer`` function (the tasks' target) - pubsub mode
``TASKS_SERVICE_ACCOUNT``         the account the timer tasks' OIDC tokens are signed as - pubsub mode
``WORKFLOW``                      ``projects/<p>/locations/<l>/workflows/<w>`` of the order saga - workflows mode
``FOODDELIVERY_WORKFLOW_WAIT``    ``callback`` (default) or ``polling``: how the workflow waits for the restaurant
``STEP_URL``                      URL of the ``saga_step`` function (the OIDC audience) - workflows mode
``WORKFLOWS_SERVICE_ACCOUNT``     the account the workflow calls ``saga_step`` as - workflows mode
``SCHEDULER_SERVICE_ACCOUNT``     the account Cloud Scheduler calls ``outbox_sweep`` as - optional
``SWEEP_URL``                     URL of the ``outbox_sweep`` function (the OIDC audience) - optional
``FOODDELIVERY_AUTH``             ``firebase`` (default: Firebase Auth / Identity Platform ID tokens), ``gateway``
                                  (claims forwarded by API Gateway in ``X-Apigateway-Api-Userinfo``) or ``dev``
                                  (development tokens; never in production)
``FOODDELIVERY_PAYMENT_GATEWAY``  the card processor (``fooddelivery.adapters.payments``) - required
``FOODDELIVERY_*``                the core's settings (:class:`fooddelivery.bootstrap.Settings`)
================================  ==============================================================================

Nothing here touches Google Cloud; reading settings is pure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from fooddelivery.bootstrap import Settings
from fooddelivery.domain.errors import ValidationError

__all__ = ["AuthMode", "GcpSettings", "SagaMode", "WorkflowWait"]


class SagaMode(StrEnum):
    """Where the order saga runs."""

    PUBSUB = "pubsub"
    """The core's saga runner in the runtime function; state in Firestore, timers on Cloud Tasks (default)."""
    WORKFLOWS = "workflows"
    """The generated Cloud Workflows definition (``fooddelivery_gcp.workflows``)."""


class WorkflowWait(StrEnum):
    """How the generated workflow waits for the restaurant's answer."""

    CALLBACK = "callback"
    POLLING = "polling"


class AuthMode(StrEnum):
    """Who vouches for the HTTP API's callers."""

    FIREBASE = "firebase"
    GATEWAY = "gateway"
    DEV = "dev"


def _missing(variable: str, why: str = "") -> ValidationError:
    return ValidationError.single(variable, f"environment variable {variable} is not set{why}", "required")


def _choice(env: Mapping[str, str], variable: str, kind: type[StrEnum], default: StrEnum) -> StrEnum:
    raw = env.get(variable, "").strip().lower() or default.value
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in kind)
        raise ValidationError.single(variable, f"must be one of {allowed}, got {raw!r}", "invalid") from None


@dataclass(frozen=True, slots=True)
class GcpSettings:
    """Every setting of the GCP deployment (see the module docstring for the variables)."""

    project: str
    order_events_topic: str
    runtime_topic: str
    dead_letter_topic: str
    notifications_topic: str
    locations_topic: str
    alerts_topic: str | None = None
    database: str | None = None
    collection_prefix: str = ""
    saga_mode: SagaMode = SagaMode.PUBSUB
    tasks_queue: str | None = None
    timer_url: str | None = None
    tasks_service_account: str | None = None
    workflow: str | None = None
    workflow_wait: WorkflowWait = WorkflowWait.CALLBACK
    step_url: str | None = None
    workflows_service_account: str | None = None
    scheduler_service_account: str | None = None
    sweep_url: str | None = None
    auth: AuthMode = AuthMode.FIREBASE
    core: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        if self.saga_mode is SagaMode.PUBSUB:
            for variable, value in (
                ("TASKS_QUEUE", self.tasks_queue),
                ("TIMER_URL", self.timer_url),
                ("TASKS_SERVICE_ACCOUNT", self.tasks_service_account),
            ):
                if not value:
                    raise _missing(variable, " (needed with FOODDELIVERY_SAGA_MODE=pubsub)")
        else:
            for variable, value in (
                ("WORKFLOW", self.workflow),
                ("STEP_URL", self.step_url),
                ("WORKFLOWS_SERVICE_ACCOUNT", self.workflows_service_account),
            ):
                if not value:
                    raise _missing(variable, " (needed with FOODDELIVERY_SAGA_MODE=workflows)")

    def topic(self, topic_id: str) -> str:
        """The full name of a topic of this project: ``projects/<project>/topics/<id>``."""
        return f"projects/{self.project}/topics/{topic_id}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GcpSettings:
        """Read and validate every variable.

        Args:
            environ: the environment (default ``os.environ``).

        Raises:
            ValidationError: a required variable is missing or empty (named), a mode is unknown, or a
                ``FOODDELIVERY_*`` number is invalid.
        """
        env = os.environ if environ is None else environ

        def required(variable: str) -> str:
            value = env.get(variable, "").strip()
            if not value:
                raise _missing(variable)
            return value

        def optional(variable: str) -> str | None:
            return env.get(variable, "").strip() or None

        return cls(
            project=required("GOOGLE_CLOUD_PROJECT"),
            order_events_topic=required("ORDER_EVENTS_TOPIC"),
            runtime_topic=required("RUNTIME_TOPIC"),
            dead_letter_topic=required("DEAD_LETTER_TOPIC"),
            notifications_topic=required("NOTIFICATIONS_TOPIC"),
            locations_topic=required("LOCATIONS_TOPIC"),
            alerts_topic=optional("ALERTS_TOPIC"),
            database=optional("FIRESTORE_DATABASE"),
            collection_prefix=env.get("FOODDELIVERY_COLLECTION_PREFIX", "").strip(),
            saga_mode=SagaMode(_choice(env, "FOODDELIVERY_SAGA_MODE", SagaMode, SagaMode.PUBSUB)),
            tasks_queue=optional("TASKS_QUEUE"),
            timer_url=optional("TIMER_URL"),
            tasks_service_account=optional("TASKS_SERVICE_ACCOUNT"),
            workflow=optional("WORKFLOW"),
            workflow_wait=WorkflowWait(_choice(env, "FOODDELIVERY_WORKFLOW_WAIT", WorkflowWait, WorkflowWait.CALLBACK)),
            step_url=optional("STEP_URL"),
            workflows_service_account=optional("WORKFLOWS_SERVICE_ACCOUNT"),
            scheduler_service_account=optional("SCHEDULER_SERVICE_ACCOUNT"),
            sweep_url=optional("SWEEP_URL"),
            auth=AuthMode(_choice(env, "FOODDELIVERY_AUTH", AuthMode, AuthMode.FIREBASE)),
            core=Settings.from_env(env),
        )
