"""The discovery service's two endpoints of a crawl (SPEC §11), under a discovery command token only.

The guard (`require_discovery_command`) has checked the token and that its `graph` claim is the graph
in the URL; here the app's role rules decide as for any user: without Write the crawl ends `failed`
with that message and the answer is 403.

- `GET …/sources/<sid>/crawls/<crawl>/input`: the source's input as it is stored (the body, streamed as
  bytes), its kind, settings and sealed credentials in headers. The first read claims the crawl for
  the discovery process that made it: a second process gets 409, so no crawl runs twice.
- `PUT …/sources/<sid>/crawls/<crawl>`: the result; merged (sources/services.py), then 200 with the crawl.
"""

from __future__ import annotations

import json

from flask import Response, abort, current_app, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import undefer

from maestro_web.api import discovery_command_bp
from maestro_web.api.schemas import CrawlResultIn, parse_body
from maestro_web.errors import json_error
from maestro_web.extensions import db
from maestro_web.models import DiscoveryCrawl, DiscoverySource, Graph, Role
from maestro_web.serializers.sources import crawl_json
from maestro_web.service_kit import CLAIM_HEADER
from maestro_web.sources.services import CrawlResult, apply_crawl, claim_crawl, fail_crawl

RESULT_MAX_BYTES = 16 * 1024 * 1024
STREAM_CHUNK = 256 * 1024
CLAIM_LENGTHS = range(16, 129)


def _crawl(graph_id: str, source_id: str, crawl_id: str) -> tuple[Graph, DiscoveryCrawl]:
    """The crawl named by the URL, after the role check: Write needed, else the crawl fails (403)."""
    graph = Graph.get_by_public_id(graph_id)
    if graph is None:
        abort(404, "There is no such graph (it may have been deleted).")
    crawl = db.session.scalar(
        select(DiscoveryCrawl)
        .join(DiscoverySource, DiscoverySource.id == DiscoveryCrawl.source_id)
        .where(
            DiscoveryCrawl.public_id == crawl_id,
            DiscoverySource.public_id == source_id,
            DiscoverySource.graph_id == graph.id,
        )
    )
    if crawl is None:
        abort(404, "There is no such crawl of this source.")
    role = graph.role_of(g.user)
    if role is None or role < Role.WRITE:
        message = f"{g.user.name} no longer has the Write role on this graph; the crawl was stopped."
        fail_crawl(crawl, message)
        db.session.commit()
        abort(403, message)
    return graph, crawl


@discovery_command_bp.get("/graphs/<graph_id>/sources/<source_id>/crawls/<crawl_id>/input")
def crawl_input(graph_id: str, source_id: str, crawl_id: str):
    claim = request.headers.get(CLAIM_HEADER) or None
    if claim is not None and (len(claim) not in CLAIM_LENGTHS or not claim.isascii() or not claim.isprintable()):
        abort(400, f"{CLAIM_HEADER} must be 16 to 128 printable ASCII characters.")
    _, crawl = _crawl(graph_id, source_id, crawl_id)
    claim_crawl(crawl, claim)
    source = db.session.scalar(
        select(DiscoverySource)
        .where(DiscoverySource.id == crawl.source_id)
        .options(undefer(DiscoverySource.input), undefer(DiscoverySource.sealed_credentials))
    )
    assert source is not None
    data = source.input or b""
    headers = {
        "X-Maestro-Source-Kind": source.kind,
        "X-Maestro-Source-Settings": json.dumps(source.settings or {}, separators=(",", ":")),
        "Cache-Control": "no-store",
    }
    if source.sealed_credentials:
        headers["X-Maestro-Sealed-Credentials"] = source.sealed_credentials
    db.session.commit()

    def chunks():  # type: ignore[no-untyped-def]
        for start in range(0, len(data), STREAM_CHUNK):
            yield data[start : start + STREAM_CHUNK]

    return Response(
        chunks(), mimetype="application/octet-stream", headers={**headers, "Content-Length": str(len(data))}
    )


@discovery_command_bp.put("/graphs/<graph_id>/sources/<source_id>/crawls/<crawl_id>")
def crawl_result(graph_id: str, source_id: str, crawl_id: str):
    if request.content_length is not None and request.content_length > RESULT_MAX_BYTES:
        abort(413, f"The crawl result is larger than {RESULT_MAX_BYTES} bytes.")
    request.max_content_length = RESULT_MAX_BYTES
    _, crawl = _crawl(graph_id, source_id, crawl_id)
    body = parse_body(CrawlResultIn)
    if crawl.status != "running":
        return json_error(409, "This crawl has ended; start a new one.")
    result = CrawlResult(
        status=body.status,
        message=body.message,
        nodes=[node.model_dump() for node in body.nodes],
        edges=[edge.model_dump() for edge in body.edges],
    )
    apply_crawl(crawl, result)
    answer = crawl_json(crawl)
    db.session.commit()
    current_app.logger.info(
        "Crawl %s of source %s ended %s (+%d -%d =%d)",
        crawl.public_id,
        source_id,
        crawl.status,
        crawl.added,
        crawl.removed,
        crawl.unchanged,
    )
    return jsonify(answer)
