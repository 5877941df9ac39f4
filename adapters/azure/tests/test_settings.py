"""Settings from the environment: required ones named when missing, keys and development tokens only in local mode,
the payment gateway required, an unknown saga mode refused, ``durable`` wired to the Durable Functions engine, and
the saga instances in the orders container unless a container of their own is named."""

from __future__ import annotations

from typing import Any

import pytest

from fooddelivery.application.unit_of_work import ComposedUnitOfWork
from fooddelivery.domain.errors import ValidationError
from fooddelivery_azure.bootstrap import NoTimers, build_azure_app
from fooddelivery_azure.cosmos import CosmosSagaStateStore
from fooddelivery_azure.cosmos.unit_of_work import CosmosUnitOfWork
from fooddelivery_azure.durable import DurableSagaEngine
from fooddelivery_azure.settings import AuthMode, AzureSettings, SagaMode

BASE = {
    "COSMOS_ENDPOINT": "https://acct.documents.azure.com:443/",
    "SERVICEBUS_NAMESPACE": "ns.servicebus.windows.net",
    "ENTRA_TENANT_ID": "tenant",
    "ENTRA_AUDIENCE": "api://fooddelivery",
}


def _fields(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [f.field for f in exc.value.fields]


def test_the_defaults_are_managed_identity_entra_tokens_and_the_service_bus_saga() -> None:
    settings = AzureSettings.from_env(BASE)
    assert (settings.auth, settings.saga_mode, settings.cosmos_key, settings.local) == (
        AuthMode.ENTRA,
        SagaMode.SERVICEBUS,
        None,
        False,
    )
    assert (settings.runtime_queue, settings.order_events_topic, settings.container("orders")) == (
        "order-runtime",
        "order-events",
        "orders",
    )


@pytest.mark.parametrize("missing", ["COSMOS_ENDPOINT", "SERVICEBUS_NAMESPACE", "ENTRA_TENANT_ID", "ENTRA_AUDIENCE"])
def test_a_missing_required_setting_is_named(missing: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AzureSettings.from_env({k: v for k, v in BASE.items() if k != missing})
    assert _fields(caught) == [missing]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"COSMOS_KEY": "secret"}, "COSMOS_KEY"),
        ({"SERVICEBUS_CONNECTION_STRING": "Endpoint=sb://x"}, "SERVICEBUS_CONNECTION_STRING"),
        ({"FOODDELIVERY_AUTH": "dev"}, "FOODDELIVERY_AUTH"),
        ({"FOODDELIVERY_SAGA_MODE": "lambda"}, "FOODDELIVERY_SAGA_MODE"),
        ({"COSMOS_VERIFY_TLS": "maybe"}, "COSMOS_VERIFY_TLS"),
    ],
)
def test_keys_and_development_tokens_are_refused_outside_local_mode(extra: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AzureSettings.from_env({**BASE, **extra})
    assert _fields(caught) == [field]
    if field in ("COSMOS_KEY", "FOODDELIVERY_AUTH"):
        assert AzureSettings.from_env({**BASE, **extra, "FOODDELIVERY_LOCAL": "true"}).local is True


def test_the_payment_gateway_is_required_by_name(container: Any) -> None:
    containers = {k: container(k) for k in ("orders", "restaurants", "drivers", "sagas", "timers")}
    with pytest.raises(ValidationError) as caught:
        build_azure_app(AzureSettings.from_env(BASE), containers=containers, servicebus_client=object(), environ={})
    assert _fields(caught) == ["FOODDELIVERY_PAYMENT_GATEWAY"]


def test_the_durable_saga_mode_builds_the_durable_engine_with_the_confirmation_timeout(container: Any) -> None:
    containers = {k: container(k) for k in ("orders", "restaurants", "drivers", "sagas", "timers")}
    env = {**BASE, "FOODDELIVERY_SAGA_MODE": "durable", "FOODDELIVERY_CONFIRMATION_TIMEOUT_S": "120"}
    app = build_azure_app(
        AzureSettings.from_env(env),
        containers=containers,
        servicebus_client=object(),
        environ={"FOODDELIVERY_PAYMENT_GATEWAY": "fake"},
    )
    engine = app.boot.service.runtime.engine
    assert isinstance(engine, DurableSagaEngine) and engine.confirmation_timeout_s == 120
    assert app.boot.service.runtime.runner is None  # timers and resume commands are refused as malformed
    assert isinstance(app.boot.adapters["scheduler"], NoTimers)


def test_the_sagas_live_in_the_orders_container_by_default_and_the_order_store_gets_its_native_unit(
    container: Any,
) -> None:
    settings = AzureSettings.from_env({**BASE, "COSMOS_ORDERS_CONTAINER": "orders-v2"})
    assert (settings.container("sagas"), settings.sagas_in_orders_container) == ("orders-v2", True)
    containers = {k: container(k) for k in ("orders", "restaurants", "drivers", "timers")}  # no sagas container
    payments = {"FOODDELIVERY_PAYMENT_GATEWAY": "fake"}
    app = build_azure_app(settings, containers=containers, servicebus_client=object(), environ=payments)
    sagas = app.boot.adapters["sagas"]
    assert isinstance(sagas, CosmosSagaStateStore) and sagas.in_order_partition
    assert sagas.container is containers["orders"]
    assert isinstance(app.boot.adapters["unit_of_work"], CosmosUnitOfWork)


def test_a_sagas_container_of_their_own_still_works_with_the_composed_unit(container: Any) -> None:
    settings = AzureSettings.from_env({**BASE, "COSMOS_SAGAS_CONTAINER": "sagas"})
    assert (settings.container("sagas"), settings.sagas_in_orders_container) == ("sagas", False)
    containers = {k: container(k) for k in ("orders", "restaurants", "drivers", "sagas", "timers")}
    app = build_azure_app(
        settings, containers=containers, servicebus_client=object(), environ={"FOODDELIVERY_PAYMENT_GATEWAY": "fake"}
    )
    sagas = app.boot.adapters["sagas"]
    assert isinstance(sagas, CosmosSagaStateStore) and not sagas.in_order_partition
    assert sagas.container is containers["sagas"]
    assert isinstance(app.boot.adapters["unit_of_work"], ComposedUnitOfWork)


def test_the_cosmos_client_is_built_by_the_first_data_call_not_by_the_cold_start(cosmos_client: Any) -> None:
    from azure.cosmos.exceptions import CosmosHttpResponseError

    from fooddelivery.http import HttpRequest
    from fooddelivery_azure.cosmos.client import LazyContainers

    # an unreachable account: a client built at start would fail at once (it asks the account for its regions in
    # its constructor); GET /health is answered without one
    env = {**BASE, "COSMOS_ENDPOINT": "https://127.0.0.1:9/", "FOODDELIVERY_LOCAL": "true", "FOODDELIVERY_AUTH": "dev"}
    payments = {"FOODDELIVERY_PAYMENT_GATEWAY": "fake"}
    app = build_azure_app(AzureSettings.from_env(env), servicebus_client=object(), environ=payments)
    assert app.http_api().handle(HttpRequest.build("GET", "/health")).status == 200

    built: list[Any] = []

    def client() -> Any:
        built.append(cosmos_client)
        return cosmos_client

    lazy = LazyContainers(client, "no-such-database")
    orders, drivers = lazy.container("orders"), lazy.container("drivers")
    assert built == []
    with pytest.raises(CosmosHttpResponseError) as caught:  # the first call builds the client and reaches Cosmos DB
        orders.read_item("x", partition_key="x")
    assert caught.value.status_code == 404
    assert drivers.container_link.endswith("/colls/drivers")  # the second container shares the client
    assert len(built) == 1


def test_racing_first_uses_build_one_core_and_a_failed_build_answers_503_and_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the Functions worker runs invocations on threads: the first uses of the core race; a build that raises (a
    # missing package, say) is the deployment's fault: a 503 problem, nothing kept, the next use builds again
    import json
    import threading
    import time

    from fooddelivery.http import HttpRequest
    from fooddelivery_azure import bootstrap

    real = bootstrap._build_core
    calls: list[int] = []

    def build(*args: Any, **kwargs: Any) -> Any:
        calls.append(threading.get_ident())
        time.sleep(0.05)  # long enough for every thread to reach the lock
        if len(calls) == 1:
            raise ImportError("No module named 'azure.cosmos'")
        return real(*args, **kwargs)

    monkeypatch.setattr(bootstrap, "_build_core", build)
    containers = {k: object() for k in ("orders", "restaurants", "drivers", "timers")}
    env = {**BASE, "FOODDELIVERY_AUTH": "easyauth", "FOODDELIVERY_PAYMENT_GATEWAY": "fake"}
    app = build_azure_app(AzureSettings.from_env(env), containers=containers, servicebus_client=object(), environ=env)
    claims = {"oid": "c-1", "roles": ["customer"]}
    failed = app.http_api().handle(HttpRequest.build("GET", "/orders/ord-1", claims=claims))
    assert failed.status == 503
    assert json.loads(failed.body)["code"] == "infrastructure_error"
    assert (len(calls), app.built) == (1, False)

    seen: list[Any] = []
    barrier = threading.Barrier(8)

    def first_use() -> None:
        barrier.wait()
        seen.append(app.boot)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 2 and app.built
    assert len(seen) == 8 and all(boot is seen[0] for boot in seen)
    assert app.orders is app.boot.adapters["orders"] and app.relay is app.core().relay
