"""The report service as a real process (SPEC §12), with the live server and the app on loopback: the
command refused at its edges, a PDF made end to end with its progress on the user's channel, a failure
told to the app and the person, and the whole path in Chromium (press "PDF report", watch it, download
it). One service, one live server and one HTTP server for the whole module: each test's app is put
behind the same relay, with the secrets the processes were started with. No token in any log line.

With MAESTRO_SHOTS set, screenshots of the Reports page (1280 and 390 px, light and dark) go to
$MAESTRO_SHOTS/reports/ (on demand: four more browser pages are not worth their time on every run).
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from conftest import PASSWORD
from http_relay import AnswerDropper, nth_line_with
from live_support import LiveClient, LiveProcess, free_port, start_live_server
from process_support import wait_for
from pypdf import PdfReader
from report_support import report_headers, running_report
from service_support import ServiceProcess, start_service
from werkzeug.serving import make_server

from maestro_web.keyring import KeyRing

pytestmark = pytest.mark.timeout(240)

SESSION_SECRET = secrets.token_urlsafe(48)
SOCKET_SECRET = secrets.token_urlsafe(48)
RINGS = {"session": KeyRing("session", SESSION_SECRET), "socket": KeyRing("socket", SOCKET_SECRET)}
LIVE_PORT = free_port()  # chosen before the apps are built: their CSP names the live server's origin
LIVE_SETTINGS = {
    "MAESTRO_LIVE_URL": f"ws://127.0.0.1:{LIVE_PORT}/live",
    "MAESTRO_LIVE_PUBLISH": True,
    "MAESTRO_LIVE_PUBLISH_URL": f"http://127.0.0.1:{LIVE_PORT}/publish",
}
SHOTS = os.path.join(os.environ["MAESTRO_SHOTS"], "reports") if os.environ.get("MAESTRO_SHOTS") else None
WAIT = 60_000  # ms: generous, the machine is shared
SPEC = "storefront -> checkout\ncheckout -> payments\ncheckout -> inventory\npayments -> ledger [kind=database]"
SERVICES = ("storefront", "checkout", "payments", "inventory", "ledger")


class Relay:
    """A WSGI app that hands every request to the current test's Flask app."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def relay() -> Iterator[tuple[Relay, str]]:
    wsgi = Relay()
    server = make_server("127.0.0.1", free_port(), wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield wsgi, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def live(relay) -> Iterator[LiveProcess]:
    with start_live_server(
        port=LIVE_PORT, session_secret=SESSION_SECRET, socket_secret=SOCKET_SECRET, base_url=relay[1]
    ) as server:
        yield server


@pytest.fixture(scope="module")
def service(relay, live) -> Iterator[ServiceProcess]:
    with start_service(
        "reports",
        {"KEY_RINGS": RINGS},
        relay[1],
        port=free_port(),
        publish_url=live.publish_url,
        extra={"LOG_LEVEL": "DEBUG"},
        cli=True,  # `flask reports serve` itself, as deployed
    ) as process:
        yield process


@pytest.fixture
def base(app, relay, live, service) -> str:
    """This test's app behind the relay, trusting the processes' secrets and sending them commands."""
    app.config["KEY_RINGS"] = {**app.config["KEY_RINGS"], **RINGS}
    app.config.update(MAESTRO_REPORTS_URL=service.url, MAESTRO_BASE_URL=relay[1])
    relay[0].app = app
    return relay[1]


def _session(base: str, user) -> requests.Session:
    http = requests.Session()
    token = http.post(f"{base}/api/auth/token", json={"email": user.email, "password": PASSWORD}, timeout=10).json()[
        "access_token"
    ]
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def _events_until_end(client: LiveClient, report_id: str) -> list[dict[str, Any]]:
    heard: list[dict[str, Any]] = []
    while not heard or heard[-1]["event"] not in ("report.finished", "report.failed"):
        frame = client.recv(90)
        if frame.get("event", "").startswith("report.") and frame["data"]["report"] == report_id:
            heard.append(frame)
    return heard


def _ended_report(http: requests.Session, base: str, graph_id: str, report_id: str) -> dict[str, Any]:
    """The report's row once it is no longer running."""

    def ended() -> dict[str, Any] | None:
        row = http.get(f"{base}/api/graphs/{graph_id}/reports/{report_id}", timeout=10).json()
        return row if row["status"] != "running" else None

    return wait_for(ended, f"report {report_id} to end")


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


@pytest.mark.app_settings(**LIVE_SETTINGS)
def test_a_pdf_end_to_end_with_live_progress_and_no_token_in_any_log(
    app, base, live, service, make_user, make_graph, caplog
):
    caplog.set_level(logging.DEBUG)
    owner = make_user(email="owner@example.com", name="Olga")
    graph = make_graph(owner, name="Checkout", spec=SPEC)
    http = _session(base, owner)
    ticket = http.post(f"{base}/api/live/ticket", json={}, timeout=10).json()
    with LiveClient(ticket["url"], origin=base) as client:
        assert client.hello(ticket["ticket"])["type"] == "welcome"
        assert client.subscribe(f"user:{owner.public_id}")["type"] == "subscribed"
        asked = http.post(f"{base}/api/graphs/{graph.public_id}/reports", json={"format": "pdf"}, timeout=30)
        assert asked.status_code == 202, asked.text
        report_id = asked.json()["report"]
        heard = _events_until_end(client, report_id)
    names = [frame["event"] for frame in heard]
    assert names[0] == "report.started" and names[-1] == "report.finished", (names, service.logs())
    assert all(frame["data"]["graph"] == graph.public_id for frame in heard)
    percents = [frame["data"]["percent"] for frame in heard if frame["event"] == "report.progress"]
    assert percents == sorted(percents) and len(percents) >= 3
    assert any(40 < percent < 90 for percent in percents), percents  # the PDF's parts, as they are laid out
    report = http.get(f"{base}/api/graphs/{graph.public_id}/reports/{report_id}", timeout=10).json()
    assert report["status"] == "ready" and report["by"]["name"] == "Olga" and report["size"] > 1000
    download = http.get(f"{base}/api/graphs/{graph.public_id}/reports/{report_id}/file", timeout=10)
    assert download.headers["Content-Type"] == "application/pdf" and download.content.startswith(b"%PDF")
    assert download.headers["Content-Disposition"].startswith('attachment; filename="checkout-')
    text = _pdf_text(download.content)
    assert "Checkout" in text and all(name in text for name in SERVICES), text[:2000]

    app_lines = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith(("websockets", "urllib3"))
    )
    assert f"Report {report_id}" in app_lines and f"Report {report_id}" in service.logs()
    for text in (service.logs(), app_lines, live.logs()):
        assert "eyJ" not in text


