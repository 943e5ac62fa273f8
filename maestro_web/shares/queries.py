"""The lists of share links: "My shared links" (page and `GET /api/shares`) and the links of one graph.

Each list is one query for the page of links with their graph and creator joined in, plus one bounded
count, whatever the page size: no query per link. The status filter is built from the same row rules
as ShareLink.status() (models/share_rules.py `row_status_sql`), so the list and the badge on each row
always agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, func, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from maestro_web.extensions import db
from maestro_web.graphs.services import COUNT_CAP, bounded_count
from maestro_web.limits import MAX_PAGE, MAX_PER_PAGE, MAX_SEARCH_LENGTH
from maestro_web.models import Graph, GraphResult, GraphRole, Role, ShareLink, User
from maestro_web.models.base import utcnow
from maestro_web.models.share_rules import LISTED_STATUSES, Outcome, row_status_condition
from maestro_web.refusals import Kind, Refused

LINK_STATUSES = tuple(status.value for status in LISTED_STATUSES)
_BY_KEY = {status.key: status.value for status in LISTED_STATUSES}  # `used_up` in a URL is "used up"
# Ended links (expired, used up, revoked) are shown only when asked for: by default, the ones still of use.
DEFAULT_STATUSES = tuple(status.value for status in LISTED_STATUSES if not status.ended)
# What `?status=` may be, as a pattern the API's OpenAPI document publishes: empty, `all`, or a comma
# list of statuses (underscores for spaces; spaces around items and empty items allowed).
_ONE_STATUS = "[ ]*(?:" + "|".join(_BY_KEY) + ")[ ]*"
STATUS_LIST_PATTERN = rf"^(?:[ ]*|[ ]*all[ ]*|(?:[ ]*,)*{_ONE_STATUS}(?:,(?:{_ONE_STATUS}|[ ]*))*)$"
_STATUS_LIST = re.compile(STATUS_LIST_PATTERN)
SORTS = ("created", "expires", "last_view")


class BadListRequest(Refused):
    """A list parameter out of range; `field` names it (kind BAD_REQUEST: the pages and the API answer 400)."""

    kind = Kind.BAD_REQUEST

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)


def status_condition(status: str, now: datetime) -> TextClause:
    """ShareLink.status(now) == status, in SQL: share_rules.row_status_sql, the same rules as the badge."""
    if status not in LINK_STATUSES:
        raise BadListRequest("status", f"Unknown status {status[:30]!r}.")
    return row_status_condition(Outcome(status), now)


def parse_statuses(raw: str | None) -> tuple[str, ...]:
    """`active,paused` (comma-separated), `all`, or nothing (active + paused): STATUS_LIST_PATTERN."""
    if raw is not None and not _STATUS_LIST.fullmatch(raw):
        raise BadListRequest("status", "status must be 'all' or a comma-separated list of: " + ", ".join(_BY_KEY) + ".")
    if raw is None or not raw.strip():
        return DEFAULT_STATUSES
    if raw.strip() == "all":
        return LINK_STATUSES
    chosen = tuple(dict.fromkeys(_BY_KEY.get(part.strip(), part.strip()) for part in raw.split(",") if part.strip()))
    unknown = [s for s in chosen if s not in LINK_STATUSES]
    if unknown or not chosen:
        raise BadListRequest("status", "status must be 'all' or a comma-separated list of: " + ", ".join(_BY_KEY) + ".")
    return chosen


def parse_whole(name: str, raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or not 1 <= int(text) <= maximum:
        raise BadListRequest(name, f"{name} must be a whole number from 1 to {maximum}.")
    return int(text)


@dataclass(frozen=True)
class LinkFilters:
    search: str = ""
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    sort: str = "created"
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args: Any, default_per_page: int = 20) -> LinkFilters:
        """From a request's query string; BadListRequest names the parameter at fault."""
        search = (args.get("q") or "").strip()
        if len(search) > MAX_SEARCH_LENGTH:
            raise BadListRequest("q", f"q must be at most {MAX_SEARCH_LENGTH} characters.")
        sort = args.get("sort") or "created"
        if sort not in SORTS:
            raise BadListRequest("sort", "sort must be one of: " + ", ".join(SORTS) + ".")
        return cls(
            search=search,
            statuses=parse_statuses(args.get("status")),
            sort=sort,
            page=parse_whole("page", args.get("page"), 1, MAX_PAGE),
            per_page=parse_whole("per_page", args.get("per_page"), default_per_page, MAX_PER_PAGE),
        )

    @property
    def status_param(self) -> str | None:
        if self.statuses == DEFAULT_STATUSES:
            return None
        if set(self.statuses) == set(LINK_STATUSES):
            return "all"
        return ",".join(Outcome(s).key for s in self.statuses)


