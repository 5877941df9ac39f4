"""Choosing the payment gateway of a deployment, by a setting: ``FOODDELIVERY_PAYMENT_GATEWAY``.

A deployment must say which card processor it charges: there is no silent default, because a deployment that
falls back to a fake would take orders and never charge them. The setting names either

- ``fake``: the core's :class:`~fooddelivery.adapters.memory.FakePaymentGateway` (Stripe-like test tokens, state in
  process memory: for demos and tests only -- each process has its own books, so a refund handled by another
  process than the capture fails), or
- ``<module>:<factory>``: a callable imported from an installed module, called once per process with the
  deployment's secret reader (or None) and returning a ``PaymentGateway``.

Every cloud bootstrap calls :func:`payment_gateway_from_setting` (or :func:`payment_gateway_factory`, which
checks the setting now and makes the gateway on first use) at start-up, so a missing or wrong setting fails
the first invocation with a message naming the variable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.domain.errors import ValidationError

if TYPE_CHECKING:
    from fooddelivery.ports.payments import PaymentGateway

__all__ = ["FAKE_GATEWAY", "PAYMENT_GATEWAY_ENV", "payment_gateway_factory", "payment_gateway_from_setting"]

#: The environment variable naming the gateway.
PAYMENT_GATEWAY_ENV: Final[str] = "FOODDELIVERY_PAYMENT_GATEWAY"
#: The value that asks for the fake gateway by name.
FAKE_GATEWAY: Final[str] = "fake"


def payment_gateway_factory(
    environ: Mapping[str, str], *, default: str | None = None
) -> Callable[[object | None], PaymentGateway]:
    """What builds the gateway ``FOODDELIVERY_PAYMENT_GATEWAY`` names, checked now and called later: the setting is
    read and its factory imported at once (so a missing or wrong setting fails a cold start, naming the variable),
    the gateway is made when the returned function is called (a cold start that answers ``GET /health`` need not).

    Args:
        environ: the environment (``os.environ``).
        default: the value used when the variable is absent (see :func:`payment_gateway_from_setting`).

    Returns:
        A function of the secret reader (or None) returning the gateway; it raises
        :class:`~fooddelivery.domain.errors.ValidationError` (naming the variable) when the factory returns
        something that is not a ``PaymentGateway``.

    Raises:
        ValidationError: the variable is missing or empty (and no default), or names nothing importable or
            nothing callable; the message names ``FOODDELIVERY_PAYMENT_GATEWAY``.
    """
    target = environ.get(PAYMENT_GATEWAY_ENV, "").strip() or (default or "")
    if not target:
        raise ValidationError.single(
            PAYMENT_GATEWAY_ENV,
            "is not set: name the payment gateway to charge with ('<module>:<factory>'), or 'fake' for the test "
            "gateway (demos only: it never moves money)",
            "required",
        )
    if target == FAKE_GATEWAY:
        return _fake_gateway
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValidationError.single(
            PAYMENT_GATEWAY_ENV, f"must be 'fake' or '<module>:<factory>', got {target!r}", "invalid"
        )
    try:
        factory: Callable[[Any], object] = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValidationError.single(
            PAYMENT_GATEWAY_ENV, f"{target!r} names no importable factory: {exc}", "invalid"
        ) from exc
    if not callable(factory):
        # (checked now: the factory is called only when the core is built, by a later request)
        raise ValidationError.single(
            PAYMENT_GATEWAY_ENV, f"{target!r} names a {type(factory).__name__}, not callable: no factory", "invalid"
        )

    def build(secret: object | None) -> PaymentGateway:
        from fooddelivery.ports.payments import PaymentGateway

        gateway = factory(secret)
        if not isinstance(gateway, PaymentGateway):
            raise ValidationError.single(
                PAYMENT_GATEWAY_ENV, f"{target!r} returned {type(gateway).__name__}, not a PaymentGateway", "invalid"
            )
        return gateway

    return build


def _fake_gateway(secret: object | None) -> PaymentGateway:
    from fooddelivery.adapters.memory import FakePaymentGateway

    return FakePaymentGateway()


def payment_gateway_from_setting(
    environ: Mapping[str, str], secret: object | None = None, *, default: str | None = None
) -> PaymentGateway:
    """The gateway ``FOODDELIVERY_PAYMENT_GATEWAY`` names (see the module docstring).

    Args:
        environ: the environment (``os.environ``).
        secret: what the factory receives (a secret reader of the cloud's secret store), or None.
        default: the value used when the variable is absent (``"fake"`` only where a fake is right: the local
            server and the simulation; cloud bootstraps pass None).

    Raises:
        ValidationError: the variable is missing or empty (and no default), or names nothing importable, or its
            factory does not return a gateway; the message names ``FOODDELIVERY_PAYMENT_GATEWAY``.
    """
    return payment_gateway_factory(environ, default=default)(secret)
