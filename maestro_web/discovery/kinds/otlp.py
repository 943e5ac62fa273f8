"""OpenTelemetry traces as OTLP/JSON: one `{"resourceSpans": [...]}` document, or one such object a
line as the collector's file exporter writes them.

"A -> B" (confidence `observed`, with the call count and p50/p99 duration in ms) when a span of
service B has its parent span in service A: CLIENT -> SERVER pairs and any other pair. A CLIENT span
with `db.system` / `db.system.name` and no child span is a call to a database node named by
`peer.service`, `server.address`, `db.name` / `db.namespace` or the system. PRODUCER -> CONSUMER runs
through a queue node named by `messaging.destination.name` (kind `queue`): producer -> queue ->
consumer, the direction the messages go.

The file is streamed, never held whole as Python objects: JSON lines are parsed one line at a time
(`json.loads`), and a document that is not one object a line (pretty-printed, or a line over
LINE_LIMIT) goes through ijson's incremental parser, event by event. What is kept per span is a
small tuple, so 200,000 spans cost tens of MB. A span that cannot be read (no ids, no times, end
before start, a line that is not JSON) is skipped and counted in `problems`.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

import ijson

from maestro_web.discovery.inference import MAX_BYTES, Inference, InputRefused, Progress
from maestro_web.discovery.kinds.common import GraphBuilder, clip, kind_from_words, report

LINE_LIMIT = 8 * 2**20  # a longer line is read incrementally rather than by json.loads
UNKNOWN_SERVICE = "unknown_service"  # what OpenTelemetry SDKs report when service.name is not set

INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER = 1, 2, 3, 4, 5
KIND_WORDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_KIND_BY_TEXT = {f"SPAN_KIND_{word}": number for number, word in KIND_WORDS.items()}
_KIND_BY_TEXT.update({word: number for number, word in KIND_WORDS.items()})

# The span attributes the rules read; every other attribute is dropped as soon as it is seen.
DB_SYSTEM = ("db.system.name", "db.system")
DB_TARGET = ("peer.service", "server.address", "db.name", "db.namespace")
ATTRIBUTES = frozenset({*DB_SYSTEM, *DB_TARGET, "messaging.destination.name", "messaging.system"})
_NO_ATTRIBUTES: dict[str, str] = {}


# What is kept of a span, as a tuple (a class costs twice the time and memory at 200,000 spans):
# service, kind, duration in ms, the parent's key (trace id + "/" + parent span id) or None, the
# attributes the rules read.
_Span = tuple[str, int, float, "str | None", dict[str, str]]
SERVICE: Final = 0
KIND: Final = 1
DURATION: Final = 2
ATTRS: Final = 4


@dataclass
class _Calls:
    durations: list[float] = field(default_factory=list)
    pairs: dict[str, int] = field(default_factory=dict)


class _Reader:
    """Spans as they are read, and what could not be read."""

    def __init__(self, progress: Progress | None) -> None:
        self.spans: dict[str, _Span] = {}  # trace id + "/" + span id -> the span
        self.broken: dict[str, int] = {}  # what + "\0" + why -> how many
        self.bad_lines: list[int] = []
        self.notes: list[str] = []
        self.unnamed = 0
        self.progress = progress
        self._services: dict[str, str] = {}  # one string object per service name

    def skip(self, reason: str, what: str = "span") -> None:
        """Count one `what` ("span", "line", "resourceSpans entry") that was skipped and why."""
        key = f"{what}\0{reason}"
        self.broken[key] = self.broken.get(key, 0) + 1

    def add(self, service: str | None, fields: Mapping[str, Any], attributes: dict[str, str]) -> None:
        # The hottest function of a 200,000-span file: one pass, few calls.
        trace, span_id = fields.get("traceId"), fields.get("spanId")
        if not trace or not span_id or not isinstance(trace, str) or not isinstance(span_id, str):
            self.skip("without a traceId or spanId")
            return
        try:
            start, end = int(fields["startTimeUnixNano"]), int(fields["endTimeUnixNano"])
        except (KeyError, TypeError, ValueError, OverflowError):
            start = end = -1
        if start < 0 or end < start:
            self.skip("with a missing, unreadable or backwards start/end time")
            return
        kind = fields.get("kind", 0)
        if kind.__class__ is not int or not 0 <= kind <= 5:
            kind = _kind(kind)
            if kind is None:
                self.skip("with an unknown kind")
                return
        key = trace + "/" + span_id
        spans = self.spans
        if key in spans:
            self.skip("repeating a spanId already seen in its trace")
            return
        if service is None:
            self.unnamed += 1
            service = UNKNOWN_SERVICE
        parent = fields.get("parentSpanId")
        spans[key] = (
            self._services.setdefault(service, service),
            kind,
            (end - start) / 1e6,
            trace + "/" + parent if parent and isinstance(parent, str) else None,
            attributes or _NO_ATTRIBUTES,
        )
        if self.progress is not None and len(spans) % 20000 == 0:
            report(self.progress, f"reading spans ({len(spans):,} so far)", 5 + min(70, len(spans) // 4000))

    # --- whole documents (one JSON line) -----------------------------------------------------------

    def document(self, document: Any) -> None:
        resource_spans = document.get("resourceSpans") if isinstance(document, dict) else None
        if not isinstance(resource_spans, list):
            self.skip("without a resourceSpans list", "JSON line")
            return
        for block in resource_spans:
            if not isinstance(block, dict):
                self.skip("given as something other than an object", "resourceSpans entry")
                continue
            service = _service_name(block.get("resource"))
            for scope_key in ("scopeSpans", "instrumentationLibrarySpans"):
                scopes = block.get(scope_key)
                for scope in scopes if isinstance(scopes, list) else []:
                    spans = scope.get("spans") if isinstance(scope, dict) else None
                    for span in spans if isinstance(spans, list) else []:
                        if isinstance(span, dict):
                            self.add(service, span, _attributes(span.get("attributes")))
                        else:
                            self.skip("given as something other than an object")

    # --- streamed documents (ijson events) ---------------------------------------------------------

    def events(self, stream: Any) -> None:
        """Read one or more concatenated documents from `stream` event by event."""
        service: str | None = None
        pending: list[tuple[dict[str, Any], dict[str, str]]] = []  # spans read before their resource
        span: dict[str, Any] | None = None
        attributes: dict[str, str] = {}
        attribute: str | None = None
        resource_attribute: str | None = None
        codes = _EVENT_CODES
        for prefix, event, value in ijson.parse(stream, multiple_values=True, use_float=True):
            code = codes.get(prefix)
            if code is None:
                continue
            if code == _SPAN_FIELD:
                if span is not None:
                    span[prefix.rsplit(".", 1)[1]] = value
            elif code == _SPAN_ATTRIBUTE_KEY:
                attribute = value if value in ATTRIBUTES else None
            elif code == _SPAN_ATTRIBUTE_VALUE:
                if attribute is not None and isinstance(value, str):
                    attributes[attribute] = value
            elif code == _SPAN:
                if event == "start_map":
                    span, attributes, attribute = {}, {}, None
                elif event == "end_map" and span is not None:
                    if service is None:
                        pending.append((span, attributes))
                    else:
                        self.add(service, span, attributes)
                    span = None
            elif code == _RESOURCE_SPANS:
                if event == "start_map":
                    service, pending = None, []
                elif event == "end_map":
                    for fields, found in pending:
                        self.add(service, fields, found)
                    pending = []
            elif code == _RESOURCE_ATTRIBUTE_KEY:
                resource_attribute = value
            elif code == _RESOURCE_ATTRIBUTE_VALUE:
                if resource_attribute == "service.name" and isinstance(value, str) and value:
                    service = value
                    for fields, found in pending:
                        self.add(service, fields, found)
                    pending = []


_RESOURCE_SPANS, _RESOURCE_ATTRIBUTE_KEY, _RESOURCE_ATTRIBUTE_VALUE = 1, 2, 3
_SPAN, _SPAN_FIELD, _SPAN_ATTRIBUTE_KEY, _SPAN_ATTRIBUTE_VALUE = 4, 5, 6, 7


def _event_codes() -> dict[str, int]:
    """ijson prefixes -> what they are, for both the current and the pre-1.0 scope key."""
    block = "resourceSpans.item"
    codes = {
        block: _RESOURCE_SPANS,
        f"{block}.resource.attributes.item.key": _RESOURCE_ATTRIBUTE_KEY,
        f"{block}.resource.attributes.item.value.stringValue": _RESOURCE_ATTRIBUTE_VALUE,
    }
    for scope in ("scopeSpans", "instrumentationLibrarySpans"):
        span = f"{block}.{scope}.item.spans.item"
        codes[span] = _SPAN
        for name in ("traceId", "spanId", "parentSpanId", "kind", "startTimeUnixNano", "endTimeUnixNano"):
            codes[f"{span}.{name}"] = _SPAN_FIELD
        codes[f"{span}.attributes.item.key"] = _SPAN_ATTRIBUTE_KEY
        codes[f"{span}.attributes.item.value.stringValue"] = _SPAN_ATTRIBUTE_VALUE
    return codes


_EVENT_CODES = _event_codes()


def _kind(value: object) -> int | None:
    if value is None:
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value in KIND_WORDS:
        return int(value)
    if isinstance(value, str):
        return _KIND_BY_TEXT.get(value.upper())
    return None


def _attributes(items: object) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items if isinstance(items, list) else []:
        key = item.get("key") if isinstance(item, dict) else None
        if isinstance(key, str) and key in ATTRIBUTES:
            value = item.get("value")
            text = value.get("stringValue") if isinstance(value, dict) else None
            if isinstance(text, str):
                found[key] = text
    return found


def _service_name(resource: object) -> str | None:
    items = resource.get("attributes") if isinstance(resource, dict) else None
    name = None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("key") == "service.name":
            value = item.get("value")
            text = value.get("stringValue") if isinstance(value, dict) else None
            if isinstance(text, str) and text:
                name = text
    return name


# --- input ---------------------------------------------------------------------------------------


class _Limited:
    """A binary stream that refuses to be read past MAX_BYTES["otlp"]."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.read_so_far = 0

    def _count(self, chunk: bytes) -> bytes:
        self.read_so_far += len(chunk)
        if self.read_so_far > MAX_BYTES["otlp"]:
            raise InputRefused(
                f"the input is larger than {MAX_BYTES['otlp'] // 2**20} MiB, the most an otlp source may hold"
            )
        return chunk

    def read(self, size: int = -1) -> bytes:
        room = MAX_BYTES["otlp"] + 1 - self.read_so_far
        return self._count(self._stream.read(room if size is None or size < 0 else min(size, room)))

    def readline(self, size: int = -1) -> bytes:
        room = MAX_BYTES["otlp"] + 1 - self.read_so_far
        return self._count(self._stream.readline(room if size is None or size < 0 else min(size, room)))