@dataclass
class LinkPage:
    items: list[ShareLink]
    total: int  # exact unless total_exact is False: then "at least COUNT_CAP"
    total_exact: bool
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total or (not self.total_exact and len(self.items) == self.per_page)


def _like(text: str) -> str:
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def links_of_user(user: User, filters: LinkFilters, now: datetime | None = None) -> LinkPage:
    """The links `user` created on graphs that still exist, filtered, sorted and paged."""
    now = now or utcnow()
    query = (
        select(ShareLink)
        .join(Graph, Graph.id == ShareLink.graph_id)
        .where(ShareLink.creator_id == user.id, Graph.deleted_at.is_(None))
        .where(or_(*(status_condition(s, now) for s in filters.statuses)))
    )
    if filters.search:
        pattern = _like(filters.search)
        query = query.where(
            or_(
                func.lower(ShareLink.label).like(pattern, escape="\\"),
                func.lower(Graph.name).like(pattern, escape="\\"),
            )
        )
    total, exact = bounded_count(query)
    order: list[Any]
    if filters.sort == "expires":
        order = [ShareLink.expires_at.asc(), ShareLink.id.asc()]  # the soonest to end first
    elif filters.sort == "last_view":
        # most recently viewed first; never viewed last (portable: no NULLS LAST on SQLite < 3.30)
        order = [ShareLink.last_viewed_at.is_(None), ShareLink.last_viewed_at.desc(), ShareLink.id.desc()]
    else:
        order = [ShareLink.created_at.desc(), ShareLink.id.desc()]
    items = list(
        db.session.scalars(
            query.options(contains_eager(ShareLink.graph), joinedload(ShareLink.creator), _PINNED_WHEN)
            .order_by(*order)
            .limit(filters.per_page)
            .offset((filters.page - 1) * filters.per_page)
        ).unique()
    )
    return LinkPage(items=items, total=total, total_exact=exact, page=filters.page, per_page=filters.per_page)


# A snapshot link shows when its pinned picture was drawn: that time only, never the picture itself.
_PINNED_WHEN = joinedload(ShareLink.pinned_result).load_only(GraphResult.id, GraphResult.created_at)


def links_of_graph(graph: Graph) -> list[ShareLink]:
    """Every link of one graph, newest first, with its creator: one query."""
    return list(
        db.session.scalars(
            select(ShareLink)
            .where(ShareLink.graph_id == graph.id)
            .options(joinedload(ShareLink.creator), _PINNED_WHEN)
            .order_by(ShareLink.created_at.desc(), ShareLink.id.desc())
        )
    )


def creators_with_write(graph: Graph) -> set[int]:
    """Ids of the users holding Write or Admin on `graph`: a link of anyone else has stopped (SPEC §3.2).
    One query for the whole list instead of share_rules.creator_holds_write() per link."""
    return set(
        db.session.scalars(
            select(GraphRole.user_id).where(GraphRole.graph_id == graph.id, GraphRole.role >= Role.WRITE)
        )
    )


def graphs_written_by(user: User, graph_ids: set[int]) -> set[int]:
    """Which of `graph_ids` `user` holds Write or Admin on: one query for a page of the user's own links,
    whose badges say "stopped" where the creator lost Write."""
    if not graph_ids:
        return set()
    return set(
        db.session.scalars(
            select(GraphRole.graph_id).where(
                GraphRole.user_id == user.id, GraphRole.role >= Role.WRITE, GraphRole.graph_id.in_(graph_ids)
            )
        )
    )


__all__ = [
    "COUNT_CAP",
    "DEFAULT_STATUSES",
    "LINK_STATUSES",
    "SORTS",
    "BadListRequest",
    "LinkFilters",
    "LinkPage",
    "creators_with_write",
    "graphs_written_by",
    "links_of_graph",
    "links_of_user",
    "parse_statuses",
    "status_condition",
]
