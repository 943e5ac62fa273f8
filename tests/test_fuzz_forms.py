"""hypothesis drives the HTML forms and the spec parser with hostile text.

Hostile text: NUL and other control characters, lone surrogates (sent as the bytes a broken
client would send), right-to-left overrides, emoji, markup, SQL, very long strings and deep
brackets. Whatever the input: never a 500, and a refusal carries a message the user can read.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from conftest import PASSWORD, form_csrf, jwt_csrf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from maestro_web.domain.spec import MAX_NAME_LENGTH, SpecError, parse_spec
from maestro_web.extensions import db
from maestro_web.models import Graph

SAMPLES = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "\u202egnp.exe",
    "💥" * 50,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "\\u0000",
    "{" * 2000,
    "[" * 2000 + "]" * 2000,
    "a -> " * 500,
    "\r\n\r\n",
    "\t\x0b\x0c",
    "x" * 70_000,
    "é" * 300,
    "ﷺ" * 40,
    '\ufeff{"nodes": ["a"]}',
]
hostile_text = st.one_of(
    st.sampled_from(SAMPLES),
    st.text(max_size=300),  # any Unicode, control characters included
    st.text(alphabet=st.characters(codec=None, categories=["Cc", "Cs", "Zs", "So", "Lo"]), max_size=100),
    st.builds(lambda a, b: a + "\x00" + b, st.text(max_size=40), st.text(max_size=40)),
)
FORM_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def form_body(fields: dict[str, str]) -> bytes:
    """URL-encoded the way a broken client would: lone surrogates go out as their raw bytes."""
    return "&".join(
        f"{quote(name)}={quote(value.encode('utf-8', 'surrogatepass'))}" for name, value in fields.items()
    ).encode("ascii")


def post_form(client, path: str, fields: dict[str, str]):
    return client.post(path, data=form_body(fields), content_type="application/x-www-form-urlencoded")


def assert_answered(response, allowed: tuple[int, ...]) -> None:
    assert response.status_code in allowed, response.status_code
    if response.status_code >= 400:
        page = response.get_data(as_text=True)
        # A page that explains: a field message or the error page's message, never a stack trace.
        assert "Traceback" not in page and (
            "error" in page.lower() or "invalid" in page.lower() or "must" in page.lower() or "enter" in page.lower()
        )


def test_login_form_with_hostile_text(client, make_user):
    make_user(email="ada@example.com")
    token = form_csrf(client.get("/auth/login").text)

    @FORM_SETTINGS
    @given(email=hostile_text, password=hostile_text)
    def attempt(email: str, password: str) -> None:
        response = post_form(client, "/auth/login", {"email": email, "password": password, "csrf_token": token})
        assert_answered(response, (400, 401, 422))

    attempt()


def test_register_form_with_hostile_text(app, client):
    token = form_csrf(client.get("/auth/register").text)

    @FORM_SETTINGS
    @given(name=hostile_text, email=hostile_text)
    def attempt(name: str, email: str) -> None:
        response = post_form(client, "/auth/register", {"name": name, "email": email, "csrf_token": token})
        assert_answered(response, (200, 400, 422))  # 200: "check your e-mail" (the mail goes to the outbox)

    attempt()


def test_graph_form_with_hostile_name_and_spec(app, client, auth, make_user):
    user = make_user(email="ada@example.com")
    auth.login(user.email, PASSWORD)
    page = client.get("/graphs/new").text
    tokens = {"csrf_token": form_csrf(page), "jwt_csrf": jwt_csrf(page) or ""}

    @FORM_SETTINGS
    @given(name=st.one_of(st.just("Payments"), hostile_text), spec=hostile_text)
    def attempt(name: str, spec: str) -> None:
        response = post_form(
            client, "/graphs/new", {"name": name, "type": "infra", "description": "", "spec": spec, **tokens}
        )
        assert_answered(response, (302, 400, 422))

    attempt()
    with app.app_context():
        for graph in db.session.scalars(select(Graph)):  # whatever was stored can be stored anywhere
            assert "\x00" not in graph.name + graph.spec


# --- the spec parser on its own -----------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=30,
)
spec_lines = st.lists(
    st.one_of(
        hostile_text,
        st.builds(lambda a, b: f"{a} -> {b}", st.text(max_size=30), st.text(max_size=30)),
        st.builds(lambda a, k, v: f"{a} [{k}={v}]", st.text(max_size=20), st.text(max_size=10), st.text(max_size=10)),
    ),
    max_size=30,
).map("\n".join)


def check_parse(text: str) -> None:
    try:
        parsed = parse_spec(text)
    except SpecError as exc:
        lines = len(re.split(r"\r\n|\r|\n", text))
        assert exc.problems, "a SpecError lists its problems"
        for problem in exc.problems:
            assert problem.message.strip()
            assert problem.line is None or 1 <= problem.line <= lines
            if problem.line is not None:
                assert problem.message.startswith(f"line {problem.line}:")
        return
    for name, attributes in parsed.nodes.items():
        assert name.strip() and len(name) <= MAX_NAME_LENGTH
        assert "\x00" not in name and not any(0xD800 <= ord(c) <= 0xDFFF for c in name)
        assert all("\x00" not in value for value in attributes.values())
    assert all(source in parsed.nodes and target in parsed.nodes for source, target in parsed.edges)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(text=st.one_of(hostile_text, spec_lines))
def test_spec_parser_text_form_never_crashes(text: str) -> None:
    check_parse(text)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    document=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "nodes": st.lists(st.one_of(hostile_text, json_values), max_size=10),
                "edges": st.lists(json_values, max_size=10),
            }
        ),
    )
)
def test_spec_parser_json_form_never_crashes(document) -> None:
    import json

    text = json.dumps(document, ensure_ascii=False)
    assume(text.lstrip().startswith("{"))
    check_parse(text)


@pytest.mark.parametrize("text", SAMPLES)
def test_spec_parser_hostile_samples(text: str) -> None:
    check_parse(text)
