"""Kubernetes manifests -> nodes and edges with evidence (SPEC §11 "Inference", kubernetes).

Inputs written from the Kubernetes API reference: apps/v1 workloads, batch/v1 Job and CronJob, a
bare Pod, core/v1 Service (selector, ExternalName) and ConfigMap, networking.k8s.io/v1 Ingress (and
the older extensions/v1beta1 backend form), `kind: List` as `kubectl get -o yaml` writes it, and
the DNS names a pod can use for a Service.
"""

from __future__ import annotations

import pytest
from discovery_support import edges, kinds, run

from maestro_web.discovery.inference import InputRefused, infer


def deployment(
    name: str,
    *,
    kind: str = "Deployment",
    namespace: str | None = "shop",
    labels: dict | None = None,
    image: str = "example/app:1",
    env: str = "",
    extra: str = "",
) -> str:
    labels = labels or {"app": name}
    label_text = ", ".join(f"{k}: {v}" for k, v in labels.items())
    meta = f"{{name: {name}, namespace: {namespace}}}" if namespace else f"{{name: {name}}}"
    pod = f"""
    metadata: {{labels: {{{label_text}}}}}
    spec:
      containers:
        - name: main
          image: {image}
{env}{extra}"""
    if kind == "CronJob":
        return f"""---
apiVersion: batch/v1
kind: CronJob
metadata: {meta}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:{pod.replace(chr(10), chr(10) + "      ")}
"""
    if kind == "Pod":
        return f"""---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}, labels: {{{label_text}}}}}
spec:
  containers:
    - name: main
      image: {image}
{env.replace("          ", "      ")}"""
    return f"""---
apiVersion: apps/v1
kind: {kind}
metadata: {meta}
spec:
  template:{pod}
"""


def service(name: str, namespace: str | None = "shop", selector: dict | None = None) -> str:
    selector = {"app": name} if selector is None else selector
    meta = f"{{name: {name}, namespace: {namespace}}}" if namespace else f"{{name: {name}}}"
    selector_text = (
        f"selector: {{{', '.join(f'{k}: {v}' for k, v in selector.items())}}}" if selector else "type: ClusterIP"
    )
    return f"""---
apiVersion: v1
kind: Service
metadata: {meta}
spec:
  {selector_text}
  ports: [{{port: 80}}]
"""


def env(*pairs: tuple[str, str]) -> str:
    lines = "          env:\n"
    for name, value in pairs:
        lines += f'            - name: {name}\n              value: "{value}"\n'
    return lines


def test_every_workload_kind_is_a_node_with_its_kind_from_the_image():
    text = (
        deployment("web")
        + deployment("db", kind="StatefulSet", image="bitnami/postgresql:16.4.0")
        + deployment("logs", kind="DaemonSet", image="fluent/fluent-bit")
        + deployment("migrate", kind="Job")
        + deployment("report", kind="CronJob")
        + deployment("debug", kind="Pod", image="redis:7")
        + service("web")
    )
    result = run("kubernetes", text)
    assert kinds(result) == {
        "web": None,
        "db": "database",
        "logs": None,
        "migrate": None,
        "report": None,
        "debug": "cache",
    }
    evidence = {node.name: node.evidence for node in result.nodes}
    assert evidence["report"] == ("CronJob report (namespace shop)",)
    assert result.problems == []


@pytest.mark.parametrize(
    "value",
    [
        "orders",
        "orders:8080",
        "http://orders",
        "http://orders:8080/api/v1?x=1",
        "orders.shop",
        "grpc://orders.shop:9000",
        "orders.shop.svc",
        "https://orders.shop.svc:8443/",
        "orders.shop.svc.cluster.local",
        "http://svc-user:pw@orders.shop.svc.cluster.local:8080/path",
        "tcp://api-user@orders.shop.svc.cluster.local.:8080",
        "orders-0.orders.shop.svc.cluster.local:8080",
        "ORDERS.SHOP.SVC.CLUSTER.LOCAL",
        "backup,orders:8080",
    ],
)
def test_every_service_host_form_in_an_env_value(value):
    text = (
        deployment("web", env=env(("TARGET", value)))
        + deployment("orders-v2", labels={"app": "orders"})
        + service("orders")
    )
    found = edges(run("kubernetes", text))
    assert set(found) == {("web", "orders-v2")}
    edge = found[("web", "orders-v2")]
    assert edge.confidence == "configured"
    assert len(edge.evidence) == 1
    assert edge.evidence[0].startswith("env TARGET=")
    assert edge.evidence[0].endswith(" of container main in Deployment web names Service orders (namespace shop)")
    assert "pw@" not in edge.evidence[0]


