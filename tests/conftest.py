"""Shared fixtures: one app per test on a migrated database, SQLite or PostgreSQL.

The engine is chosen for the whole run by MAESTRO_TEST_DATABASE (`sqlite`, the default, or
`postgresql`); `make test` runs the suite once with each. The schema always comes from the
Alembic migrations, built once per run; between tests every table is emptied.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from axe_support import axe_script
from flask import Flask
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache
from share_support import draw
from werkzeug.serving import make_server

from maestro_web import create_app
from maestro_web.extensions import db
from maestro_web.models import Role
from maestro_web.models.user import use_password_hasher

# The session's live server, its `live` fixture and what an app needs to use it (tests/live_support.py).
pytest_plugins = ["live_support"]

ENGINE = os.environ.get("MAESTRO_TEST_DATABASE", "sqlite")
POSTGRES_ADMIN_URL = os.environ.get(
    "MAESTRO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("MAESTRO_REQUIRE_POSTGRES") == "1"
PASSWORD = "correct horse battery"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def reuse_url_builders() -> None:
    """Keep werkzeug's URL builder functions across the apps this process makes.

    Binding a route compiles two builder functions from a generated AST (werkzeug's
    `Rule._compile_builder`): about 90% of `create_app`'s time, and the suite makes an app per test,
    each with the same ~120 routes. A builder is a pure function of the rule's text, its parsed parts,
    its defaults and `append_unknown` (it reaches the rule's converters through the `self` it is bound
    to), so the same rule gets the same function, compiled once per process. Servers the tests start
    as processes compile their own.
    """
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    builders: dict[tuple[Any, ...], Any] = {}

    def reused(self: Rule, append_unknown: bool = True) -> Any:
        defaults = tuple(
            sorted(
                (str(name), type(self._converters.get(name)).__name__, repr(value))
                for name, value in (self.defaults or {}).items()
            )
        )
        key = (self.rule, tuple(self._trace), defaults, append_unknown)
        if key not in builders:
            builders[key] = compile_builder(self, append_unknown)
        return builders[key]

    Rule._compile_builder = reused  # type: ignore[method-assign]


def reuse_engines() -> None:
    """One SQLAlchemy engine per database URL and options in this process, seen by each app as its own.

    Each app made its own engine, so each test compiled every SQL statement it ran again (the
    compiled cache lives on the engine and is keyed on its dialect): about a sixth of a plain
    test's time. An app now gets `engine.execution_options()` of the process's engine for its URL
    and options: the same pool, dialect and compiled statements, but its own event listeners, which
    go with it. A test's teardown still disposes of the pool, so no connection outlives its test.
    Flask-SQLAlchemy makes its engines in `_make_engine`, the hook it names for this.
    """
    from flask_sqlalchemy import SQLAlchemy

    make_engine = SQLAlchemy._make_engine
    engines: dict[tuple[Any, ...], sa.engine.Engine] = {}

    def reused(self: SQLAlchemy, bind_key: str | None, options: dict[str, Any], app: Flask) -> sa.engine.Engine:
        key = (bind_key, repr(sorted(options.items())))
        if key not in engines:
            engines[key] = make_engine(self, bind_key, options, app)
        return engines[key].execution_options()

    SQLAlchemy._make_engine = reused  # type: ignore[method-assign]


class TemplateCodeCache(BytecodeCache):
    """Jinja's compiled templates, kept in memory for every app this process makes.

    Each app has its own Jinja environment, so each test compiled every template it rendered again:
    about a fifth of a plain test's time. Jinja checks the source's checksum on every load, so a
    changed template is compiled anew. Servers the tests start as processes compile their own.
    """

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


def pytest_configure(config: pytest.Config) -> None:
    # Cheap argon2 parameters for the accounts and passcodes tests make in this process: a
    # production hash costs about 0.1 s of CPU and the suite makes thousands. Servers the tests
    # start as processes keep the production parameters; tests/test_password_hashing.py checks them.
    use_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    reuse_url_builders()
    reuse_engines()
    Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": TemplateCodeCache()}
    config.addinivalue_line("markers", "app_settings(**settings): app.config overrides for one test")
    config.addinivalue_line("markers", "browser: drives real pages in headless Chromium")
    config.addinivalue_line("markers", "long: takes a minute or more; started first (pytest_collection_modifyitems)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` run first: pytest-xdist hands tests out in this order, so a minute-long test
    that came last kept one process busy while the other had nothing left to do."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: the rest keep their order


def pytest_report_header(config: pytest.Config) -> str:
    return f"maestro database engine: {ENGINE}"


# --- database ------------------------------------------------------------------------------------


def postgres_available(url: str = POSTGRES_ADMIN_URL) -> str | None:
    """None when PostgreSQL answers at `url`, else the reason it does not."""
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect is a reason to skip
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


def make_postgres_database(name: str) -> str:
    """Create an empty database `name` and return its URL (dropping an old one first)."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres_database(name: str) -> None:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def require_postgres_or_skip() -> None:
    reason = postgres_available()
    if reason is None:
        return
    message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({reason})"
    if REQUIRE_POSTGRES:
        pytest.fail(message + " and MAESTRO_REQUIRE_POSTGRES=1", pytrace=False)
    pytest.skip(message + "; set MAESTRO_TEST_POSTGRES_URL or start PostgreSQL")