class _Replay:
    """`head` first, then the rest of `stream`: ijson reads the first line again."""

    def __init__(self, head: bytes, stream: _Limited) -> None:
        self._head: io.BytesIO | None = io.BytesIO(head)  # not slices of head: each would copy it
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head is not None and size != 0:  # ijson's read(0) asks for the type only
            chunk = self._head.read(size)
            if chunk:
                return chunk
            self._head = None
        return self._stream.read(size)


def _read(data: BinaryIO | bytes | None, reader: _Reader) -> None:
    if data is None:
        raise InputRefused("the otlp source has no input: upload or paste it first")
    if isinstance(data, (bytes, bytearray)):
        if len(data) > MAX_BYTES["otlp"]:
            raise InputRefused(
                f"the input is larger than {MAX_BYTES['otlp'] // 2**20} MiB, the most an otlp source may hold"
            )
        stream = _Limited(io.BytesIO(data))
    else:
        stream = _Limited(data)
    first = stream.readline()
    while first and not first.strip():
        first = stream.readline()
    if not first:
        raise InputRefused("the input is empty")
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    if b"\x00" in first[:4096]:
        raise InputRefused("the input is not OTLP/JSON text: it contains NUL bytes (binary data?)")
    if len(first) <= LINE_LIMIT:
        try:
            document = json.loads(first)
        except (ValueError, RecursionError):
            document = None
        if isinstance(document, dict):
            reader.document(document)
            _lines(stream, reader)
            return
    _streamed(_Replay(first, stream), reader)


