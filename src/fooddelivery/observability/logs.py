"""Logs: one format everywhere (``serve``, the CLI, every cloud entrypoint), through the standard ``logging``.

:func:`configure_logging` is the one set-up: it gives the ``fooddelivery`` loggers one handler on standard error
whose lines are either

- ``json``: one JSON object per line (JSON Lines, https://jsonlines.org/): ``time`` (RFC 3339 UTC),
  ``level``, ``logger``, ``message``, and, when known, ``trace_id`` / ``span_id`` (the current OpenTelemetry
  span, 32 / 16 hex digits, as the W3C trace context writes them), ``order_id``, ``saga_step``, ``exc_info``
  (the traceback, in the same line); or
- ``text``: ``LEVEL logger: message`` followed by the same fields as ``key=value``.

The order id and saga step come from :func:`bind`, which the use cases, the runtime and the saga steps set
around their work (so a line logged anywhere below them carries them); the trace ids from the current span.
The format is chosen by ``FOODDELIVERY_LOG_FORMAT`` (:class:`LogSettings`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, TextIO

from fooddelivery.domain.errors import ValidationError
from fooddelivery.observability.tracing import current_ids

__all__ = [
    "FIELDS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonLogFormatter",
    "LogSettings",
    "PlatformTextFormatter",
    "TextLogFormatter",
    "annotate",
    "bind",
    "configure_logging",
    "log_fields",
    "reset_fields",
    "step_fields",
]

#: The log formats :class:`LogSettings` accepts.
LOG_FORMATS: Final[tuple[str, ...]] = ("text", "json")
#: The log levels :class:`LogSettings` accepts (lower case).
LOG_LEVELS: Final[tuple[str, ...]] = ("critical", "error", "warning", "info", "debug")

_NOTHING: Final[Mapping[str, str]] = MappingProxyType({})
_bound: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("fooddelivery_log_fields", default=_NOTHING)


class _Fields:
    """Whether log lines carry the bound fields: set once :func:`configure_logging` installed a formatter that
    writes them (until then :func:`bind` does nothing, so a library that never configures logging pays nothing)."""

    on = False


FIELDS: Final[_Fields] = _Fields()


class bind:
    """Add ``values`` (``order_id=...``, ``saga_step=...``; None ones are skipped) to every log line written in
    this block, in this thread or task; :func:`annotate` adds more to the block later. A no-op until
    :func:`configure_logging` ran (:data:`FIELDS`)."""

    __slots__ = ("_token", "_values")

    def __init__(self, **values: str | None) -> None:
        self._values = values
        self._token: contextvars.Token[Mapping[str, str]] | None = None

    def __enter__(self) -> None:
        if not FIELDS.on:
            return
        fields = dict(_bound.get())
        for key, value in self._values.items():
            if value is not None:
                fields[key] = value
        self._token = _bound.set(fields)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _bound.reset(self._token)


def step_fields(order_id: str, saga_step: str) -> contextvars.Token[Mapping[str, str]] | None:
    """Bind ``order_id`` and ``saga_step`` to the log lines of a saga step's block (the saga runner's, around each
    action), or do nothing (None) until :func:`configure_logging` ran; pass the token to :func:`reset_fields` at
    the block's end. (The lean form of :class:`bind`, for the hot path.)"""
    if not FIELDS.on:
        return None
    return _bound.set({**_bound.get(), "order_id": order_id, "saga_step": saga_step})


def reset_fields(token: contextvars.Token[Mapping[str, str]] | None) -> None:
    """End the block :func:`step_fields` started (None: nothing to end)."""
    if token is not None:
        _bound.reset(token)


def annotate(**values: str) -> None:
    """Add ``values`` to the innermost :func:`bind` block (what it learns on the way: a new order's id); keys it
    has already are kept. Outside any block, nothing happens."""
    current = _bound.get()
    if isinstance(current, dict):
        for key, value in values.items():
            current.setdefault(key, value)


def log_fields() -> dict[str, str]:
    """The fields a log line written now carries: ``trace_id``, ``span_id`` (when a span is current), and what
    :func:`bind` set."""
    values = dict(_bound.get())
    ids = current_ids()
    if ids is not None:
        values["trace_id"], values["span_id"] = ids
    return values


def _setting(default: str, variable: str, choices: tuple[str, ...], doc: str) -> Any:
    return field(default=default, metadata={"env": variable, "choices": choices, "doc": doc})


@dataclass(frozen=True, slots=True)
class LogSettings:
    """How a process logs, read from the environment (:meth:`from_env`); the README's settings table lists them
    (:meth:`documented`).

    Attributes:
        log_format: ``text`` or ``json`` (``FOODDELIVERY_LOG_FORMAT``, default ``text``).
        log_level: the ``fooddelivery`` loggers' level (``FOODDELIVERY_LOG_LEVEL``, default ``info``).
    """

    log_format: str = _setting(
        "text",
        "FOODDELIVERY_LOG_FORMAT",
        LOG_FORMATS,
        "How log lines are written on standard error by `serve`, the CLI and every cloud entrypoint: `text` "
        "(`LEVEL logger: message key=value...`) or `json` (one JSON object per line: time, level, logger, "
        "message, trace_id, span_id, order_id, saga_step, exc_info).",
    )
    log_level: str = _setting(
        "info",
        "FOODDELIVERY_LOG_LEVEL",
        LOG_LEVELS,
        "The lowest level logged: `critical`, `error`, `warning`, `info` or `debug` (also `serve --log-level`).",
    )

    def __post_init__(self) -> None:
        """Refuse an unknown format or level.

        Raises:
            ValidationError: naming the field.
        """
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in f.metadata["choices"]:
                raise ValidationError.single(
                    f.name, f"must be one of {', '.join(f.metadata['choices'])}, got {value!r}", "invalid"
                )

    @classmethod
    def documented(cls) -> list[tuple[str, str, str]]:
        """``(variable, default, what it sets)`` for every variable :meth:`from_env` reads, in field order."""
        return [(f.metadata["env"], f"`{f.default}`", f.metadata["doc"]) for f in fields(cls)]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LogSettings:
        """Read ``FOODDELIVERY_LOG_FORMAT`` and ``FOODDELIVERY_LOG_LEVEL`` (case-insensitive values).

        Raises:
            ValidationError: an unknown value, naming the variable.
        """
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is None or not raw.strip():
                continue
            value = raw.strip().lower()
            if value not in f.metadata["choices"]:
                raise ValidationError.single(
                    f.metadata["env"], f"must be one of {', '.join(f.metadata['choices'])}, got {raw!r}", "invalid"
                )
            values[f.name] = value
        return cls(**values)


