"""Helpers of the report tests: a report row started the app's way, the command token of a user."""

from __future__ import annotations

from typing import Any

from discovery_app_support import token_version
from flask import Flask

from maestro_web.extensions import db
from maestro_web.models import Graph, Report, User
from maestro_web.security.report_tokens import issue_report_token

# A port nothing listens on (the discard service is never run here): the app cannot reach a service.
NO_SERVICE = "http://127.0.0.1:9"
PDF_TYPE = "application/pdf"


def running_report(app: Flask, graph_id: str, user: Any, fmt: str = "pdf") -> str:
    """A running report of the graph for `user`, as `POST …/reports` makes it (without the command)."""
    with app.app_context():
        graph = Graph.get_by_public_id(graph_id)
        owner = User.get_by_public_id(user.public_id)
        assert graph is not None and owner is not None
        report = Report(graph_id=graph.id, format=fmt, requested_by_id=owner.id, status="running")
        db.session.add(report)
        db.session.commit()
        return report.public_id


def report_row(app: Flask, report_id: str) -> Report:
    with app.app_context():
        report = db.session.query(Report).filter_by(public_id=report_id).one()
        db.session.expunge(report)
        return report


def report_headers(app: Flask, user: Any, graph_id: str, report_id: str, **changes: Any) -> dict[str, str]:
    changes.setdefault("token_version", token_version(app, user))
    token = issue_report_token(
        app.config["KEY_RINGS"]["session"], user_id=user.public_id, graph_id=graph_id, report_id=report_id, **changes
    )
    return {"Authorization": f"JWT {token}"}
