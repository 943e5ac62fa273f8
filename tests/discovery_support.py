"""Helpers for the inference tests: run one kind on text and look at the result by name."""

from __future__ import annotations

from maestro_web.discovery.inference import Edge, Inference, infer


def run(kind: str, text: str, settings: dict[str, object] | None = None) -> Inference:
    result = infer(kind, text.encode("utf-8"), settings or {})
    names = {node.name for node in result.nodes}
    assert len(names) == len(result.nodes), "node names are unique"
    for edge in result.edges:  # the promise every kind keeps
        assert edge.source in names and edge.target in names
        assert edge.evidence and all(item.strip() for item in edge.evidence)
        assert edge.source != edge.target
    return result


def edges(result: Inference) -> dict[tuple[str, str], Edge]:
    return {(edge.source, edge.target): edge for edge in result.edges}


def kinds(result: Inference) -> dict[str, str | None]:
    return {node.name: node.kind for node in result.nodes}
