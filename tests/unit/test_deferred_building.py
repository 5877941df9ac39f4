"""What a cold start defers: the HTTP API's use cases built by the first request that needs them (once, also when
requests race), and the packages whose names are imported on first access (PEP 562) still exporting every name."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time

import pytest

import fooddelivery.bootstrap
import fooddelivery.domain
import fooddelivery.ports
from fooddelivery.application.services import FoodDeliveryService
from fooddelivery.bootstrap import bootstrap
from fooddelivery.domain.errors import InfrastructureError, ValidationError
from fooddelivery.http import DevAuthenticator, HttpApi, HttpRequest, issue_dev_token


class _Builds:
    """A service factory that counts its calls (and fails its first ``failures`` calls)."""

    def __init__(self, failures: int = 0, delay_s: float = 0.0) -> None:
        self.calls = 0
        self.failures = failures
        self.delay_s = delay_s
        self.service = bootstrap().service

    def __call__(self) -> FoodDeliveryService:
        self.calls += 1
        time.sleep(self.delay_s)
        if self.calls <= self.failures:
            raise InfrastructureError("the store is unreachable")
        return self.service


def _restaurants(api: HttpApi) -> int:
    token = issue_dev_token("customer", "user-1")
    return api.handle(HttpRequest.build("GET", "/restaurants", headers={"Authorization": f"Bearer {token}"})).status


def test_health_openapi_and_options_do_not_build_the_service_and_the_first_use_case_builds_it_once() -> None:
    builds = _Builds()
    api = HttpApi(builds, DevAuthenticator())
    assert api.handle(HttpRequest.build("GET", "/health")).status == 200
    assert api.handle(HttpRequest.build("GET", "/openapi.json")).status == 200
    assert api.handle(HttpRequest.build("OPTIONS", "/orders")).status == 204
    assert builds.calls == 0
    assert _restaurants(api) == 200
    assert _restaurants(api) == 200
    assert builds.calls == 1
    assert api.service is builds.service


def test_a_service_given_ready_is_used_as_it_is() -> None:
    service = bootstrap().service
    assert HttpApi(service, DevAuthenticator()).service is service


def test_a_failed_build_is_answered_as_an_error_and_tried_again_by_the_next_request() -> None:
    builds = _Builds(failures=1)
    api = HttpApi(builds, DevAuthenticator())
    assert _restaurants(api) == 503  # the error table's status for InfrastructureError
    assert _restaurants(api) == 200
    assert builds.calls == 2


class _FailsOnce:
    """A service factory whose first call raises ``error`` (a deployment fault met by the first request)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0
        self.service = bootstrap().service

    def __call__(self) -> FoodDeliveryService:
        self.calls += 1
        if self.calls == 1:
            raise self.error
        return self.service


