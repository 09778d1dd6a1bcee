"""OTLP/HTTP with JSON encoding: Claude Code's telemetry events into the database.

``POST /v1/logs`` carries log records; Claude Code names each event in the
``event.name`` attribute (``api_request``, ``tool_decision``, ``user_prompt``,
...), or in the body as ``claude_code.<name>``. Two are kept:

* ``api_request`` (``session.id``, ``request_id``, ``model``, token counts,
  ``cost_usd`` / ``cost_usd_micros``): a metrics row, priced with nerv's price
  table like a transcript row (Claude Code's own figure when nerv has no price),
  deduplicated against transcript rows by request id (:mod:`nerv.store.telemetry`);
* ``tool_decision`` (``tool_name``, ``decision``, ``source``): an audit row.

Every other event, and ``POST /v1/metrics``, is accepted and ignored. The
answer is OTLP's (an empty JSON object); a body that is not OTLP JSON gets 400.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from nerv.ids import now_ms
from nerv.web.api import ApiError

if TYPE_CHECKING:
    from nerv.serve.server import ControlServer
    from nerv.usage.pricing import PriceTable

ACTOR = "otel"
EVENT_PREFIX = "claude_code."
DECISION_FIELDS = ("tool_name", "decision", "source", "tool_use_id", "prompt.id")


def handle(server: ControlServer, path: str, raw: bytes) -> bytes:
    """Store what a request carries; the OTLP answer body."""
    try:
        document = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"the body is not OTLP JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object (OTLP export request)")
    if path == "/v1/logs":
        events = list(log_events(document))
        if events:
            store(server, events)
            server.feed.poke()
    return b"{}"


def log_events(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], int]]:
    """``(event name, attributes, time in epoch ms)`` of every log record."""
    for resource_logs in _list(document.get("resourceLogs")):
        resource = _attributes(_dict(_dict(resource_logs).get("resource")).get("attributes"))
        for scope_logs in _list(_dict(resource_logs).get("scopeLogs")):
            for record in _list(_dict(scope_logs).get("logRecords")):
                record = _dict(record)
                attrs = {**resource, **_attributes(record.get("attributes"))}
                name = attrs.get("event.name")
                if not isinstance(name, str):
                    body = _value(_dict(record.get("body")))
                    name = body if isinstance(body, str) else ""
                name = name.removeprefix(EVENT_PREFIX)
                yield name, attrs, _time_ms(record)


def store(server: ControlServer, events: list[tuple[str, dict[str, Any], int]]) -> None:
    """One transaction for the request's events."""
    from nerv.store import telemetry
    from nerv.store.tx import Transaction

    prices = _prices(server) if any(name == "api_request" for name, _, _ in events) else None
    with server.telemetry_lock:
        conn = server.telemetry_connection()
        with Transaction(conn):
            for name, attrs, at in events:
                session = attrs.get("session.id")
                if not isinstance(session, str) or not session:
                    continue
                if name == "api_request":
                    event = api_request(session, attrs, at, prices)
                    if event is not None:
                        telemetry.record_api_request(conn, ACTOR, event)
                elif name == "tool_decision":
                    details = {k: attrs[k] for k in DECISION_FIELDS if k in attrs}
                    telemetry.record_tool_decision(conn, ACTOR, session, details, at)


def api_request(
    session: str, attrs: dict[str, Any], at: int, prices: PriceTable | None
) -> Any:
    """The metrics row of one api_request event (None without a request id)."""
    from nerv.store.telemetry import ApiRequest
    from nerv.usage.records import TokenUsage

    request_id = attrs.get("request_id") or attrs.get("request.id")
    if not isinstance(request_id, str) or not request_id:
        return None
    model = attrs.get("model") if isinstance(attrs.get("model"), str) else None
    usage = TokenUsage(
        input=_count(attrs.get("input_tokens")),
        output=_count(attrs.get("output_tokens")),
        cache_write_5m=_count(attrs.get("cache_creation_tokens")),
        cache_read=_count(attrs.get("cache_read_tokens")),
    )
    cost = prices.cost_of(model, usage) if prices is not None and model else None
    if cost is None:
        cost = _reported_cost(attrs)
    return ApiRequest(
        claude_session_id=session, request_id=request_id, model=model, input_tokens=usage.input,
        output_tokens=usage.output, cache_read_tokens=usage.cache_read,
        cache_write_tokens=usage.cache_write_5m, cost_usd=cost, at=at,
    )


def _prices(server: ControlServer) -> PriceTable | None:
    try:
        with server.api.lock:
            return server.api.service.price_table()
    except Exception:
        return None


def _reported_cost(attrs: dict[str, Any]) -> float | None:
    micros = attrs.get("cost_usd_micros")
    if isinstance(micros, int | float) and not isinstance(micros, bool) and micros >= 0:
        return float(micros) / 1e6
    cost = attrs.get("cost_usd")
    if isinstance(cost, str):
        try:
            cost = float(cost)
        except ValueError:
            return None
    if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
        return float(cost)
    return None


def _count(value: Any) -> int:
    if isinstance(value, str):
        try:
            value = int(float(value))
        except ValueError:
            return 0
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    return 0


def _time_ms(record: dict[str, Any]) -> int:
    for key in ("timeUnixNano", "observedTimeUnixNano"):
        try:
            nanos = int(record.get(key) or 0)
        except (TypeError, ValueError):
            continue
        if nanos > 0:
            return nanos // 1_000_000
    return now_ms()


def _attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in _list(items):
        item = _dict(item)
        key = item.get("key")
        if isinstance(key, str):
            out[key] = _value(_dict(item.get("value")))
    return out


def _value(value: dict[str, Any]) -> Any:
    """An OTLP AnyValue as a Python value (64-bit integers arrive as JSON strings)."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return None
    if "doubleValue" in value:
        try:
            return float(value["doubleValue"])
        except (TypeError, ValueError):
            return None
    if "boolValue" in value:
        return bool(value["boolValue"])
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
