"""What a crawl finds, and the one entry point that finds it (SPEC §11 "Inference").

`infer(kind, data, settings, credentials, progress)` turns one source's input into nodes and edges,
each edge with the evidence that put it there, in plain words, and how sure it is. Each kind lives in
its own module, `maestro_web.discovery.kinds.<kind>`, imported only when a source of that kind is
crawled (the aws kind loads boto3, which the others do not need).

Flask-free and database-free: the discovery service runs it, and tests call it directly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

Confidence = Literal["declared", "configured", "observed", "inferred"]


@dataclass(frozen=True)
class Node:
    name: str  # <= 100 chars (SPEC §4); the name used in the graph
    kind: str | None = None  # "database", "cache", "queue", "frontend", "external", "function", ... or None
    evidence: tuple[str, ...] = ()  # plain words: "Deployment web (namespace shop)"


@dataclass(frozen=True)
class Edge:
    source: str  # "A -> B" = A depends on / calls B
    target: str
    evidence: tuple[str, ...]  # never empty
    confidence: Confidence
    calls: int | None = None  # otlp only
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass
class Inference:
    nodes: list[Node]
    edges: list[Edge]
    problems: list[str] = field(default_factory=list)  # non-fatal: what was skipped and why -> crawl "partial"


class InputRefused(ValueError):
    """The input cannot be used at all (bad YAML, billion laughs, not a Compose mapping, too big...).
    str(error) is a message for a person naming the problem; never contains credentials."""


Progress = Callable[[str, int], None]  # (phase words, percent 0-100)

KINDS = ("kubernetes", "compose", "otlp", "aws")
MAX_BYTES = {"kubernetes": 5 * 2**20, "compose": 2**20, "otlp": 50 * 2**20}


def infer(
    kind: str,
    data: BinaryIO | bytes | None,
    settings: Mapping[str, object],
    credentials: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> Inference:
    """Dispatch to maestro_web.discovery.kinds.<kind>.infer(...). `data` is the source's input
    (None for aws). Raises InputRefused. Every edge's endpoints are nodes of the result."""
    if kind not in KINDS:
        raise InputRefused(f"unknown source kind {kind!r}: expected one of {', '.join(KINDS)}")
    module = importlib.import_module(f"maestro_web.discovery.kinds.{kind}")
    result: Inference = module.infer(data, settings, credentials, progress)
    return result
