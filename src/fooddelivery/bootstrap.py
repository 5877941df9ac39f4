"""The composition root: builds the service from settings, using what was injected and in-memory adapters
for the rest.

Every process (the CLI, a server, each cloud entrypoint) calls :func:`bootstrap` once and caches the result;
nothing connects to anything at import time.

This module holds what a process reads before it builds anything (:class:`Settings`, :class:`ProcessApp`); the
building half, :func:`bootstrap` and :class:`Bootstrapped`, lives in :mod:`fooddelivery.composition` and is
imported from here on first use (PEP 562), so a cloud entrypoint answering ``GET /health`` on its cold start loads
neither the use cases, the saga nor the adapters, while ``typing.get_type_hints(Bootstrapped)`` resolves every
name its annotations use.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from fooddelivery.domain._lazy import lazy_names
from fooddelivery.domain.errors import ValidationError

if TYPE_CHECKING:  # loaded on first use at run time (``_DEFERRED``)
    from fooddelivery.composition import Bootstrapped, bootstrap

# The building half (fooddelivery.composition) is imported on first use, not with the module: a process that reads
# :class:`Settings` or holds a :class:`ProcessApp` (a cloud entrypoint answering ``GET /health``) never loads the
# use cases, the saga or the adapters. The names this module used to import at module level stay importable from it
# (PEP 562 ``__getattr__`` below).
_DEFERRED: Final[Mapping[str, str]] = {
    "Bootstrapped": "fooddelivery.composition",
    "bootstrap": "fooddelivery.composition",
    "OperationCounters": "fooddelivery.adapters.counters",
    "SystemClock": "fooddelivery.adapters.system",
    "UuidIdGenerator": "fooddelivery.adapters.system",
    "OrderSagaSteps": "fooddelivery.application.order_saga",
    "build_order_saga": "fooddelivery.application.order_saga",
    "OutboxRelay": "fooddelivery.application.relay",
    "OrderRuntime": "fooddelivery.application.runtime",
    "SagaRunner": "fooddelivery.application.saga.runner",
    "FoodDeliveryService": "fooddelivery.application.services",
    "OrderSession": "fooddelivery.application.unit_of_work",
    "ScopedRestaurants": "fooddelivery.application.unit_of_work",
    "unit_of_work_for": "fooddelivery.application.unit_of_work",
    "AssignmentPolicy": "fooddelivery.domain.assignment",
    "PricingPolicy": "fooddelivery.domain.pricing",
    "PromoCode": "fooddelivery.domain.pricing",
    "EtaPolicy": "fooddelivery.domain.tracking",
    "instrument": "fooddelivery.observability.instrument",  # the module itself
    "watch_dead_letters": "fooddelivery.observability.metrics",
    "trace_data": "fooddelivery.observability.tracing",
    "Clock": "fooddelivery.ports",
    "DriverRepository": "fooddelivery.ports",
    "EventPublisher": "fooddelivery.ports",
    "IdGenerator": "fooddelivery.ports",
    "LocationStream": "fooddelivery.ports",
    "Notifier": "fooddelivery.ports",
    "OrderRepository": "fooddelivery.ports",
    "Outbox": "fooddelivery.ports",
    "PaymentGateway": "fooddelivery.ports",
    "RestaurantRepository": "fooddelivery.ports",
    "SagaEngine": "fooddelivery.ports",
    "SagaStateStore": "fooddelivery.ports",
    "ScheduledMessage": "fooddelivery.ports",
    "Scheduler": "fooddelivery.ports",
    "OrderUnitOfWork": "fooddelivery.ports.unit_of_work",
}


__getattr__, __dir__ = lazy_names(globals(), _DEFERRED)


__all__ = ["Bootstrapped", "BuiltOnce", "CloudApp", "CloudCore", "ProcessApp", "SettingDoc", "Settings", "bootstrap"]

#: Longest confirmation timeout accepted (s): a year. Its timer must stay schedulable (``datetime`` ends in 9999).
MAX_CONFIRMATION_TIMEOUT_S: Final[float] = 366 * 24 * 3600.0


def _check_setting(name: str, value: float, maximum: float | None = None) -> None:
    """Require a finite positive number (at most ``maximum``).

    Raises:
        ValidationError: naming ``name``.
    """
    if not math.isfinite(value) or not value > 0:
        raise ValidationError.single(name, f"must be a finite positive number, got {value!r}", "out_of_range")
    if maximum is not None and value > maximum:
        raise ValidationError.single(name, f"must be at most {maximum:g}", "out_of_range")


def _setting(default: Any, variable: str, doc: str) -> Any:
    """A :class:`Settings` field read from ``variable``; ``doc`` is what the README's settings table says."""
    return field(default=default, metadata={"env": variable, "doc": doc})