def _lines(stream: _Limited, reader: _Reader) -> None:
    """JSON lines: each line one document; a line that is not JSON is skipped and counted."""
    number = 1
    while True:
        line = stream.readline()
        if not line:
            return
        number += 1
        if not line.strip():
            continue
        if len(line) > LINE_LIMIT:
            try:
                reader.events(io.BytesIO(line))
            except (ijson.JSONError, ijson.IncompleteJSONError, ValueError):
                reader.bad_lines.append(number)
            continue
        try:
            document = json.loads(line)
        except (ValueError, RecursionError):
            reader.bad_lines.append(number)
            continue
        reader.document(document)


def _streamed(stream: _Replay, reader: _Reader) -> None:
    try:
        reader.events(stream)
    except InputRefused:
        raise
    except (ijson.JSONError, ijson.IncompleteJSONError, ValueError, UnicodeDecodeError) as exc:
        message = clip(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, 160)
        if not reader.spans:
            raise InputRefused(f"not OTLP/JSON: {message}") from None
        reader.notes.append(f"the JSON breaks off ({message}); everything after that point was skipped")


# --- the rules -----------------------------------------------------------------------------------


def infer(
    data: BinaryIO | bytes | None,
    settings: Mapping[str, object],
    credentials: Mapping[str, str] | None,
    progress: Progress | None,
) -> Inference:
    reader = _Reader(progress)
    report(progress, "reading spans", 5)
    _read(data, reader)
    if not reader.spans:
        if reader.broken or reader.bad_lines or reader.notes:
            raise InputRefused("found no readable span: " + "; ".join(_problems(reader)))
        raise InputRefused('found no spans: expected OTLP/JSON, {"resourceSpans": [...]} or one such object a line')
    report(progress, "matching parents and children", 80)
    graph = GraphBuilder()
    _rules(reader.spans, graph)
    for message in _problems(reader):
        graph.problem(message)
    report(progress, "done", 100)
    return graph.result()


