"""Reports through the API (SPEC §3 "report command", §12), without the service process: the report
command token at every edge (accepted only on its graph's read endpoints and its report's upload), the
upload and its limits, the people's endpoints, bad input, a service that is down or died, pruning."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import jwt as pyjwt
import pytest
from conftest import api_headers
from discovery_app_support import command_headers
from report_support import NO_SERVICE, PDF_TYPE, report_headers, report_row, running_report
from token_support import new_ring, sign, token_claims

from maestro_web.extensions import db
from maestro_web.models import Report, Role, User
from maestro_web.models.base import utcnow
from maestro_web.security.report_tokens import ReportTokenError, issue_report_token, verify_report_token

pytestmark = pytest.mark.app_settings(MAESTRO_REPORTS_URL=NO_SERVICE)

PDF = b"%PDF-1.7\n" + b"0" * 100 + b"\n%%EOF\n"


# --- the module ------------------------------------------------------------------------------------


def test_issue_and_verify():
    ring = new_ring("session")
    claims = verify_report_token(
        issue_report_token(ring, user_id="u1", graph_id="g1", report_id="r1", token_version=3), ring
    )
    assert (claims["aud"], claims["sub"], claims["graph"], claims["report"], claims["ver"]) == (
        "maestro-reports",
        "u1",
        "g1",
        "r1",
        3,
    )
    assert claims["exp"] - claims["iat"] == 900


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"exp": -5, "iat": -60}, "token expired"),
        ({"aud": "maestro-discovery"}, "invalid token"),
        ({"aud": "maestro-web"}, "invalid token"),
        ({"iss": "maestro-reports"}, "invalid token"),
        ({"report": None}, "invalid token"),
        ({"report": 7}, "token has no valid report"),
        ({"iat": 0, "exp": 1000}, "token lifetime is longer than fifteen minutes"),
    ],
)
def test_refused_claims(changes, message):
    now = int(time.time())  # "exp"/"iat" are given as seconds from now: made when the test runs, not at collection
    changes = {name: now + value if name in ("exp", "iat") else value for name, value in changes.items()}
    ring = new_ring("session")
    claims = token_claims(
        "maestro-server", "maestro-reports", 900, **{"sub": "u1", "graph": "g1", "report": "r1", **changes}
    )
    with pytest.raises(ReportTokenError, match=message):
        verify_report_token(sign(claims, ring), ring)


def test_tampered_and_foreign_tokens_are_refused():
    ring = new_ring("session")
    token = issue_report_token(ring, user_id="u1", graph_id="g1", report_id="r1", token_version=1)
    head, body, signature = token.split(".")
    for bad in (
        f"{head}.{body}.{signature[:-2]}AA",
        issue_report_token(new_ring("session"), user_id="u1", graph_id="g1", report_id="r1", token_version=1),
        pyjwt.encode({"sub": "u1"}, key=None, algorithm="none"),
        "x" * 5000,
        "",
    ):
        with pytest.raises(ReportTokenError):
            verify_report_token(bad, ring)
    with pytest.raises(ValueError):
        issue_report_token(ring, user_id="u1", graph_id="g1", report_id="r1", token_version=1, ttl=901)


# --- where the app accepts it ----------------------------------------------------------------------


@pytest.fixture
def shop(app, make_user, make_graph):
    owner = make_user(email="owner@example.com", name="Olga")
    graph = make_graph(owner, name="Checkout", spec="web -> api\napi -> db")
    other = make_graph(owner, name="Other")
    report_id = running_report(app, graph.public_id, owner)
    return owner, graph, other, report_id


def test_a_report_token_reads_its_graph_and_nothing_else(app, client, shop):
    owner, graph, other, report_id = shop
    headers = report_headers(app, owner, graph.public_id, report_id)
    base = f"/api/graphs/{graph.public_id}"
    assert client.get(base, headers=headers).json["name"] == "Checkout"
    assert client.get(f"{base}/versions", headers=headers).status_code == 200
    assert {n["name"] for n in client.get(f"{base}/dependencies", headers=headers).json["nodes"]} == {
        "web",
        "api",
        "db",
    }
    assert client.get(f"{base}/picture", headers=headers).status_code == 404  # never drawn: no picture
    # another graph's read endpoints, and every other endpoint, are refused
    assert client.get(f"/api/graphs/{other.public_id}", headers=headers).status_code == 403
    for method, path in (
        ("get", "/api/graphs"),
        ("get", "/api/me"),
        ("patch", base),
        ("delete", base),
        ("get", f"{base}/reports"),
        ("post", f"{base}/reports"),
        ("get", f"{base}/roles"),
        ("get", f"{base}/reports/{report_id}/file"),
        ("post", f"{base}/rerun"),
        ("post", "/api/tokens"),
        ("get", f"{base}/sources"),
    ):
        answer = getattr(client, method)(path, headers=headers, json={})
        assert answer.status_code == 403, (method, path, answer.status_code)
        assert "report command token" in answer.json["message"]
    # nor is it a session: the pages send it to the login page
    assert client.get(f"/graphs/{graph.public_id}", headers=headers).status_code == 302


def test_missing_tampered_expired_and_other_context_tokens_are_refused(app, client, shop):
    owner, graph, _, report_id = shop
    base = f"/api/graphs/{graph.public_id}"
    assert client.get(f"{base}/dependencies").status_code == 401
    token = report_headers(app, owner, graph.public_id, report_id)["Authorization"]
    assert client.get(base, headers={"Authorization": token[:-3] + "AAA"}).status_code == 401
    expired = issue_report_token(
        app.config["KEY_RINGS"]["session"],
        user_id=owner.public_id,
        graph_id=graph.public_id,
        report_id=report_id,
        token_version=1,
        now=time.time() - 1000,
    )
    assert client.get(base, headers={"Authorization": f"JWT {expired}"}).status_code == 401
    # a discovery command token is not a report token, not even on the graph's read endpoints
    assert client.get(base, headers=command_headers(app, owner, graph.public_id)).status_code == 401
    # and the upload takes the report's own token only: not a session token, not another report's
    upload = f"{base}/reports/{report_id}"
    session = api_headers(client, owner)
    assert client.put(upload, headers={**session, "Content-Type": PDF_TYPE}, data=PDF).status_code == 403
    second = running_report(app, graph.public_id, owner)
    assert (
        client.put(
            upload, headers={**report_headers(app, owner, graph.public_id, second), "Content-Type": PDF_TYPE}, data=PDF
        ).status_code
        == 403
    )
    assert report_row(app, report_id).status == "running"


def test_a_password_change_kills_the_report_token(app, client, shop):
    owner, graph, _, report_id = shop
    headers = report_headers(app, owner, graph.public_id, report_id)
    assert client.get(f"/api/graphs/{graph.public_id}", headers=headers).status_code == 200
    with app.app_context():
        user = User.get_by_public_id(owner.public_id)
        user.set_password("a new password 123")
        db.session.commit()
    answer = client.get(f"/api/graphs/{graph.public_id}", headers=headers)
    assert answer.status_code == 401 and "sessions have ended" in answer.json["message"]


# --- the upload ------------------------------------------------------------------------------------


def test_the_upload_stores_the_whole_file_and_ends_the_report(app, client, shop):
    owner, graph, _, report_id = shop
    headers = report_headers(app, owner, graph.public_id, report_id)
    url = f"/api/graphs/{graph.public_id}/reports/{report_id}"
    assert client.put(url, headers={**headers, "Content-Type": "text/csv"}, data=b"a,b").status_code == 415
    assert client.put(url, headers={**headers, "Content-Type": PDF_TYPE}, data=b"").status_code == 400
    stored = client.put(url, headers={**headers, "Content-Type": PDF_TYPE}, data=PDF)
    assert stored.status_code == 200, stored.text
    assert stored.json["status"] == "ready" and stored.json["size"] == len(PDF)
    assert stored.json["by"]["name"] == "Olga"
    again = client.put(url, headers={**headers, "Content-Type": PDF_TYPE}, data=PDF)
    assert again.status_code == 409
    session = api_headers(client, owner)
    download = client.get(f"{url}/file", headers=session)
    assert download.status_code == 200 and download.data == PDF and download.mimetype == PDF_TYPE
    made = report_row(app, report_id).created_at.strftime("%Y-%m-%d")
    assert download.headers["Content-Disposition"] == f'attachment; filename="checkout-{made}.pdf"'


def test_too_large_a_file_is_413_and_stores_nothing(app, client, shop):
    owner, graph, _, report_id = shop
    headers = {**report_headers(app, owner, graph.public_id, report_id), "Content-Type": PDF_TYPE}
    answer = client.put(
        f"/api/graphs/{graph.public_id}/reports/{report_id}", headers=headers, data=b"0" * (20 * 1024 * 1024 + 1)
    )
    assert answer.status_code == 413
    row = report_row(app, report_id)
    assert row.status == "running" and row.size is None


def test_a_failure_is_stored_with_its_message_and_no_file(app, client, shop):
    owner, graph, _, report_id = shop
    headers = report_headers(app, owner, graph.public_id, report_id)
    url = f"/api/graphs/{graph.public_id}/reports/{report_id}"
    assert client.put(url, headers=headers, json={"status": "ready"}).status_code == 422
    failed = client.put(url, headers=headers, json={"status": "failed", "message": "The picture is too big."})
    assert failed.status_code == 200 and failed.json["status"] == "failed"
    assert failed.json["message"] == "The picture is too big." and failed.json["size"] is None
    assert client.get(f"{url}/file", headers=api_headers(client, owner)).status_code == 409


def test_a_reader_who_lost_access_gets_no_file(app, client, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    reader = make_user(email="reader@example.com", name="Rita")
    graph = make_graph(owner, grants={reader: Role.READ})
    report_id = running_report(app, graph.public_id, reader)
    headers = report_headers(app, reader, graph.public_id, report_id)
    assert client.get(f"/api/graphs/{graph.public_id}", headers=headers).status_code == 200
    assert (
        client.delete(
            f"/api/graphs/{graph.public_id}/roles/{reader.public_id}", headers=api_headers(client, owner)
        ).status_code
        == 204
    )
    assert client.get(f"/api/graphs/{graph.public_id}", headers=headers).status_code == 404
    answer = client.put(
        f"/api/graphs/{graph.public_id}/reports/{report_id}", headers={**headers, "Content-Type": PDF_TYPE}, data=PDF
    )
    assert answer.status_code == 404
    row = report_row(app, report_id)
    assert row.status == "failed" and "no longer has access" in row.message


# --- for people ------------------------------------------------------------------------------------


def test_asking_with_the_service_down_fails_the_report_with_a_clear_503(app, client, shop):
    owner, graph, _, _ = shop
    headers = api_headers(client, owner)
    answer = client.post(f"/api/graphs/{graph.public_id}/reports", headers=headers, json={"format": "xlsx"})
    assert answer.status_code == 503 and "not reachable" in answer.json["message"]
    assert answer.headers["Retry-After"]
    items = client.get(f"/api/graphs/{graph.public_id}/reports", headers=headers).json["items"]
    newest = items[0]
    assert newest["format"] == "xlsx" and newest["status"] == "failed" and "flask reports serve" in newest["message"]
    assert set(newest) >= {"id", "format", "status", "message", "size", "created_at", "by"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"format": "docx"}, "format"),
        ({}, "format"),
        ({"format": "pdf", "since": "1"}, "since"),
        ({"format": "pdf", "since": 0}, "since"),
        ({"format": "pdf", "since": 99}, "since"),
        ({"format": "pdf", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_400_naming_the_field(client, shop, body, field):
    owner, graph, _, _ = shop
    answer = client.post(f"/api/graphs/{graph.public_id}/reports", headers=api_headers(client, owner), json=body)
    assert answer.status_code == 400, answer.text
    assert field in answer.json["fields"]


def test_other_graphs_reports_are_404_and_strangers_see_nothing(app, client, shop, make_user):
    owner, graph, other, report_id = shop
    headers = api_headers(client, owner)
    assert client.get(f"/api/graphs/{graph.public_id}/reports/{report_id}", headers=headers).status_code == 200
    assert client.get(f"/api/graphs/{other.public_id}/reports/{report_id}", headers=headers).status_code == 404
    assert client.get(f"/api/graphs/{other.public_id}/reports/{report_id}/file", headers=headers).status_code == 404
    stranger = api_headers(client, make_user(email="stranger@example.com"))
    assert client.get(f"/api/graphs/{graph.public_id}/reports", headers=stranger).status_code == 404
    assert (
        client.post(f"/api/graphs/{graph.public_id}/reports", headers=stranger, json={"format": "pdf"}).status_code
        == 404
    )


def test_a_report_whose_service_died_is_ended_failed_when_read(app, client, shop):
    owner, graph, _, report_id = shop
    with app.app_context():
        row = db.session.query(Report).filter_by(public_id=report_id).one()
        row.created_at = utcnow() - timedelta(seconds=961)
        db.session.commit()
    answer = client.get(f"/api/graphs/{graph.public_id}/reports/{report_id}", headers=api_headers(client, owner))
    assert answer.json["status"] == "failed" and "stopped before the report was finished" in answer.json["message"]


def test_prune_deletes_reports_older_than_30_days(app, runner, shop):
    owner, graph, _, report_id = shop
    young = running_report(app, graph.public_id, owner)
    with app.app_context():
        row = db.session.query(Report).filter_by(public_id=report_id).one()
        row.created_at = utcnow() - timedelta(days=31)
        db.session.commit()
    result = runner.invoke(args=["reports", "prune"])
    assert result.exit_code == 0 and "Deleted 1 report(s)" in result.output
    with app.app_context():
        assert {r.public_id for r in db.session.query(Report)} == {young}


def test_the_service_pool_is_bounded_busy_is_503_and_a_repeat_409():
    from maestro_web.reports.service import ReportService
    from maestro_web.reports.settings import ReportSettings

    settings = ReportSettings(
        app_url="http://127.0.0.1:9",
        command_ring=new_ring("session"),
        socket_ring=new_ring("socket"),
        live_publish_url="http://127.0.0.1:9/publish",
        workers=1,
    )
    service = ReportService(settings)
    try:
        assert service.max_active == 3  # one at work, two waiting
        for key in ("r1", "r2", "r3"):
            assert service.admit(key, key, running="running", busy="busy") is None
        busy = service.admit("r4", "r4", running="running", busy="The report service is busy.")
        assert busy is not None and busy.status == 503 and busy.headers["Retry-After"]
        again = service.admit("r1", "r1", running="This report is being made already.", busy="busy")
        assert again is not None and again.status == 409
        done = threading.Event()
        service.submit("r1", None, done.set, "Report r1")  # a job done leaves the count
        assert done.wait(5)
        for _ in range(50):
            if "r1" not in service.active:
                break
            time.sleep(0.02)
        assert service.admit("r4", "r4", running="running", busy="busy") is None
    finally:
        service.pool.shutdown(wait=True)
