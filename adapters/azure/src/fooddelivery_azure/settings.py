"""The Azure deployment's settings: typed, read from the environment (the Function App's app settings) in one
place, validated at the first invocation; a missing required one fails naming it.

==================================  ==========================================================================
variable                            meaning
==================================  ==========================================================================
``COSMOS_ENDPOINT``                 the Cosmos DB account endpoint (``https://<account>.documents.azure.com``)
                                    - required
``COSMOS_DATABASE``                 database name (default ``fooddelivery``)
``COSMOS_<NAME>_CONTAINER``         container names, ``<NAME>`` in ORDERS, RESTAURANTS, DRIVERS, TIMERS
                                    (defaults: the lower-case names) and SAGAS (default: the orders container)
                                    -- the saga instances then live in their orders' partitions, so an order
                                    and its saga are read in one query and written in one transactional batch
                                    (``fooddelivery_azure.cosmos.unit_of_work``). A container of their own
                                    (``COSMOS_SAGAS_CONTAINER=sagas``, partition key ``/sagaId``: earlier
                                    deployments' layout) still works, with two writes per saga step
``COSMOS_KEY``                      an account key: **local stand-ins only** (in Azure the managed identity
                                    signs requests; refused unless ``FOODDELIVERY_LOCAL=true``)
``COSMOS_VERIFY_TLS``               ``false`` for a stand-in's self-signed certificate (local only)
``SERVICEBUS_NAMESPACE``            the fully qualified namespace (``<ns>.servicebus.windows.net``) - required
                                    unless ``SERVICEBUS_CONNECTION_STRING`` (local only)
``ORDER_EVENTS_TOPIC``              every event (default ``order-events``)
``RUNTIME_QUEUE``                   the runtime's session queue: its events, timers, commands (default
                                    ``order-runtime``)
``NOTIFICATIONS_TOPIC``             notifications (default ``notifications``)
``LOCATIONS_TOPIC``                 driver positions (default ``driver-locations``)
``FOODDELIVERY_SAGA_MODE``          ``servicebus`` (default: the core's runner on the runtime queue) or ``durable``
                                    (the Durable Functions orchestration)
``FOODDELIVERY_AUTH``               ``easyauth`` (App Service authentication in front; identity from
                                    ``X-MS-CLIENT-PRINCIPAL``), ``entra`` (bearer JWTs from Entra ID, verified
                                    here: needs ``ENTRA_TENANT_ID`` and ``ENTRA_AUDIENCE``) or ``dev`` (local
                                    development tokens; refused unless ``FOODDELIVERY_LOCAL=true``). Default
                                    ``entra``.
``FOODDELIVERY_LOCAL``              ``true`` on a laptop or in tests: allows keys and development tokens
``FOODDELIVERY_PAYMENT_GATEWAY``    the card processor (``fooddelivery.adapters.payments``) - required
``FOODDELIVERY_AZURE_FUNCTIONS``    which functions the app registers: ``all`` (default), ``http`` or ``background``
                                    -- read when the host loads the app, not here
                                    (:mod:`fooddelivery_azure.functions.apps`)
``FOODDELIVERY_*``                  the core's settings (:class:`fooddelivery.bootstrap.Settings`)
==================================  ==========================================================================

The Functions host's own triggers read their connections from ``CosmosDBConnection__accountEndpoint`` and
``ServiceBusConnection__fullyQualifiedNamespace`` (identity-based connections); ``deploy/azure`` sets both sets.
Reading settings is pure: nothing here touches Azure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from fooddelivery.bootstrap import Settings
from fooddelivery.domain.errors import ValidationError

__all__ = ["AuthMode", "AzureSettings", "SagaMode"]


class SagaMode(StrEnum):
    """Where the order saga runs."""

    SERVICEBUS = "servicebus"
    """The core's saga runner, driven by the runtime queue; timers as scheduled messages (default)."""
    DURABLE = "durable"
    """The Durable Functions orchestration of the same definition (``fooddelivery_azure.durable``); durable timers,
    no scheduled messages."""


class AuthMode(StrEnum):
    """How a request's caller is identified."""

    EASYAUTH = "easyauth"
    ENTRA = "entra"
    DEV = "dev"


def _missing(variable: str, why: str = "") -> ValidationError:
    return ValidationError.single(variable, f"environment variable {variable} is not set{why}", "required")