_Ref = tuple[str, str]  # ("service" | "database" | "queue", name)


def _rules(spans: dict[str, _Span], graph: GraphBuilder) -> None:
    counts: dict[str, int] = {}
    parents: set[str] = set()
    for service, _, _, parent_key, _ in spans.values():
        counts[service] = counts.get(service, 0) + 1
        if parent_key is not None:
            parents.add(parent_key)
    calls: dict[tuple[_Ref, _Ref], _Calls] = {}
    kinds: dict[_Ref, str] = {}  # database nodes: "database" or "cache", from the system

    def record(source: _Ref, target: _Ref, duration: float, what: str) -> None:
        found = calls.get((source, target))
        if found is None:
            found = calls[(source, target)] = _Calls()
        found.durations.append(duration)
        found.pairs[what] = found.pairs.get(what, 0) + 1

    for key, (service, kind, duration, parent_key, attributes) in spans.items():
        parent = spans.get(parent_key) if parent_key is not None else None
        if (
            parent is not None
            and parent[SERVICE] != service
            and not (parent[KIND] == PRODUCER and kind == CONSUMER and _queue(parent, attributes))
        ):
            record(
                ("service", parent[SERVICE]),
                ("service", service),
                parent[DURATION] if parent[KIND] == CLIENT else duration,  # the call as the caller saw it
                f"{KIND_WORDS[parent[KIND]]} -> {KIND_WORDS[kind]}",
            )
        if not attributes:
            continue
        if kind == CLIENT and key not in parents:
            system = attributes.get("db.system.name") or attributes.get("db.system")
            if system:
                name = next((attributes[k] for k in DB_TARGET if attributes.get(k)), system)
                kinds[("database", name)] = kind_from_words(system) or "database"
                record(("service", service), ("database", name), duration, f"db.system={system}")
        if kind in (PRODUCER, CONSUMER):
            queue = _queue(None, attributes)
            if queue and kind == PRODUCER:
                record(("service", service), ("queue", queue), duration, "PRODUCER")
            elif queue:
                record(("queue", queue), ("service", service), duration, "CONSUMER")

    for service, count in counts.items():
        graph.node(service, None, f"service.name {service} ({count:,} spans)")
    names = _names({ref for pair in calls for ref in pair}, set(counts))
    for ref, name in names.items():
        if ref[0] == "database":
            graph.node(name, kinds[ref], f"database {ref[1]}, named by the CLIENT spans that call it")
        elif ref[0] == "queue":
            graph.node(name, "queue", f"messaging destination {ref[1]}")
    for (source, target), found in calls.items():
        durations = sorted(found.durations)
        graph.edge(names[source], names[target], _evidence(source, target, found), "observed")
        graph.measure(
            names[source], names[target], len(durations), _percentile(durations, 0.50), _percentile(durations, 0.99)
        )


