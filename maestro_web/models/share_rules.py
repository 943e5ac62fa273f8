"""May this share link be viewed now? The one home of the rules of SPEC §3.2 and §5.

Each rule is written once, in `RULES`, with its SQL condition and its Python predicate side by
side; everything else is built from that table:

- `count_view(jti, graph_id)`: the public view's hot path. One conditional UPDATE whose WHERE is
  every rule's SQL, run on an autocommit connection, counts the view if, and only if, every rule
  holds at this instant (the database serialises the updates of one row, so max views is exact under
  concurrency, and a revocation or pause acts on the very next request on every process). On
  PostgreSQL the count and the read of what the link shows (the graph with its newest picture, or a
  snapshot link's pinned result) are one statement (a data-modifying CTE): one round trip per view
  (docs/benchmarks.md). SQLite has no UPDATE in a CTE and runs the two in turn.
- `diagnose(link, graph_id)`: why a view that was not counted was refused, in Python, on the row.
- `working_links(graph_pk)`: "is this link working now?" for every link of a graph, one query: what the
  live events, the Access page and "revoke all" ask (no other place rebuilds the rule).
- `ShareLink.status()` (the owner's pages and the API) applies the rules about the row alone, and
  `row_status_sql(status)` is the same answer as SQL: the status filter of the owner's link lists.
- `sql_verdicts` / `python_verdicts`: each rule answered on its own by SQL and by Python, so
  tests/test_link_rules.py can check that the two halves agree, rule by rule, on both databases.

It lives in models/ (not in the shares blueprint) because three surfaces use it (the public page,
the downloads and the live refresh of public/, the owner's pages and API of shares): it is
a rule of the share aggregate, not of one blueprint. It imports no ShareLink, so the model can
import it without a cycle: the Python predicates read the row through the `LinkRow` protocol.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, cast

from sqlalchemy import Integer, String, Text, bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

from maestro_web.models.base import UTCDateTime, utcnow
from maestro_web.models.counting import counting_engine, run_on_driver
from maestro_web.models.graph import Graph, GraphResult, Role
from maestro_web.models.user import User


class Outcome(enum.Enum):
    """A link's state, the one type of it: the answer to "may this link be viewed?" (diagnose, row_status)
    and the status the owner's pages, the API and the live events show (link_state adds STOPPED).

    Everything about a state is read from its member, never from a copy of its word: `value` is the status
    word the API and the live events carry ("used up"), `key` its spelling in URLs, CSS classes and metric
    labels ("used_up"), `word` what a person reads ("Used up"), `refusal` what a visitor is told (title,
    then what happened), `visitor_sees` the name of that refusal, `ended` whether the link is over.
    """

    VIEWABLE = "active"  # every rule holds (from count_view: and the view was counted)
    REVOKED = "revoked"
    EXPIRED = "expired"
    USED_UP = "used up"
    PAUSED = "paused"
    SNAPSHOT_GONE = "snapshot gone"  # a snapshot link whose pinned result was deleted
    GRAPH_DELETED = "graph deleted"
    CREATOR_LOST_WRITE = "creator lost write"
    UNKNOWN = "unknown"  # no such link, or a link of another graph
    # Not a rule's outcome: what the owner's pages say of a link whose creator lost Write (link_state). Its
    # visitors are refused as CREATOR_LOST_WRITE; it comes back when the creator gets Write again.
    STOPPED = "stopped"

    @property
    def key(self) -> str:
        """The status as one word: `used_up`, in a ?status= list, a badge's class and a metric label."""
        return self.value.replace(" ", "_")

    @property
    def word(self) -> str:
        """What a person reads of this status on a page: "Used up" (web/words.STATUS_WORDS)."""
        return _WORDS[self]

    @property
    def ended(self) -> bool:
        """Revoked, expired or used up: over for its visitors; nothing the owner can undo (revoked) or only
        by extending. A paused or stopped link may come back."""
        return self in (Outcome.REVOKED, Outcome.EXPIRED, Outcome.USED_UP)

    @property
    def refusal(self) -> tuple[str, str] | None:
        """What a visitor is told when this state refuses the link (VISITOR_WORDS): title, then what
        happened and what to do; None for a state that refuses nothing or reveals nothing."""
        return VISITOR_WORDS.get(self)

    @property
    def visitor_sees(self) -> str:
        """The refusal a visitor gets: the four states of the link, a snapshot that is gone, a genuine
        link that stopped (its graph deleted, its creator lost Write: 404 like an unknown link, SPEC §5,
        but with words that tell the visitor whom to ask), or "invalid" (404) that reveals nothing.

        VIEWABLE only reaches a refusal when the link turned viewable between the count and the diagnosis.
        """
        return self.value if self.refusal is not None else "invalid"


