"""The one message format of the runtime queues: events, timers and resume commands round-trip; anything else is a
``MalformedMessage`` (a poison message, dead-lettered by every cloud consumer)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fooddelivery.application.envelope import to_json
from fooddelivery.application.messages import (
    EventInput,
    MalformedMessage,
    ResumeInput,
    TimerInput,
    decode_body,
    resume_body,
    timer_body,
    timer_from_document,
)
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.events import EventType
from fooddelivery.testing.builders import make_event, make_scheduled


def test_an_event_round_trips_as_its_cloudevent() -> None:
    event = make_event(type=EventType.ORDER_CANCELLED, payload={"by": "customer", "reason": "trop long ⏳"})
    assert decode_body(to_json(event)) == EventInput(event)


def test_a_resume_command_round_trips() -> None:
    expected = {"messageType": "fooddelivery.saga.resume", "version": 1, "sagaId": "ord-1"}
    assert json.loads(resume_body("ord-1")) == expected
    assert decode_body(resume_body("ord-1")) == ResumeInput("ord-1")


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not utf-8",
        "Hello from SQS!",
        "[1, 2]",
        '"text"',
        "{}",
        json.dumps({"specversion": "1.0", "id": "x", "source": "/s", "type": "com.other.Thing"}),
        json.dumps({"specversion": "1.0", "id": "x", "source": "/s", "type": "com.fooddelivery.NoSuchType"}),
        json.dumps({"messageType": "fooddelivery.saga.resume", "version": 1}),
        json.dumps({"messageType": "fooddelivery.saga.resume", "version": 2, "sagaId": "ord-1"}),
        json.dumps({"messageType": "fooddelivery.saga.timer", "version": 1, "messageId": "t"}),
    ],
)
def test_anything_else_is_a_malformed_message_naming_what_is_wrong(body: str | bytes) -> None:
    with pytest.raises(MalformedMessage) as caught:
        decode_body(body)
    assert isinstance(caught.value, ValidationError) and caught.value.fields


@pytest.mark.parametrize(
    "document",
    [
        {"messageType": "fooddelivery.saga.timer", "version": 2},
        {"messageType": "something.else", "version": 1},
        {
            "messageType": "fooddelivery.saga.timer",
            "version": 1,
            "messageId": "",
            "kind": "k",
            "body": {},
            "dueAt": "x",
        },
        {
            "messageType": "fooddelivery.saga.timer",
            "version": 1,
            "messageId": "m",
            "kind": "k",
            "body": [],
            "dueAt": "x",
        },
        {
            "messageType": "fooddelivery.saga.timer",
            "version": 1,
            "messageId": "m",
            "kind": "k",
            "body": {},
            "dueAt": "soon",
        },
        {
            "messageType": "fooddelivery.saga.timer",
            "version": 1,
            "messageId": "m",
            "kind": "k",
            "body": {},
            "dueAt": "2025-01-01T00:00:00",
        },
    ],
)
def test_a_malformed_timer_body_is_a_malformed_message(document: dict[str, Any]) -> None:
    with pytest.raises(MalformedMessage):
        timer_from_document(document)


def test_a_timer_body_round_trips() -> None:
    timer = make_scheduled()
    assert timer_from_document(json.loads(timer_body(timer))) == timer
    assert decode_body(timer_body(timer)) == TimerInput(timer)