@pytest.mark.app_settings(**LIVE_SETTINGS)
def test_a_failure_is_told_to_the_person_and_stored_without_a_file(app, base, live, service, make_user, make_graph):
    owner = make_user(email="owner@example.com", name="Olga")
    graph = make_graph(owner, name="Checkout", spec=SPEC)
    http = _session(base, owner)
    # the person who asked loses their sessions while the report waits: the service is refused by the app
    report_id = running_report(app, graph.public_id, owner, fmt="csv")
    stale = report_headers(app, owner, graph.public_id, report_id, token_version=0)
    body = {"graph": graph.public_id, "report": report_id, "format": "csv", "since": None, "requested_by": "Olga"}
    ticket = http.post(f"{base}/api/live/ticket", json={}, timeout=10).json()
    with LiveClient(ticket["url"], origin=base) as client:
        client.hello(ticket["ticket"])
        client.subscribe(f"user:{owner.public_id}")
        assert requests.post(f"{service.url}/reports", json=body, headers=stale, timeout=10).status_code == 202
        heard = _events_until_end(client, report_id)
    assert heard[-1]["event"] == "report.failed"
    assert "refused to hand over the graph" in heard[-1]["data"]["message"]
    # its token was refused by the app, so the failure could not be stored either: the row waits for
    # its token's life to end (test_report_api covers that); a good token stores the failure:
    report_id = running_report(app, graph.public_id, owner, fmt="xlsx")
    good = report_headers(app, owner, graph.public_id, report_id)
    body.update(report=report_id, format="xlsx", since=12345)  # no such version: the documents still come out
    assert requests.post(f"{service.url}/reports", json=body, headers=good, timeout=10).status_code == 202
    row = _ended_report(http, base, graph.public_id, report_id)
    assert row["status"] in ("ready", "failed"), row
    if row["status"] == "failed":
        assert row["size"] is None and row["message"]