@pytest.mark.parametrize(
    "value",
    [
        "/srv/orders/data",  # a path segment
        "http://example.com/orders",  # a path on another host
        "orders.example.com",  # another domain
        "orders.other",  # a Service of that name in a namespace that has none
        "orders-archive:8080",  # a longer name
        "8080",
    ],
)
def test_values_that_do_not_name_the_service_as_a_host(value):
    text = (
        deployment("web", env=env(("TARGET", value)))
        + deployment("orders")
        + service("orders")
        + service("orders", namespace="staging", selector={"app": "nothing"})
    )
    assert [edge for edge in run("kubernetes", text).edges if edge.source == "web"] == []


def test_configmaps_through_configmapkeyref_and_envfrom_in_init_and_main_containers():
    text = (
        deployment(
            "web",
            extra="""          envFrom:
            - configMapRef: {name: shared}
            - secretRef: {name: creds}
      initContainers:
        - name: wait-for-db
          image: busybox
          command: ["sh", "-c", "until nc -z db.shop.svc.cluster.local 5432; do sleep 1; done"]
          env:
            - name: CACHE
              valueFrom:
                configMapKeyRef: {name: web-config, key: cache-url}
""",
        )
        + """---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: shop}
data:
  cache-url: "redis://:cachepass@cache.shop:6379/0"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: shared, namespace: shop}
data:
  SEARCH_HOST: search
  application.properties: |
    spring.datasource.url=jdbc:postgresql://db:5432/shop
    spring.datasource.password=hunter2
"""
        + deployment("db", kind="StatefulSet", image="postgres:16")
        + service("db")
        + deployment("cache", image="redis:7")
        + service("cache")
        + deployment("search", image="elasticsearch:8")
        + service("search")
    )
    result = run("kubernetes", text)
    found = edges(result)
    assert set(found) == {("web", "db"), ("web", "cache"), ("web", "search")}
    assert found[("web", "cache")].evidence == (
        "env CACHE from ConfigMap web-config key cache-url=redis://:***@cache.shop:6379/0 of init container "
        "wait-for-db in Deployment web names Service cache (namespace shop)",
    )
    assert found[("web", "search")].evidence == (
        "ConfigMap shared key SEARCH_HOST=search (envFrom of container main) in Deployment web names Service "
        "search (namespace shop)",
    )
    db = found[("web", "db")].evidence
    assert db[0] == (
        "command until nc -z db.shop.svc.cluster.local 5432; do sleep 1; done of init container "
        "wait-for-db in Deployment web names Service db (namespace shop)"
    )
    assert db[1].startswith("ConfigMap shared key application.properties=spring.datasource.url=jdbc:postgresql://db")
    assert "hunter2" not in repr(result) and "cachepass" not in repr(result)
    assert kinds(result) == {"web": None, "db": "database", "cache": "cache", "search": "database"}


def test_args_and_a_service_standing_for_several_workloads():
    text = (
        deployment("web", extra='          args: ["--api=http://api.shop:8080", "--verbose"]\n')
        + deployment("api-blue", labels={"app": "api", "color": "blue"})
        + deployment("api-green", labels={"app": "api", "color": "green"})
        + service("api")
    )
    found = edges(run("kubernetes", text))
    assert set(found) == {("web", "api-blue"), ("web", "api-green")}
    assert found[("web", "api-green")].evidence == (
        "args --api=http://api.shop:8080 of container main in Deployment web names Service api (namespace shop)",
    )


def test_a_service_matching_no_workload_and_an_externalname_are_external_nodes():
    text = (
        deployment("web", env=env(("PAY", "https://payments/charge"), ("LEGACY", "legacy.shop:7000")))
        + """---
apiVersion: v1
kind: Service
metadata: {name: payments, namespace: shop}
spec: {type: ExternalName, externalName: api.payments.example}
"""
        + service("legacy", selector={"app": "gone"})
    )
    result = run("kubernetes", text)
    assert kinds(result) == {"web": None, "payments": "external", "legacy": "external"}
    assert {node.name: node.evidence for node in result.nodes}["payments"] == (
        "Service payments (namespace shop): ExternalName api.payments.example",
    )
    assert set(edges(result)) == {("web", "payments"), ("web", "legacy")}


def test_selectors_only_match_in_their_namespace_and_namespaces_tell_same_names_apart():
    text = (
        deployment("web", env=env(("API", "api"), ("OTHER", "api.staging")))
        + deployment("api")
        + service("api")
        + deployment("api", namespace="staging")
        + service("api", namespace="staging")
    )
    result = run("kubernetes", text)
    assert {node.name for node in result.nodes} == {"web", "api.shop", "api.staging"}
    assert set(edges(result)) == {("web", "api.shop"), ("web", "api.staging")}


