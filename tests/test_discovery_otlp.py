"""OTLP/JSON traces -> observed edges with call counts and durations (SPEC §11 "Inference", otlp).

Inputs written from the OTLP/JSON encoding (opentelemetry-proto's JSON mapping: lowerCamelCase
fields, ids as hex strings, 64-bit times as decimal strings, enum values as integers or names) and
the semantic conventions (`service.name`, `db.system` / `db.system.name`, `server.address`,
`peer.service`, `db.name` / `db.namespace`, `messaging.destination.name`), in both file shapes:
one document, and one document a line as the collector's file exporter writes.
"""

from __future__ import annotations

import io
import json

import pytest
from discovery_support import edges, kinds

from maestro_web.discovery.inference import MAX_BYTES, InputRefused, infer
from maestro_web.discovery.kinds import otlp

TRACE = "5b8efff798038103d269b633813fc60c"
SECOND_TRACE = "0af7651916cd43dd8448eb211c80319c"
MS = 1_000_000
START = 1_700_000_000_000_000_000


def span(
    span_id: str, kind: int | str, duration_ms: float, parent: str = "", trace: str = TRACE, **attributes: str
) -> dict:
    item = {
        "traceId": trace,
        "spanId": span_id,
        "name": "op",
        "kind": kind,
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + int(duration_ms * MS)),
        "attributes": [
            {"key": key.replace("_", "."), "value": {"stringValue": value}} for key, value in attributes.items()
        ],
    }
    if parent:
        item["parentSpanId"] = parent
    return item


def resource(service: str | None, *spans: dict) -> dict:
    attributes = [{"key": "service.name", "value": {"stringValue": service}}] if service else []
    attributes.append({"key": "telemetry.sdk.language", "value": {"stringValue": "python"}})
    return {
        "resource": {"attributes": attributes},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.flask"}, "spans": list(spans)}],
    }


def shop() -> list[dict]:
    """web calls orders 4 times (CLIENT -> SERVER); orders queries postgres and publishes to the
    `order-events` topic that billing consumes; orders also calls inventory from an INTERNAL span."""
    web, orders, billing, inventory = [], [], [], []
    for number, duration in enumerate((10, 20, 30, 400), start=1):
        client, server = f"a{number:015x}", f"b{number:015x}"
        web.append(span(client, "SPAN_KIND_CLIENT", duration, http_request_method="GET"))
        orders.append(span(server, 2, duration - 1, parent=client))
    orders.append(
        span(
            "c000000000000001",
            3,
            5,
            parent="b000000000000001",
            db_system_name="postgresql",
            server_address="orders-db.internal",
            db_namespace="orders",
        )
    )
    orders.append(span("c000000000000002", 3, 7, parent="b000000000000002", db_system="redis"))
    orders.append(
        span(
            "d000000000000001",
            4,
            2,
            parent="b000000000000001",
            messaging_destination_name="order-events",
            messaging_system="kafka",
        )
    )
    billing.append(
        span("e000000000000001", 5, 12, parent="d000000000000001", messaging_destination_name="order-events")
    )
    orders.append(span("f000000000000001", 1, 3, parent="b000000000000003"))
    inventory.append(span("f000000000000002", 2, 2, parent="f000000000000001"))
    return [
        resource("web", *web),
        resource("orders", *orders),
        resource("billing", *billing),
        resource("inventory", *inventory),
    ]


def as_document(blocks: list[dict]) -> bytes:
    return json.dumps({"resourceSpans": blocks}, indent=2).encode()


def as_lines(blocks: list[dict]) -> bytes:
    return b"".join(json.dumps({"resourceSpans": [block]}).encode() + b"\n" for block in blocks)


