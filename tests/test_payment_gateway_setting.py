"""``FOODDELIVERY_PAYMENT_GATEWAY``: no deployment charges through a fake by accident."""

from __future__ import annotations

import sys
import types

import pytest

from fooddelivery.adapters.memory import FakePaymentGateway
from fooddelivery.adapters.payments import PAYMENT_GATEWAY_ENV, payment_gateway_factory, payment_gateway_from_setting
from fooddelivery.domain.errors import ValidationError


def test_a_missing_setting_fails_naming_the_variable() -> None:
    with pytest.raises(ValidationError) as caught:
        payment_gateway_from_setting({})
    assert [f.field for f in caught.value.fields] == [PAYMENT_GATEWAY_ENV]
    assert caught.value.fields[0].code == "required"


def test_a_blank_setting_is_missing_too() -> None:
    with pytest.raises(ValidationError, match=PAYMENT_GATEWAY_ENV):
        payment_gateway_from_setting({PAYMENT_GATEWAY_ENV: "   "})


def test_the_fake_is_used_only_when_asked_for_by_name() -> None:
    assert isinstance(payment_gateway_from_setting({PAYMENT_GATEWAY_ENV: "fake"}), FakePaymentGateway)
    assert isinstance(payment_gateway_from_setting({}, default="fake"), FakePaymentGateway)


def test_a_factory_is_imported_and_called_with_the_secret_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("acme_payments")
    seen: list[object] = []

    def build(secret: object) -> FakePaymentGateway:
        seen.append(secret)
        return FakePaymentGateway()

    module.build = build  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "acme_payments", module)
    gateway = payment_gateway_from_setting({PAYMENT_GATEWAY_ENV: "acme_payments:build"}, secret="the-reader")
    assert isinstance(gateway, FakePaymentGateway) and seen == ["the-reader"]


@pytest.mark.parametrize("value", ["stripe", "no_such_module:build", "fooddelivery:nothing_here", ":x", "m:"])
def test_a_setting_naming_nothing_importable_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match=PAYMENT_GATEWAY_ENV):
        payment_gateway_from_setting({PAYMENT_GATEWAY_ENV: value})


def test_a_factory_returning_something_else_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("bad_payments")
    module.build = lambda secret: object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bad_payments", module)
    with pytest.raises(ValidationError, match="not a PaymentGateway"):
        payment_gateway_from_setting({PAYMENT_GATEWAY_ENV: "bad_payments:build"})


@pytest.mark.parametrize("value", ["fooddelivery.adapters.payments:PAYMENT_GATEWAY_ENV", "fooddelivery:__name__"])
def test_a_setting_naming_something_that_cannot_be_called_is_refused_when_it_is_checked(value: str) -> None:
    # A cloud cold start only checks the setting (payment_gateway_factory) and makes the gateway with the core, on
    # the first request that needs it: a name that is not a factory must fail the check, naming the variable, not
    # that first request (with "'str' object is not callable").
    with pytest.raises(ValidationError, match=PAYMENT_GATEWAY_ENV) as caught:
        payment_gateway_factory({PAYMENT_GATEWAY_ENV: value})
    assert "not callable" in caught.value.fields[0].message