def test_objects_without_a_namespace_take_the_settings_namespace_and_qualified_hosts_still_reach_them():
    text = (
        deployment("web", namespace=None, env=env(("A", "api.prod.svc.cluster.local"), ("B", "cache")))
        + deployment("api", namespace=None)
        + service("api", namespace=None)
        + deployment("cache", namespace=None)
        + service("cache", namespace=None)
    )
    result = run("kubernetes", text, {"namespace": "prod"})
    assert set(edges(result)) == {("web", "api"), ("web", "cache")}
    assert "namespace prod" in edges(result)[("web", "api")].evidence[0]
    assert set(edges(run("kubernetes", text))) == {("web", "api"), ("web", "cache")}  # "default", then any


def test_multi_document_and_kind_list_with_owned_objects_skipped():
    text = (
        """apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: shop}
    spec:
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: nginx, env: [{name: API, value: api}]}]}
  - apiVersion: v1
    kind: Pod
    metadata:
      name: web-5d7f9-abcde
      namespace: shop
      labels: {app: web}
      ownerReferences: [{kind: Deployment, name: web, controller: true}]
    spec: {containers: [{name: web, image: nginx}]}
  - apiVersion: v1
    kind: ServiceList
    items:
"""
        + "".join(
            "      " + line + "\n"
            for line in ("- " + service("api").split("---\n", 1)[1].replace("\n", "\n  ")).splitlines()
        )
        + """
---
# a comment-only document and an empty one
---
"""
        + deployment("api")
    )
    result = run("kubernetes", text)
    assert {node.name for node in result.nodes} == {"web", "api"}
    assert set(edges(result)) == {("web", "api")}


def test_ingress_backends_in_both_api_versions_are_declared():
    text = (
        deployment("web")
        + service("web-svc", selector={"app": "web"})
        + deployment("api")
        + service("api")
        + """---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  defaultBackend: {service: {name: web-svc, port: {number: 80}}}
  rules:
    - host: shop.example.com
      http:
        paths:
          - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
          - {path: /gone, pathType: Prefix, backend: {service: {name: ghost, port: {number: 80}}}}
---
apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  backend: {serviceName: web-svc, servicePort: 80}
"""
    )
    result = run("kubernetes", text)
    assert kinds(result) == {"web (Deployment)": None, "api": None, "shop": "frontend", "web (Ingress)": "frontend"}
    found = edges(result)
    assert set(found) == {("shop", "web (Deployment)"), ("shop", "api"), ("web (Ingress)", "web (Deployment)")}
    assert found[("shop", "api")].confidence == "declared"
    assert found[("shop", "api")].evidence == ("Ingress shop rule shop.example.com/api -> Service api",)
    assert found[("shop", "web (Deployment)")].evidence == ("Ingress shop default backend -> Service web-svc",)
    assert result.problems == [
        "Ingress shop (namespace shop) routes to Service ghost, which is not in the input; skipped"
    ]


def test_documents_that_are_not_objects_are_problems():
    result = run("kubernetes", deployment("web") + "---\n- just\n- a list\n---\nplain words\n")
    assert [node.name for node in result.nodes] == ["web"]
    assert result.problems == [
        "document 2 is not a Kubernetes object (no 'kind'); skipped",
        "document 3 is not a Kubernetes object (no 'kind'); skipped",
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("- a\n- b\n", "found no Kubernetes object in the input"),
        ("", "the input is empty"),
        ("kind: Deployment\nmetadata: {name: [\n", "not valid YAML: "),
        (
            "kind: Deployment\nmetadata: !!python/object/apply:os.system [echo hi]\n",
            "not valid YAML: could not determine a constructor for the tag",
        ),
        ("a: &a [*a]\n", "a YAML alias refers to a node that contains it (a recursive structure, line 1)"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "not valid YAML: exceeded maximum nesting depth"),
        ("a: " + "{b: " * 150 + "c" + "}" * 150 + "\n", "the YAML nests deeper than 100 levels; refused"),
        ("a: *nowhere\n", "not valid YAML: found undefined alias (line 1, column 4)"),
    ],
)
def test_bad_yaml_is_refused_with_a_message(text, message):
    with pytest.raises(InputRefused) as refused:
        infer("kubernetes", text.encode(), {})
    assert str(refused.value).startswith(message)


def test_billion_laughs_is_refused_quickly():
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        text += f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    text += "kind: Deployment\n"
    with pytest.raises(InputRefused, match='expand to more than 500,000 nodes .a "billion laughs" document'):
        infer("kubernetes", text.encode(), {})


def test_binary_and_oversized_input_are_refused():
    with pytest.raises(InputRefused, match="not Kubernetes manifest .YAML. text: it contains NUL bytes"):
        infer("kubernetes", bytes(range(256)), {})
    with pytest.raises(InputRefused, match="larger than 5 MiB"):
        infer("kubernetes", b"# padding\n" * (2**19 + 1), {})
