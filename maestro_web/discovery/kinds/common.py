"""What the kinds share: bounded input, the kind-by-image table, hosts named in text, evidence words
a stranger may read, and a builder that merges what several rules say about one edge."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import BinaryIO

from maestro_web.discovery.inference import (
    MAX_BYTES,
    Confidence,
    Edge,
    Inference,
    InputRefused,
    Node,
    Progress,
)

MAX_NAME = 100  # SPEC §4: a node name is at most 100 characters
MAX_EVIDENCE_ITEMS = 10  # per node or edge; the rest is summed up as "... and N more"
MAX_EVIDENCE_CHARS = 300  # per item
MAX_VALUE_CHARS = 160  # a configuration value quoted in evidence
MAX_PROBLEMS = 50  # then "... and N more problems"


# --- input -----------------------------------------------------------------------------------------


def read_bounded(data: BinaryIO | bytes | bytearray | str | None, kind: str) -> bytes:
    """All of `data`, refusing more than MAX_BYTES[kind] without reading much past it."""
    limit = MAX_BYTES[kind]
    if data is None:
        raise InputRefused(f"the {kind} source has no input: upload or paste it first")
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    else:
        raw = data.read(limit + 1)
    if len(raw) > limit:
        raise InputRefused(f"the input is larger than {limit // 2**20} MiB, the most a {kind} source may hold")
    return raw


def decode_text(raw: bytes, what: str) -> str:
    """UTF-8 text (a BOM is dropped); binary data is refused rather than guessed at."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeError:
            raise InputRefused(f"the input is not {what} text: it is not valid UTF-16") from None
    if b"\x00" in raw:
        raise InputRefused(f"the input is not {what} text: it contains NUL bytes (binary data?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputRefused(f"the input is not {what} text: byte {exc.start} is not UTF-8 (binary data?)") from None
    if not text.strip():
        raise InputRefused("the input is empty")
    return text


def report(progress: Progress | None, phase: str, percent: int) -> None:
    if progress is not None:
        progress(phase, max(0, min(100, percent)))


# --- kinds from images and engines ---------------------------------------------------------------

# The first word of an image's name (or of a managed engine's) that says what the thing is.
KIND_BY_WORD = {
    "redis": "cache",
    "memcached": "cache",
    "valkey": "cache",
    "postgres": "database",
    "postgresql": "database",
    "mysql": "database",
    "mariadb": "database",
    "mongo": "database",
    "mongodb": "database",
    "cassandra": "database",
    "elasticsearch": "database",
    "aurora": "database",
    "kafka": "queue",
    "rabbitmq": "queue",
    "nats": "queue",
}
# Words that make an image a helper of the engine rather than the engine (redis-exporter, pgbouncer...).
_HELPER_WORDS = frozenset(
    {
        "exporter",
        "operator",
        "proxy",
        "ui",
        "commander",
        "admin",
        "client",
        "cli",
        "backup",
        "connect",
        "manager",
        "dashboard",
        "metrics",
        "insight",
    }
)
_WORD_SPLIT = re.compile(r"[-_.]")


def kind_from_image(image: object) -> str | None:
    """`database`, `cache` or `queue` from an image such as docker.io/bitnami/postgresql:16, else None."""
    if not isinstance(image, str) or not image:
        return None
    name = image.lower().split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    return kind_from_words(name)


def kind_from_words(name: str) -> str | None:
    words = [word for word in _WORD_SPLIT.split(name.lower()) if word]
    if not words or any(word in _HELPER_WORDS for word in words):
        return None
    for word in words[:2]:  # "cp-kafka", "bitnami-redis": the engine is the first or second word
        kind = KIND_BY_WORD.get(word)
        if kind is not None:
            return kind
    return None


# --- hosts named in text ---------------------------------------------------------------------------

# A host name where a host can stand: at the start of a value or after a separator, "//" or "@"
# (so never a path segment), and followed by the end, a port, a path, a query or a separator.
_HOST = re.compile(
    r"(?:^|(?<=[\s,;=@\"'(\[{<|])|(?<=//)|(?<=:-))"
    r"([a-z0-9](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9](?:[a-z0-9_-]{0,62}))*)"
    r"\.?(?=$|[\s,;/?#\"')\]}>|]|:(?:\d|\$|$))"  # "host:" only before a port: not "http:", "u:p@"
)
_USERINFO = re.compile(r"(?<=//)[^/@\s?#]*@")


def hosts_in(value: str) -> list[str]:
    """Host names that `value` names in host position, lower-cased, each once, in order."""
    text = _USERINFO.sub("", value.lower()) if "@" in value else value.lower()
    seen: dict[str, None] = {}
    for match in _HOST.finditer(text):
        host = match.group(1)
        if not host.replace(".", "").isdigit():  # 8080, 10.0.0.1: numbers, not names
            seen.setdefault(host, None)
    return list(seen)


# --- evidence words --------------------------------------------------------------------------------

_SECRET_NAME = re.compile(r"pass(word|wd)?|secret|token|api_?key|private|credential|auth", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(//[^/:@\s]*):[^/@\s]*@")
_PARAM_SECRET = re.compile(r"((?:pass(?:word|wd)?|secret|token|api_?key|sig|signature)=)[^&;\s]*", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def shown(value: str, name: str = "") -> str:
    """A configuration value as evidence may quote it: passwords in URLs and secret parameters
    masked, the whole value masked (but its hosts named) when its variable's name sounds secret."""
    if name and _SECRET_NAME.search(name):
        hosts = hosts_in(value)
        return "*** (naming " + ", ".join(hosts[:5]) + ")" if hosts else "***"
    text = _URL_PASSWORD.sub(r"\1:***@", value)
    text = _PARAM_SECRET.sub(r"\1***", text)
    return clip(text, MAX_VALUE_CHARS)


def clip(text: str, limit: int = MAX_EVIDENCE_CHARS) -> str:
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_name(name: str) -> str:
    """A node name the spec's text form can hold (SPEC §4): printable, no arrow, no comment sign or
    attribute brackets, not blank, at most MAX_NAME characters."""
    text = _CONTROL.sub(" ", name).replace("->", "-").replace("#", "-").replace("[", "(").replace("]", ")")
    text = " ".join(text.split()) or "(unnamed)"
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


# --- the result ------------------------------------------------------------------------------------

_RANK: dict[str, int] = {"declared": 4, "observed": 3, "configured": 2, "inferred": 1}


class GraphBuilder:
    """Nodes and edges as rules find them: one edge per (source, target) with every rule's evidence,
    the surest confidence among them; no self-edges; both ends of every edge are nodes."""

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[str | None, list[str]]] = {}
        self._edges: dict[tuple[str, str], tuple[Confidence, list[str]]] = {}
        self._measures: dict[tuple[str, str], tuple[int, float, float]] = {}
        self.problems: list[str] = []
        self._more_problems = 0

    def node(self, name: str, kind: str | None = None, evidence: str | None = None) -> str:
        name = clean_name(name)
        known = self._nodes.get(name)
        if known is None:
            known = self._nodes[name] = (kind, [])
        elif kind is not None and known[0] is None:
            known = self._nodes[name] = (kind, known[1])
        if evidence is not None:
            _add_evidence(known[1], evidence)
        return name

    def has_node(self, name: str) -> bool:
        return clean_name(name) in self._nodes

    def edge(self, source: str, target: str, evidence: str, confidence: Confidence) -> None:
        source, target = clean_name(source), clean_name(target)
        if source == target:
            return
        for end in (source, target):
            if end not in self._nodes:
                self._nodes[end] = (None, [])
        key = (source, target)
        known = self._edges.get(key)
        if known is None:
            self._edges[key] = (confidence, [])
        elif _RANK[confidence] > _RANK[known[0]]:
            self._edges[key] = (confidence, known[1])
        _add_evidence(self._edges[key][1], evidence)

    def measure(self, source: str, target: str, calls: int, p50_ms: float, p99_ms: float) -> None:
        """Call count and durations of an observed edge (already added with .edge)."""
        self._measures[(clean_name(source), clean_name(target))] = (calls, p50_ms, p99_ms)

    def problem(self, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(clip(message))
        else:
            self._more_problems += 1

    def result(self) -> Inference:
        nodes = [Node(name, kind, _finish(evidence)) for name, (kind, evidence) in self._nodes.items()]
        edges = []
        for (source, target), (confidence, evidence) in self._edges.items():
            calls, p50, p99 = self._measures.get((source, target), (None, None, None))
            edges.append(
                Edge(source, target, _finish(evidence) or (f"{source} -> {target}",), confidence, calls, p50, p99)
            )
        problems = list(self.problems)
        if self._more_problems:
            problems.append(f"... and {self._more_problems} more problems")
        return Inference(nodes, edges, problems)


def _add_evidence(items: list[str], evidence: str) -> None:
    evidence = clip(evidence)
    if evidence in items:
        return
    items.append(evidence)


def _finish(items: list[str]) -> tuple[str, ...]:
    if len(items) <= MAX_EVIDENCE_ITEMS:
        return tuple(items)
    return (*items[: MAX_EVIDENCE_ITEMS - 1], f"... and {len(items) - MAX_EVIDENCE_ITEMS + 1} more")


def unique_names(wanted: Iterable[tuple[object, str, tuple[str, ...]]]) -> dict[object, str]:
    """A distinct name for each key: (key, name, qualifiers). Names wanted by one key stay as they
    are; when several keys want one name, each gets the first qualifier that tells them apart
    (`web.shop`, `web (Ingress)`), then all of them, then a number."""
    entries = list(wanted)
    by_name: dict[str, list[tuple[object, tuple[str, ...]]]] = {}
    for key, name, qualifiers in entries:
        by_name.setdefault(clean_name(name), []).append((key, qualifiers))
    names: dict[object, str] = {}
    taken = {name for name, group in by_name.items() if len(group) == 1}
    for name, group in by_name.items():
        if len(group) == 1:
            names[group[0][0]] = name
            continue
        # each qualifier alone (`web.shop`, then `web (Ingress)`), then all of them together
        depth = max(len(qualifiers) for _, qualifiers in group)
        levels = [(level, level + 1) for level in range(depth)] + [(0, depth)]
        chosen: list[str] = [name] * len(group)
        for start, end in levels:
            chosen = [_qualified(name, qualifiers[start:end]) for _, qualifiers in group]
            if len(set(chosen)) == len(chosen):
                break
        counts: dict[str, int] = {}
        for (key, _), candidate in zip(group, chosen):
            final = candidate
            while final in taken:
                counts[candidate] = counts.get(candidate, 1) + 1
                final = clean_name(f"{candidate} {counts[candidate]}")
            taken.add(final)
            names[key] = final
    return names


def _qualified(name: str, qualifiers: tuple[str, ...]) -> str:
    text = name
    for qualifier in qualifiers:
        text = f"{text}{qualifier}" if qualifier.startswith(".") else f"{text} {qualifier}"
    return clean_name(text)
