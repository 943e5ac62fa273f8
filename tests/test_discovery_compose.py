"""Compose files -> nodes and edges with evidence (SPEC §11 "Inference", compose).

Inputs written from the Compose Specification: depends_on in its short (list) and long (map) forms,
links with and without an alias, environment as a list and as a map, hostnames, container names and
network aliases used as hosts, URLs with users, passwords and ports.
"""

from __future__ import annotations

import pytest
from discovery_support import edges, kinds, run

from maestro_web.discovery.inference import InputRefused, infer

SHOP = """
name: shop
x-common: &common
  restart: unless-stopped
services:
  web:
    <<: *common
    image: nginx:1.27
    depends_on: [api]
  api:
    build: ./api
    depends_on:
      db:
        condition: service_healthy
        restart: true
    environment:
      DATABASE_URL: postgres://shop:s3cret@db:5432/shop
      SEARCH_URL: http://search.internal:9200
      PORT: 8080
      DEBUG: false
  worker:
    image: example/worker
    links:
      - queue
      - cache:sessions
    environment:
      - BROKER=amqp://guest:guest@queue:5672/
      - SESSION_STORE=sessions:6379
      - MAILER=mailer-host:25
      - LONELY
    command: ["--api", "http://api:8080"]
  db:
    image: postgres:16
  cache:
    image: redis:7-alpine
  queue:
    image: rabbitmq:3-management
  search:
    image: docker.elastic.co/elasticsearch/elasticsearch:8.15.0
    networks:
      back:
        aliases: [search.internal]
  mail:
    image: example/mail
    hostname: mailer-host
networks:
  back: {}
"""


def test_nodes_and_kinds_from_images():
    result = run("compose", SHOP)
    assert kinds(result) == {
        "web": None,
        "api": None,
        "worker": None,
        "db": "database",
        "cache": "cache",
        "queue": "queue",
        "search": "database",
        "mail": None,
    }
    assert result.problems == []


def test_depends_on_list_and_map_forms_are_declared():
    found = edges(run("compose", SHOP))
    assert found[("web", "api")].confidence == "declared"
    assert found[("web", "api")].evidence == ("depends_on: api (service web)",)
    api_db = found[("api", "db")]
    assert api_db.confidence == "declared"  # declared wins over the environment that also names db
    assert "depends_on: db (service api, condition service_healthy)" in api_db.evidence
    assert "environment DATABASE_URL=postgres://shop:***@db:5432/shop of service api" in api_db.evidence


def test_links_with_and_without_alias_and_the_alias_as_host():
    found = edges(run("compose", SHOP))
    assert found[("worker", "queue")].confidence == "declared"
    assert "links: queue (service worker)" in found[("worker", "queue")].evidence
    assert "environment BROKER=amqp://guest:***@queue:5672/ of service worker" in found[("worker", "queue")].evidence
    sessions = found[("worker", "cache")]
    assert sessions.evidence == (
        "links: cache:sessions (service worker)",
        "environment SESSION_STORE=sessions:6379 of service worker",
    )


def test_environment_list_and_map_forms_hostnames_aliases_and_commands_are_configured():
    found = edges(run("compose", SHOP))
    assert found[("api", "search")].confidence == "configured"
    assert found[("api", "search")].evidence == ("environment SEARCH_URL=http://search.internal:9200 of service api",)
    assert found[("worker", "mail")].evidence == ("environment MAILER=mailer-host:25 of service worker",)
    assert found[("worker", "api")].evidence == ("command http://api:8080 of service worker",)
    assert set(found) == {
        ("web", "api"),
        ("api", "db"),
        ("api", "search"),
        ("worker", "queue"),
        ("worker", "cache"),
        ("worker", "mail"),
        ("worker", "api"),
    }


def test_a_password_never_reaches_the_evidence():
    leaky = "  leaky:\n    environment:\n      DB_PASSWORD: hunter2@db\n      DSN: host=db password=hunter3\n"
    result = run("compose", SHOP.replace("\nnetworks:", "\n" + leaky + "networks:"))
    text = repr(result)
    assert "s3cret" not in text and "hunter2" not in text and "hunter3" not in text
    assert "guest:guest" not in text
    assert "environment DB_PASSWORD=*** (naming db) of service leaky" in edges(result)[("leaky", "db")].evidence


def test_a_link_alias_is_only_a_host_for_the_service_that_made_it():
    result = run(
        "compose",
        """
services:
  a: {image: x, links: ["b:thing"]}
  b: {image: x}
  c: {image: x, environment: {URL: "http://thing:80"}}
""",
    )
    assert set(edges(result)) == {("a", "b")}


def test_a_value_mentioning_a_name_outside_host_position_is_not_an_edge():
    result = run(
        "compose",
        """
services:
  api:
    image: x
    environment:
      PATH_TO_DB: /var/lib/db/data
      TEAM: db-team
      FILE: db.sqlite3
      HOSTS: dbs,db2
      URL: http://example.com/db
  db: {image: postgres}
""",
    )
    assert result.edges == []


def test_unknown_depends_on_and_links_are_problems_not_failures():
    result = run(
        "compose",
        """
services:
  api: {image: x, depends_on: [ghost], links: ["phantom:p"]}
""",
    )
    assert result.edges == []
    assert result.problems == [
        "service api depends on ghost, which is not a service of this file; skipped",
        "service api links to phantom, which is not a service of this file; skipped",
    ]


def test_version_2_file_and_empty_service():
    result = run("compose", "version: '2.4'\nservices:\n  web:\n    depends_on: [db]\n  db:\n")
    assert set(edges(result)) == {("web", "db")}


@pytest.mark.parametrize(
    "text, message",
    [
        ("- web\n- db\n", "a Compose file is a mapping with a 'services' mapping; this one is a list"),
        ("just words", "a Compose file is a mapping with a 'services' mapping; this one is a single value"),
        ("version: '3'\nvolumes: {}\n", "the Compose file has no 'services' mapping"),
        ("services: [web, db]\n", "the Compose file has no 'services' mapping"),
        (
            "web:\n  image: nginx\ndb:\n  image: postgres\n",
            "this looks like a version 1 Compose file (services at the top level); put them under a 'services:' key",
        ),
        ("services:\n  web: 3\n", "service web is not a mapping"),
        ("services: {}\n---\nservices: {}\n", "a Compose file is one YAML document; this one has several (---)"),
        ("   \n", "the input is empty"),
        ("services:\n  web: {image: [\n", "not valid YAML"),
    ],
)
def test_unusable_files_are_refused_with_a_message(text, message):
    with pytest.raises(InputRefused) as refused:
        infer("compose", text.encode(), {})
    assert str(refused.value).startswith(message)


def test_binary_garbage_and_oversized_input_are_refused():
    with pytest.raises(InputRefused, match="not Compose .YAML. text"):
        infer("compose", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {})
    with pytest.raises(InputRefused, match="not Compose .YAML. text: byte 9 is not UTF-8"):
        infer("compose", b"services:\xff\xfe", {})
    with pytest.raises(InputRefused, match="larger than 1 MiB"):
        infer("compose", b"#" * (2**20 + 1), {})