# A link's mode (SPEC §10): "live" shows the graph's newest picture and figures, "snapshot" those of
# the result pinned when the link was made (share_links.pinned_result_id).
LIVE, SNAPSHOT = "live", "snapshot"
MODES = (LIVE, SNAPSHOT)


class LinkRow(Protocol):
    """What the Python rules read of a share link row (ShareLink satisfies it)."""

    revoked_at: datetime | None
    paused_at: datetime | None
    expires_at: datetime
    max_views: int | None
    view_count: int
    mode: str

    @property
    def pinned_result(self) -> GraphResult | None: ...

    @property
    def graph(self) -> Graph: ...

    @property
    def creator(self) -> User: ...


@dataclass(frozen=True)
class Rule:
    """One rule: `sql` holds on a share_links row (parameters :jti, :graph_id, :now, :write) exactly
    when `holds(link, graph_id, now)` is true for the same row; `broken` is the outcome otherwise."""

    broken: Outcome
    sql: str
    holds: Callable[[LinkRow, str, datetime], bool]


def creator_holds_write(link: LinkRow) -> bool:
    role = link.graph.role_of(link.creator)
    return role is not None and role >= Role.WRITE


# In the order a diagnosis reports them: the first broken rule is the answer. The last four are the
# rules about the row alone, in the order of ShareLink.status() (the most final state wins). A
# snapshot whose pinned result is gone never opens again, whatever the link's state, so it is told
# before the states; it is not one of them (the owner's pages say it beside the mode, docs/sharing.md).
RULES: tuple[Rule, ...] = (
    Rule(
        Outcome.UNKNOWN,
        "public_id = :jti AND graph_id = (SELECT id FROM graphs WHERE public_id = :graph_id)",
        lambda link, graph_id, now: link.graph.public_id == graph_id,
    ),
    Rule(
        Outcome.GRAPH_DELETED,
        "EXISTS (SELECT 1 FROM graphs WHERE graphs.id = share_links.graph_id AND graphs.deleted_at IS NULL)",
        lambda link, graph_id, now: link.graph.deleted_at is None,
    ),
    Rule(
        Outcome.CREATOR_LOST_WRITE,
        "EXISTS (SELECT 1 FROM graph_roles WHERE graph_roles.graph_id = share_links.graph_id"
        " AND graph_roles.user_id = share_links.creator_id AND graph_roles.role >= :write)",
        lambda link, graph_id, now: creator_holds_write(link),
    ),
    # The result row itself, not only the column: SQLite does not enforce the ON DELETE SET NULL. A
    # scalar subquery (one primary-key probe), not EXISTS, which PostgreSQL may hash over the table.
    Rule(
        Outcome.SNAPSHOT_GONE,
        f"(mode <> '{SNAPSHOT}' OR (SELECT graph_results.id FROM graph_results"
        " WHERE graph_results.id = share_links.pinned_result_id) IS NOT NULL)",
        lambda link, graph_id, now: link.mode != SNAPSHOT or link.pinned_result is not None,
    ),
    # The row rules name their table: shares/queries.py's status filter joins share_links to graphs.
    Rule(Outcome.REVOKED, "share_links.revoked_at IS NULL", lambda link, graph_id, now: link.revoked_at is None),
    Rule(Outcome.EXPIRED, "share_links.expires_at > :now", lambda link, graph_id, now: link.expires_at > now),
    Rule(
        Outcome.USED_UP,
        "(share_links.max_views IS NULL OR share_links.view_count < share_links.max_views)",
        lambda link, graph_id, now: link.max_views is None or link.view_count < link.max_views,
    ),
    Rule(Outcome.PAUSED, "share_links.paused_at IS NULL", lambda link, graph_id, now: link.paused_at is None),
)
ROW_RULES = RULES[4:]  # the link's states: what its row alone says of it (ShareLink.status())
ROW_STATUSES = (Outcome.VIEWABLE, *(rule.broken for rule in ROW_RULES))  # what row_status() can answer
# The row's statuses in the order the owner's lists offer them (the status filter), and with STOPPED every
# status the owner's pages show (the badges).
LISTED_STATUSES = (Outcome.VIEWABLE, Outcome.PAUSED, Outcome.EXPIRED, Outcome.USED_UP, Outcome.REVOKED)
OWNER_STATUSES = (*LISTED_STATUSES, Outcome.STOPPED)

