"""What every endpoint module shares: the request and response types, the one error shape,
and the parsing of query parameters and JSON bodies.

Errors, whatever raised them, come out as ``{"error": {"code", "message"}}``
with an HTTP status derived from the nerv error class (the same classes that
give the CLI its exit codes):

====================  ======  =========================
error                 status  code
====================  ======  =========================
NotFoundError         404     ``not_found``
AmbiguousIdError      400     ``ambiguous_id``
AlreadyDecidedError   409     ``conflict`` (an approval request decided meanwhile)
ValidationError       400     ``invalid``
ConflictError         409     ``conflict``
ConstraintError       409     ``constraint``
DatabaseError         503     ``database_unavailable``
OverflowError,        400     ``bad_request`` (a number SQLite cannot hold,
RecursionError                a value nested too deeply)
other NervError       400     ``error``
anything else         500     ``internal`` (no details)
====================  ======  =========================
"""

from __future__ import annotations

import dataclasses
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nerv.errors import (
    AmbiguousIdError,
    ConflictError,
    ConstraintError,
    DatabaseError,
    NervError,
    NotFoundError,
    ValidationError,
)
from nerv.store.requests import AlreadyDecidedError

Json = dict[str, Any]
Query = Mapping[str, list[str]]


class ApiError(Exception):
    """A failure with its HTTP status and machine-readable code."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Response:
    status: int
    body: Json
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str]  # the route's named groups
    query: Query
    body: Json  # the parsed JSON object of a POST; empty for other methods


Handler = Callable[[Request], Json]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def error_body(code: str, message: str) -> Json:
    return {"error": {"code": code, "message": message}}


def error_response(exc: BaseException) -> Response:
    """The one error shape for any exception (unexpected ones are logged, never shown)."""
    error = as_api_error(exc)
    if error.status >= 500 and not isinstance(exc, ApiError | NervError):
        print("nerv web: internal error while handling a request:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
    return Response(error.status, error_body(error.code, error.message), error.headers)


def as_api_error(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OverflowError | RecursionError):  # a number SQLite cannot hold, a deep value
        return ApiError(400, "bad_request", "a value is out of range or nested too deeply")
    if isinstance(exc, NotFoundError):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, AmbiguousIdError):
        return ApiError(400, "ambiguous_id", str(exc))
    if isinstance(exc, AlreadyDecidedError):  # a ValidationError for the CLI; here, a stale page
        return ApiError(409, "conflict", str(exc))
    if isinstance(exc, ValidationError):
        return ApiError(400, "invalid", str(exc))
    if isinstance(exc, ConflictError):
        return ApiError(409, "conflict", str(exc))
    if isinstance(exc, ConstraintError):
        return ApiError(409, "constraint", str(exc))
    if isinstance(exc, DatabaseError):
        return ApiError(503, "database_unavailable", str(exc))
    if isinstance(exc, NervError):
        return ApiError(400, "error", str(exc))
    return ApiError(500, "internal", "internal error (the details are in the server's log)")


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid", message)


# -- query parameters ---------------------------------------------------------------------


def param(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1].strip() if values else None


def int_param(query: Query, name: str, default: int, low: int, high: int) -> int:
    raw = param(query, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise invalid(f"{name} must be between {low} and {high}, got {value}")
    return value


# -- JSON bodies --------------------------------------------------------------------------------


def fields(body: Json, *allowed: str) -> Json:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        expected = ", ".join(allowed)
        raise invalid(f"unknown field(s): {', '.join(unknown)} (expected {expected})")
    return body


def str_field(body: Json, name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"missing field: {name}")
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    return value
