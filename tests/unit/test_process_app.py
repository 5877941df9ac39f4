"""``ProcessApp``: the one application of a cloud process, set up and built once, on first use; ``BuiltOnce``, what
it and each cloud's core are held in; ``CloudApp``, each cloud's application over its core."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, cast

import pytest

from fooddelivery.bootstrap import BuiltOnce, CloudApp, ProcessApp
from fooddelivery.domain.errors import ValidationError
from fooddelivery.observability import setup

if TYPE_CHECKING:
    from fooddelivery.bootstrap import Bootstrapped


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """The calls of the process set-up (recorded instead of configuring this test process's logging)."""
    calls: list[tuple[str, bool]] = []

    def record(service_name: str = "fooddelivery", *, platform: bool = False, **_: object) -> None:
        calls.append((service_name, platform))

    monkeypatch.setattr(setup, "configure", record)
    return calls


def test_the_first_call_sets_the_process_up_then_builds_and_later_calls_reuse_the_app(
    configured: list[tuple[str, bool]],
) -> None:
    built: list[object] = []

    def build() -> object:
        built.append(object())
        return built[-1]

    app = ProcessApp("fooddelivery-test", build)
    first = app.get()
    assert app.get() is first
    assert built == [first]
    assert configured == [("fooddelivery-test", True)]


def test_concurrent_first_calls_build_once(configured: list[tuple[str, bool]]) -> None:
    built: list[int] = []

    def build() -> int:
        time.sleep(0.05)  # the other threads arrive while this one builds
        built.append(len(built))
        return built[-1]

    app = ProcessApp("fooddelivery-test", build)
    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(app.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == [0]
    assert got == [0] * 8


def test_a_failed_build_caches_nothing_and_the_next_call_tries_again(configured: list[tuple[str, bool]]) -> None:
    attempts: list[int] = []

    def build() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValidationError("FOODDELIVERY_TABLE is not set")
        return "app"

    app = ProcessApp("fooddelivery-test", build)
    with pytest.raises(ValidationError, match="FOODDELIVERY_TABLE"):
        app.get()
    assert app.get() == "app"
    assert len(attempts) == 2


def test_reset_forgets_the_app_or_installs_another(configured: list[tuple[str, bool]]) -> None:
    counter = iter(range(10))
    app = ProcessApp("fooddelivery-test", lambda: next(counter))
    assert app.get() == 0
    app.reset()
    assert app.get() == 1
    app.reset(42)
    assert app.get() == 42


def test_built_once_holds_a_given_value_without_building_until_reset() -> None:
    calls: list[int] = []

    def build() -> str:
        calls.append(1)
        return "built"

    given = BuiltOnce(build, "given")
    later = BuiltOnce(build)

    assert (given.built, given.get(), calls) == (True, "given", [])
    assert later.built is False
    assert (later.get(), later.built, calls) == ("built", True, [1])
    given.reset()
    assert given.built is False
    assert (given.get(), given.built, calls) == ("built", True, [1, 1])


def test_built_once_racing_a_failing_build_keeps_nothing_and_each_waiting_call_tries_again() -> None:
    attempts: list[int] = []
    gate = threading.Barrier(4)

    def build() -> int:
        attempts.append(len(attempts))
        time.sleep(0.02)
        if len(attempts) < 3:
            raise ConnectionError("store unreachable")
        return len(attempts)

    once: BuiltOnce[int] = BuiltOnce(build)
    got: list[object] = []

    def call() -> None:
        gate.wait()
        try:
            got.append(once.get())
        except ConnectionError as exc:
            got.append(str(exc))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # two builds fail (their callers get the error), the third builds, the last caller finds it built
    assert sorted(map(str, got)) == ["3", "3", "store unreachable", "store unreachable"]
    assert len(attempts) == 3
    assert once.get() == 3 and len(attempts) == 3


class _Core:
    """A cloud core's shape: ``boot`` and a cloud's own part."""

    def __init__(self, n: int) -> None:
        self.boot = cast("Bootstrapped", f"boot-{n}")  # (a stand-in: CloudApp only hands it on)
        self.queue = f"queue-{n}"


class _App(CloudApp[_Core]):
    @property
    def queue(self) -> str:
        return self.core().queue


def test_a_cloud_app_builds_its_core_on_first_use_once_and_again_after_a_failed_build() -> None:
    builds: list[int] = []

    def build() -> _Core:
        builds.append(len(builds))
        if len(builds) == 1:
            raise ConnectionError("the store is not there yet")
        return _Core(len(builds))

    app = _App(build)
    assert not app.built and builds == []  # made with nothing built (a cold start's GET /health)
    with pytest.raises(ConnectionError):
        app.core()
    assert not app.built
    core = app.core()
    assert app.built and builds == [0, 1]
    assert (app.boot, app.queue) == ("boot-2", "queue-2")
    assert app.core() is core and builds == [0, 1]


def test_a_cloud_app_given_its_core_never_builds_one() -> None:
    given = _Core(7)

    def build() -> _Core:
        raise AssertionError("built although given")

    app = _App(build, given)
    assert app.built and app.core() is given and app.boot == "boot-7"
