"""Kubernetes manifests: multi-document YAML, `kind: List` (what `kubectl get -o yaml` writes) too.

A node per workload (the table WORKLOADS says where each kind keeps its pod template), kind from its
first container's image. A Service stands for the workloads of its namespace whose pod labels match
its selector; with none (no selector, ExternalName, nothing matching) it is a node of its own, kind
`external`. "A -> B" when a container or init container of A names a Service of B as a host, in any
form a pod can resolve (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`, a StatefulSet
pod's `pod.svc.ns.svc...`), with or without scheme, user, port or path, in `env[].value`, in a
ConfigMap value it takes through `configMapKeyRef` or `envFrom`, or in `args`/`command`
(confidence `configured`). An Ingress is a node (kind `frontend`) -> its backends (`declared`).

Objects without a namespace are in `settings["namespace"]` (default "default"), the namespace
`kubectl apply` would put them in; a host that names another namespace still reaches a Service
written without one, since `kubectl apply -n` may have put it there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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
    unique_names,
)
from maestro_web.discovery.yaml_safe import load_all

# Where each workload kind keeps its pod template (() = the object is the pod).
WORKLOADS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}
MAX_LIST_DEPTH = 4  # a List inside a List inside ...


@dataclass
class _Workload:
    kind: str
    name: str
    namespace: str
    labels: dict[str, str]
    pod: dict[str, Any]
    node: str = ""


@dataclass
class _Service:
    name: str
    namespace: str
    declared_namespace: bool
    selector: dict[str, str]
    external_name: str | None
    targets: list[str] = field(default_factory=list)  # node names it stands for


def infer(
    data: BinaryIO | bytes | None,
    settings: Mapping[str, object],
    credentials: Mapping[str, str] | None,
    progress: Progress | None,
) -> Inference:
    text = decode_text(read_bounded(data, "kubernetes"), "Kubernetes manifest (YAML)")
    namespace = settings.get("namespace")
    default_namespace = namespace if isinstance(namespace, str) else None
    report(progress, "reading the manifests", 5)
    graph = GraphBuilder()
    objects = list(_objects(load_all(text), graph))
    if not objects:
        raise InputRefused("found no Kubernetes object in the input (a mapping with 'apiVersion' and 'kind')")
    report(progress, "finding workloads and Services", 40)
    crawl = _Crawl(graph, default_namespace or "default")
    crawl.read(objects)
    report(progress, "matching Services to workloads", 60)
    crawl.nodes()
    report(progress, "reading environments, ConfigMaps and arguments", 75)
    crawl.edges()
    report(progress, "done", 100)
    return graph.result()


def _objects(documents: Iterator[Any], graph: GraphBuilder) -> Iterator[dict[str, Any]]:
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        yield from _flatten(document, graph, f"document {number}", 0)


def _flatten(item: Any, graph: GraphBuilder, where: str, depth: int) -> Iterator[dict[str, Any]]:
    if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
        graph.problem(f"{where} is not a Kubernetes object (no 'kind'); skipped")
        return
    kind = item["kind"]
    if kind == "List" or (kind.endswith("List") and isinstance(item.get("items"), list)):
        items = item.get("items")
        if depth >= MAX_LIST_DEPTH or not isinstance(items, list):
            graph.problem(f"{where}: a {kind} without an 'items' list, or nested too deep; skipped")
            return
        for index, child in enumerate(items):
            yield from _flatten(child, graph, f"{where}, item {index + 1}", depth + 1)
        return
    yield item


def _get(item: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(item, dict):
            return None
        item = item.get(key)
    return item


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(key): str(label) for key, label in value.items() if not isinstance(label, (dict, list))}


class _Crawl:
    """The objects of one input and what they say about each other."""

    def __init__(self, graph: GraphBuilder, default_namespace: str) -> None:
        self.graph = graph
        self.default_namespace = default_namespace
        self.workloads: list[_Workload] = []
        self.services: dict[tuple[str, str], _Service] = {}
        self.services_by_name: dict[str, list[_Service]] = {}
        self.config_maps: dict[tuple[str, str], dict[str, str]] = {}
        self.ingresses: list[tuple[str, str, dict[str, Any]]] = []

    def read(self, objects: list[dict[str, Any]]) -> None:
        present = {(item["kind"], str(_get(item, "metadata", "name"))) for item in objects}
        for item in objects:
            kind = item["kind"]
            name = _get(item, "metadata", "name")
            if not isinstance(name, str) or not name:
                if kind in WORKLOADS or kind in ("Service", "Ingress", "ConfigMap"):
                    self.graph.problem(f"a {kind} without metadata.name; skipped")
                continue
            declared = _get(item, "metadata", "namespace")
            namespace = declared if isinstance(declared, str) and declared else self.default_namespace
            if kind in WORKLOADS:
                if _owned_by_present(item, present):
                    continue  # a Pod of a Deployment's ReplicaSet...: its owner stands for it
                pod = _get(item, *WORKLOADS[kind]) if WORKLOADS[kind] else item
                if not isinstance(pod, dict):
                    self.graph.problem(f"{kind} {name} has no pod template; skipped")
                    continue
                self.workloads.append(_Workload(kind, name, namespace, _labels(_get(pod, "metadata", "labels")), pod))
            elif kind == "Service":
                selector = _labels(_get(item, "spec", "selector"))
                external = _get(item, "spec", "externalName")
                service = _Service(
                    name,
                    namespace,
                    isinstance(declared, str) and bool(declared),
                    selector,
                    external if isinstance(external, str) else None,
                )
                self.services[(namespace, name)] = service
                self.services_by_name.setdefault(name.lower(), []).append(service)
            elif kind == "ConfigMap":
                data = _get(item, "data")
                self.config_maps[(namespace, name)] = (
                    {str(key): str(value) for key, value in data.items() if isinstance(value, (str, int, float))}
                    if isinstance(data, dict)
                    else {}
                )
            elif kind == "Ingress":
                self.ingresses.append((name, namespace, item))

    def nodes(self) -> None:
        graph = self.graph
        wanted: list[tuple[object, str, tuple[str, ...]]] = []
        for workload in self.workloads:
            wanted.append((id(workload), workload.name, (f".{workload.namespace}", f"({workload.kind})")))
        by_label: dict[tuple[str, str, str], list[_Workload]] = {}  # (namespace, key, value) -> workloads
        for workload in self.workloads:
            for label in workload.labels.items():
                by_label.setdefault((workload.namespace, *label), []).append(workload)
        matched: dict[int, list[_Workload]] = {}
        for service in self.services.values():
            # the workloads of the selector's rarest label, then those that have every other one
            candidates = min(
                (by_label.get((service.namespace, *label), []) for label in service.selector.items()),
                key=len,
                default=[],
            )
            matched[id(service)] = [
                w for w in candidates if all(w.labels.get(k) == v for k, v in service.selector.items())
            ]
            if not matched[id(service)]:
                wanted.append((id(service), service.name, (f".{service.namespace}", "(Service)")))
        for name, namespace, _ in self.ingresses:
            wanted.append((("ingress", namespace, name), name, (f".{namespace}", "(Ingress)")))
        self.names = unique_names(wanted)

        for workload in self.workloads:
            workload.node = self.names[id(workload)]
            images = [c.get("image") for c in _containers(workload.pod, "containers")]
            kind = kind_from_image(images[0]) if images else None
            graph.node(workload.node, kind, f"{workload.kind} {workload.name} (namespace {workload.namespace})")
        for service in self.services.values():
            if not matched[id(service)]:
                node = self.names[id(service)]
                why = (
                    f"ExternalName {clip(service.external_name, 120)}"
                    if service.external_name
                    else "its selector matches no workload here"
                    if service.selector
                    else "no selector"
                )
                graph.node(node, "external", f"Service {service.name} (namespace {service.namespace}): {why}")
                service.targets = [node]
            else:
                service.targets = [workload.node for workload in matched[id(service)]]
        for name, namespace, _ in self.ingresses:
            graph.node(self.names[("ingress", namespace, name)], "frontend", f"Ingress {name} (namespace {namespace})")

    def edges(self) -> None:
        for workload in self.workloads:
            where = f"{workload.kind} {workload.name}"
            for value, secret_name, before, after in self._values(workload):
                for host in hosts_in(value):
                    service = self._resolve(host, workload.namespace)
                    if service is None:
                        continue
                    evidence = (
                        f"{before}{shown(value, secret_name)}{after} in {where} names Service "
                        f"{service.name} (namespace {service.namespace})"
                    )
                    for target in service.targets:
                        self.graph.edge(workload.node, target, evidence, "configured")
        for name, namespace, item in self.ingresses:
            source = self.names[("ingress", namespace, name)]
            for backend, rule in _ingress_backends(item):
                service = self.services.get((namespace, backend))
                if service is None:
                    self.graph.problem(
                        f"Ingress {name} (namespace {namespace}) routes to Service {clip(backend, 60)}, "
                        "which is not in the input; skipped"
                    )
                    continue
                for target in service.targets:
                    self.graph.edge(source, target, f"Ingress {name} {rule} -> Service {backend}", "declared")

    def _values(self, workload: _Workload) -> Iterator[tuple[str, str, str, str]]:
        """Every value a container or init container is configured with, as (value, the variable
        name that says whether it is secret, the evidence words before it, and after it). The value
        is quoted (and masked) only for the few that name a Service: most never need the words."""
        for group in ("initContainers", "containers"):
            for container in _containers(workload.pod, group):
                label = f"{'init container' if group == 'initContainers' else 'container'} {container.get('name', '?')}"
                env = container.get("env")
                for variable in env if isinstance(env, list) else []:
                    if not isinstance(variable, dict):
                        continue
                    key = str(variable.get("name", "?"))
                    value = variable.get("value")
                    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                        yield str(value), key, f"env {key}=", f" of {label}"
                    reference = _get(variable, "valueFrom", "configMapKeyRef")
                    if isinstance(reference, dict):
                        map_name, map_key = str(reference.get("name")), str(reference.get("key"))
                        text = self.config_maps.get((workload.namespace, map_name), {}).get(map_key)
                        if text is not None:
                            yield text, key, f"env {key} from ConfigMap {map_name} key {map_key}=", f" of {label}"
                env_from = container.get("envFrom")
                for source in env_from if isinstance(env_from, list) else []:
                    map_name_value = _get(source, "configMapRef", "name")
                    values = (
                        self.config_maps.get((workload.namespace, map_name_value))
                        if isinstance(map_name_value, str)
                        else None
                    )
                    for map_key, text in (values or {}).items():
                        yield text, map_key, f"ConfigMap {map_name_value} key {map_key}=", f" (envFrom of {label})"
                for key in ("command", "args"):
                    items = container.get(key)
                    for part in items if isinstance(items, list) else []:
                        if isinstance(part, (str, int, float)) and not isinstance(part, bool):
                            yield str(part), "", f"{key} ", f" of {label}"

    def _resolve(self, host: str, namespace: str) -> _Service | None:
        """The Service a pod in `namespace` reaches at `host`, or None."""
        parts = host.split(".")
        if len(parts) >= 4 and parts[3] == "svc":  # a StatefulSet pod: pod.svc.ns.svc[.cluster.local]
            name, target_namespace = parts[1], parts[2]
        elif len(parts) == 1:
            name, target_namespace = parts[0], namespace
        elif len(parts) == 2 or parts[2] == "svc":
            name, target_namespace = parts[0], parts[1]
        else:
            return None
        candidates = self.services_by_name.get(name)
        if not candidates:
            return None
        for service in candidates:
            if service.namespace == target_namespace:
                return service
        if len(parts) > 1:
            for service in candidates:
                if not service.declared_namespace:
                    return service
        return None


def _containers(pod: dict[str, Any], group: str) -> list[dict[str, Any]]:
    containers = _get(pod, "spec", group)
    return [c for c in containers if isinstance(c, dict)] if isinstance(containers, list) else []


def _owned_by_present(item: dict[str, Any], present: set[tuple[str, str]]) -> bool:
    owners = _get(item, "metadata", "ownerReferences")
    if not isinstance(owners, list):
        return False
    return any(
        isinstance(owner, dict)
        and owner.get("controller") is True
        and (str(owner.get("kind")), str(owner.get("name"))) in present
        for owner in owners
    )


def _ingress_backends(item: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(Service name, words for the rule) for each backend: networking.k8s.io/v1 and v1beta1 forms."""
    spec = item.get("spec")
    if not isinstance(spec, dict):
        return
    for key in ("defaultBackend", "backend"):
        name = _backend_service(spec.get(key))
        if name:
            yield name, "default backend"
    rules = spec.get("rules")
    for rule in rules if isinstance(rules, list) else []:
        host = rule.get("host") if isinstance(rule, dict) else None
        paths = _get(rule, "http", "paths")
        for path in paths if isinstance(paths, list) else []:
            name = _backend_service(_get(path, "backend"))
            if name:
                where = f"{host or '*'}{path.get('path', '/') if isinstance(path, dict) else ''}"
                yield name, f"rule {clip(str(where), 120)}"


def _backend_service(backend: Any) -> str | None:
    if not isinstance(backend, dict):
        return None
    name = _get(backend, "service", "name")
    if not isinstance(name, str):
        name = backend.get("serviceName")
    return name if isinstance(name, str) and name else None