# The row's statuses as a type, for the API's schema (pydantic wants a Literal, which cannot be computed):
# tests/test_link_words.py holds it equal to ROW_STATUSES.
RowStatusWord = Literal["active", "paused", "expired", "revoked", "used up"]

_WORDS = {
    Outcome.VIEWABLE: "Active",
    Outcome.PAUSED: "Paused",
    Outcome.EXPIRED: "Expired",
    Outcome.USED_UP: "Used up",
    Outcome.REVOKED: "Revoked",
    Outcome.STOPPED: "Stopped",
    Outcome.SNAPSHOT_GONE: "Snapshot gone",
    Outcome.GRAPH_DELETED: "Graph deleted",
    Outcome.CREATOR_LOST_WRITE: "Stopped",
    Outcome.UNKNOWN: "Unknown",
}


def row_status(link: LinkRow, now: datetime | None = None) -> Outcome:
    """REVOKED, EXPIRED, USED_UP, PAUSED or VIEWABLE, by the link's own row (ShareLink.status())."""
    now = now or utcnow()
    for rule in ROW_RULES:
        if not rule.holds(link, "", now):
            return rule.broken
    return Outcome.VIEWABLE


STOPPED = Outcome.STOPPED.value  # not a row state: a link whose creator lost Write (SPEC §3.2), shown to its owners

# What a visitor is told when a link does not open, by the rule it broke: the refusal page's title, then
# what happened and what to do (nothing about the graph; "creator lost write" and "graph deleted" keep
# SPEC §5's 404 but tell the visitor whom to ask). The public page, the short link, the embed, the
# owner's preview and the live refresh all read these (public/routes.REFUSALS adds the
# HTTP status); the owner's reasons and confirmations below quote the titles, so both sides say the same.
VISITOR_WORDS: dict[Outcome, tuple[str, str]] = {
    Outcome.CREATOR_LOST_WRITE: (
        "This link no longer works",
        "The person who shared it can no longer share this graph. Ask them for a new link.",
    ),
    Outcome.GRAPH_DELETED: (
        "This link no longer works",
        "The graph it showed was deleted, so every link to it stopped working. Ask the person who "
        "shared it if you still need it.",
    ),
    Outcome.EXPIRED: (
        "This link has expired",
        "It was shared for a limited time, and that time is over. Ask the person who shared it for a new link.",
    ),
    Outcome.REVOKED: (
        "This link was revoked",
        "It is no longer available: the person who shared it turned it off for good. Ask them for a new "
        "link if you still need it.",
    ),
    Outcome.USED_UP: (
        "This link was used up",
        "It could be opened a limited number of times, and every one has been used. Ask the person who "
        "shared it for a new link.",
    ),
    Outcome.PAUSED: (
        "Temporarily unavailable",
        "The person who shared this link paused it. It may come back: keep this page open and the graph "
        "returns by itself when they resume it.",
    ),
    Outcome.SNAPSHOT_GONE: (
        "This snapshot is no longer available",
        "The picture this link was made to keep was deleted. Ask the person who shared it for a new link.",
    ),
}


