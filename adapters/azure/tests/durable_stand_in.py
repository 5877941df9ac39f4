"""A Durable Functions stand-in for the tests: no offline Durable Functions host exists (the Functions host and its
Durable extension are .NET processes; the Durable Task Scheduler emulator needs Docker), so the saga's
orchestration is played by this stand-in, which drives **the real SDK's replay** and speaks **the real client's
HTTP protocol**:

- :class:`DurableHost` keeps each instance's history as the Durable extension does (``OrchestratorStarted``,
  ``ExecutionStarted``, ``TaskScheduled``/``TaskCompleted``/``TaskFailed``, ``TimerCreated``/``TimerFired``,
  ``SubOrchestrationInstanceCreated``/``...Completed``/``...Failed``, ``EventRaised``, ``OrchestratorCompleted``)
  and runs an episode per batch of new events: the registered orchestrator function (``Orchestrator.create``'s
  handle: the SDK's ``TaskOrchestrationExecutor``) replays the whole history and returns its actions; the new ones
  are scheduled (an activity queued, a timer armed at its ``fireAt``, a sub-orchestration started) and the old ones
  are checked against the history (a replay that schedules something else is reported as non-deterministic). A
  timer the orchestrator cancels is disarmed; as in Durable, an orchestration that returns while one of its timers
  is neither fired nor cancelled stays Running until the timer fires.
  Activities are the registered activity functions, called with the decoded input, their return value JSON-encoded
  as the worker's converter does; a raised exception is a ``TaskFailed``. Timers fire when the test's clock passes
  their time (the clock also stamps ``OrchestratorStarted``, so ``current_utc_datetime`` is virtual time). Events
  raised before an instance waits are kept in its history, as Durable buffers them;
- :class:`DurableRpcServer` serves the endpoints ``DurableOrchestrationClient`` calls (``rpcBaseUrl`` of the client
  binding): ``POST orchestrators/{name}/{id}`` (start), ``GET instances/{id}`` (status: 200 completed, 202 running
  or pending, 400 failed, 404 unknown), ``POST instances/{id}/raiseEvent/{name}`` (202, 404 unknown, 410 finished),
  on a free loopback port, in a thread of the test session.

What it does not do: run anything concurrently or by itself (the test calls :meth:`DurableHost.run_until_idle`), crash
mid-episode, redeliver an activity, or enforce the extension's limits (payload sizes, long timers); how the real
extension batches and orders events between episodes is approximated by "everything pending, in arrival order".
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

Clock = Callable[[], datetime]

_FINISHED = frozenset({"Completed", "Failed", "Terminated"})
#: Upper schema version the stand-in announces (the SDK's V3: compound actions, no long-timer splitting because no
#: maximumShortTimerDuration is sent).
SCHEMA_VERSION = 2


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str) -> datetime:
    from dateutil.parser import parse

    return parse(text)


class NonDeterministicOrchestration(AssertionError):
    """A replay scheduled something else than its history says it did."""


class DurableFunctionFailed(AssertionError):
    """An orchestration ended Failed (the stand-in records it; tests that do not expect it fail with it)."""


@dataclass
class Instance:
    """One orchestration instance and its history."""

    name: str
    instance_id: str
    input: str | None
    created: datetime
    parent: tuple[str, int] | None = None
    status: str = "Pending"
    history: list[dict[str, Any]] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    scheduled: list[tuple[int, str]] = field(default_factory=list)
    timers: dict[int, datetime] = field(default_factory=dict)
    cancelled_timers: list[int] = field(default_factory=list)
    custom_status: Any = None
    output: Any = None
    updated: datetime | None = None
    episodes: int = 0

    @property
    def finished(self) -> bool:
        return self.status in _FINISHED


class DurableHost:
    """The task hub and its dispatchers (see the module docstring).

    Args:
        orchestrators: orchestrator function name -> registered function (``Orchestrator.create``'s handle).
        activities: activity function name -> registered function.
        clock: time (the instances' ``current_utc_datetime`` and the timers).
    """

    def __init__(
        self,
        orchestrators: Mapping[str, Callable[..., Any]],
        activities: Mapping[str, Callable[..., Any]],
        clock: Clock,
    ) -> None:
        self.orchestrators = dict(orchestrators)
        self.activities = dict(activities)
        self.clock = clock
        self.instances: dict[str, Instance] = {}
        self.work: deque[tuple[str, int, str, str | None]] = deque()
        self.activity_log: list[tuple[str, str]] = []
        self.lock = threading.RLock()

    @classmethod
    def of_app(cls, app: Any, clock: Clock) -> DurableHost:
        """A host running the orchestrator and activity functions registered on ``app`` (the ``FunctionApp``)."""
        orchestrators: dict[str, Callable[..., Any]] = {}
        activities: dict[str, Callable[..., Any]] = {}
        for function in app.get_functions():
            trigger = function.get_trigger()
            if trigger.type == "orchestrationTrigger":
                orchestrators[function.get_function_name()] = function.get_user_function()
            elif trigger.type == "activityTrigger":
                activities[function.get_function_name()] = function.get_user_function()
        return cls(orchestrators, activities, clock)

    # -- the client's operations (the RPC server calls these) ------------------------------------------------
    def start(self, name: str, instance_id: str, input_text: str | None) -> tuple[int, Any]:
        """Create an instance (a finished one of the same id is replaced, as with Durable's default
        ``overridableExistingInstanceStates``; a running one is refused)."""
        with self.lock:
            if name not in self.orchestrators:
                return 400, {"ExceptionMessage": f"The function '{name}' doesn't exist or is not an orchestrator."}
            existing = self.instances.get(instance_id)
            if existing is not None and not existing.finished:
                return 409, f"An Orchestration instance with the ID '{instance_id}' already exists."
            self.instances[instance_id] = Instance(name, instance_id, input_text, self.clock())
            return 202, {"id": instance_id}

    def raise_event(self, instance_id: str, event: str, input_text: str | None) -> int:
        """Append ``EventRaised`` to the instance's new events (202), 404 unknown, 410 finished."""
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                return 404
            if instance.finished:
                return 410
            instance.inbox.append(self._event(HistoryEventType.EVENT_RAISED, Name=event, Input=input_text))
            return 202

    def status(self, instance_id: str) -> tuple[int, Any]:
        """The instance's status as the Durable HTTP API returns it."""
        with self.lock:
            instance = self.instances.get(instance_id)
            if instance is None:
                return 404, None
            body = {
                "name": instance.name,
                "instanceId": instance.instance_id,
                "createdTime": _iso(instance.created),
                "lastUpdatedTime": _iso(instance.updated or instance.created),
                "input": instance.input,
                "output": instance.output,
                "runtimeStatus": instance.status,
                "customStatus": instance.custom_status,
            }
            code = {"Completed": 200, "Failed": 400, "Terminated": 400}.get(instance.status, 202)
            return code, body

    # -- the dispatchers ---------------------------------------------------------------------------------------
    def run_until_idle(self, rounds: int = 10_000) -> int:
        """Run episodes, activities and due timers until nothing is left to do; returns how many items ran."""
        done = 0
        with self.lock:
            for _ in range(rounds):
                ran = self._episodes() + self._activities() + self._due_timers()
                if ran == 0:
                    return done
                done += ran
        raise AssertionError("the Durable stand-in never became idle")

    def pending_timers(self) -> list[datetime]:
        """The fire times of every armed timer, earliest first."""
        with self.lock:
            return sorted(t for i in self.instances.values() if not i.finished for t in i.timers.values())

    def failures(self) -> list[tuple[str, Any]]:
        """Every instance that ended Failed, with its error."""
        with self.lock:
            return [(i.instance_id, i.output) for i in self.instances.values() if i.status == "Failed"]

    def _episodes(self) -> int:
        ran = 0
        for instance in list(self.instances.values()):
            if instance.status == "Pending" or (instance.status == "Running" and instance.inbox):
                self._episode(instance)
                ran += 1
        return ran

    def _activities(self) -> int:
        ran = 0
        while self.work:
            instance_id, task_id, name, input_text = self.work.popleft()
            instance = self.instances[instance_id]
            self.activity_log.append((instance_id, name))
            try:
                result = self.activities[name](None if input_text is None else json.loads(input_text))
                event = self._event(HistoryEventType.TASK_COMPLETED, TaskScheduledId=task_id, Result=json.dumps(result))
            except Exception as exc:
                event = self._event(
                    HistoryEventType.TASK_FAILED, TaskScheduledId=task_id, Reason=str(exc), Details=type(exc).__name__
                )
            if not instance.finished:
                instance.inbox.append(event)
            ran += 1
        return ran

    def _due_timers(self) -> int:
        now = self.clock()
        ran = 0
        for instance in self.instances.values():
            if instance.finished:
                continue
            for task_id, fire_at in sorted(instance.timers.items(), key=lambda kv: kv[1]):
                if fire_at <= now:
                    del instance.timers[task_id]
                    fired = self._event(HistoryEventType.TIMER_FIRED, TimerId=task_id, FireAt=_iso(fire_at))
                    instance.inbox.append(fired)
                    ran += 1
        return ran

    # -- one episode ---------------------------------------------------------------------------------------------
    def _event(self, kind: HistoryEventType, event_id: int = -1, **fields: Any) -> dict[str, Any]:
        stamp = _iso(self.clock())
        return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False, "Timestamp": stamp, **fields}

    def _episode(self, instance: Instance) -> None:
        now = self.clock()
        new = [self._event(HistoryEventType.ORCHESTRATOR_STARTED)]
        if not instance.history:
            new.append(
                self._event(HistoryEventType.EXECUTION_STARTED, Name=instance.name, Input=instance.input, Version="")
            )
        new += instance.inbox
        instance.inbox = []
        played = [{**e, "IsPlayed": True} for e in instance.history]
        context = {
            "history": played + new,
            "instanceId": instance.instance_id,
            "isReplaying": bool(instance.history),
            "parentInstanceId": instance.parent[0] if instance.parent else None,
            "input": instance.input,
            "upperSchemaVersion": SCHEMA_VERSION,
        }
        instance.history += new
        instance.status = "Running"
        instance.episodes += 1
        instance.updated = now
        try:
            state = json.loads(self.orchestrators[instance.name](json.dumps(context)))
        except Exception as exc:
            # the SDK's failure text carries the state after "$OutOfProcData$:"; the error is what precedes it
            self._finish(instance, "Failed", str(exc).split("\n\n$OutOfProcData$:", 1)[0])
            return
        self._schedule(instance, state)
        instance.custom_status = state.get("customStatus")
        instance.history.append(self._event(HistoryEventType.ORCHESTRATOR_COMPLETED))
        if state.get("isDone"):
            if instance.timers:
                # Durable does not complete an orchestration while a durable timer it created is neither fired nor
                # cancelled: it stays Running until the timer fires (then this episode's answer is given again)
                return
            self._finish(instance, "Completed", state.get("output"))

    def _finish(self, instance: Instance, status: str, output: Any) -> None:
        instance.status = status
        instance.output = output
        instance.timers.clear()
        if instance.parent is not None:
            parent_id, task_id = instance.parent
            parent = self.instances[parent_id]
            if status == "Completed":
                event = self._event(
                    HistoryEventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                    TaskScheduledId=task_id,
                    Result=json.dumps(output),
                )
            else:
                event = self._event(
                    HistoryEventType.SUB_ORCHESTRATION_INSTANCE_FAILED, TaskScheduledId=task_id, Reason=str(output),
                    Details="",
                )
            if not parent.finished:
                parent.inbox.append(event)

    def _schedule(self, instance: Instance, state: Mapping[str, Any]) -> None:
        actions = _flatten(state.get("actions", []))
        numbered = [a for a in actions if a["actionType"] != ActionType.WAIT_FOR_EXTERNAL_EVENT]
        for task_id, action in enumerate(numbered):
            kind = int(action["actionType"])
            signature = (kind, str(action.get("functionName") or action.get("fireAt") or ""))
            if task_id < len(instance.scheduled):
                if instance.scheduled[task_id][0] != kind or (
                    kind != ActionType.CREATE_TIMER and instance.scheduled[task_id] != signature
                ):
                    raise NonDeterministicOrchestration(
                        f"{instance.instance_id}: task {task_id} was {instance.scheduled[task_id]}, "
                        f"replay says {signature}"
                    )
                if kind == ActionType.CREATE_TIMER and action.get("isCanceled") and task_id in instance.timers:
                    del instance.timers[task_id]
                    instance.cancelled_timers.append(task_id)
                continue
            instance.scheduled.append(signature)
            if kind == ActionType.CALL_ACTIVITY:
                name, input_text = action["functionName"], action["input"]
                scheduled = self._event(HistoryEventType.TASK_SCHEDULED, task_id, Name=name, Input=input_text)
                instance.history.append(scheduled)
                self.work.append((instance.instance_id, task_id, name, input_text))
            elif kind == ActionType.CREATE_TIMER:
                instance.history.append(self._event(HistoryEventType.TIMER_CREATED, task_id, FireAt=action["fireAt"]))
                if not action.get("isCanceled"):
                    instance.timers[task_id] = _parse_time(action["fireAt"])
            elif kind == ActionType.CALL_SUB_ORCHESTRATOR:
                child_id = action["instanceId"]
                instance.history.append(
                    self._event(
                        HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED, task_id, Name=action["functionName"],
                        InstanceId=child_id,
                    )
                )
                code, body = self.start(action["functionName"], child_id, action.get("input"))
                assert code == 202, body
                self.instances[child_id].parent = (instance.instance_id, task_id)
            else:
                raise NotImplementedError(f"the Durable stand-in does not play action type {kind}: {action}")


def _flatten(actions: Any) -> Iterator[dict[str, Any]]:
    """Every action of an orchestrator's answer, compound ones opened, in order (the order task ids were given)."""
    if isinstance(actions, list):
        for item in actions:
            yield from _flatten(item)
    elif isinstance(actions, dict):
        if "compoundActions" in actions:
            yield from _flatten(actions["compoundActions"])
        else:
            yield actions


class DurableRpcServer:
    """The Durable extension's local HTTP API, served for ``DurableOrchestrationClient`` (see the module docstring).

    The host it serves can be swapped per test (:attr:`host`); unknown paths answer 404.
    """

    def __init__(self) -> None:
        self.host: DurableHost | None = None
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _reply(self, code: int, body: Any) -> None:
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _body(self) -> str | None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if not raw:
                    return None
                # The Python client posts the JSON text of its payload as a JSON string (``json=df_dumps(input)``,
                # ``json=json.dumps(event_data)``); the extension parses the body into a JSON token, so an
                # instance's input is that text and an event's data is that text as a JSON string.
                value = json.loads(raw)
                return value if isinstance(value, str) else json.dumps(value)

            def do_GET(self) -> None:
                parts = _path(self.path)
                server.requests.append(("GET", self.path))
                if len(parts) == 2 and parts[0] == "instances" and server.host is not None:
                    self._reply(*server.host.status(parts[1]))
                else:
                    self._reply(404, None)

            def do_POST(self) -> None:
                parts = _path(self.path)
                server.requests.append(("POST", self.path))
                body = self._body()
                host = server.host
                if host is not None and len(parts) == 3 and parts[0] == "orchestrators":
                    self._reply(*host.start(parts[1], parts[2], body))
                elif host is not None and len(parts) == 4 and parts[0] == "instances" and parts[2] == "raiseEvent":
                    code = host.raise_event(parts[1], parts[3], None if body is None else json.dumps(body))
                    self._reply(code, None if code == 202 else {"message": f"instance {parts[1]}: {code}"})
                else:
                    self._reply(404, None)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="durable-rpc", daemon=True)
        self._thread.start()

    @property
    def rpc_base_url(self) -> str:
        """The ``rpcBaseUrl`` of the client binding."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/durabletask/"

    def client_binding(self) -> str:
        """The JSON the ``durableClient`` input binding hands to a function."""
        return json.dumps(
            {
                "taskHubName": "FoodDeliveryTests",
                "creationUrls": {},
                "managementUrls": {},
                "baseUrl": self.rpc_base_url,
                "requiredQueryStringParameters": "",
                "rpcBaseUrl": self.rpc_base_url,
            }
        )

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _path(raw: str) -> list[str]:
    path = urlsplit(raw).path
    prefix = "/durabletask/"
    if not path.startswith(prefix):
        return []
    return [unquote(p) for p in path[len(prefix) :].split("/") if p]
