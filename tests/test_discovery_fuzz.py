"""hypothesis drives every discovery parser with hostile input (SPEC §11 "Bad input").

Whatever the bytes: the parser answers an Inference or raises InputRefused with a message, never
any other exception; and what it answers keeps the promises the merge relies on (unique node names
of at most 100 characters, every edge between two of them with evidence, no self-edges).
Inputs: raw bytes, YAML-ish and JSON-ish text, and documents built from the formats' own field
names with values of the wrong type in every place. Derandomized and bounded, so a run takes
seconds and fails the same way twice.
"""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from maestro_web.discovery.inference import Inference, InputRefused, infer
from maestro_web.discovery.kinds import aws
from maestro_web.discovery.kinds.common import hosts_in, shown
from maestro_web.discovery.yaml_safe import load_all

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# The formats' own words, so that generated documents reach the rules and not only the parser.
KUBERNETES_WORDS = [
    "kind",
    "apiVersion",
    "metadata",
    "name",
    "namespace",
    "labels",
    "ownerReferences",
    "controller",
    "spec",
    "template",
    "jobTemplate",
    "containers",
    "initContainers",
    "image",
    "env",
    "value",
    "valueFrom",
    "configMapKeyRef",
    "key",
    "envFrom",
    "configMapRef",
    "args",
    "command",
    "selector",
    "externalName",
    "data",
    "items",
    "rules",
    "host",
    "http",
    "paths",
    "path",
    "backend",
    "service",
    "serviceName",
    "defaultBackend",
    "app",
]
KUBERNETES_KINDS = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
    "Service",
    "ConfigMap",
    "Ingress",
    "List",
    "ServiceList",
    "ReplicaSet",
]
COMPOSE_WORDS = [
    "services",
    "image",
    "depends_on",
    "condition",
    "links",
    "environment",
    "command",
    "entrypoint",
    "hostname",
    "container_name",
    "networks",
    "aliases",
    "web",
    "db",
    "api",
    "version",
]
OTLP_WORDS = [
    "resourceSpans",
    "resource",
    "attributes",
    "key",
    "value",
    "stringValue",
    "scopeSpans",
    "instrumentationLibrarySpans",
    "spans",
    "traceId",
    "spanId",
    "parentSpanId",
    "kind",
    "startTimeUnixNano",
    "endTimeUnixNano",
    "service.name",
    "db.system",
    "peer.service",
    "messaging.destination.name",
]
SCALARS = [
    "web",
    "db",
    "api",
    "http://db:5432/x",
    "db.shop.svc.cluster.local",
    "u:p@db",
    "",
    "-1",
    "1e999",
    "SPAN_KIND_CLIENT",
    "2",
    "a" * 120,
    "\u202e",
    "💥",
    "x\ny",
    "${DB:-db}",
]


def documents(words: list[str], kinds: list[str] | None = None) -> st.SearchStrategy[object]:
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(SCALARS + words + (kinds or [])),
        st.text(max_size=30),
    )
    key = st.sampled_from(words + (kinds or []))
    return st.recursive(
        scalar,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=6)),
        max_leaves=40,
    )


def yaml_text(words: list[str], kinds: list[str] | None = None) -> st.SearchStrategy[bytes]:
    def dump(items: list[object]) -> bytes:
        return yaml.safe_dump_all(items, allow_unicode=True).encode("utf-8", "surrogatepass")

    return st.lists(documents(words, kinds), min_size=1, max_size=4).map(dump)


def token_text(tokens: list[str], max_size: int = 80) -> st.SearchStrategy[bytes]:
    """Text made of the format's punctuation and a few words, lone surrogates and NUL included."""
    return st.lists(st.sampled_from(tokens), max_size=max_size).map(
        lambda parts: "".join(parts).encode("utf-8", "surrogatepass")
    )


yaml_ish = token_text(list("abc:- \n\t{}[],&*!|>'\"#%@`?\\") + ["web", "kind: ", "\x00", "\ud800", "<<: ", "&a ", "*a"])
raw = st.binary(max_size=600)


# --- documents shaped like the formats, any field possibly of the wrong type ---------------------------

NAMES = ["web", "db", "api", "cache", "web.shop", "Web", "a" * 101, "", "ä", "x->y", "#", "web (Deployment)"]
garbage = documents(["name", "value", "key", "items"])