def _queue(producer: _Span | None, attributes: dict[str, str]) -> str | None:
    """The queue node a PRODUCER or CONSUMER span goes through: its destination, else its system
    (the consumer's attributes, else its producer's)."""
    for found in (attributes, producer[ATTRS] if producer is not None else _NO_ATTRIBUTES):
        name = found.get("messaging.destination.name") or found.get("messaging.system")
        if name:
            return name
    return None


def _names(refs: set[_Ref], services: set[str]) -> dict[_Ref, str]:
    """Services keep their name; a database or queue named like a service is qualified by its kind."""
    return {ref: ref[1] if ref[0] == "service" or ref[1] not in services else f"{ref[1]} ({ref[0]})" for ref in refs}


def _evidence(source: _Ref, target: _Ref, found: _Calls) -> str:
    count = len(found.durations)
    if target[0] == "database":
        systems = ", ".join(found.pairs)
        return f"{count:,} CLIENT spans of {source[1]} with {systems} and no child span, to {target[1]}"
    if target[0] == "queue":
        return f"{count:,} PRODUCER spans of {source[1]} to {target[1]}"
    if source[0] == "queue":
        return f"{count:,} CONSUMER spans of {target[1]} from {source[1]}"
    pairs = ", ".join(f"{pair}: {number:,}" for pair, number in sorted(found.pairs.items(), key=lambda p: -p[1]))
    return f"{count:,} spans of {target[1]} whose parent span is in {source[1]} ({pairs})"


def _percentile(ordered: list[float], share: float) -> float:
    index = max(0, math.ceil(share * len(ordered)) - 1)
    return round(ordered[index], 3)


def _problems(reader: _Reader) -> list[str]:
    problems = []
    for key, count in reader.broken.items():
        what, reason = key.split("\0", 1)
        problems.append(f"skipped {_counted(count, what)} {reason}")
    if reader.bad_lines:
        shown = ", ".join(str(number) for number in reader.bad_lines[:10])
        more = f" and {len(reader.bad_lines) - 10:,} more" if len(reader.bad_lines) > 10 else ""
        problems.append(
            f"skipped {_counted(len(reader.bad_lines), 'line')} that {'is' if len(reader.bad_lines) == 1 else 'are'}"
            f" not JSON (line {shown}{more})"
        )
    problems.extend(reader.notes)
    if reader.unnamed:
        problems.append(
            f"{_counted(reader.unnamed, 'span')} without service.name in its resource counted as {UNKNOWN_SERVICE}"
        )
    return problems


def _counted(count: int, noun: str) -> str:
    if count == 1:
        return f"{count:,} {noun}"
    return f"{count:,} {noun[:-1]}ies" if noun.endswith("entry") else f"{count:,} {noun}s"