def visitors_see(outcome: Outcome) -> str:
    """The title of the refusal a visitor gets, quoted for the owner's sentences: “This link was revoked”."""
    return f"“{VISITOR_WORDS[outcome][0]}”"


# Why a link that is not viewable is not, in the owner's words: the reason beside a "Stopped" badge, the
# badge's title, the sentence that tells what the state means, and the confirmations after an action
# (`LinkState.confirmation`). Where a reason says what visitors see, it quotes VISITOR_WORDS.
STATE_REASONS: dict[str, str] = {
    Outcome.VIEWABLE.value: "Visitors can open it.",
    Outcome.PAUSED.value: f"Visitors see {visitors_see(Outcome.PAUSED)} until you resume it.",
    Outcome.USED_UP.value: "It reached its view cap; visitors can no longer open it.",
    Outcome.EXPIRED.value: "It expired; visitors can no longer open it.",
    Outcome.REVOKED.value: f"It never works again; visitors see {visitors_see(Outcome.REVOKED)}.",
    STOPPED: "Its creator no longer has Write on this graph.",
}

# What the owner is told once an action is done: what was done, then the link's state as it is now (its
# reason), so "Link resumed." on a link that expired meanwhile says so instead of promising visitors.
DONE_WORDS = {
    "create": "Link created.",
    "pause": "Link paused.",
    "resume": "Link resumed.",
    "revoke": "Link revoked.",
    "extend": "Link extended.",
}


@dataclass(frozen=True)
class LinkState:
    """What the owner's pages say of a link, from one place: the badge's status key (a row status or
    "stopped"), the reason a stopped link stopped, and the time that matters now: when it was revoked
    (not its expiry, which no longer means anything), when it expired, or when it will expire."""

    status: str
    reason: str
    time_label: str  # "Revoked", "Expired" or "Expires"
    time: datetime

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.status)

    @property
    def stopped(self) -> bool:
        return self.outcome is Outcome.STOPPED

    @property
    def active(self) -> bool:
        return self.outcome is Outcome.VIEWABLE

    @property
    def revoked(self) -> bool:
        return self.outcome is Outcome.REVOKED

    def confirmation(self, action: str) -> str:
        """The flash after `action` (a key of DONE_WORDS) left the link in this state: "Link paused.
        Visitors see “Temporarily unavailable” until you resume it." """
        return f"{DONE_WORDS[action]} {self.reason}"

    @property
    def ended(self) -> bool:
        """Revoked, expired or used up (Outcome.ended)."""
        return self.outcome.ended


def link_state(link: LinkRow, creator_writes: bool, now: datetime | None = None) -> LinkState:
    """The owner's view of `link`: the row's status (revoked, expired, used up, paused, active), except
    that a link that would open or is paused but whose creator lost Write reads "stopped" (it comes back
    if the creator gets Write again; the more final revoked, expired and used up stay what they are)."""
    now = now or utcnow()
    outcome = row_status(link, now)
    if not creator_writes and outcome in (Outcome.VIEWABLE, Outcome.PAUSED):
        outcome = Outcome.STOPPED
    status = outcome.value
    if link.revoked_at is not None:
        return LinkState(status, STATE_REASONS[status], "Revoked", link.revoked_at)
    label = "Expired" if link.expires_at <= now else "Expires"
    return LinkState(status, STATE_REASONS[status], label, link.expires_at)