def check_shop(result, extra_nodes: dict | None = None) -> None:
    names = {node.name for node in result.nodes}
    for edge in result.edges:
        assert edge.source in names and edge.target in names and edge.evidence
        assert edge.confidence == "observed" and edge.calls and edge.p50_ms is not None
    assert kinds(result) == {
        "web": None,
        "orders": None,
        "billing": None,
        "inventory": None,
        "orders-db.internal": "database",
        "redis": "cache",
        "order-events": "queue",
        **(extra_nodes or {}),
    }
    found = edges(result)
    assert set(found) == {
        ("web", "orders"),
        ("orders", "orders-db.internal"),
        ("orders", "redis"),
        ("orders", "order-events"),
        ("order-events", "billing"),
        ("orders", "inventory"),
    }
    calls = found[("web", "orders")]
    assert (calls.calls, calls.p50_ms, calls.p99_ms) == (4, 20.0, 400.0)  # the CLIENT spans' durations
    assert calls.evidence == ("4 spans of orders whose parent span is in web (CLIENT -> SERVER: 4)",)
    database = found[("orders", "orders-db.internal")]
    assert (database.calls, database.p50_ms, database.p99_ms) == (1, 5.0, 5.0)
    assert database.evidence == (
        "1 CLIENT spans of orders with db.system=postgresql and no child span, to orders-db.internal",
    )
    assert found[("orders", "redis")].evidence == (
        "1 CLIENT spans of orders with db.system=redis and no child span, to redis",
    )
    assert found[("orders", "order-events")].evidence == ("1 PRODUCER spans of orders to order-events",)
    assert found[("order-events", "billing")].evidence == ("1 CONSUMER spans of billing from order-events",)
    assert ("orders", "billing") not in found  # through the queue, not around it
    assert found[("orders", "inventory")].evidence == (
        "1 spans of inventory whose parent span is in orders (INTERNAL -> SERVER: 1)",
    )
    assert found[("orders", "inventory")].p50_ms == 2.0  # not a CLIENT parent: the child's duration


def test_one_document():
    result = infer("otlp", as_document(shop()), {})
    check_shop(result)
    assert result.problems == []


def test_json_lines_as_the_collector_file_exporter_writes_them():
    result = infer("otlp", io.BytesIO(as_lines(shop())), {})
    check_shop(result)
    assert result.problems == []


def test_a_line_longer_than_the_line_limit_is_read_incrementally(monkeypatch):
    monkeypatch.setattr(otlp, "LINE_LIMIT", 200)  # every line of this file is longer
    check_shop(infer("otlp", as_lines(shop()), {}))
    compact = json.dumps({"resourceSpans": shop()}).encode()  # one document on one long line
    check_shop(infer("otlp", compact, {}))


def test_the_resource_after_its_spans_and_the_pre_1_0_scope_key():
    blocks = shop()
    reordered = []
    for block in blocks:
        reordered.append({"instrumentationLibrarySpans": block["scopeSpans"], "resource": block["resource"]})
    check_shop(infer("otlp", json.dumps({"resourceSpans": reordered}).encode(), {}))
    check_shop(infer("otlp", json.dumps({"resourceSpans": reordered}, indent=1).encode(), {}))


def test_a_database_client_span_with_a_child_is_a_call_to_that_service_not_a_database():
    blocks = [
        resource("api", span("1000000000000001", 3, 4, db_system="postgresql", peer_service="pgproxy")),
        resource("pgproxy", span("2000000000000001", 2, 3, parent="1000000000000001")),
    ]
    result = infer("otlp", as_document(blocks), {})
    assert set(edges(result)) == {("api", "pgproxy")}
    assert kinds(result) == {"api": None, "pgproxy": None}


def test_database_names_from_peer_service_then_db_name_then_the_system_and_a_clash_with_a_service():
    blocks = [
        resource(
            "api",
            span("1000000000000001", 3, 1, db_system="postgresql", peer_service="ledger", db_name="x"),
            span("1000000000000002", 3, 1, db_system="mongodb", db_name="catalog"),
            span("1000000000000003", 3, 1, db_system="cassandra"),
            span("1000000000000004", 3, 1, db_system="mysql", server_address="api"),
        ),
    ]
    result = infer("otlp", as_document(blocks), {})
    assert kinds(result) == {
        "api": None,
        "ledger": "database",
        "catalog": "database",
        "cassandra": "database",
        "api (database)": "database",
    }