@pytest.mark.app_settings(**LIVE_SETTINGS)
def test_a_read_whose_answer_was_lost_is_asked_again(app, base, live, make_user, make_graph):
    """The app killed as it answered the service's first read of the graph: the service asks again (a read
    is safe to repeat) and the report is made, instead of failing for a moment's fault."""
    owner = make_user(email="owner@example.com", name="Olga")
    graph = make_graph(owner, name="Checkout", spec=SPEC)
    http = _session(base, owner)
    dropper = AnswerDropper(urlsplit(base).port or 80, drop=nth_line_with(b"GET /api/graphs/"))
    try:
        with start_service(
            "reports", {"KEY_RINGS": RINGS}, f"http://127.0.0.1:{dropper.port}", port=free_port()
        ) as second:
            report_id = running_report(app, graph.public_id, owner, fmt="csv")
            body = {
                "graph": graph.public_id,
                "report": report_id,
                "format": "csv",
                "since": None,
                "requested_by": "Olga",
            }
            headers = report_headers(app, owner, graph.public_id, report_id)
            assert requests.post(f"{second.url}/reports", json=body, headers=headers, timeout=10).status_code == 202
            row = _ended_report(http, base, graph.public_id, report_id)
            logs = second.logs()
    finally:
        dropper.close()
    assert row["status"] == "ready", (row, logs)
    assert "was lost (ConnectionError); sending it again" in logs, logs
    reads = [line for line in dropper.requests if line.startswith(b"GET ")]
    assert reads[0] == reads[1], dropper.requests  # the first read, sent twice


@pytest.mark.app_settings(**LIVE_SETTINGS)
def test_the_service_refuses_what_is_not_a_command_for_that_report(app, base, service, make_user, make_graph):
    owner = make_user(email="owner@example.com")
    graph = make_graph(owner)
    other = make_graph(owner, name="Other")
    report_id = running_report(app, graph.public_id, owner)
    body = {"graph": graph.public_id, "report": report_id, "format": "pdf", "since": None}
    url = f"{service.url}/reports"
    assert requests.post(url, json=body, timeout=10).status_code == 401
    assert requests.post(url, json=body, headers=dict(_session(base, owner).headers), timeout=10).status_code == 401
    from discovery_app_support import command_headers

    assert (
        requests.post(url, json=body, headers=command_headers(app, owner, graph.public_id), timeout=10).status_code
        == 401
    )
    wrong = report_headers(app, owner, other.public_id, report_id)
    assert requests.post(url, json=body, headers=wrong, timeout=10).status_code == 403
    good = report_headers(app, owner, graph.public_id, report_id)
    assert requests.post(url, data=b"[1,", headers=good, timeout=10).status_code == 400
    for bad in ({**body, "format": "docx"}, {**body, "since": "3"}, {"graph": graph.public_id}):
        answer = requests.post(url, json=bad, headers=good, timeout=10)
        assert answer.status_code == 422, (bad, answer.text)
    assert requests.post(url, data=b"x" * 10_000, headers=good, timeout=10).status_code == 413
    assert "eyJ" not in service.logs()


# --- the whole path in Chromium ----------------------------------------------------------------------


def _shots(browser, base: str, graph_id: str, storage: Any) -> None:
    if SHOTS is None:
        return
    os.makedirs(SHOTS, exist_ok=True)
    for scheme in ("light", "dark"):
        for width, height in ((1280, 900), (390, 844)):
            context = browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=scheme, storage_state=storage
            )
            page = context.new_page()
            page.goto(f"{base}/graphs/{graph_id}/reports")
            page.locator("[data-report-download]").first.wait_for()
            page.screenshot(path=f"{SHOTS}/reports-{width}-{scheme}.png", full_page=True)
            context.close()