def row_status_sql(status: Outcome) -> str:
    """SQL that holds on a share_links row (parameter :now) exactly when row_status() answers `status`:
    every row rule before the one `status` names holds and that one is broken (VIEWABLE: all hold).
    The owner's list filters by it (shares/queries.py), so the filter and each row's badge agree."""
    if status not in ROW_STATUSES:
        raise ValueError(f"{status} is not a status of the row alone")
    conditions: list[str] = []
    for rule in ROW_RULES:
        if rule.broken is status:
            conditions.append(f"NOT ({rule.sql})")
            break
        conditions.append(rule.sql)
    return "(" + " AND ".join(conditions) + ")"


def row_status_condition(status: Outcome, now: datetime) -> TextClause:
    """`row_status_sql(status)` with :now bound (when it reads the time), ready for a query's WHERE."""
    sql = row_status_sql(status)
    condition = text(sql)
    if ":now" in sql:  # "revoked" alone does not depend on the time
        condition = condition.bindparams(bindparam("now", now, type_=UTCDateTime(), unique=True))
    return condition


def diagnose(link: LinkRow | None, graph_id: str, now: datetime | None = None) -> Outcome:
    """Why `link` (looked up by the token's jti) may not be viewed under `graph_id`; VIEWABLE if it may."""
    if link is None:
        return Outcome.UNKNOWN
    now = now or utcnow()
    for rule in RULES:
        if not rule.holds(link, graph_id, now):
            return rule.broken
    return Outcome.VIEWABLE


# --- "is this link working now?" for every link of a graph ---------------------------------------
# The same rules as diagnose(), as one query over a graph's links: every rule but the first (which names
# one token under one graph id). The live events (which open pages hear of a new picture or of the
# graph's deletion), the Access page (how many links removing a writer stops) and "revoke all"'s
# confirmation all ask it; tests/test_link_rules.py holds it equal to diagnose() for each broken rule.


def working_links(
    graph_pk: int, now: datetime | None = None, *, live_only: bool = False, despite: tuple[Outcome, ...] = ()
) -> TextualSelect:
    """SELECT public_id, creator_id of the links of the graph `graph_pk` (its primary key) that a visitor
    may open at `now`. `live_only`: the live ones only (a snapshot's page keeps its pinned picture);
    `despite`: as if those rules held (USED_UP: the pages a used-up link already opened, which stay;
    GRAPH_DELETED: the links a graph's deletion has just stopped)."""
    conditions = [rule.sql for rule in RULES[1:] if rule.broken not in despite]
    if live_only:
        conditions.append(f"share_links.mode = '{LIVE}'")
    sql = (
        "SELECT share_links.public_id, share_links.creator_id FROM share_links"
        " WHERE share_links.graph_id = :graph_pk AND " + "\n   AND ".join(conditions)
    )
    statement = text(sql).bindparams(
        bindparam("graph_pk", graph_pk, type_=Integer), bindparam("now", now or utcnow(), type_=UTCDateTime())
    )
    if ":write" in sql:
        statement = statement.bindparams(bindparam("write", int(Role.WRITE), type_=Integer))
    return statement.columns(public_id=String, creator_id=Integer)


# --- the counting statement -------------------------------------------------------------------
# Plain SQL, valid on SQLite and PostgreSQL: this is the hottest path of the app, and building and
# cache-keying the same statement as a SQLAlchemy expression cost more than running it.

_WHERE = "\n   AND ".join(rule.sql for rule in RULES)

# The passcode (SPEC §10) is not a rule of the link's state but of who asks: a link with a passcode
# is counted and shown only to a visitor whose passcode cookie was verified against its current hash
# (public/passcode_gate.py passes that hash, or None). In the statement, so a passcode
# changed between the cookie check and the count counts nothing; diagnose() leaves it to the gate.
_PASSCODE_SQL = "(passcode_hash IS NULL OR passcode_hash = :passcode_hash)"

