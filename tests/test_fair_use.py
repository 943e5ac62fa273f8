"""Fair use: per-owner quotas on graphs and runs, a fair job claim, and a limit on role
grants, on both databases. Each quota answers 429 with a message naming it, on pages and in the
API, and changes nothing."""

from __future__ import annotations

import pytest
from conftest import AuthActions, api_headers
from sqlalchemy import func, select
from worker_support import claim_all_in_parallel, post_result

from maestro_web.extensions import db
from maestro_web.models import Graph, GraphRun
from maestro_web.security.worker_tokens import mint_worker_token


def api_create(client, headers, name: str, spec: str = "web -> api"):
    return client.post("/api/graphs", headers=headers, json={"name": name, "type": "infra", "spec": spec})


def owned(app, owner) -> int:
    with app.app_context():
        return (
            db.session.scalar(
                select(func.count(Graph.id))
                .join(Graph.owner)
                .where(Graph.deleted_at.is_(None), Graph.owner.has(public_id=owner.public_id))
            )
            or 0
        )


def runs_of(app, graph_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(GraphRun.id)).join(Graph).where(Graph.public_id == graph_id)) or 0


@pytest.mark.app_settings(MAESTRO_QUOTA_GRAPHS=2)
def test_the_graph_quota_refuses_one_more_graph_in_the_api_and_on_the_page(app, client, make_user):
    owner = make_user(email="ada@example.com")
    headers = api_headers(client, owner)
    assert api_create(client, headers, "One").status_code == 201
    assert api_create(client, headers, "Two").status_code == 201
    refused = api_create(client, headers, "Three")
    assert refused.status_code == 429
    assert refused.json["error"] == "too_many_requests" and "graph quota is 2" in refused.json["message"]
    browser = app.test_client()
    auth = AuthActions(browser)
    auth.login(owner.email)
    page = browser.post(
        "/graphs/new", data={"name": "Four", "type": "infra", "spec": "a -> b", **auth.form_values("/graphs/new")}
    )
    assert page.status_code == 429 and "graph quota is 2" in page.text and "text/html" in page.content_type
    assert owned(app, owner) == 2  # nothing stored
    # Deleting one makes room again.
    graph_id = client.get("/api/graphs", headers=headers).json["items"][0]["id"]
    assert client.delete(f"/api/graphs/{graph_id}", headers=headers).status_code == 204
    assert api_create(client, headers, "Three").status_code == 201