def test_producer_consumer_without_a_destination_is_a_direct_edge():
    blocks = [
        resource("a", span("1000000000000001", 4, 1)),
        resource("b", span("2000000000000001", 5, 1, parent="1000000000000001")),
    ]
    found = edges(infer("otlp", as_lines(blocks), {}))
    assert set(found) == {("a", "b")}
    assert found[("a", "b")].evidence == ("1 spans of b whose parent span is in a (PRODUCER -> CONSUMER: 1)",)


def test_broken_spans_are_skipped_and_counted_not_fatal():
    good = shop()
    broken = resource(
        None,
        {"traceId": TRACE, "name": "no span id"},
        {"traceId": TRACE, "spanId": "9000000000000001", "startTimeUnixNano": "5", "endTimeUnixNano": "4"},
        {"traceId": TRACE, "spanId": "9000000000000002", "startTimeUnixNano": "x", "endTimeUnixNano": "4"},
        {"traceId": TRACE, "spanId": "9000000000000003", "kind": 42, "startTimeUnixNano": "1", "endTimeUnixNano": "4"},
        "not an object",
        span("b000000000000001", 2, 1),  # repeats a span id of the shop
        span("9000000000000004", 1, 1),
    )  # readable, but its resource has no service.name
    text = as_lines(good) + b"{not json\n" + json.dumps({"resourceSpans": [broken]}).encode() + b"\n[1, 2]\n"
    result = infer("otlp", text, {})
    check_shop(result, {"unknown_service": None})
    assert result.problems == [
        "skipped 1 span without a traceId or spanId",
        "skipped 2 spans with a missing, unreadable or backwards start/end time",
        "skipped 1 span with an unknown kind",
        "skipped 1 span given as something other than an object",
        "skipped 1 span repeating a spanId already seen in its trace",
        "skipped 1 JSON line without a resourceSpans list",
        "skipped 1 line that is not JSON (line 5)",
        "1 span without service.name in its resource counted as unknown_service",
    ]


def test_a_document_that_breaks_off_keeps_what_came_before():
    text = as_document(shop())
    result = infer("otlp", text[: len(text) - 300], {})
    assert result.problems and result.problems[-1].startswith("the JSON breaks off (")
    assert result.problems[-1].endswith("); everything after that point was skipped")
    assert ("web", "orders") in edges(result)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "the input is empty"),
        (b"\n\n  \n", "the input is empty"),
        (b"\x00\x01\x02binary", "the input is not OTLP/JSON text: it contains NUL bytes"),
        (b"\x89PNG\r\n\x1a\n\xff\xfe", "not OTLP/JSON: "),
        (b'{"resourceSpans": []}\n', "found no spans: expected OTLP/JSON"),
        (b'{"hello": "world"}', "found no readable span: skipped 1 JSON line without a resourceSpans list"),
        (b"{broken\n{also broken\n", "not OTLP/JSON: "),
        (b"plain words\n", "not OTLP/JSON: "),
    ],
)
def test_unusable_input_is_refused_with_a_message(data, message):
    with pytest.raises(InputRefused) as refused:
        infer("otlp", data, {})
    assert str(refused.value).startswith(message)


def test_more_than_50_mib_is_refused_while_streaming():
    line = as_lines(shop())
    big = io.BytesIO(line * (MAX_BYTES["otlp"] // len(line) + 2))
    with pytest.raises(InputRefused, match="larger than 50 MiB"):
        infer("otlp", big, {})
    assert big.tell() <= MAX_BYTES["otlp"] + 1  # it stopped reading there
    with pytest.raises(InputRefused, match="larger than 50 MiB"):
        infer("otlp", big.getvalue(), {})