#: The characters ``str.splitlines()`` breaks at that JSON leaves unescaped once non-ASCII text is kept as is
#: (NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR: https://docs.python.org/3/library/stdtypes.html#str.splitlines),
#: and their JSON escapes. (JSON escapes the others, all below U+0020, itself.)
_LINE_BREAKS: Final[dict[int, str]] = {
    0x85: "\\u0085",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
    # lone surrogates (a str may hold them; UTF-8 cannot): escaped, or the stream refuses the whole record
    **{code: f"\\u{code:04x}" for code in range(0xD800, 0xE000)},
}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring); non-ASCII text is kept as is (UTF-8), except the
    characters a line splitter may break at (U+0085, U+2028, U+2029), which are escaped (``\\u2028``): a record
    is exactly one line under ``str.splitlines()`` and any log shipper's splitter."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line (the traceback, if any, in ``exc_info``)."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(getattr(record, "fooddelivery", None) or log_fields())
        request_id = getattr(record, "aws_request_id", None)  # set by the Lambda runtime's handler
        if isinstance(request_id, str) and request_id:
            document["aws_request_id"] = request_id
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        line = json.dumps(document, ensure_ascii=False, default=str, separators=(",", ":"))
        # in JSON text these characters can only be inside strings, where their escape means the same
        return line.translate(_LINE_BREAKS) if not line.isascii() else line


class TextLogFormatter(logging.Formatter):
    """``LEVEL logger: message`` and the log fields as ``key=value`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as text; a traceback follows on the next lines."""
        line = super().format(record)
        extra = getattr(record, "fooddelivery", None) or log_fields()
        if not extra:
            return line
        head, sep, rest = line.partition("\n")
        return head + " " + " ".join(f"{k}={v}" for k, v in extra.items()) + sep + rest


class PlatformTextFormatter(logging.Formatter):
    """The function host's own text format (the Lambda runtime's ``[LEVEL] time request-id message``, the
    Functions worker's) with the log fields appended as ``key=value`` to the first line: replacing the host's
    formatter would drop the invocation's request id and time from every line, other libraries' included.

    Args:
        inner: the formatter the host's handler had (None: :class:`TextLogFormatter`).
    """

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner if inner is not None else TextLogFormatter()

    def format(self, record: logging.LogRecord) -> str:
        """The host's line with the fields after the message; a traceback stays on the next lines."""
        line = self.inner.format(record)
        if isinstance(self.inner, TextLogFormatter):
            return line
        extra = getattr(record, "fooddelivery", None) or log_fields()
        if not extra:
            return line
        head, sep, rest = line.partition("\n")
        return head + " " + " ".join(f"{k}={v}" for k, v in extra.items()) + sep + rest


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a line is written (a test runner or a CLI runner may swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(
    settings: LogSettings | None = None,
    *,
    level: str | None = None,
    stream: TextIO | None = None,
    platform: bool = False,
) -> list[logging.Handler]:
    """Write the ``fooddelivery`` loggers' lines in the configured format. Idempotent.

    Two modes:

    - own handler (``serve``, the CLI): one handler on ``stream`` (standard error) for the ``fooddelivery``
      loggers, which stop propagating to the root logger (the handler installed before is replaced);
    - ``platform`` (a cloud entrypoint): the handlers the function host installed on the root logger (the Lambda
      runtime's, the Azure Functions worker's) get the JSON format, or in the text format keep their own with the
      fields appended (:class:`PlatformTextFormatter`: the host's request id and time stay on every line), and
      the ``fooddelivery`` loggers keep propagating to them, so their lines still go where the platform collects
      them; a root logger without handlers gets one on standard error.

    Args:
        settings: format and level (default :meth:`LogSettings.from_env`).
        level: overrides the settings' level (``serve --log-level``).
        stream: where lines go in the own-handler mode (standard error by default).
        platform: the cloud mode above.

    Returns:
        The handlers that now write the lines.

    Raises:
        ValidationError: an unknown format or level in the environment.
    """
    settings = settings or LogSettings.from_env()
    FIELDS.on = True
    formatter = JsonLogFormatter() if settings.log_format == "json" else TextLogFormatter()
    ours = logging.getLogger("fooddelivery")
    ours.setLevel((level or settings.log_level).upper())
    if platform:
        root = logging.getLogger()
        if not root.handlers:
            root.addHandler(_StderrHandler())
        for platform_handler in root.handlers:
            if settings.log_format == "json":
                platform_handler.setFormatter(formatter)
            elif not isinstance(platform_handler.formatter, PlatformTextFormatter):
                platform_handler.setFormatter(PlatformTextFormatter(platform_handler.formatter))
        ours.handlers[:] = []
        ours.propagate = True
        return list(root.handlers)
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(formatter)
    ours.handlers[:] = [handler]
    ours.propagate = False
    return [handler]