def migrate_database(url: str, instance_path: str) -> None:
    """Build the schema the way production does: `flask db upgrade`."""
    from flask_migrate import upgrade

    app = create_app({"MAESTRO_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance_path})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    instance = str(tmp_path_factory.mktemp("instance"))
    if ENGINE == "postgresql":
        require_postgres_or_skip()
        name = f"maestro_test_{os.getpid()}"
        url = make_postgres_database(name)
        migrate_database(url, instance)
        yield url
        drop_postgres_database(name)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'maestro.db'}"
        migrate_database(url, instance)
        yield url


def empty_all_tables() -> None:
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


# --- app -----------------------------------------------------------------------------------------


@pytest.fixture
def app_settings(request: pytest.FixtureRequest, session_live_settings: dict[str, Any]) -> dict[str, Any]:
    """Overrides from @pytest.mark.app_settings(...), nearest marker winning, on top of what the
    session's live server needs when the test asks for `live`."""
    settings: dict[str, Any] = dict(session_live_settings)
    for marker in reversed(list(request.node.iter_markers("app_settings"))):
        settings.update(marker.kwargs)
    return settings


@pytest.fixture
def app(database_url: str, app_settings: dict[str, Any], tmp_path) -> Iterator[Flask]:
    config = {
        "MAESTRO_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        # Rate limits are tested on purpose (with their own settings), not hit by accident.
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        # Likewise the fair-use quotas (tests/test_fair_use.py sets its own).
        "MAESTRO_QUOTA_GRAPHS": 100_000,
        "MAESTRO_QUOTA_QUEUED_RUNS": 100_000,
        "MAESTRO_QUOTA_RUNS_PER_HOUR": 100_000,
        **app_settings,
    }
    app = create_app(config, environ={})
    with app.app_context():
        empty_all_tables()
    yield app
    with app.app_context():
        db.session.remove()
        empty_all_tables()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


# --- helpers -------------------------------------------------------------------------------------


def form_csrf(html: str) -> str:
    """The Flask-WTF CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no csrf_token field on the page"
    return match.group(1)


def jwt_csrf(html: str) -> str | None:
    match = re.search(r'name="jwt_csrf" value="([^"]+)"', html)
    return match.group(1) if match else None


# The session cookies as the app names and scopes them (`__Host-`/`__Secure-` names in production, the
# refresh cookie on its own path): every test reads and writes them through these, never by a literal.


def session_cookie_name(app: Flask, kind: str) -> str:
    """The name of the "access" or "refresh" cookie."""
    return str(app.config[f"JWT_{kind.upper()}_COOKIE_NAME"])


def session_cookie_path(app: Flask, kind: str) -> str:
    return str(app.config[f"JWT_{kind.upper()}_COOKIE_PATH"])


def session_cookie(client: FlaskClient, kind: str) -> str | None:
    """The value of the client's "access" or "refresh" cookie, None when it has none."""
    app = client.application
    found = client.get_cookie(session_cookie_name(app, kind), path=session_cookie_path(app, kind))
    return found.value if found else None


def set_session_cookie(client: FlaskClient, kind: str, value: str) -> None:
    """Give the client an "access" or "refresh" cookie where the app would put it (name and path)."""
    app = client.application
    client.set_cookie(session_cookie_name(app, kind), value, path=session_cookie_path(app, kind))


def delete_session_cookie(client: FlaskClient, kind: str) -> None:
    app = client.application
    client.delete_cookie(session_cookie_name(app, kind), path=session_cookie_path(app, kind))


class UserFactory:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, email: str | None = None, name: str = "Ada", password: str = PASSWORD):
        from maestro_web.models import User

        with self.app.app_context():
            user = User.create(email or f"user-{uuid.uuid4().hex[:8]}@example.com", name, password)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user


