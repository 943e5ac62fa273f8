"""The Refused family (maestro_web/refusals.py) and its one mapping to HTTP (errors.py), docs/errors.md."""

from __future__ import annotations

import pytest

from maestro_web.errors import ERROR_NAMES, STATUSES, refused_response, status_of
from maestro_web.graphs.quotas import QuotaExceeded
from maestro_web.models.share import ShareRefused
from maestro_web.refusals import Kind, NoSuch, Refused, ValidationFailed


def test_every_kind_has_one_status_with_a_code_name():
    assert set(STATUSES) == set(Kind)
    assert all(status in ERROR_NAMES for status in STATUSES.values())
    assert status_of(NoSuch("gone")) == 404 and status_of(ShareRefused("revoked", kind=Kind.CONFLICT)) == 409


@pytest.mark.parametrize(
    ("refused", "status", "body"),
    [
        (
            ShareRefused("At most 10 origins.", "allowed_origins"),
            422,
            {
                "error": "validation_error",
                "message": "At most 10 origins.",
                "fields": {"allowed_origins": "At most 10 origins."},
            },
        ),
        (
            NoSuch("There is no such link on this graph."),
            404,
            {"error": "not_found", "message": "There is no such link on this graph."},
        ),
        (
            ValidationFailed.for_fields({"q": "At most 200 characters."}, Kind.BAD_REQUEST),
            400,
            {"error": "bad_request", "message": "Invalid fields: q.", "fields": {"q": "At most 200 characters."}},
        ),
    ],
)
def test_a_refusal_as_json_is_the_one_error_body(app, refused: Refused, status: int, body: dict):
    with app.test_request_context("/api/graphs"):
        response = refused_response(refused)
    assert response.status_code == status and response.get_json() == body


def test_a_quota_says_when_to_try_again_on_the_page_too(app):
    with app.test_request_context("/graphs/new", headers={"Accept": "text/html"}):
        response = refused_response(QuotaExceeded("The queued-runs quota is 5 at once.", 60))
    assert response.status_code == 429 and response.headers["Retry-After"] == "60"
    assert response.mimetype == "text/html" and "The queued-runs quota is 5 at once." in response.get_data(as_text=True)