def _flag(env: Mapping[str, str], variable: str, default: bool) -> bool:
    raw = env.get(variable, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise ValidationError.single(variable, f"must be true or false, got {raw!r}", "invalid")


@dataclass(frozen=True, slots=True)
class AzureSettings:
    """Every setting of the Azure deployment (see the module docstring).

    Raises:
        ValidationError: a combination that cannot work (a key outside local mode, entra without its tenant...).
    """

    cosmos_endpoint: str
    servicebus_namespace: str | None = None
    servicebus_connection_string: str | None = None
    cosmos_database: str = "fooddelivery"
    containers: Mapping[str, str] = field(default_factory=dict)
    cosmos_key: str | None = None
    cosmos_verify_tls: bool = True
    order_events_topic: str = "order-events"
    runtime_queue: str = "order-runtime"
    notifications_topic: str = "notifications"
    locations_topic: str = "driver-locations"
    saga_mode: SagaMode = SagaMode.SERVICEBUS
    auth: AuthMode = AuthMode.ENTRA
    entra_tenant_id: str | None = None
    entra_audience: str | None = None
    local: bool = False
    core: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        if not self.servicebus_namespace and not self.servicebus_connection_string:
            raise _missing("SERVICEBUS_NAMESPACE")
        if not self.local:
            if self.cosmos_key:
                raise ValidationError.single(
                    "COSMOS_KEY", "account keys are for local use only (set FOODDELIVERY_LOCAL=true)", "invalid"
                )
            if self.servicebus_connection_string:
                raise ValidationError.single(
                    "SERVICEBUS_CONNECTION_STRING", "connection strings are for local use only", "invalid"
                )
            if self.auth is AuthMode.DEV:
                raise ValidationError.single(
                    "FOODDELIVERY_AUTH", "development tokens are for local use only", "invalid"
                )
        if self.auth is AuthMode.ENTRA and not (self.entra_tenant_id and self.entra_audience):
            variable = "ENTRA_TENANT_ID" if not self.entra_tenant_id else "ENTRA_AUDIENCE"
            raise _missing(variable, " (FOODDELIVERY_AUTH=entra)")

    def container(self, key: str) -> str:
        """The name of the container whose logical name is ``key`` (``sagas``: the orders container unless set)."""
        if key == "sagas" and "sagas" not in self.containers:
            return self.container("orders")
        return self.containers.get(key, key)

    @property
    def sagas_in_orders_container(self) -> bool:
        """Whether the saga instances live in the orders container, in their orders' partitions (the default)."""
        return self.container("sagas") == self.container("orders")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AzureSettings:
        """Read and validate every variable.

        Raises:
            ValidationError: a required variable is missing, or one is invalid (named).
        """
        env = os.environ if environ is None else environ

        def optional(variable: str) -> str | None:
            return env.get(variable, "").strip() or None

        endpoint = optional("COSMOS_ENDPOINT")
        if endpoint is None:
            raise _missing("COSMOS_ENDPOINT")

        def choice(variable: str, kind: type[SagaMode] | type[AuthMode], default: str) -> str:
            raw = (optional(variable) or default).lower()
            allowed = [m.value for m in kind]
            if raw not in allowed:
                raise ValidationError.single(variable, f"must be one of {allowed}, got {raw!r}", "invalid")
            return raw

        containers = {
            key: name
            for key in ("orders", "restaurants", "drivers", "sagas", "timers")
            if (name := optional(f"COSMOS_{key.upper()}_CONTAINER"))
        }
        return cls(
            cosmos_endpoint=endpoint,
            servicebus_namespace=optional("SERVICEBUS_NAMESPACE"),
            servicebus_connection_string=optional("SERVICEBUS_CONNECTION_STRING"),
            cosmos_database=optional("COSMOS_DATABASE") or "fooddelivery",
            containers=containers,
            cosmos_key=optional("COSMOS_KEY"),
            cosmos_verify_tls=_flag(env, "COSMOS_VERIFY_TLS", True),
            order_events_topic=optional("ORDER_EVENTS_TOPIC") or "order-events",
            runtime_queue=optional("RUNTIME_QUEUE") or "order-runtime",
            notifications_topic=optional("NOTIFICATIONS_TOPIC") or "notifications",
            locations_topic=optional("LOCATIONS_TOPIC") or "driver-locations",
            saga_mode=SagaMode(choice("FOODDELIVERY_SAGA_MODE", SagaMode, "servicebus")),
            auth=AuthMode(choice("FOODDELIVERY_AUTH", AuthMode, "entra")),
            entra_tenant_id=optional("ENTRA_TENANT_ID"),
            entra_audience=optional("ENTRA_AUDIENCE"),
            local=_flag(env, "FOODDELIVERY_LOCAL", False),
            core=Settings.from_env(env),
        )