@pytest.fixture
def make_user(app: Flask) -> UserFactory:
    return UserFactory(app)


class AuthActions:
    """Log in and out through the real forms, like the Flask tutorial's AuthActions."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, email: str, password: str = PASSWORD, next_url: str | None = None):
        page = self.client.get("/auth/login")
        url = "/auth/login" + (f"?next={next_url}" if next_url else "")
        return self.client.post(url, data={"email": email, "password": password, "csrf_token": form_csrf(page.text)})

    def form_values(self, path: str) -> dict[str, str]:
        """Both CSRF values from a logged-in page, ready to post."""
        page = self.client.get(path)
        values = {"csrf_token": form_csrf(page.text)}
        token = jwt_csrf(page.text)
        if token:
            values["jwt_csrf"] = token
        return values

    def logout(self):
        return self.client.post("/auth/session/logout", data=self.form_values("/account"))


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


# --- live server and browser ---------------------------------------------------------------------


class LiveServer:
    def __init__(self, app: Flask, port: int = 0) -> None:
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # shutdown() waits for the loop's next look at its flag: every 0.5 s by default, a quarter of a
        # second on average at the end of every test that serves the app.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()  # the port is free again as soon as the test ends


@pytest.fixture
def live_server(app: Flask, session_live_app_port: int) -> Iterator[LiveServer]:
    """The app served by a real HTTP server on a free loopback port, in a thread (on the one the
    session's live server lets in when the test asks for `live`)."""
    with LiveServer(app, session_live_app_port) as server:
        yield server


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """The session's one Chromium (tests ask for `browser`)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    """The session's Chromium, for one test: every browser context the test opened is closed when it
    ends, however it was opened. A context left open keeps its renderer processes and their timers
    (a page's reconnects to a live server that has stopped, its polls): twenty left by earlier tests
    took about a sixth of a core while idle, on the same two cores as the rest of the suite."""
    before = set(chromium.contexts)
    yield chromium
    for context in chromium.contexts:
        if context not in before:
            context.close()


@pytest.fixture
def open_page(browser) -> Callable[..., Any]:
    """`open_page(base, email=None)`: a desktop-sized page in a browser context of its own, logged in
    through the login form when `email` is given. `browser` closes the context when the test ends."""

    def open_one(base: str, email: str | None = None) -> Any:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        if email:
            log_in(page, base, email)
        return page

    return open_one


class Shots:
    """Screenshots for a person to look at: `shots(page_or_locator, "name.png", full_page=True)`.

    Taken only when MAESTRO_SHOTS names a folder (`MAESTRO_SHOTS=/tmp/shots pytest tests/test_browser_look.py`),
    into a folder of each test's own there, so tests running at the same time in several workers never
    write over each other's files. Without it the pages are still opened and checked; only the picture
    is not made: in `make test` nobody looks at it, and a full-page PNG was a fifth of such a test's time.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def __call__(self, target: Any, name: str, **options: Any) -> None:
        if self.folder is not None:
            target.screenshot(path=str(self.folder / name), **options)

    @property
    def schemes(self) -> tuple[str, ...]:
        """The colour schemes to open the pages in: both when a person will look at the pictures; light
        alone otherwise, for the checks beside them (widths, reach), since the dark theme changes
        colours only (static/style.css). Both schemes' contrast is test_accessibility's, always."""
        return ("light", "dark") if self.folder is not None else ("light",)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    root = os.environ.get("MAESTRO_SHOTS")
    if not root:
        return Shots(None)
    folder = Path(root) / re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    folder.mkdir(parents=True, exist_ok=True)
    return Shots(folder)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, for a page to run through Playwright's router (tests/axe_support.py)."""
    return axe_script()


class GraphFactory:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(
        self,
        owner,
        name: str = "Payments",
        spec: str = "api -> db\napi -> cache",
        type: str = "infra",
        grants: dict | None = None,
    ):
        """A graph owned by `owner`; `grants` maps users to Role values."""
        from maestro_web.graphs.services import GraphChanges, create_graph, grant_role
        from maestro_web.models import User

        with self.app.app_context():
            graph = create_graph(
                User.get_by_public_id(owner.public_id), GraphChanges(name=name, type=type, description="", spec=spec)
            )
            for user, role in (grants or {}).items():
                grant_role(graph, user.email, role)
            db.session.commit()
            db.session.refresh(graph)
            db.session.expunge(graph)
            return graph


@pytest.fixture
def make_graph(app: Flask) -> GraphFactory:
    return GraphFactory(app)


def api_headers(client: FlaskClient, user, password: str = PASSWORD) -> dict[str, str]:
    """Authorization headers for `user`, through the real token endpoint."""
    response = client.post("/api/auth/token", json={"email": user.email, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def log_in(
    page,
    base: str,
    email: str = "owner@example.com",
    password: str = PASSWORD,
    *,
    next_url: str | None = None,
    lands: str | None = "/graphs/",
    timeout: float | None = None,
) -> None:
    """Log a browser page in through the real login form of the app at `base`, and wait until it lands
    on `lands` (the graphs, or `next_url` when given); `lands=None` does not wait (a refused login)."""
    page.goto(f"{base}/auth/login" + (f"?next={next_url}" if next_url else ""))
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    landing = next_url or lands
    if landing is not None:
        page.wait_for_url(f"{base}{landing}", timeout=timeout)


def scripts_ready(page) -> None:
    """Wait until the deferred scripts of the page's document have run, before acting on what only a
    script makes work (a copy button, a listener). page.goto(), reload() and wait_for_url() wait for the
    load event already; after a click or a submit that navigated, Playwright can act on the new page as
    soon as its HTML is parsed, before them. Deferred scripts run just before DOMContentLoaded. Call it
    once the new page is known to be there (an `expect` on something only it has): before that, the
    event waited for may be the old page's."""
    page.wait_for_load_state("domcontentloaded")


def try_the_example(page) -> None:
    """Click "Try an example" once static/spec-editor.js has set the editor up (its gutter is there):
    the script is deferred, and Playwright can click before it ran, when nothing answers the click."""
    from playwright.sync_api import expect

    expect(page.locator(".spec-editor .gutter")).to_be_attached()
    page.click("text=Try an example")


def ask_to_confirm(page, button):
    """Click a button that asks first (templates/_confirm.html) once static/confirm.js has run, and
    return the open dialog. The script is deferred: clicked before it ran, the button opens the no-JS
    confirm page instead (the fallback a user gets, not the dialog the test looks at). So the click
    waits for scripts_ready(page), and, like it, comes once the page is known to be there."""
    from playwright.sync_api import expect

    scripts_ready(page)
    button.click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    return dialog


# --- the people and the graph most tests start from ----------------------------------------------
# A module that needs another graph (or owner) defines its own fixture of the same name, which wins
# in that module; `def graph(graph): ...` builds on this one.


@pytest.fixture
def owner(make_user):
    return make_user(email="owner@example.com", name="Owner")


@pytest.fixture
def writer(make_user):
    return make_user(email="writer@example.com", name="Writer")


@pytest.fixture
def reader(make_user):
    return make_user(email="reader@example.com", name="Reader")


@pytest.fixture
def graph(app, owner, writer, reader, make_graph):
    """The owner's "Checkout" graph with a picture; the writer holds Write, the reader Read."""
    graph = make_graph(owner, name="Checkout", spec="web -> api", grants={writer: Role.WRITE, reader: Role.READ})
    draw(app, graph.public_id)
    return graph


@pytest.fixture
def headers(client: FlaskClient, owner) -> dict[str, str]:
    """The API user: the owner's Authorization headers, through the real token endpoint."""
    return api_headers(client, owner)