@pytest.mark.app_settings(MAESTRO_QUOTA_QUEUED_RUNS=2)
def test_the_queued_runs_quota_counts_waiting_graphs_of_the_owner(app, client, make_user):
    owner, other = make_user(email="ada@example.com"), make_user(email="bob@example.com")
    headers = api_headers(client, owner)
    first = api_create(client, headers, "One").json["id"]
    assert api_create(client, headers, "Two").status_code == 201
    refused = api_create(client, headers, "Three")
    assert refused.status_code == 429 and "queued-runs quota is 2" in refused.json["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    # A graph that is already waiting may be changed or re-run: its new run replaces the old one.
    assert client.patch(f"/api/graphs/{first}", headers=headers, json={"spec": "web -> db"}).status_code == 200
    assert client.post(f"/api/graphs/{first}/rerun", headers=headers).status_code == 202
    # Another owner has a queue of their own.
    assert api_create(client, api_headers(client, other), "Bob's").status_code == 201
    # Once the worker has drawn one of the owner's graphs, there is room again.
    ring = app.config["KEY_RINGS"]["analytics"]
    worker = mint_worker_token(ring)
    claimed = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {worker}"}).json
    assert claimed["name"] == "Two"  # the owner's oldest waiting run ("One" was queued again since)
    posted = post_result(
        client, ring, claimed["graph_id"], json={"run_id": claimed["run_id"], "status": "error", "msg": "test"}
    )
    assert posted.status_code == 201
    assert api_create(client, headers, "Three").status_code == 201


@pytest.mark.app_settings(MAESTRO_QUOTA_RUNS_PER_HOUR=3)
def test_the_runs_per_hour_quota_refuses_a_rerun_and_a_changed_spec_on_page_and_api(app, client, make_user):
    owner = make_user(email="ada@example.com")
    headers = api_headers(client, owner)
    graph_id = api_create(client, headers, "One").json["id"]  # run 1
    assert client.post(f"/api/graphs/{graph_id}/rerun", headers=headers).status_code == 202  # run 2
    assert client.patch(f"/api/graphs/{graph_id}", headers=headers, json={"spec": "a -> b"}).status_code == 200  # 3
    refused = client.post(f"/api/graphs/{graph_id}/rerun", headers=headers)
    assert refused.status_code == 429 and "runs-per-hour quota is 3" in refused.json["message"]
    assert 3000 < int(refused.headers["Retry-After"]) <= 3600  # until the oldest run is an hour old
    changed = client.patch(f"/api/graphs/{graph_id}", headers=headers, json={"spec": "a -> c", "name": "Renamed"})
    assert changed.status_code == 429
    detail = client.get(f"/api/graphs/{graph_id}", headers=headers).json
    assert detail["name"] == "One"  # nothing of the refused change was kept
    # A change that queues no run (same spec) is no run: allowed.
    assert client.patch(f"/api/graphs/{graph_id}", headers=headers, json={"name": "Renamed"}).status_code == 200
    browser = app.test_client()
    auth = AuthActions(browser)
    auth.login(owner.email)
    page = browser.post(f"/graphs/{graph_id}/rerun", data=auth.form_values(f"/graphs/{graph_id}"))
    assert page.status_code == 429 and "runs-per-hour quota is 3" in page.text
    assert runs_of(app, graph_id) == 3


def test_the_quotas_have_sane_defaults_read_from_the_environment(tmp_path):
    from maestro_web.config import ConfigError, load_settings

    settings = load_settings({}, tmp_path)
    assert (
        settings["MAESTRO_QUOTA_GRAPHS"],
        settings["MAESTRO_QUOTA_QUEUED_RUNS"],
        settings["MAESTRO_QUOTA_RUNS_PER_HOUR"],
        settings["MAESTRO_ROLE_GRANT_RATE_LIMIT"],
    ) == (500, 20, 120, "30 per hour")
    assert load_settings({"MAESTRO_QUOTA_QUEUED_RUNS": "5"}, tmp_path)["MAESTRO_QUOTA_QUEUED_RUNS"] == 5
    with pytest.raises(ConfigError, match="MAESTRO_QUOTA_GRAPHS"):
        load_settings({"MAESTRO_QUOTA_GRAPHS": "lots"}, tmp_path)


# --- the job claim is fair ----------------------------------------------------------------------


def claim(client, token):
    response = client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 200, response.status_code
    return response.json["graph_id"]


def test_claims_alternate_between_owners_so_a_late_small_queue_is_not_starved(app, client, make_user, make_graph):
    """Before, claims were first in first out: B's one run waited for all of A's."""
    alice, bob, carol = (
        make_user(email="a@example.com"),
        make_user(email="b@example.com"),
        make_user(email="c@example.com"),
    )
    alices = [make_graph(alice, name=f"A{n}").public_id for n in range(6)]
    bobs = make_graph(bob, name="B").public_id  # queued after all of Alice's
    token = mint_worker_token(app.config["KEY_RINGS"]["analytics"])
    first_two = [claim(client, token), claim(client, token)]
    assert first_two == [alices[0], bobs]
    carols = make_graph(carol, name="C").public_id  # a newcomer goes ahead of Alice's backlog
    assert claim(client, token) == carols
    # Within one owner, oldest first; then the rest of Alice's, in order.
    assert [claim(client, token) for _ in range(5)] == alices[1:]
    assert client.post("/analytics/jobs/claim", headers={"Authorization": f"JWT {token}"}).status_code == 204


def test_two_owners_with_backlogs_take_turns(app, client, make_user, make_graph):
    alice, bob = make_user(email="a@example.com"), make_user(email="b@example.com")
    alices = [make_graph(alice, name=f"A{n}").public_id for n in range(3)]
    bobs = [make_graph(bob, name=f"B{n}").public_id for n in range(3)]
    token = mint_worker_token(app.config["KEY_RINGS"]["analytics"])
    order = [claim(client, token) for _ in range(6)]
    assert order == [alices[0], bobs[0], alices[1], bobs[1], alices[2], bobs[2]]


def test_parallel_claims_across_owners_never_share_a_run(app, live_server, make_user, make_graph):
    """The fair order stamps the owner's row in each claim: concurrent claimers still get a run each."""
    owners = [make_user(email=f"owner{n}@example.com") for n in range(3)]
    for n in range(15):
        make_graph(owners[n % 3], name=f"G{n}")
    claimed = claim_all_in_parallel(app, live_server.url, 6)
    assert len(claimed) == 15 and len(set(claimed)) == 15


# --- role grants ----------------------------------------------------------------------------------


@pytest.mark.app_settings(RATELIMIT_ENABLED=True, MAESTRO_ROLE_GRANT_RATE_LIMIT="3 per hour")
def test_role_grants_are_limited_per_user_in_the_api_and_on_the_page(app, client, make_user, make_graph):
    """Before, a logged-in user could test ~140 addresses a second for an account."""
    owner, member = make_user(email="ada@example.com"), make_user(email="bob@example.com")
    graph = make_graph(owner, name="Shop")
    headers = api_headers(client, owner)
    url = f"/api/graphs/{graph.public_id}/roles"
    assert client.put(url, headers=headers, json={"email": "bob@example.com", "role": "read"}).status_code == 200
    # Invitations (an address without an account) spend the same budget: each one sends mail.
    assert client.put(url, headers=headers, json={"email": "nobody-1@example.com", "role": "read"}).status_code == 202
    assert client.put(url, headers=headers, json={"email": "nobody-2@example.com", "role": "read"}).status_code == 202
    refused = client.put(url, headers=headers, json={"email": "bob@example.com", "role": "write"})
    assert refused.status_code == 429 and "role-grant limit" in refused.json["message"]
    assert 3000 < int(refused.headers["Retry-After"]) <= 3600
    # The page spends the same budget.
    browser = app.test_client()
    auth = AuthActions(browser)
    auth.login(owner.email)
    access = f"/graphs/{graph.public_id}/access"
    page = browser.post(access, data={"email": "bob@example.com", "role": "3", **auth.form_values(access)})
    assert page.status_code == 429 and "role-grant limit" in page.text
    # Another user has a budget of their own.
    theirs = make_graph(member, name="Bob's")
    assert (
        client.put(
            f"/api/graphs/{theirs.public_id}/roles",
            headers=api_headers(client, member),
            json={"email": "ada@example.com", "role": "read"},
        ).status_code
        == 200
    )