# The link's columns a counted view returns (CountedView's first fields).
_LINK_COLUMNS = "graph_id, expires_at, allowed_origins, mode, pinned_result_id, snapshot_version"

# A view nginx sends again (the first gunicorn died after counting it) has the same request id: the
# count is made only when that id has no receipt, and the receipt of the link it counted is written
# by the same statement (models/receipt.py). A repeat then shows the link its receipt names, counted
# once. Without a request id (:request_id NULL: no trusted proxy) there is no receipt. Two attempts
# at once both pass NOT EXISTS; the second's receipt collides on the primary key and its whole
# statement is undone (count_view runs it again, and the repeat branch answers).
_RECEIPT_SQL = "(SELECT 1 FROM request_receipts WHERE request_receipts.request_id = :request_id)"


def _count_view_sql(*, once: bool) -> str:
    """The conditional UPDATE that counts one view when every rule holds and the passcode matches;
    `once`: also only while the request id has no receipt, returning the row's id for it."""
    receipt, row_id = (f"   AND NOT EXISTS {_RECEIPT_SQL}\n", "id, ") if once else ("", "")
    return f"""
UPDATE share_links
   SET view_count = view_count + 1, last_viewed_at = :now
 WHERE {_WHERE}
   AND {_PASSCODE_SQL}
{receipt}RETURNING {row_id}{_LINK_COLUMNS}
"""


# What the visitor sees: the graph's name and type; the status, message, figures and picture of the
# pinned result for a snapshot link, else the graph's current ones and its newest picture. The picture
# comes back as its result's id, not its SVG, and the figures as their JSON text: a result never
# changes once stored, so the id names the picture, and a view whose page is cached
# (public/page_cache.py) moves and decodes neither (picture_svg() reads the SVG when a caller needs it). A result without a picture (a snapshot of a failed analysis) gives no id; testing for NULL
# reads no stored SVG.
#
# `link` names where the link's `mode` and `pinned_result_id` come from: a row's columns ("link.",
# the counted row in the counting statement) or bound parameters (":", the statement SQLite runs
# after its count).


def _shown_columns(link: str) -> str:
    snapshot = f"{link}mode = '{SNAPSHOT}'"
    return (
        "\n       graphs.name, graphs.type, "
        # the description only when the owner chose to show it to visitors (migration 0015)
        "CASE WHEN graphs.show_description THEN graphs.description END AS description, "
        + "".join(
            f"CASE WHEN {snapshot} THEN graph_results.{column} ELSE graphs.{column} END AS {column}, "
            for column in ("status", "message")
        )
        + f"CAST(CASE WHEN {snapshot} THEN graph_results.info ELSE graphs.info END AS TEXT) AS info_json, "
        "CASE WHEN graph_results.svg IS NOT NULL THEN graph_results.id END AS picture_id, "
        "graph_results.created_at AS drawn_at"
    )


def _picture_join(link: str) -> str:
    return f"""
  LEFT OUTER JOIN graph_results ON graph_results.id = CASE WHEN {link}mode = '{SNAPSHOT}'
       THEN {link}pinned_result_id
       ELSE (SELECT max(newest.id) FROM graph_results AS newest
              WHERE newest.graph_id = graphs.id AND newest.svg IS NOT NULL) END"""


_COUNT_VIEW_SQL = _count_view_sql(once=False)
_COUNT_ONCE_SQL = _count_view_sql(once=True)

_GRAPH_WITH_PICTURE_SQL = (
    f"SELECT {_shown_columns(':')}\n  FROM graphs {_picture_join(':')}\n WHERE graphs.id = :graph_id"
)

_LINK_COLUMNS_OF_ROW = ", ".join("share_links." + column for column in _LINK_COLUMNS.split(", "))