@dataclass(frozen=True, slots=True)
class SettingDoc:
    """One environment variable, as the README documents it (:meth:`Settings.documented`).

    Attributes:
        variable: the environment variable (``FOODDELIVERY_...``).
        kind: ``"number"``, ``"integer"`` or ``"text"``.
        default: the default as text.
        doc: what it sets, with its rules.
    """

    variable: str
    kind: str
    default: str
    doc: str


@dataclass(frozen=True, slots=True)
class Settings:
    """Typed settings, read from the environment in one place (:meth:`from_env`).

    Each field's metadata names its variable and says what it sets (:meth:`documented`): the README's table of
    ``FOODDELIVERY_*`` variables is generated from it.

    Attributes:
        confirmation_timeout_s: how long a restaurant has to confirm (``FOODDELIVERY_CONFIRMATION_TIMEOUT_S``,
            default 300, as in the reference workflow).
        driver_radius_km: driver search radius (``FOODDELIVERY_DRIVER_RADIUS_KM``, default 8).
        driver_candidates: drivers tried per assignment (``FOODDELIVERY_DRIVER_CANDIDATES``, default 5).
        average_speed_kmh: courier speed for ETAs (``FOODDELIVERY_AVERAGE_SPEED_KMH``, default 25).
    """

    confirmation_timeout_s: float = _setting(
        300.0,
        "FOODDELIVERY_CONFIRMATION_TIMEOUT_S",
        "Seconds a restaurant has to confirm an order before it fails (`restaurant_timeout`) with a refund; "
        "positive, at most a year (the reference workflow's 300 s).",
    )
    driver_radius_km: float = _setting(
        8.0, "FOODDELIVERY_DRIVER_RADIUS_KM", "How far from the restaurant a driver is searched for, km; positive."
    )
    driver_candidates: int = _setting(
        5,
        "FOODDELIVERY_DRIVER_CANDIDATES",
        "How many of the nearest available drivers an assignment tries to reserve, in order; positive. When every "
        "one of them was reserved by another order meanwhile (a race), the assignment searches again, up to 3 "
        "searches in all (`AssignmentPolicy.searches`).",
    )
    average_speed_kmh: float = _setting(
        25.0, "FOODDELIVERY_AVERAGE_SPEED_KMH", "Courier speed used for delivery ETAs, km/h; positive."
    )

    def __post_init__(self) -> None:
        """Refuse what no saga could run with (an infinite radius, a timeout no timer can be set to...).

        Raises:
            ValidationError: naming the field.
        """
        _check_setting("confirmation_timeout_s", self.confirmation_timeout_s, MAX_CONFIRMATION_TIMEOUT_S)
        _check_setting("driver_radius_km", self.driver_radius_km)
        _check_setting("driver_candidates", self.driver_candidates)
        _check_setting("average_speed_kmh", self.average_speed_kmh)

    @classmethod
    def documented(cls) -> list[SettingDoc]:
        """Every variable :meth:`from_env` reads, with its kind, default and description, in field order."""
        docs = []
        for f in fields(cls):
            kind = {"float": "number", "int": "integer"}.get(str(f.type), "text")
            docs.append(SettingDoc(f.metadata["env"], kind, f"{f.default:g}", f.metadata["doc"]))
        return docs

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``FOODDELIVERY_*`` variables; absent ones keep their defaults.

        Raises:
            ValidationError: a variable that is not a finite positive number, or a confirmation timeout over
                :data:`MAX_CONFIRMATION_TIMEOUT_S` (naming the variable).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = f.metadata["env"]
            kind = int if str(f.type) == "int" else float
            raw = env.get(var)
            if raw is None:
                continue
            try:
                value = kind(raw)
            except ValueError:
                raise ValidationError.single(var, f"must be a number, got {raw!r}", "type") from None
            if not value > 0:
                raise ValidationError.single(var, "must be positive", "out_of_range")
            _check_setting(var, value, MAX_CONFIRMATION_TIMEOUT_S if f.name == "confirmation_timeout_s" else None)
            values[f.name] = value
        return cls(**values)


AppT = TypeVar("AppT")


