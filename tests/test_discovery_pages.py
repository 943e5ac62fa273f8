"""The Sources and Changes pages, the Discovered panels of the Edit page, the evidence list of the
overview, and the picture's "added since a version" (SPEC §11, §13), through the real forms."""

from __future__ import annotations

import io
import re

import pytest
from discovery_app_support import COMPOSE, NO_SERVICE, command_headers, edge, result, start_crawl_row

from maestro_web.models import Role

pytestmark = pytest.mark.app_settings(MAESTRO_DISCOVERY_URL=NO_SERVICE)


@pytest.fixture
def graph(make_graph, owner):
    return make_graph(owner, name="Shop", spec="web -> api")


def _add(client, auth, graph, **fields):
    path = f"/graphs/{graph.public_id}/sources"
    data = {**auth.form_values(path), "kind": "compose", "label": "Compose", "schedule": "off", **fields}
    return client.post(path, data=data, content_type="multipart/form-data")


def _source_id(client, graph):
    return re.search(r'data-source-id="([^"]+)"', client.get(f"/graphs/{graph.public_id}/sources").text).group(1)


def test_add_by_paste_or_upload_and_refusals_name_the_field(client, auth, owner, graph):
    auth.login(owner.email)
    pasted = _add(client, auth, graph, input=COMPOSE.decode())
    assert pasted.status_code == 302
    page = client.get(pasted.headers["Location"])
    assert "Source “Compose” added" in page.text and "Press Crawl" in page.text
    uploaded = _add(client, auth, graph, label="Uploaded", upload=(io.BytesIO(COMPOSE), "docker-compose.yml"))
    assert uploaded.status_code == 302
    assert client.get(f"/graphs/{graph.public_id}/sources").text.count("data-source-id=") == 2

    refused = _add(client, auth, graph, label="List", input="- web\n- api\n")
    assert refused.status_code == 422
    assert 'id="input-error"' in refused.text and "mapping" in refused.text.lower()
    assert "- web\n- api" in refused.text  # what was typed is kept
    too_big = _add(client, auth, graph, label="Big", input="a: b\n" * 220_000)
    assert too_big.status_code == 413 and "At most 1 MiB for a compose source." in too_big.text
    no_key = _add(client, auth, graph, kind="aws", label="AWS", regions="eu-west-1")
    assert no_key.status_code == 422 and "Required for aws" in no_key.text
    assert client.get(f"/graphs/{graph.public_id}/sources").text.count("data-source-id=") == 2


def test_sources_page_needs_write_and_changes_page_read(client, auth, make_user, make_graph, owner):
    reader = make_user(email="reader@example.com")
    graph = make_graph(owner, grants={reader: Role.READ})
    auth.login(reader.email)
    assert client.get(f"/graphs/{graph.public_id}/sources").status_code == 403
    changes = client.get(f"/graphs/{graph.public_id}/changes")
    assert changes.status_code == 200 and "Version 1" in changes.text
    assert ">Sources<" not in client.get(f"/graphs/{graph.public_id}").text


def test_crawl_button_without_a_service_says_why(client, auth, owner, graph):
    auth.login(owner.email)
    _add(client, auth, graph, input=COMPOSE.decode())
    source_id = _source_id(client, graph)
    path = f"/graphs/{graph.public_id}/sources/{source_id}/crawl"
    answer = client.post(path, data=auth.form_values(f"/graphs/{graph.public_id}/sources"))
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"])
    assert "is not reachable" in page.text and 'data-crawl-status="failed"' in page.text


def test_after_a_crawl_panels_evidence_changes_and_highlight(app, client, auth, owner, graph):
    auth.login(owner.email)
    _add(client, auth, graph, input=COMPOSE.decode())
    source_id = _source_id(client, graph)
    crawl = start_crawl_row(app, graph.public_id, source_id, owner)
    put = client.put(
        f"/api/graphs/{graph.public_id}/sources/{source_id}/crawls/{crawl}",
        headers=command_headers(app, owner, graph.public_id),
        json=result(
            nodes=["web", "api", "db"],
            edges=[edge("web", "api"), edge("api", "db", "env DATABASE_URL=postgres://app@db:5432/app", "configured")],
        ),
    )
    assert put.status_code == 200, put.text

    edit = client.get(f"/graphs/{graph.public_id}/edit")
    assert "Discovered by “Compose”" in edit.text and "env DATABASE_URL=postgres://app@db:5432/app" in edit.text
    assert re.search(r'<textarea[^>]*name="spec"[^>]*>\s*web -&gt; api</textarea>', edit.text)  # only hand lines

    overview = client.get(f"/graphs/{graph.public_id}")
    assert "Why each dependency is there" in overview.text and "Found by “Compose” (configured)" in overview.text

    changes = client.get(f"/graphs/{graph.public_id}/changes")
    assert "crawl of “Compose”" in changes.text and "api → db" in changes.text
    assert f"/analytics/graphs/{graph.public_id}?since=1" in changes.text
    picture = client.get(f"/analytics/graphs/{graph.public_id}?since=1")
    assert picture.status_code == 200
    assert 'data-added-edges="[[&#34;api&#34;, &#34;db&#34;]]"' in picture.text
    assert 'data-added-nodes="[&#34;db&#34;]"' in picture.text
    assert client.get(f"/analytics/graphs/{graph.public_id}?since=99").status_code == 404
    assert client.get(f"/analytics/graphs/{graph.public_id}?since=x").status_code == 400
    deps = client.get(f"/graphs/{graph.public_id}/dependencies.json").json
    assert deps["sources"] == {source_id: "Compose"} and len(deps["edges"]) == 2


def test_removing_a_source_is_a_version_by_the_user(app, client, auth, owner, graph):
    auth.login(owner.email)
    _add(client, auth, graph, input=COMPOSE.decode())
    source_id = _source_id(client, graph)
    crawl = start_crawl_row(app, graph.public_id, source_id, owner)
    client.put(
        f"/api/graphs/{graph.public_id}/sources/{source_id}/crawls/{crawl}",
        headers=command_headers(app, owner, graph.public_id),
        json=result(nodes=["db"], edges=[edge("api", "db")]),
    )
    removed = client.post(
        f"/graphs/{graph.public_id}/sources/{source_id}/delete",
        data=auth.form_values(f"/graphs/{graph.public_id}/sources"),
    )
    assert removed.status_code == 302
    changes = client.get(f"/graphs/{graph.public_id}/changes").text
    assert "Version 3" in changes and "by Owner" in changes