_COUNT_AND_SHOW_SQL = f"""
WITH counted AS ({_COUNT_ONCE_SQL}),
receipt AS (INSERT INTO request_receipts (request_id, created_at, status, share_link_id)
            SELECT :request_id, :now, 200, counted.id FROM counted WHERE :request_id IS NOT NULL),
link AS (SELECT {_LINK_COLUMNS} FROM counted
         UNION ALL
         SELECT {_LINK_COLUMNS_OF_ROW}
           FROM request_receipts JOIN share_links ON share_links.id = request_receipts.share_link_id
          WHERE request_receipts.request_id = :request_id AND share_links.public_id = :jti)
SELECT link.graph_id, link.expires_at, link.allowed_origins, link.mode, link.pinned_result_id,
       link.snapshot_version, {_shown_columns("link.")}
  FROM link JOIN graphs ON graphs.id = link.graph_id {_picture_join("link.")}
"""

# Each rule alone, as 1 (holds) or 0, for the row named by :jti: what tests compare with Python.
_VERDICTS_SQL = (
    "SELECT "
    + ",\n       ".join(f"CASE WHEN {rule.sql} THEN 1 ELSE 0 END AS rule_{index}" for index, rule in enumerate(RULES))
    + "\n  FROM share_links WHERE public_id = :jti"
)

_COUNTED_TYPES: dict[str, Any] = {
    "graph_id": Integer,
    "expires_at": UTCDateTime(),
    "allowed_origins": Text,
    "mode": String,
    "pinned_result_id": Integer,
    "snapshot_version": Integer,
}
_SHOWN_TYPES: dict[str, Any] = {
    "name": String,
    "type": String,
    "description": Text,
    "status": String,
    "message": Text,
    "info_json": Text,
    "picture_id": Integer,
    "drawn_at": UTCDateTime(),
}


def _statement(sql: str, **types: Any) -> TextClause | TextualSelect:
    statement = text(sql)
    if ":now" in sql:  # the statements that apply the rules
        statement = statement.bindparams(
            bindparam("now", type_=UTCDateTime()), bindparam("write", value=int(Role.WRITE))
        )
    if ":passcode_hash" in sql:
        statement = statement.bindparams(bindparam("passcode_hash", type_=String))
    if ":request_id" in sql:
        statement = statement.bindparams(bindparam("request_id", type_=String))
    return statement.columns(**types) if types else statement


COUNT_VIEW = _statement(_COUNT_VIEW_SQL, **_COUNTED_TYPES)
COUNT_VIEW_ONCE = _statement(_COUNT_ONCE_SQL, id=Integer, **_COUNTED_TYPES)
REPEATED_VIEW = _statement(
    f"SELECT share_links.id, {_LINK_COLUMNS_OF_ROW}"
    " FROM request_receipts JOIN share_links ON share_links.id = request_receipts.share_link_id"
    " WHERE request_receipts.request_id = :request_id AND share_links.public_id = :jti",
    id=Integer,
    **_COUNTED_TYPES,
)
VIEW_RECEIPT = text(
    "INSERT INTO request_receipts (request_id, created_at, status, share_link_id)"
    " VALUES (:request_id, :now, 200, :link_id)"
).bindparams(bindparam("now", type_=UTCDateTime()))
GRAPH_WITH_PICTURE = _statement(_GRAPH_WITH_PICTURE_SQL, **_SHOWN_TYPES)
# Typed columns make it a TextualSelect: run_on_driver reads the row's names from them.
COUNT_AND_SHOW = cast(TextualSelect, _statement(_COUNT_AND_SHOW_SQL, **_COUNTED_TYPES, **_SHOWN_TYPES))
VERDICTS = _statement(_VERDICTS_SQL)