class BuiltOnce(Generic[AppT]):
    """A value built on first use, once: the first :meth:`get` calls ``build`` under a lock (concurrent first calls
    build once, the others wait for it), later ones return the same value without locking. A ``build`` that raises
    leaves nothing behind, and the next :meth:`get` tries again. :class:`ProcessApp` holds a process's application
    in one, and each cloud's app its core (``AwsApp``, ``AzureApp``, ``GcpApp``: stores and clients made by the
    first request that needs them, not on a cold start's ``GET /health``).

    Args:
        build: makes the value (never None); may raise.
        value: a value to hold from the start (tests, benchmarks): ``build`` is then called only after
            :meth:`reset` forgets it.
    """

    __slots__ = ("_build", "_lock", "_value")

    def __init__(self, build: Callable[[], AppT], value: AppT | None = None) -> None:
        self._build = build
        self._value = value
        self._lock = threading.Lock()

    def get(self) -> AppT:
        """The value: built on the first call, then the same one.

        Raises:
            Exception: whatever ``build`` raises; nothing is kept, and the next call tries again.
        """
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._value = self._build()
        return value

    @property
    def built(self) -> bool:
        """Whether the value is there (built, or given)."""
        return self._value is not None

    def reset(self, value: AppT | None = None) -> None:
        """Forget the value, or hold ``value`` instead (tests; a new configuration)."""
        with self._lock:
            self._value = value


class ProcessApp(Generic[AppT]):
    """The one application of a process (a Lambda execution environment, a Functions host, a Cloud Functions
    instance): set up and built on first use, then cached.

    The first :meth:`get` configures the process's log lines (``FOODDELIVERY_LOG_FORMAT``) and OpenTelemetry
    (``OTEL_*``) -- the one set-up of every entrypoint, :func:`fooddelivery.observability.setup.configure` --
    then calls ``build``, once even when first calls race (a :class:`BuiltOnce`). A cloud package holds one::

        _APP = ProcessApp("fooddelivery-aws", build_aws_app)

    Args:
        service_name: the telemetry's ``service.name`` (``"fooddelivery-aws"``...).
        build: builds the application from the environment; may raise (then nothing is cached and the next
            :meth:`get` tries again).
    """

    def __init__(self, service_name: str, build: Callable[[], AppT]) -> None:
        self._service_name = service_name
        self._build = build
        self._app: BuiltOnce[AppT] = BuiltOnce(self._set_up_and_build)

    def _set_up_and_build(self) -> AppT:
        from fooddelivery.observability.setup import configure

        configure(self._service_name, platform=True)
        return self._build()

    def get(self) -> AppT:
        """The application: built (after the process's set-up) on the first call, then the cached one.

        Raises:
            ValidationError: a missing or invalid setting (named), or whatever ``build`` raises; the next call
                tries again.
        """
        return self._app.get()

    def reset(self, app: AppT | None = None) -> None:
        """Forget the cached application, or install ``app`` as it (tests; a new configuration)."""
        self._app.reset(app)


class CloudCore(Protocol):
    """What a cloud application builds on its first use (``AwsCore``, ``AzureCore``, ``GcpCore``): at least the
    core wired with that cloud's adapters, :attr:`boot`, next to what that cloud's entrypoints need of it."""

    @property
    def boot(self) -> Bootstrapped:
        """The core (service, runner, adapters)."""
        ...


CoreT = TypeVar("CoreT", bound=CloudCore)


class CloudApp(Generic[CoreT]):
    """The base of each cloud's application (``AwsApp``, ``AzureApp``, ``GcpApp``): its core (a ``CoreT``: the
    stores, the saga, the publishers...) built on first use, in a :class:`BuiltOnce`.

    What a cloud application makes with itself (settings, clients as lazy stand-ins, meters) costs no store
    connection; the core is built by the first :meth:`core` (or :attr:`boot`, or a subclass's property reading the
    core) -- once, under a lock, so concurrent first uses build it once; a build that raises is tried again on the
    next use. An HTTP function answering ``GET /health`` never builds it. A subclass adds its own properties as
    ``self.core().<field>``, typed by ``CoreT``.

    Args:
        core: builds the core (never None); may raise.
        value: a core to hold from the start (tests, benchmarks: an app given its parts ready); ``core`` is then
            called only if it is forgotten.
    """

    def __init__(self, core: Callable[[], CoreT], value: CoreT | None = None) -> None:
        self._core: BuiltOnce[CoreT] = BuiltOnce(core, value)

    def core(self) -> CoreT:
        """The core: built on the first call (see the class docstring), then the same one.

        Raises:
            Exception: whatever building it raises (a store client that cannot be made, a missing client
                library's ImportError): nothing of that build is kept, and the next call tries again.
        """
        return self._core.get()

    @property
    def built(self) -> bool:
        """Whether the core has been built (tests; the cold start benchmark)."""
        return self._core.built

    @property
    def boot(self) -> Bootstrapped:
        """The core (service, runner, adapters); built on first use."""
        return self.core().boot