def maybe(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Mostly the right shape (7 times in 8), sometimes anything at all."""
    return st.one_of(*[strategy] * 7, garbage)


name = maybe(st.sampled_from(NAMES))
value = maybe(st.sampled_from(SCALARS + NAMES))
labels = maybe(
    st.fixed_dictionaries({"app": st.sampled_from(NAMES[:4])}, optional={"tier": st.sampled_from(NAMES[:2])})
)
env = maybe(
    st.lists(
        maybe(
            st.fixed_dictionaries(
                {"name": name},
                optional={
                    "value": value,
                    "valueFrom": maybe(
                        st.fixed_dictionaries(
                            {"configMapKeyRef": maybe(st.fixed_dictionaries({"name": name, "key": value}))}
                        )
                    ),
                },
            )
        ),
        max_size=3,
    )
)
container = maybe(
    st.fixed_dictionaries(
        {"name": name},
        optional={
            "image": maybe(st.sampled_from(["redis:7", "postgres", "nginx", "bitnami/kafka", ""])),
            "env": env,
            "envFrom": maybe(
                st.lists(
                    maybe(st.fixed_dictionaries({"configMapRef": maybe(st.fixed_dictionaries({"name": name}))})),
                    max_size=2,
                )
            ),
            "args": maybe(st.lists(value, max_size=3)),
            "command": maybe(st.lists(value, max_size=3)),
        },
    )
)
pod = maybe(
    st.fixed_dictionaries(
        {
            "metadata": maybe(st.fixed_dictionaries({}, optional={"labels": labels})),
            "spec": maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "containers": maybe(st.lists(container, max_size=2)),
                        "initContainers": maybe(st.lists(container, max_size=1)),
                    },
                )
            ),
        }
    )
)
metadata = maybe(
    st.fixed_dictionaries(
        {"name": name},
        optional={
            "namespace": maybe(st.sampled_from(["shop", "other"])),
            "labels": labels,
            "ownerReferences": maybe(
                st.lists(
                    maybe(
                        st.fixed_dictionaries(
                            {"kind": st.sampled_from(KUBERNETES_KINDS), "name": name, "controller": st.booleans()}
                        )
                    ),
                    max_size=1,
                )
            ),
        },
    )
)
kubernetes_object = st.one_of(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "Job"]),
            "metadata": metadata,
            "spec": maybe(st.fixed_dictionaries({"template": pod})),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("CronJob"),
            "metadata": metadata,
            "spec": maybe(
                st.fixed_dictionaries(
                    {
                        "jobTemplate": maybe(
                            st.fixed_dictionaries({"spec": maybe(st.fixed_dictionaries({"template": pod}))})
                        )
                    }
                )
            ),
        }
    ),
    st.fixed_dictionaries({"kind": st.just("Pod"), "metadata": metadata, "spec": pod}),
    st.fixed_dictionaries(
        {
            "kind": st.just("Service"),
            "metadata": metadata,
            "spec": maybe(st.fixed_dictionaries({}, optional={"selector": labels, "externalName": value})),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("ConfigMap"),
            "metadata": metadata,
            "data": maybe(st.dictionaries(st.sampled_from(NAMES), value, max_size=3)),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("Ingress"),
            "metadata": metadata,
            "spec": maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "defaultBackend": maybe(
                            st.fixed_dictionaries({"service": maybe(st.fixed_dictionaries({"name": name}))})
                        ),
                        "backend": maybe(st.fixed_dictionaries({"serviceName": name})),
                        "rules": maybe(
                            st.lists(
                                maybe(
                                    st.fixed_dictionaries(
                                        {
                                            "host": value,
                                            "http": maybe(
                                                st.fixed_dictionaries(
                                                    {
                                                        "paths": maybe(
                                                            st.lists(
                                                                maybe(
                                                                    st.fixed_dictionaries(
                                                                        {
                                                                            "path": value,
                                                                            "backend": maybe(
                                                                                st.fixed_dictionaries(
                                                                                    {
                                                                                        "service": maybe(
                                                                                            st.fixed_dictionaries(
                                                                                                {"name": name}
                                                                                            )
                                                                                        )
                                                                                    }
                                                                                )
                                                                            ),
                                                                        }
                                                                    )
                                                                ),
                                                                max_size=2,
                                                            )
                                                        )
                                                    }
                                                )
                                            ),
                                        }
                                    )
                                ),
                                max_size=2,
                            )
                        ),
                    },
                )
            ),
        }
    ),
)
kubernetes_shaped = st.lists(
    st.one_of(
        kubernetes_object,
        st.fixed_dictionaries({"kind": st.just("List"), "items": maybe(st.lists(kubernetes_object, max_size=3))}),
    ),
    min_size=1,
    max_size=6,
).map(lambda items: yaml.safe_dump_all(items, allow_unicode=True).encode("utf-8", "surrogatepass"))

compose_service = maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "image": maybe(st.sampled_from(["redis", "postgres:16", "nginx"])),
            "depends_on": maybe(
                st.one_of(
                    st.lists(name, max_size=3),
                    st.dictionaries(
                        st.sampled_from(NAMES), maybe(st.fixed_dictionaries({"condition": value})), max_size=3
                    ),
                )
            ),
            "links": maybe(
                st.lists(maybe(st.sampled_from(["web", "db:database", "api:", ":x", "cache:db"])), max_size=3)
            ),
            "environment": maybe(
                st.one_of(
                    st.lists(maybe(st.sampled_from(["A=db", "B=http://u:p@api:80/", "C", "=x"])), max_size=3),
                    st.dictionaries(st.sampled_from(["URL", "DB_PASSWORD", "X"]), value, max_size=3),
                )
            ),
            "command": maybe(st.one_of(value, st.lists(value, max_size=3))),
            "hostname": value,
            "container_name": value,
            "networks": maybe(
                st.dictionaries(
                    st.sampled_from(["a", "b"]),
                    maybe(st.fixed_dictionaries({"aliases": maybe(st.lists(value, max_size=2))})),
                    max_size=2,
                )
            ),
        },
    )
)
compose_shaped = st.dictionaries(st.sampled_from(NAMES), compose_service, max_size=6).map(
    lambda services: yaml.safe_dump({"services": services}, allow_unicode=True).encode("utf-8", "surrogatepass")
)

IDS = ["a1", "b2", "c3", "d4", ""]
attribute = maybe(
    st.fixed_dictionaries(
        {
            "key": maybe(
                st.sampled_from(["service.name", "db.system.name", "server.address", "messaging.system"] + OTLP_WORDS)
            ),
            "value": maybe(st.fixed_dictionaries({"stringValue": value})),
        }
    )
)
otlp_span = maybe(
    st.fixed_dictionaries(
        {
            "traceId": maybe(st.sampled_from(["t1", "t2"])),
            "spanId": maybe(st.sampled_from(IDS)),
            "kind": maybe(
                st.sampled_from([0, 1, 2, 3, 4, 5, 6, -1, "SPAN_KIND_CLIENT", "server", "CONSUMER", 2.0, True])
            ),
            "startTimeUnixNano": maybe(st.sampled_from(["1000000", 1000000, "-5", "99999999999999999999999", "1e9"])),
            "endTimeUnixNano": maybe(st.sampled_from(["3000000", 2000000, "0", 10**30])),
        },
        optional={"parentSpanId": maybe(st.sampled_from(IDS)), "attributes": maybe(st.lists(attribute, max_size=3))},
    )
)
otlp_shaped = st.fixed_dictionaries(
    {
        "resourceSpans": maybe(
            st.lists(
                maybe(
                    st.fixed_dictionaries(
                        {
                            "resource": maybe(
                                st.fixed_dictionaries(
                                    {"attributes": maybe(st.lists(attribute, min_size=1, max_size=2))}
                                )
                            ),
                            "scopeSpans": maybe(
                                st.lists(
                                    maybe(
                                        st.fixed_dictionaries(
                                            {"spans": maybe(st.lists(otlp_span, min_size=1, max_size=4))}
                                        )
                                    ),
                                    min_size=1,
                                    max_size=2,
                                )
                            ),
                        }
                    )
                ),
                min_size=1,
                max_size=3,
            )
        )
    }
)


def holds_promises(result: Inference) -> None:
    names = [node.name for node in result.nodes]
    assert len(names) == len(set(names))
    assert all(0 < len(name) <= 100 for name in names)
    known = set(names)
    for edge in result.edges:
        assert edge.source in known and edge.target in known and edge.source != edge.target
        assert edge.evidence and all(isinstance(item, str) and item for item in edge.evidence)
        assert edge.confidence in ("declared", "configured", "observed", "inferred")
    assert all(isinstance(problem, str) and problem for problem in result.problems)


def run(kind: str, data: bytes) -> None:
    try:
        result = infer(kind, data, {})
    except InputRefused as refused:
        assert str(refused).strip()
        return
    holds_promises(result)


@FUZZ
@given(st.one_of(raw, yaml_ish, yaml_text(KUBERNETES_WORDS, KUBERNETES_KINDS), kubernetes_shaped, kubernetes_shaped))
def test_kubernetes_never_fails_otherwise(data):
    run("kubernetes", data)


@FUZZ
@given(
    st.one_of(
        raw,
        yaml_ish,
        yaml_text(COMPOSE_WORDS),
        documents(COMPOSE_WORDS).map(lambda doc: yaml.safe_dump({"services": doc}).encode()),
        compose_shaped,
        compose_shaped,
    )
)
def test_compose_never_fails_otherwise(data):
    run("compose", data)


def otlp_json(document: object) -> bytes:
    return json.dumps(document, allow_nan=False).encode("utf-8", "surrogatepass")


otlp_documents = documents(OTLP_WORDS).map(lambda doc: {"resourceSpans": doc if isinstance(doc, list) else [doc]})


@FUZZ
@given(
    st.one_of(
        raw,
        token_text(list('{}[],:"\\ \n0123456789aeu-') + ['"resourceSpans"', "null", "true", '"spans"', "\x00"]),
        otlp_documents.map(otlp_json),
        st.lists(otlp_documents.map(otlp_json), min_size=1, max_size=4).map(lambda lines: b"\n".join(lines)),
        otlp_documents.map(lambda doc: json.dumps(doc, indent=1).encode("utf-8", "surrogatepass")),
        otlp_shaped.map(otlp_json),
        st.lists(otlp_shaped.map(otlp_json), min_size=1, max_size=3).map(lambda lines: b"\n".join(lines)),
        otlp_shaped.map(lambda doc: json.dumps(doc, indent=1).encode("utf-8", "surrogatepass")),
    )
)
def test_otlp_never_fails_otherwise(data):
    run("otlp", data)


@FUZZ
@given(st.text(max_size=200))
def test_safe_yaml_never_fails_otherwise(text):
    try:
        for _ in load_all(text):
            pass
    except InputRefused as refused:
        assert str(refused).strip()


@FUZZ
@given(st.text(max_size=200), st.text(max_size=30))
def test_hosts_and_shown_values_never_fail(value, name):
    assert all(host == host.lower() and host for host in hosts_in(value))
    assert len(shown(value, name)) <= 160


@FUZZ
@given(documents(["regions", "endpoint_url", "access_key_id", "secret_access_key", "role_arn", "external_id"]))
def test_aws_settings_and_credentials_are_checked_without_any_call(value):
    # only the checks that run before any request: a generated value must never reach the network
    for check in (lambda: aws._regions(value), lambda: aws._credentials(value if isinstance(value, dict) else None)):
        try:
            check()
        except InputRefused as refused:
            assert str(refused).strip()


@FUZZ
@given(
    st.one_of(
        yaml_ish,
        yaml_text(KUBERNETES_WORDS, KUBERNETES_KINDS),
        kubernetes_shaped,
        compose_shaped,
        st.sampled_from(
            [
                b"a: &a {x: 1}\nb: {<<: *a, y: 2}\nc: 2024-01-02\nd: !!binary aGVsbG8=\n",
                b"e: !!set {a, b}\nf: 0x1F\ng: [1, 2.5, true, null, 1_000]\nh: &h [x]\ni: *h\n",
                b"k: !!omap [{a: 1}]\nl: {=: v}\nj: !!str 12\n",
            ]
        ),
    )
)
@example(data=b"\xed\xa0\x80")  # a lone surrogate once crashed the loader's constructor (UnicodeEncodeError)
def test_safe_yaml_reads_what_pyyaml_reads(data):
    # the fast construction of yaml_safe must give the same data as PyYAML's safe loader
    text = data.decode("utf-8", "surrogatepass")
    try:
        expected = list(yaml.safe_load_all(text))
    except Exception:  # noqa: BLE001 - PyYAML refusing is fine: load_all must refuse too, as InputRefused
        expected = None
    try:
        found = list(load_all(text))
    except InputRefused:
        return
    assert expected is not None
    if "nan" not in text.lower():
        assert found == expected
