"""Compose files (the Compose Specification; file versions 2 and 3 read the same way).

A node per service, kind from its image. "A -> B" when A's `depends_on` (list or map form) or
`links` (`b` or `b:alias`) names B (confidence `declared`), or when one of A's environment values
(list or map form), its `command` or its `entrypoint` names B as a host: B's service name, its
`hostname`, its `container_name`, one of its network aliases, or an alias A gave it in `links`
(confidence `configured`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO

from maestro_web.discovery.inference import Inference, InputRefused, Progress
from maestro_web.discovery.kinds.common import (
    GraphBuilder,
    clip,
    decode_text,
    hosts_in,
    kind_from_image,
    read_bounded,
    report,
    shown,
)
from maestro_web.discovery.yaml_safe import load_all


def infer(
    data: BinaryIO | bytes | None,
    settings: Mapping[str, object],
    credentials: Mapping[str, str] | None,
    progress: Progress | None,
) -> Inference:
    text = decode_text(read_bounded(data, "compose"), "Compose (YAML)")
    report(progress, "reading the Compose file", 5)
    services = _services(text)
    graph = GraphBuilder()
    report(progress, "finding services", 40)

    hosts: dict[str, str] = {}  # a host name -> the service it reaches
    for name, service in services.items():
        graph.node(name, kind_from_image(service.get("image")), _node_evidence(name, service))
        for host in _hosts_of(name, service):
            hosts.setdefault(host.lower(), name)

    report(progress, "reading depends_on, links and environments", 60)
    for name, service in services.items():
        _depends_on(graph, name, service.get("depends_on"), services)
        aliases = _links(graph, name, service.get("links"), services)
        known = {**hosts, **aliases}
        for what, value in _values(graph, name, service):
            for host in hosts_in(value):
                target = known.get(host)
                if target is not None:
                    graph.edge(name, target, f"{what} of service {name}", "configured")
    report(progress, "done", 100)
    return graph.result()


def _services(text: str) -> dict[str, dict[str, Any]]:
    documents = [document for document in load_all(text) if document is not None]
    if not documents:
        raise InputRefused("the Compose file is empty")
    if len(documents) > 1:
        raise InputRefused("a Compose file is one YAML document; this one has several (---)")
    document = documents[0]
    if not isinstance(document, dict):
        what = "a list" if isinstance(document, list) else "a single value"
        raise InputRefused(f"a Compose file is a mapping with a 'services' mapping; this one is {what}")
    services = document.get("services")
    if not isinstance(services, dict):
        if (
            services is None
            and document
            and all(isinstance(v, dict) and ("image" in v or "build" in v) for v in document.values())
        ):
            raise InputRefused(
                "this looks like a version 1 Compose file (services at the top level); put them under a 'services:' key"
            )
        raise InputRefused("the Compose file has no 'services' mapping")
    result: dict[str, dict[str, Any]] = {}
    for name, service in services.items():
        if service is None:
            service = {}
        if not isinstance(service, dict):
            raise InputRefused(f"service {clip(str(name), 60)!s} is not a mapping")
        result[str(name)] = service
    return result


def _node_evidence(name: str, service: Mapping[str, Any]) -> str:
    image = service.get("image")
    if isinstance(image, str):
        return f"service {name} (image {clip(image, 120)})"
    return f"service {name}"


def _hosts_of(name: str, service: Mapping[str, Any]) -> list[str]:
    hosts = [name]
    for key in ("hostname", "container_name"):
        value = service.get(key)
        if isinstance(value, str) and value:
            hosts.append(value)
    networks = service.get("networks")
    if isinstance(networks, dict):
        for network in networks.values():
            aliases = network.get("aliases") if isinstance(network, dict) else None
            if isinstance(aliases, list):
                hosts.extend(alias for alias in aliases if isinstance(alias, str) and alias)
    return hosts


def _depends_on(graph: GraphBuilder, name: str, depends_on: object, services: Mapping[str, object]) -> None:
    entries: list[tuple[str, str]] = []
    if isinstance(depends_on, list):
        entries = [
            (str(target), f"depends_on: {target} (service {name})")
            for target in depends_on
            if isinstance(target, (str, int))
        ]
    elif isinstance(depends_on, dict):
        for target, options in depends_on.items():
            condition = options.get("condition") if isinstance(options, dict) else None
            detail = f", condition {condition}" if isinstance(condition, str) else ""
            entries.append((str(target), f"depends_on: {target} (service {name}{detail})"))
    elif depends_on is not None:
        graph.problem(f"service {name}: depends_on is neither a list nor a mapping; skipped")
    for target, evidence in entries:
        if target in services:
            graph.edge(name, target, evidence, "declared")
        else:
            graph.problem(f"service {name} depends on {clip(target, 60)}, which is not a service of this file; skipped")


def _links(graph: GraphBuilder, name: str, links: object, services: Mapping[str, object]) -> dict[str, str]:
    """Edges for `links`; the aliases they give, which only this service can use as host names."""
    aliases: dict[str, str] = {}
    if links is None:
        return aliases
    if not isinstance(links, list):
        graph.problem(f"service {name}: links is not a list; skipped")
        return aliases
    for link in links:
        if not isinstance(link, str) or not link:
            continue
        target, _, alias = link.partition(":")
        if target not in services:
            graph.problem(f"service {name} links to {clip(target, 60)}, which is not a service of this file; skipped")
            continue
        graph.edge(name, target, f"links: {link} (service {name})", "declared")
        if alias:
            aliases[alias.lower()] = target
    return aliases


def _values(graph: GraphBuilder, name: str, service: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(evidence words, value) for each environment variable and the command and entrypoint."""
    values: list[tuple[str, str]] = []
    environment = service.get("environment")
    if isinstance(environment, dict):
        for key, value in environment.items():
            if value is not None and not isinstance(value, (dict, list)):
                text = _scalar(value)
                values.append((f"environment {key}={shown(text, str(key))}", text))
    elif isinstance(environment, list):
        for item in environment:
            if isinstance(item, str) and "=" in item:
                key, _, text = item.partition("=")
                values.append((f"environment {key}={shown(text, key)}", text))
    elif environment is not None:
        graph.problem(f"service {name}: environment is neither a list nor a mapping; skipped")
    for key in ("command", "entrypoint"):
        command = service.get(key)
        parts = [command] if isinstance(command, str) else command if isinstance(command, list) else []
        for part in parts:
            if isinstance(part, (str, int, float)):
                text = _scalar(part)
                values.append((f"{key} {shown(text)}", text))
    return values


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