@dataclass(frozen=True)
class CountedView:
    """A counted view (Outcome.VIEWABLE, counted): the link's embedding rules, expiry and mode, the
    graph and the picture and figures it shows (a snapshot's: those of its pinned result).

    The picture is named by its result's id (`picture_id`) and the figures are their JSON text: the
    page cache keys on those (public/page.py); a page that is rendered decodes the figures, and
    whoever needs the SVG reads it with picture_svg(), a statement of its own, never on attribute access.
    """

    graph_id: int
    expires_at: datetime
    allowed_origins: str
    mode: str
    pinned_result_id: int | None
    snapshot_version: int | None  # a snapshot link: the graph's version it was made from
    name: str
    type: str
    description: str | None  # None unless the owner chose to show it to visitors
    status: str
    message: str
    info_json: str | None
    picture_id: int | None
    drawn_at: datetime | None

    @property
    def is_snapshot(self) -> bool:
        return self.mode == SNAPSHOT


PICTURE_SVG = text("SELECT svg FROM graph_results WHERE id = :picture_id").columns(svg=Text)


def picture_svg(picture_id: int | None) -> str | None:
    """The SVG of the result `picture_id` (a counted view's picture), in one statement; None for no
    picture. A result is never changed once stored; one deleted since the count (its graph was
    deleted a moment ago) reads as no picture."""
    if picture_id is None:
        return None
    with counting_engine().connect() as connection:
        svg: str | None = connection.scalar(PICTURE_SVG, {"picture_id": picture_id})
        return svg


def count_view(
    jti: str, graph_id: str, passcode_hash: str | None = None, request_id: str | None = None
) -> CountedView | None:
    """Count one view if, and only if, every rule holds at this instant and the link has no passcode
    or its passcode hash is still `passcode_hash` (the one the visitor's cookie opens); None if not.

    `request_id` (nginx's, receipts.trusted_request_id) counts a view once however often nginx sends
    it: a repeat of a counted one shows the link it counted without counting it again."""
    params = {
        "jti": jti,
        "graph_id": graph_id,
        "now": utcnow(),
        "passcode_hash": passcode_hash,
        "request_id": request_id,
    }
    engine = counting_engine()  # autocommit; asynchronous commits on PostgreSQL (models/counting.py)
    if engine.dialect.name == "postgresql":
        try:
            row = run_on_driver(engine, COUNT_AND_SHOW, params)
        except IntegrityError:
            if request_id is None:
                raise
            row = run_on_driver(engine, COUNT_AND_SHOW, params)  # another attempt of it counted first
        return CountedView(**row) if row is not None else None
    with engine.connect() as connection:
        # SQLite (development, one process): the count, its receipt and the repeat's look-up in turn.
        counted = connection.execute(COUNT_VIEW_ONCE if request_id else COUNT_VIEW, params).first()
        if counted is None and request_id:
            counted = connection.execute(REPEATED_VIEW, params).first()
        elif counted is not None and request_id:
            connection.execute(VIEW_RECEIPT, {"request_id": request_id, "now": params["now"], "link_id": counted.id})
        if counted is None:
            return None
        shown = connection.execute(
            GRAPH_WITH_PICTURE,
            {"graph_id": counted.graph_id, "mode": counted.mode, "pinned_result_id": counted.pinned_result_id},
        ).one()
        link = {name: value for name, value in counted._mapping.items() if name != "id"}
        return CountedView(**link, **shown._mapping)


def sql_verdicts(connection: Connection, jti: str, graph_id: str, now: datetime) -> dict[Outcome, bool] | None:
    """Whether each rule holds for the link `jti`, as the counting statement's SQL answers it (no view
    counted); None if there is no such row."""
    row = connection.execute(VERDICTS, {"jti": jti, "graph_id": graph_id, "now": now}).first()
    if row is None:
        return None
    return {rule.broken: bool(value) for rule, value in zip(RULES, row)}


def python_verdicts(link: LinkRow, graph_id: str, now: datetime) -> dict[Outcome, bool]:
    """Whether each rule holds for `link`, as the Python predicates answer it."""
    return {rule.broken: rule.holds(link, graph_id, now) for rule in RULES}
