"""The Durable saga's orchestrators, played by the Durable stand-in's replay (``durable_stand_in.py``) with
**scripted activities**: each ``saga_<action>`` answers what the test says (an output, or a core error, as the real
activity answers it), and records the step input it was given. The orchestrator functions are the ones the app
registers."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from azure_world import function_app
from durable_stand_in import DurableHost

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application.order_saga import ORDER_SAGA
from fooddelivery.domain.errors import FoodDeliveryError
from fooddelivery_azure.durable.orchestrator import (
    ACTIVITY_PREFIX,
    ORCHESTRATOR,
    SagaInput,
    StepInput,
    StepResult,
    activity_name,
    saga_actions,
)

T0 = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)
ORDER = "ord-1"

#: What each action returns by default (as the core's actions do).
OUTPUTS: dict[str, dict[str, Any]] = {
    "validate_order": {"total": "28.01", "currency": "USD"},
    "capture_payment": {"chargeId": "ch_1"},
    "assign_driver": {"driverId": "drv-0"},
    "confirm_order": {"confirmedAt": "2026-12-04T18:30:00+00:00"},
    "refund_payment": {"refundId": "re_1"},
}


@dataclass
class ScriptedActivities:
    """The activity functions: scripted answers per action, every call recorded as ``(action, StepInput)``."""

    failures: dict[str, deque[FoodDeliveryError]] = field(default_factory=lambda: defaultdict(deque))
    calls: list[tuple[str, StepInput]] = field(default_factory=list)

    def fail(self, action: str, *errors: FoodDeliveryError) -> None:
        """The next attempts of ``action`` raise ``errors``, in order; later ones succeed."""
        self.failures[action].extend(errors)

    def functions(self) -> dict[str, Any]:
        def make(action: str) -> Any:
            def activity(payload: Any) -> dict[str, Any]:
                step = StepInput.from_json(payload)
                assert step.action == action
                self.calls.append((action, step))
                if self.failures[action]:
                    return StepResult.failure(self.failures[action].popleft()).to_json()
                return StepResult.success(OUTPUTS.get(action)).to_json()

            return activity

        return {activity_name(a): make(a) for a in saga_actions(ORDER_SAGA)}

    def actions(self) -> list[str]:
        """The actions run so far, in order."""
        return [a for a, _ in self.calls]

    def states(self) -> list[str]:
        """The states the actions ran in (``compensate:AssignDriver``...)."""
        return [s.state for _, s in self.calls]


@dataclass
class Saga:
    """One orchestration under test: the host, its clock, the scripted activities."""

    host: DurableHost
    clock: VirtualClock
    activities: ScriptedActivities

    def start(self, instance: str = ORDER, **overrides: Any) -> None:
        saga = SagaInput(ORDER, ORDER_SAGA.key, 300.0, **{"data": {"orderId": ORDER}, **overrides})
        code, body = self.host.start(ORCHESTRATOR, instance, json.dumps(saga.to_json()))
        assert code == 202, body
        self.host.run_until_idle()

    def raise_event(self, name: str, detail: dict[str, Any] | None = None, instance: str = ORDER) -> None:
        # as the extension stores an event the Python client raised: the JSON text of its data, as a JSON string
        assert self.host.raise_event(instance, name, json.dumps(json.dumps(detail or {}))) == 202
        self.host.run_until_idle()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.host.run_until_idle()

    def status(self, instance: str = ORDER) -> dict[str, Any]:
        code, body = self.host.status(instance)
        assert code != 404
        result: dict[str, Any] = body
        return result


def scripted_saga() -> Saga:
    """A Durable stand-in running the app's orchestrators with scripted activities, on a virtual clock at ``T0``."""
    clock = VirtualClock(T0)
    activities = ScriptedActivities()
    orchestrators = {
        f.get_function_name(): f.get_user_function()
        for f in function_app().get_functions()
        if f.get_trigger().type == "orchestrationTrigger"
    }
    assert all(name.startswith(ACTIVITY_PREFIX) for name in activities.functions())
    return Saga(DurableHost(orchestrators, activities.functions(), clock.now), clock, activities)
