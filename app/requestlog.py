"""Structured request logging: one JSON line per request, a request id echoed as X-Request-ID, metrics."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import Metrics

ACCESS_LOGGER = "photo2cad.access"
REQUEST_ID_HEADER = "X-Request-ID"
# A client's own id is kept only if it is short and plain, so it cannot forge log lines or headers.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_INTERNAL_ERROR = json.dumps({"detail": "internal server error"}).encode()
_JSON = [(b"content-type", b"application/json"), (b"content-length", str(len(_INTERNAL_ERROR)).encode())]
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        fields = {"time": when, "level": record.levelname,
                  "logger": record.name, "message": record.getMessage()}
        fields |= {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json.dumps(fields, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr: servers and test runners may swap it after start-up."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_access_log(level: str = "INFO") -> logging.Logger:
    """The access logger, writing JSON lines to stderr; idempotent (one handler however many apps)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.setLevel(level.upper())
    if not any(getattr(h, "photo2cad_json", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        handler.photo2cad_json = True
        logger.addHandler(handler)
        logger.propagate = False  # the line is already written; the root logger would repeat it as text
    return logger


def request_id_from(scope: Scope) -> str:
    """The client's X-Request-ID if it is plain and short, otherwise a fresh random one (32 hex)."""
    given = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
    return given if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex


def route_label(scope: Scope) -> str:
    """The matched route's template (bounded label set for metrics), e.g. /api/models/{model_id}."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    return getattr(route, "path", None) or type(route).__name__


class RequestLog:
    """ASGI middleware: times each HTTP request, sets X-Request-ID, logs it as JSON, counts it."""

    def __init__(self, app: ASGIApp, metrics: Metrics, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id, start, status = request_id_from(scope), time.perf_counter(), None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if status is None:  # answer in JSON, with the id to quote; the server still logs the traceback
                await send_with_id({"type": "http.response.start", "status": 500, "headers": _JSON})
                await send_with_id({"type": "http.response.body", "body": _INTERNAL_ERROR})
            raise
        finally:
            self._record(scope, request_id, status or 500, time.perf_counter() - start)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = route_label(scope)
        self.metrics.observe_request(scope["method"], route, status, seconds)
        self.logger.info("request", extra={
            "request_id": request_id, "method": scope["method"], "path": scope["path"], "route": route,
            "status": status, "duration_ms": round(seconds * 1000, 2)})
