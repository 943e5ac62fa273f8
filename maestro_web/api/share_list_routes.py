"""GET /api/shares: the signed-in user's links across graphs (SPEC §10, "The user's links")."""

from __future__ import annotations

from flask import Response, jsonify, request

from maestro_web.api import api_bp
from maestro_web.security.session_jwt import current_user
from maestro_web.serializers.links import link_json
from maestro_web.shares.queries import LinkFilters, links_of_user


@api_bp.get("/shares")
def my_shares() -> Response:
    """`?q=&status=&sort=&page=&per_page=` -> {items, total, total_exact, page, per_page}; ended links only when asked."""
    filters = LinkFilters.from_args(request.args)  # BadListRequest: 400 naming the parameter
    user = current_user()
    assert user is not None  # the blueprint's guard let only a valid token's user in
    found = links_of_user(user, filters)
    return jsonify(
        items=[link_json(link) for link in found.items],
        total=found.total,
        total_exact=found.total_exact,
        page=found.page,
        per_page=found.per_page,
    )
