"""How the service answers errors: one line that names the field, never a 5xx for bad input.

- 400/404/409 (:mod:`tzero.service.app` maps the exception classes): the
  exception's message on one line, at most :data:`MAX_DETAIL` characters;
- 422 (request validation): ``detail`` is one line, ``field: what is wrong
  (got 'input…')`` per error, inputs echoed at most :data:`ECHO_CHARS`
  characters; ``errors`` lists field, message and type of each (no input);
- 503: the app store cannot be reached (:data:`DB_ERRORS`), with the driver's
  one-line reason and ``Retry-After``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

log = logging.getLogger("tzero.service")

#: SQLAlchemy errors that mean "the app store cannot be reached now" (server down or
#: restarting, connection cut, SQLite file gone or locked, pool exhausted) — not a bug.
DB_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DisconnectionError,
                                          PoolTimeoutError)
#: Longest stretch of a request's input echoed back in an error message (characters).
ECHO_CHARS = 40
#: Longest error line the service answers (characters).
MAX_DETAIL = 300
#: Seconds a client is asked to wait before retrying after a 503.
RETRY_AFTER_S = 5
_MAX_ERRORS = 5          # validation errors spelled out in ``detail``; the rest are counted
_last_db_log = [0.0]     # monotonic time of the last "database unavailable" log line


def one_line(text: object, limit: int = MAX_DETAIL) -> str:
    """``text`` with its whitespace runs (newlines included) collapsed, cut to ``limit`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[:limit - 1] + "…"


def echo(value: object) -> str:
    """A user's input as an error message quotes it: ``repr``, cut after :data:`ECHO_CHARS`."""
    s = str(value)
    return repr(s) if len(s) <= ECHO_CHARS else f"{s[:ECHO_CHARS]!r}… ({len(s)} characters)"


def db_reason(exc: BaseException) -> str:
    """The driver's reason for a database error, on one line (no SQL, no parameters)."""
    orig = getattr(exc, "orig", None) or exc
    first = next((ln for ln in str(orig).splitlines() if ln.strip()), type(orig).__name__)
    return one_line(first, 200)


def field_name(loc: Sequence[Any]) -> str:
    """A pydantic error location as the user wrote the field: ``as_of``, ``symbols[1]``, ``body``."""
    parts = list(loc)
    if parts and parts[0] in ("query", "path", "header", "cookie", "body"):
        parts = parts[1:]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def describe(err: dict) -> str:
    """One validation error as ``field: message (got 'input')``."""
    if err.get("type") == "json_invalid":
        why = (err.get("ctx") or {}).get("error", "")
        pos = err["loc"][-1] if err.get("loc") else "?"
        return one_line(f"body: invalid JSON at character {pos}" + (f" ({why})" if why else ""))
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    line = f"{field_name(err.get('loc', ()))}: {msg}"
    value = err.get("input")
    if err.get("type") != "missing" and isinstance(value, (str, int, float)):
        line += f" (got {echo(value)})"
    return one_line(line)


def validation_detail(errors: Sequence[dict]) -> str:
    """Every validation error of a request on one line (the first five spelled out)."""
    shown = "; ".join(describe(e) for e in errors[:_MAX_ERRORS])
    more = len(errors) - _MAX_ERRORS
    return shown + (f"; and {more} more" if more > 0 else "")


def invalid(field: str, msg: str, where: str = "query") -> RequestValidationError:
    """A 422 for ``field`` raised by the service itself (same body as FastAPI's own)."""
    return RequestValidationError([{"type": "value_error", "loc": (where, field), "msg": msg,
                                    "input": None}])


def error_handler(status: int) -> Callable:
    """An exception handler answering ``status`` with the exception's message on one line."""
    async def handler(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": one_line(exc)}, status_code=status)
    return handler


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    errors = list(exc.errors()) if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": validation_detail(errors),
                         "errors": [{"field": field_name(e.get("loc", ())),
                                     "msg": one_line(e.get("msg", "")), "type": str(e.get("type", ""))}
                                    for e in errors[:20]]}, status_code=422)


async def _db_unavailable(request: Request, exc: Exception) -> JSONResponse:
    dialect = request.app.state.tzero.engine.dialect.name
    reason = db_reason(exc)
    if time.monotonic() - _last_db_log[0] >= RETRY_AFTER_S:   # one line per interval, not per request
        _last_db_log[0] = time.monotonic()
        log.warning("%s %s: database unavailable: %s (answering 503)", request.method,
                    request.url.path, reason)
    return JSONResponse({"detail": one_line(f"database unavailable ({dialect}): {reason}; retry "
                                            f"once GET /api/health says ok")},
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


def install(app: FastAPI, by_status: dict[type[Exception], int]) -> None:
    """Register the handlers: ``by_status`` (exception class → status), 422 and the 503s.

    Also documents the 422 body in the OpenAPI schema (FastAPI's default
    ``HTTPValidationError`` describes a list, the service answers one line).
    """
    from tzero.service.schemas import ValidationErrorOut

    for cls, status in by_status.items():
        app.add_exception_handler(cls, error_handler(status))
    app.add_exception_handler(RequestValidationError, _validation)
    for cls in DB_ERRORS:
        app.add_exception_handler(cls, _db_unavailable)

    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            comps = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in comps:
                comps["HTTPValidationError"] = ValidationErrorOut.model_json_schema()
        return app.openapi_schema or {}
    app.openapi = openapi  # type: ignore[method-assign]
