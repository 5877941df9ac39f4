"""The HTTP parity script (``fooddelivery.testing.http_parity``) on ``fooddelivery serve``'s ASGI app: every request
gets the status the script says, and a second server on a fresh database answers alike (the comparison every cloud
entrypoint is held to: see each cloud package's parity test)."""

from __future__ import annotations

from pathlib import Path

from fooddelivery.testing.http_parity import SCRIPT, Exchange, assert_same, comparable, serve_baseline


def serve_run(db: Path) -> list[Exchange]:
    return serve_baseline(db)


def test_every_request_of_the_script_gets_its_status_on_serve_and_two_servers_answer_alike(tmp_path: Path) -> None:
    first = serve_run(tmp_path / "first.db")
    second = serve_run(tmp_path / "second.db")

    assert [e.answer.status for e in first] == [r.status for r in SCRIPT]
    assert_same(first, second, label="second server")
    placed = next(comparable(e) for e in first if e.request.name == "place the reference order")
    assert placed["headers"]["location"] is not None and placed["headers"]["location"].startswith("/orders/ord-")
    confirmed = [e for e in first if e.request.name in ("confirm as the restaurant", "confirm again")]
    assert [e.answer.headers.get("signal-outcome") for e in confirmed] == ["ACCEPTED", "DUPLICATE"]


def test_a_difference_is_reported_by_request_name(tmp_path: Path) -> None:
    first = serve_run(tmp_path / "first.db")
    tampered = [*first[:-1], Exchange(first[-1].request, first[0].answer)]
    try:
        assert_same(first, tampered)
    except AssertionError as exc:
        assert "a path with no resource" in str(exc) and "1 answers differ" in str(exc)
    else:
        raise AssertionError("a different answer was not reported")