@pytest.mark.browser
@pytest.mark.app_settings(**LIVE_SETTINGS)
def test_press_pdf_report_watch_it_and_download_it(app, base, browser, live, service, make_user, make_graph):
    from playwright.sync_api import expect

    owner = make_user(email="owner@example.com", name="Olga")
    graph = make_graph(owner, name="Checkout", spec=SPEC)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{base}/auth/login")
    page.fill("#email", owner.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/graphs/")
    page.goto(f"{base}/graphs/{graph.public_id}")
    page.click("nav.tabs >> text=Reports")
    expect(page.locator("h1")).to_contain_text("Reports of “Checkout”")
    expect(page.locator("[data-live-indicator]")).to_have_text("Live updates on", timeout=WAIT)
    page.evaluate("""() => {
        window.__sameDocument = true;
        window.__statuses = [];
        new MutationObserver(() => {
            document.querySelectorAll('[data-report-status]').forEach((s) => window.__statuses.push(s.textContent.trim()));
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    page.click("button:has-text('PDF report')")
    link = page.locator("[data-report-download]")
    expect(link).to_have_count(1, timeout=WAIT)
    statuses = page.evaluate("window.__statuses")
    assert any(status.startswith("Being made") for status in statuses), statuses  # the progress was shown
    assert page.evaluate("window.__sameDocument") is True  # no reload
    row = page.locator("table.reports tbody tr").first
    expect(row).to_contain_text("PDF")
    expect(row).to_contain_text("Olga")
    expect(row).to_contain_text("Ready")
    with page.expect_download() as waiting:
        link.click()
    download = waiting.value
    assert download.suggested_filename.startswith("checkout-") and download.suggested_filename.endswith(".pdf")
    with open(download.path(), "rb") as handle:
        text = _pdf_text(handle.read())
    assert all(name in text for name in SERVICES), text[:2000]
    _shots(browser, base, graph.public_id, context.storage_state())
    context.close()


# --- the weekly PDF by e-mail -----------------------------------------------------------


@pytest.mark.app_settings(**LIVE_SETTINGS)
def test_the_weekly_pdf_goes_to_chosen_readers_in_weeks_with_changes(
    app, base, service, client, auth, runner, make_user, make_graph
):
    from conftest import api_headers
    from mail_support import SmtpServer, link_path

    from maestro_web.extensions import db
    from maestro_web.models import ReportSubscription, Role

    owner = make_user(email="owner@example.com", name="Olga")
    reader = make_user(email="reader@example.com", name="Rita")
    leaver = make_user(email="leaver@example.com", name="Lea")
    bystander = make_user(email="bystander@example.com", name="Ben")
    graph = make_graph(
        owner, name="Checkout", spec=SPEC, grants={reader: Role.READ, leaver: Role.READ, bystander: Role.READ}
    )
    auth.login(owner.email)
    page = client.get(f"/graphs/{graph.public_id}/reports")
    assert "Weekly PDF by e-mail" in page.text and "reader@example.com" in page.text
    chosen = client.post(
        f"/graphs/{graph.public_id}/reports/weekly",
        data={**auth.form_values(f"/graphs/{graph.public_id}/reports"), "reader": [reader.public_id, leaver.public_id]},
    )
    assert chosen.status_code == 302
    with SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        quiet = runner.invoke(args=["reports", "weekly", "--once"])
        assert "started: 0, unchanged: 1" in quiet.output  # no change this week: no report, no mail
        owner_api = api_headers(client, owner)
        edited = client.patch(
            f"/api/graphs/{graph.public_id}", headers=owner_api, json={"spec": SPEC + "\ncheckout -> fraud"}
        )
        assert edited.status_code == 200, edited.text
        assert (
            client.delete(f"/api/graphs/{graph.public_id}/roles/{leaver.public_id}", headers=owner_api).status_code
            == 204
        )
        started = runner.invoke(args=["reports", "weekly", "--once"])
        assert "started: 1" in started.output, started.output

        def newest_ended() -> list[dict[str, Any]] | None:
            items = client.get(f"/api/graphs/{graph.public_id}/reports", headers=owner_api).json["items"]
            return items if items and items[0]["status"] != "running" else None

        items = wait_for(newest_ended, "the weekly report to end")
        assert items[0]["status"] == "ready", (items[0], service.logs())
        mails = smtp.inbox.settle()
        assert [mail["To"] for mail in mails] == ["reader@example.com"]  # not the leaver, not the bystander
        mail = mails[0]
        assert mail["Subject"] == "Weekly report: Checkout"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = mail["List-Unsubscribe"].strip("<>")
        assert "/reports/unsubscribe/" in unsubscribe and unsubscribe in mail.get_body(("plain",)).get_content()
        pdf = next(part for part in mail.iter_attachments() if part.get_content_type() == "application/pdf")
        assert pdf.get_filename().startswith("checkout-")
        text = _pdf_text(pdf.get_content())
        assert all(name in text for name in (*SERVICES, "fraud")), text[:2000]
        # a second round in the same week sends nothing; the leaver was unsubscribed
        assert "started: 0" in runner.invoke(args=["reports", "weekly", "--once"]).output
        with app.app_context():
            assert {sub.user.email for sub in db.session.query(ReportSubscription)} == {"reader@example.com"}
        # one click (RFC 8058), without a session or a form
        fresh = app.test_client()
        assert "Unsubscribe" in fresh.get(link_path(unsubscribe)).text  # a GET alone changes nothing
        done = fresh.post(
            link_path(unsubscribe), data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert done.status_code == 200 and "no longer get the weekly report" in done.text
        with app.app_context():
            assert db.session.query(ReportSubscription).count() == 0
        assert "no subscription any more" in fresh.get(link_path(unsubscribe)).text
