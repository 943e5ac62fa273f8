"""Discovery sources through the JSON API (SPEC §11) and the merge into a graph: hand lines never
change, each source owns what it found, only an `ok` crawl removes, limits make a crawl `partial`;
every change is a version (SPEC §13)."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from conftest import api_headers
from discovery_app_support import COMPOSE, NO_SERVICE, command_headers, crawl_row, edge, result, start_crawl_row

from maestro_web.models import Role
from maestro_web.security.worker_tokens import mint_worker_token

pytestmark = pytest.mark.app_settings(MAESTRO_DISCOVERY_URL=NO_SERVICE)


@pytest.fixture
def graph(make_graph, owner):
    return make_graph(owner, name="Shop", spec="web -> api\nlegacy")


def _create(client, headers, graph, **body):
    payload = {"kind": "compose", "label": "Compose", "input": COMPOSE.decode(), **body}
    return client.post(f"/api/graphs/{graph.public_id}/sources", headers=headers, json=payload)


def _put(client, app, owner, graph, source_id, crawl_id, body):
    return client.put(
        f"/api/graphs/{graph.public_id}/sources/{source_id}/crawls/{crawl_id}",
        headers=command_headers(app, owner, graph.public_id),
        json=body,
    )


def _claim_spec(client, app):
    job = client.post(
        "/analytics/jobs/claim",
        headers={"Authorization": f"JWT {mint_worker_token(app.config['KEY_RINGS']['analytics'])}"},
    )
    assert job.status_code == 200, job.text
    return job.json["spec"]


def test_create_list_get_never_show_the_input(client, owner, graph):
    headers = api_headers(client, owner)
    created = _create(client, headers, graph, schedule="daily")
    assert created.status_code == 201, created.text
    source = created.json
    assert source["kind"] == "compose" and source["schedule"] == "daily" and source["credentials"] is None
    assert source["input_size"] == len(COMPOSE) and source["last_crawl"] is None
    assert "input" not in source
    listed = client.get(f"/api/graphs/{graph.public_id}/sources", headers=headers)
    assert [item["id"] for item in listed.json["items"]] == [source["id"]]
    one = client.get(created.headers["Location"], headers=headers)
    assert one.status_code == 200 and one.json["label"] == "Compose"


def test_multipart_upload_of_the_file(client, owner, graph):
    headers = api_headers(client, owner)
    response = client.post(
        f"/api/graphs/{graph.public_id}/sources",
        headers=headers,
        data={"kind": "compose", "label": "Uploaded", "input": (io.BytesIO(COMPOSE), "docker-compose.yml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.text
    assert response.json["input_size"] == len(COMPOSE)


@pytest.mark.parametrize("kind, size", [("compose", 2**20 + 1), ("kubernetes", 5 * 2**20 + 1)])
def test_an_input_over_its_kinds_limit_is_413_naming_the_field_and_nothing_is_stored(client, owner, graph, kind, size):
    headers = api_headers(client, owner)
    response = _create(client, headers, graph, kind=kind, input="a: b\n" * (size // 5 + 1))
    assert response.status_code == 413, response.text
    assert "input" in response.json["fields"] and "MiB" in response.json["fields"]["input"]
    assert client.get(f"/api/graphs/{graph.public_id}/sources", headers=headers).json["items"] == []


def test_a_60_mib_upload_is_413_before_it_is_read(client, owner, graph):
    headers = api_headers(client, owner)
    big = io.BytesIO(b"{" + b" " * (60 * 2**20) + b"}")
    response = client.post(
        f"/api/graphs/{graph.public_id}/sources",
        headers=headers,
        data={"kind": "otlp", "label": "Traces", "input": (big, "traces.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413 and "input" in response.json["fields"]
    assert client.get(f"/api/graphs/{graph.public_id}/sources", headers=headers).json["items"] == []


def test_binary_garbage_and_wrong_fields_are_422_naming_them(client, owner, graph):
    headers = api_headers(client, owner)
    garbage = client.post(
        f"/api/graphs/{graph.public_id}/sources",
        headers=headers,
        data={"kind": "compose", "label": "Junk", "input": (io.BytesIO(b"\xff\xfe\x00\x01" * 100), "x.bin")},
        content_type="multipart/form-data",
    )
    assert garbage.status_code == 422 and "input" in garbage.json["fields"]
    assert _create(client, headers, graph, kind="ftp").json["fields"] == {
        "kind": "Must be one of: kubernetes, compose, otlp or aws."
    }
    assert (
        "credentials"
        in _create(
            client, headers, graph, credentials={"access_key_id": "AKIAABCDEFGHIJKLMNOP", "secret_access_key": "x"}
        ).json["fields"]
    )
    assert "input" in _create(client, headers, graph, input="  ").json["fields"]
    assert client.get(f"/api/graphs/{graph.public_id}/sources", headers=headers).json["items"] == []


@pytest.mark.parametrize(
    "kind, text, words",
    [
        ("compose", "- web\n- api\n", "mapping"),
        ("compose", "services: [unclosed\n", "yaml"),
        (
            "kubernetes",
            "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
            "alias",
        ),
        ("kubernetes", "a: " + "[" * 5000 + "]" * 5000 + "\n", "nesting depth"),
    ],
)
def test_unusable_yaml_is_422_naming_the_problem_and_nothing_is_stored(client, owner, graph, kind, text, words):
    headers = api_headers(client, owner)
    response = _create(client, headers, graph, kind=kind, input=text)
    assert response.status_code == 422, response.text
    assert words in response.json["fields"]["input"].lower()
    assert client.get(f"/api/graphs/{graph.public_id}/sources", headers=headers).json["items"] == []


def test_sources_need_the_write_role(client, make_user, make_graph, owner):
    reader = make_user(email="reader@example.com")
    graph = make_graph(owner, grants={reader: Role.READ})
    headers = api_headers(client, reader)
    assert _create(client, headers, graph).status_code == 403
    assert client.get(f"/api/graphs/{graph.public_id}/sources", headers=headers).status_code == 403
    stranger = api_headers(client, make_user(email="stranger@example.com"))
    assert _create(client, stranger, graph).status_code == 404
    # readers still see the dependencies and the versions
    assert client.get(f"/api/graphs/{graph.public_id}/dependencies", headers=headers).status_code == 200
    assert client.get(f"/api/graphs/{graph.public_id}/versions", headers=headers).status_code == 200


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.app_settings(MAESTRO_DISCOVERY_URL=NO_SERVICE, MAESTRO_DISCOVERY_AWS_ENDPOINTS=["http://127.0.0.1:5999"])
def test_aws_credentials_are_sealed_and_only_the_key_id_end_is_shown(app, client, owner, graph):
    from maestro_web.discovery.sealing import open_sealed
    from maestro_web.extensions import db
    from maestro_web.models import DiscoverySource

    headers = api_headers(client, owner)
    body = {
        "kind": "aws",
        "label": "Prod account",
        "settings": {"regions": ["eu-west-1"]},
        "credentials": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": SECRET},
    }
    del_input = {k: v for k, v in body.items()}
    response = client.post(f"/api/graphs/{graph.public_id}/sources", headers=headers, json=del_input)
    assert response.status_code == 201, response.text
    assert response.json["credentials"] == {"key_id_end": "MPLE"}
    for answer in (response, client.get(f"/api/graphs/{graph.public_id}/sources", headers=headers)):
        assert SECRET not in answer.get_data(as_text=True)
    with app.app_context():
        stored = db.session.query(DiscoverySource).one()
        assert SECRET not in stored.sealed_credentials
        opened = open_sealed(stored.sealed_credentials, [app.config["MAESTRO_DISCOVERY_PRIVATE_KEY"]])
        assert opened == {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": SECRET}
    # replaced, never read back
    patched = client.patch(
        response.headers["Location"],
        headers=headers,
        json={"credentials": {"access_key_id": "AKIAIOSFODNN7OTHERS", "secret_access_key": "new-secret"}},
    )
    assert patched.status_code == 200 and patched.json["credentials"] == {"key_id_end": "HERS"}
    # the endpoint allow-list
    body["settings"] = {"regions": ["eu-west-1"], "endpoint_url": "http://169.254.169.254"}
    refused = client.post(f"/api/graphs/{graph.public_id}/sources", headers=headers, json=body)
    assert refused.status_code == 422 and "settings.endpoint_url" in refused.json["fields"]
    body["settings"] = {"regions": ["eu-west-1"], "endpoint_url": "http://127.0.0.1:5999"}
    assert client.post(f"/api/graphs/{graph.public_id}/sources", headers=headers, json=body).status_code == 201


def test_crawl_without_a_service_is_503_and_the_crawl_says_why(client, owner, graph):
    headers = api_headers(client, owner)
    source = _create(client, headers, graph).json
    response = client.post(f"/api/graphs/{graph.public_id}/sources/{source['id']}/crawl", headers=headers)
    assert response.status_code == 503 and "not reachable" in response.json["message"]
    last = client.get(f"/api/graphs/{graph.public_id}/sources/{source['id']}", headers=headers).json["last_crawl"]
    assert last["status"] == "failed" and "flask discovery serve" in last["message"]
    # nothing is left running: the next crawl may start (and fails the same way)
    assert (
        client.post(f"/api/graphs/{graph.public_id}/sources/{source['id']}/crawl", headers=headers).status_code == 503
    )


def test_merge_union_history_and_dependencies(app, client, owner, graph):
    headers = api_headers(client, owner)
    source = _create(client, headers, graph).json
    crawl = start_crawl_row(app, graph.public_id, source["id"], owner)
    # a second crawl while one runs: 409
    again = client.post(f"/api/graphs/{graph.public_id}/sources/{source['id']}/crawl", headers=headers)
    assert again.status_code == 409
    assert (
        client.get(
            f"/api/graphs/{graph.public_id}/sources/{source['id']}/crawls/{crawl}/input",
            headers=command_headers(app, owner, graph.public_id),
        ).status_code
        == 200
    )
    _claim_spec(client, app)  # the graph's first run, queued when it was made
    answer = _put(
        client,
        app,
        owner,
        graph,
        source["id"],
        crawl,
        result(
            nodes=["web", "api", "db"],
            edges=[edge("web", "api"), edge("api", "db", "env DATABASE_URL=postgres://app@db:5432/app", "configured")],
        ),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json["status"] == "ok" and answer.json["added"] == 5 and answer.json["removed"] == 0

    # the hand spec is untouched; the worker draws the union
    assert client.get(f"/api/graphs/{graph.public_id}", headers=headers).json["spec"] == "web -> api\nlegacy"
    spec = _claim_spec(client, app)
    assert {n["name"] for n in spec["nodes"]} == {"web", "api", "legacy", "db"}
    assert {(e["source"], e["target"]) for e in spec["edges"]} == {("web", "api"), ("api", "db")}

    deps = client.get(f"/api/graphs/{graph.public_id}/dependencies", headers=headers).json
    web_api = next(e for e in deps["edges"] if (e["source"], e["target"]) == ("web", "api"))
    assert [o["source"] for o in web_api["origins"]] == ["hand", source["id"]]
    api_db = next(e for e in deps["edges"] if (e["source"], e["target"]) == ("api", "db"))
    assert api_db["origins"][0]["evidence"] == ["env DATABASE_URL=postgres://app@db:5432/app"]
    assert api_db["origins"][0]["confidence"] == "configured" and api_db["origins"][0]["last_seen"]

    versions = client.get(f"/api/graphs/{graph.public_id}/versions", headers=headers).json["items"]
    assert versions[0]["by"] == {"source": {"id": source["id"], "label": "Compose"}}
    assert versions[0]["added"] == {"nodes": ["db"], "edges": [["api", "db"]]}
    assert versions[-1]["by"]["user"]["name"] == "Owner" and versions[-1]["version"] == 1

    # a partial crawl that no longer sees db adds and refreshes only
    crawl = start_crawl_row(app, graph.public_id, source["id"], owner)
    partial = _put(
        client,
        app,
        owner,
        graph,
        source["id"],
        crawl,
        result("partial", nodes=["web", "api"], edges=[edge("web", "api")], message="skipped x"),
    )
    assert partial.json["removed"] == 0 and partial.json["status"] == "partial"
    assert len(client.get(f"/api/graphs/{graph.public_id}/dependencies", headers=headers).json["edges"]) == 2
    # an ok crawl removes what the source no longer sees, never a hand line
    crawl = start_crawl_row(app, graph.public_id, source["id"], owner)
    ok = _put(client, app, owner, graph, source["id"], crawl, result("ok", nodes=["web"], edges=[]))
    assert ok.json["removed"] == 4  # api, db, web -> api, api -> db of this source
    deps = client.get(f"/api/graphs/{graph.public_id}/dependencies", headers=headers).json
    assert {(e["source"], e["target"]) for e in deps["edges"]} == {("web", "api")}
    assert [o["source"] for o in deps["edges"][0]["origins"]] == ["hand"]
    latest = client.get(f"/api/graphs/{graph.public_id}/versions", headers=headers).json["items"][0]
    assert latest["removed"] == {"nodes": ["db"], "edges": [["api", "db"]]}
    # the result of an ended crawl is refused
    assert _put(client, app, owner, graph, source["id"], crawl, result()).status_code == 409


def test_the_reader_that_claimed_a_crawl_may_read_again_and_nobody_else(app, client, owner, graph):
    """The first read claims the crawl. The same reader (its X-Maestro-Claim) may read again, as when its
    first answer was lost; another claim, or none, is 409; a claim that is not one is 400 and claims nothing."""
    headers = api_headers(client, owner)
    source = _create(client, headers, graph).json
    crawl = start_crawl_row(app, graph.public_id, source["id"], owner)
    url = f"/api/graphs/{graph.public_id}/sources/{source['id']}/crawls/{crawl}/input"
    command = command_headers(app, owner, graph.public_id)
    mine, theirs = "a" * 16 + "mine", "b" * 16 + "theirs"

    for bad in ("short", "x" * 129, "ünïcode-but-long-enough"):
        refused = client.get(url, headers={**command, "X-Maestro-Claim": bad})
        assert refused.status_code == 400 and "X-Maestro-Claim" in refused.json["message"], refused.text
    assert crawl_row(app, crawl).claimed_at is None  # nothing claimed by a refusal

    first = client.get(url, headers={**command, "X-Maestro-Claim": mine})
    assert first.status_code == 200 and first.data == COMPOSE
    claimed = crawl_row(app, crawl)
    assert claimed.claimed_by == hashlib.sha256(mine.encode()).hexdigest()  # the digest, never the claim
    again = client.get(url, headers={**command, "X-Maestro-Claim": mine})
    assert again.status_code == 200 and again.data == COMPOSE
    assert crawl_row(app, crawl).claimed_at == claimed.claimed_at
    for other in ({"X-Maestro-Claim": theirs}, {}):
        taken = client.get(url, headers={**command, **other})
        assert taken.status_code == 409 and "taken" in taken.json["message"], taken.text

    # once the crawl has ended, not even its reader reads again
    assert _put(client, app, owner, graph, source["id"], crawl, result(nodes=["web"])).status_code == 200
    ended = client.get(url, headers={**command, "X-Maestro-Claim": mine})
    assert ended.status_code == 409 and "ended" in ended.json["message"]


def test_a_reader_without_a_claim_reads_once(app, client, owner, graph):
    headers = api_headers(client, owner)
    source = _create(client, headers, graph).json
    crawl = start_crawl_row(app, graph.public_id, source["id"], owner)
    url = f"/api/graphs/{graph.public_id}/sources/{source['id']}/crawls/{crawl}/input"
    command = command_headers(app, owner, graph.public_id)
    assert client.get(url, headers=command).status_code == 200
    assert crawl_row(app, crawl).claimed_by is None
    for later in ({}, {"X-Maestro-Claim": "c" * 20}):
        assert client.get(url, headers={**command, **later}).status_code == 409


def test_a_hand_edit_is_a_version_by_its_author(client, owner, graph):
    headers = api_headers(client, owner)
    client.patch(f"/api/graphs/{graph.public_id}", headers=headers, json={"spec": "web -> api\nweb -> cache"})
    latest = client.get(f"/api/graphs/{graph.public_id}/versions", headers=headers).json["items"][0]
    assert latest["version"] == 2 and latest["by"]["user"]["name"] == "Owner"
    assert latest["added"] == {"nodes": ["cache"], "edges": [["web", "cache"]]}
    assert latest["removed"] == {"nodes": ["legacy"], "edges": []}


def test_over_the_limits_the_crawl_is_partial_naming_what_was_left_out(app, client, owner, graph):
    headers = api_headers(client, owner)
    source = _create(client, headers, graph).json
    crawl = start_crawl_row(app, graph.public_id, source["id"], owner)
    names = [f"svc-{i:04d}" for i in range(2005)]  # the graph has 3 hand nodes: 2,000 in all
    answer = _put(client, app, owner, graph, source["id"], crawl, result("ok", nodes=names))
    assert answer.status_code == 200, answer.text
    assert answer.json["status"] == "partial"
    assert "Left out 8 node(s) over the limit of 2,000: svc-1997" in answer.json["message"]
    deps = client.get(f"/api/graphs/{graph.public_id}/dependencies", headers=headers).json
    assert len(deps["nodes"]) == 2000


def test_delete_removes_what_only_the_source_found(app, client, owner, graph):
    headers = api_headers(client, owner)
    source = _create(client, headers, graph).json
    crawl = start_crawl_row(app, graph.public_id, source["id"], owner)
    _put(client, app, owner, graph, source["id"], crawl, result(nodes=["web", "db"], edges=[edge("web", "db")]))
    assert client.delete(f"/api/graphs/{graph.public_id}/sources/{source['id']}", headers=headers).status_code == 204
    deps = client.get(f"/api/graphs/{graph.public_id}/dependencies", headers=headers).json
    assert {n["name"] for n in deps["nodes"]} == {"web", "api", "legacy"}
    latest = client.get(f"/api/graphs/{graph.public_id}/versions", headers=headers).json["items"][0]
    assert latest["by"]["user"]["name"] == "Owner" and latest["removed"]["edges"] == [["web", "db"]]
    # an older version still names the source that is gone
    assert any(
        v["by"].get("source", {}).get("label") == "Compose"
        for v in client.get(f"/api/graphs/{graph.public_id}/versions", headers=headers).json["items"]
    )


def test_patch_changes_label_schedule_and_input(client, owner, graph):
    headers = api_headers(client, owner)
    source = _create(client, headers, graph).json
    url = f"/api/graphs/{graph.public_id}/sources/{source['id']}"
    patched = client.patch(
        url,
        headers=headers,
        json={"label": "Shop compose", "schedule": "hourly", "input": "services: {a: {image: redis}}\n"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json["label"] == "Shop compose" and patched.json["schedule"] == "hourly"
    assert patched.json["input_size"] == len("services: {a: {image: redis}}\n")
    assert client.patch(url, headers=headers, json={"schedule": "sometimes"}).json["fields"] == {
        "schedule": "Must be one of: off, hourly, daily, weekly."
    }
    assert json.loads(client.get(url, headers=headers).get_data())["schedule"] == "hourly"


@pytest.mark.app_settings(MAESTRO_DISCOVERY_URL=NO_SERVICE, MAESTRO_QUOTA_RUNS_PER_HOUR=1)
def test_a_crawl_counts_against_the_owners_run_quota(client, owner, graph):
    headers = api_headers(client, owner)
    source = _create(client, headers, graph).json  # the graph's first run used the hour's only run
    response = client.post(f"/api/graphs/{graph.public_id}/sources/{source['id']}/crawl", headers=headers)
    assert response.status_code == 429 and "runs-per-hour quota" in response.json["message"]
    assert (
        client.get(f"/api/graphs/{graph.public_id}/sources/{source['id']}", headers=headers).json["last_crawl"] is None
    )


def _age_crawl(app, crawl_id, seconds):
    from datetime import timedelta

    from maestro_web.extensions import db
    from maestro_web.models import DiscoveryCrawl
    from maestro_web.models.base import utcnow

    with app.app_context():
        crawl = db.session.query(DiscoveryCrawl).filter_by(public_id=crawl_id).one()
        crawl.started_at = utcnow() - timedelta(seconds=seconds)
        db.session.commit()


STOPPED = "The discovery service stopped before finishing."


@pytest.mark.parametrize("read", ["get", "list", "page", "crawl"])
def test_a_crawl_whose_service_died_is_ended_failed_when_read(app, client, owner, graph, read):
    headers = api_headers(client, owner)
    source = _create(client, headers, graph).json
    crawl_id = start_crawl_row(app, graph.public_id, source["id"], owner)
    base = f"/api/graphs/{graph.public_id}/sources"
    limit = app.config["MAESTRO_DISCOVERY_TIMEOUT"]
    _age_crawl(app, crawl_id, limit + 30)  # within the margin: still running, a new crawl is 409
    assert client.get(f"{base}/{source['id']}", headers=headers).json["last_crawl"]["status"] == "running"
    assert client.post(f"{base}/{source['id']}/crawl", headers=headers).status_code == 409
    _age_crawl(app, crawl_id, limit + 120)
    if read == "get":
        assert client.get(f"{base}/{source['id']}", headers=headers).status_code == 200
    elif read == "list":
        assert client.get(base, headers=headers).status_code == 200
    elif read == "page":
        from conftest import AuthActions

        AuthActions(client).login(owner.email)
        assert client.get(f"/graphs/{graph.public_id}/sources").status_code == 200
    else:  # a new crawl is allowed (no service here: 503, not 409)
        assert client.post(f"{base}/{source['id']}/crawl", headers=headers).status_code == 503
    stale = crawl_row(app, crawl_id)
    assert stale.status == "failed" and stale.message == STOPPED and stale.finished_at is not None
    if read != "crawl":
        assert client.post(f"{base}/{source['id']}/crawl", headers=headers).status_code == 503


def test_the_schedule_ends_crawls_whose_service_died(app, client, runner, owner, graph):
    headers = api_headers(client, owner)
    source = _create(client, headers, graph).json
    crawl_id = start_crawl_row(app, graph.public_id, source["id"], owner)
    _age_crawl(app, crawl_id, app.config["MAESTRO_DISCOVERY_TIMEOUT"] + 120)
    outcome = runner.invoke(args=["discovery", "schedule", "--once"])
    assert outcome.exit_code == 0 and "swept: 1" in outcome.output, outcome.output
    stale = crawl_row(app, crawl_id)
    assert stale.status == "failed" and stale.message == STOPPED
