"""Every page a user, a visitor and an owner reach, set up once for the look and accessibility tests
(tests/test_accessibility.py, tests/test_browser_look.py): a drawn web-shop graph, a live link, a paused
link (its public page is the refusal), a link with a passcode (its public page is the passcode form),
and a logged-in owner."""

from __future__ import annotations

from dataclasses import dataclass, field

from picture_support import draw_with_the_reference_worker
from share_support import make_link

from maestro_web.domain import examples
from maestro_web.extensions import db
from maestro_web.models import ShareLink

WEB_SHOP = examples.WEB_SHOP.split("\n", 1)[1]  # the form's example, without its comment line


@dataclass
class Site:
    base: str
    visitor: list[tuple[str, str]] = field(default_factory=list)  # (name, path), no login
    owner: list[tuple[str, str]] = field(default_factory=list)  # (name, path), logged in as the owner

    def all(self) -> list[tuple[str, str, bool]]:
        return [(n, p, False) for n, p in self.visitor] + [(n, p, True) for n, p in self.owner]


def build_site(app, base: str, make_user, make_graph) -> Site:
    owner = make_user(email="owner@example.com", name="Owner")
    graph = make_graph(owner, name="Web shop", spec=WEB_SHOP)
    draw_with_the_reference_worker(app, graph.public_id)
    live = make_link(app, graph, owner, label="For the board")
    paused = make_link(app, graph, owner, label="Paused one")
    locked = make_link(app, graph, owner, label="With a passcode", passcode="open sesame 42")
    with app.app_context():
        row = ShareLink.get_by_public_id(paused.id)
        row.pause()
        db.session.commit()
    g = f"/graphs/{graph.public_id}"
    return Site(
        base=base,
        visitor=[
            ("home", "/"),
            ("login", "/auth/login"),
            ("register", "/auth/register"),
            ("forgot", "/auth/forgot"),
            ("public", live.path),
            ("public-refused", paused.path),
            ("public-passcode", locked.path),
            ("error-404", "/no-such-page"),
        ],
        owner=[
            ("graph-list", "/graphs/"),
            ("new-graph", "/graphs/new"),
            ("overview", g),
            ("picture", f"/analytics/graphs/{graph.public_id}"),
            ("edit", f"{g}/edit"),
            ("access", f"{g}/access"),
            ("shares", f"/graphs/{graph.public_id}/shares"),
            ("link", f"/graphs/{graph.public_id}/shares/{live.id}"),
            ("my-links", "/shares"),
            ("account", "/account"),
            ("delete", f"{g}/delete"),
            ("trash", "/graphs/trash"),
        ],
    )