@pytest.mark.parametrize(
    "error",
    [
        ValidationError.single("FOODDELIVERY_PAYMENT_GATEWAY", "'pay:make' returned object, not a gateway", "invalid"),
        KeyError("STRIPE_ACCOUNT"),
    ],
    ids=["a setting the build checks", "an untyped failure"],
)
def test_a_build_that_fails_is_a_503_never_the_clients_4xx_nor_a_500_and_names_no_internals(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    builds = _FailsOnce(error)
    api = HttpApi(builds, DevAuthenticator())
    token = issue_dev_token("customer", "user-1")
    with caplog.at_level(logging.ERROR, logger="fooddelivery.http"):
        response = api.handle(HttpRequest.build("GET", "/restaurants", headers={"Authorization": f"Bearer {token}"}))
    body = json.loads(response.body)
    assert response.status == 503, body
    assert response.headers["Retry-After"] == "1"
    assert body["code"] == "infrastructure_error" and body["errors"] == []
    assert "FOODDELIVERY" not in response.body.decode() and "STRIPE" not in response.body.decode()
    # the operator still reads the cause (the cold start used to fail with it in the function's log)
    assert any(r.exc_info and r.exc_info[1] is error for r in caplog.records), caplog.records
    assert _restaurants(api) == 200
    assert builds.calls == 2


def test_concurrent_first_requests_build_the_service_once() -> None:
    builds = _Builds(delay_s=0.05)
    api = HttpApi(builds, DevAuthenticator())
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(_restaurants(api))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 8
    assert builds.calls == 1


@pytest.mark.parametrize("package", [fooddelivery.domain, fooddelivery.ports], ids=lambda p: p.__name__)
def test_every_name_a_lazy_package_exports_is_importable_from_it(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert len(names) > 20
    for name in names:
        value = getattr(package, name)
        assert getattr(value, "__name__", name) == name or not isinstance(value, type)
    assert set(names) <= set(dir(package))
    with pytest.raises(AttributeError):
        package.NoSuchName  # type: ignore[attr-defined]  # noqa: B018


def test_the_names_bootstrap_imported_at_module_level_are_still_importable_from_it() -> None:
    from fooddelivery.application.saga.runner import SagaRunner
    from fooddelivery.observability import instrument
    from fooddelivery.ports import Outbox

    assert fooddelivery.bootstrap.SagaRunner is SagaRunner  # type: ignore[attr-defined]
    assert fooddelivery.bootstrap.instrument is instrument  # type: ignore[attr-defined]
    assert fooddelivery.bootstrap.Outbox is Outbox  # type: ignore[attr-defined]


def test_reading_settings_imports_neither_the_application_nor_the_adapters() -> None:
    program = (
        "import json, sys\n"
        "from fooddelivery.bootstrap import Settings, ProcessApp\n"
        "Settings.from_env()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('fooddelivery'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "fooddelivery.bootstrap" in loaded
    assert [m for m in loaded if m.startswith(("fooddelivery.application", "fooddelivery.adapters"))] == []
    assert "fooddelivery.domain.order" not in loaded


def test_a_submodule_of_a_lazy_package_is_still_an_attribute_of_it_after_importing_the_package() -> None:
    # Importing fooddelivery.domain (or .ports) used to import every module of it, so each was an attribute of the
    # package: `import fooddelivery.domain` then `fooddelivery.domain.order.order_id_for_key(...)` worked.
    program = (
        "import fooddelivery.domain, fooddelivery.ports\n"
        "print(fooddelivery.domain.order.order_id_for_key('c-1', 'k-1'))\n"
        "print(fooddelivery.ports.orders.OrderRepository.__name__, fooddelivery.domain.pricing.PromoCode.__name__)\n"
        "print(hasattr(fooddelivery.domain, 'no_such_module'), hasattr(fooddelivery.domain, '_private'))\n"
        "print(hasattr(fooddelivery.domain, 'order.x'), hasattr(fooddelivery.domain, 'nope.x'))\n"
        "import sys; print('fooddelivery.domain.tracking' in sys.modules, hasattr(fooddelivery.domain, 'tracking.x'),"
        " 'fooddelivery.domain.tracking' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    from fooddelivery.domain.order import order_id_for_key

    assert done.stdout.splitlines() == [
        order_id_for_key("c-1", "k-1"),
        "OrderRepository PromoCode",
        "False False",
        "False False",
        "False False False",
    ]


def test_the_type_hints_of_every_port_resolve() -> None:
    """``typing.get_type_hints`` resolves every method of every port (what a user's tooling reads to check an
    adapter): ``Page`` lives in ``ports.paging`` so ``GET /health`` does not load the order aggregate with the
    order port, and the order port imports what its annotations name."""
    import inspect
    import typing

    from fooddelivery import ports
    from fooddelivery.domain.order import Order
    from fooddelivery.domain.status import OrderStatus
    from fooddelivery.ports.orders import OrderRepository

    resolved = 0
    for name in ports.__all__:
        port = getattr(ports, name)
        if not (inspect.isclass(port) and getattr(port, "_is_protocol", False)):
            continue
        for attribute, member in vars(port).items():
            if callable(member) and not attribute.startswith("_"):
                typing.get_type_hints(member)  # raises NameError for a name imported for type checking only
                resolved += 1
    assert resolved >= 30  # 35 methods of 15 ports when written: the loop did look at them
    assert typing.get_type_hints(OrderRepository.get)["return"] is Order
    assert typing.get_type_hints(OrderRepository.list_by_restaurant)["status"] == OrderStatus | None


def test_the_type_hints_of_bootstrap_resolve() -> None:
    """``Bootstrapped`` and ``bootstrap`` live in ``fooddelivery.composition``, which imports what their annotations
    name; ``fooddelivery.bootstrap`` (Settings, ProcessApp: what a cold start reads) loads it on first use."""
    import typing

    from fooddelivery.application.saga.runner import SagaRunner
    from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
    from fooddelivery.ports.unit_of_work import OrderUnitOfWork

    hints = typing.get_type_hints(Bootstrapped)
    assert hints["service"] is FoodDeliveryService
    assert hints["runner"] is SagaRunner
    signature = typing.get_type_hints(bootstrap)
    assert signature["return"] is Bootstrapped
    assert signature["settings"] == Settings | None
    assert signature["unit_of_work"] == OrderUnitOfWork | None


def test_holding_a_process_app_does_not_load_the_composition() -> None:
    program = (
        "import json, sys\n"
        "import fooddelivery.bootstrap as b\n"
        "app = b.ProcessApp('x', lambda: 1)\n"
        "before = 'fooddelivery.composition' in sys.modules\n"
        "b.bootstrap\n"
        "print(json.dumps([before, 'fooddelivery.composition' in sys.modules, b.Bootstrapped.__module__]))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [False, True, "fooddelivery.composition"]
