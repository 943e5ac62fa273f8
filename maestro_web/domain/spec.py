"""The dependency spec (SPEC §4): parse the text a user types into nodes and edges.

A pure function with no Flask in it, so it is tested on its own (tests/test_spec_parser.py).

Text form, one statement per line::

    # comments start with '#'
    web [kind=frontend] -> api      # "web depends on / calls api"
    api -> db [kind=database] -> backup   # a chain is a shorthand for two edges
    cron                            # a lone node

JSON form (import): ``{"nodes": ["a", {"name": "b", "kind": "db"}], "edges": [["a", "b"],
{"source": "b", "target": "a"}]}``.

Every problem names its line and what was expected; at most ``MAX_PROBLEMS`` are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from maestro_web.safe_json import UnsafeJSON, loads_strict

MAX_NODES = 2000
MAX_EDGES = 10000
MAX_NAME_LENGTH = 100
MAX_SPEC_CHARS = 3_000_000
MAX_PROBLEMS = 20
MAX_ATTRIBUTES = 10
MAX_ATTRIBUTE_VALUE_LENGTH = 100

ARROW = "->"
_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,31}$")
_COMMENT = re.compile(r"(^|\s)#")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters no database column can hold (PostgreSQL refuses NUL; lone surrogates are not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Lines end where a textarea's lines end. str.splitlines() would also break at \x1c-\x1e, \x85,
# \u2028 ..., numbering lines differently from every editor (found by tests/test_fuzz_forms.py).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
MAX_JSON_DEPTH = 8  # {"nodes": [{"name": ...}]} is 3 deep
# Arrows people type instead of "->": an error that says so, never a node named "checkout => payments".
# "=>", "-->", "→" and friends anywhere outside an attribute list; "<-" and "--" only standing alone
# (between spaces), since "api--v2" and "a<-b"-like names are rare but "blue-green" is not.
_ARROW_TYPO = re.compile(r"-->|<--|==>|=>|[→⇒⟶➔➜]|–>|—>|(?<!\S)(?:<-|--)(?!\S)")
_ATTRIBUTE_LIST = re.compile(r"\[[^\]]*\]")


@dataclass(frozen=True)
class SpecProblem:
    line: int | None
    message: str  # already prefixed with "line N: " when there is a line


class SpecError(ValueError):
    """The spec could not be parsed; `problems` lists what is wrong, line by line."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        super().__init__("; ".join(problem.message for problem in problems))


@dataclass
class ParsedSpec:
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> attributes, in order of appearance
    edges: list[tuple[str, str]] = field(default_factory=list)  # (source, target), no duplicates

    @property
    def is_empty(self) -> bool:
        return not self.nodes

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        """The JSON form handed to the analytics worker."""
        return {
            "nodes": [{"name": name, **attributes} for name, attributes in self.nodes.items()],
            "edges": [{"source": source, "target": target} for source, target in self.edges],
        }


class _Builder:
    """Collects nodes, edges and problems while a spec is read."""

    def __init__(self) -> None:
        self.spec = ParsedSpec()
        self._edge_set: set[tuple[str, str]] = set()
        self._node_lines: dict[str, int | None] = {}
        self.problems: list[SpecProblem] = []
        self.too_many_nodes_at: int | None = None
        self.too_many_edges_at: int | None = None
        self.node_count = 0
        self.edge_count = 0

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def problem(self, line: int | None, message: str) -> None:
        if not self.full:
            self.problems.append(SpecProblem(line, f"line {line}: {message}" if line is not None else message))

    def add_node(self, line: int | None, name: str, attributes: dict[str, str]) -> None:
        nodes = self.spec.nodes
        if name not in nodes:
            self.node_count += 1
            if self.node_count > MAX_NODES:
                if self.too_many_nodes_at is None:
                    self.too_many_nodes_at = line
                return
            nodes[name] = {}
            self._node_lines[name] = line
        known = nodes[name]
        for key, value in attributes.items():
            if key in known and known[key] != value:
                where = self._node_lines.get(name)
                first = f" on line {where}" if where is not None else ""
                self.problem(line, f"'{name}' already has {key}={known[key]}{first}, not {key}={value}")
            else:
                known[key] = value

    def add_edge(self, line: int | None, source: str, target: str) -> None:
        if source not in self.spec.nodes or target not in self.spec.nodes:
            return  # one end was over the node limit; that is reported once, below
        if (source, target) in self._edge_set:
            return  # a repeated edge means the same thing: keep one
        self.edge_count += 1
        if self.edge_count > MAX_EDGES:
            if self.too_many_edges_at is None:
                self.too_many_edges_at = line
            return
        self._edge_set.add((source, target))
        self.spec.edges.append((source, target))

    def finish(self) -> ParsedSpec:
        if self.too_many_nodes_at is not None:
            self.problems.insert(
                0,
                SpecProblem(
                    self.too_many_nodes_at,
                    _at(self.too_many_nodes_at, f"too many nodes: {self.node_count:,} (at most {MAX_NODES:,})"),
                ),
            )
        if self.too_many_edges_at is not None:
            self.problems.insert(
                0,
                SpecProblem(
                    self.too_many_edges_at,
                    _at(self.too_many_edges_at, f"too many edges: {self.edge_count:,} (at most {MAX_EDGES:,})"),
                ),
            )
        if self.problems:
            raise SpecError(self.problems[:MAX_PROBLEMS])
        return self.spec


def _at(line: int | None, message: str) -> str:
    return f"line {line}: {message}" if line is not None else message


def parse_spec(text: str) -> ParsedSpec:
    """Parse a spec in its text or JSON form. Raises SpecError listing every problem found."""
    if not isinstance(text, str):
        raise SpecError([SpecProblem(None, "the spec must be text")])
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(
            [SpecProblem(None, f"the spec is too long: {len(text):,} characters (at most {MAX_SPEC_CHARS:,})")]
        )
    bad = _UNSTORABLE.search(text)
    if bad:
        line = len(_LINE_BREAK.findall(text, 0, bad.start())) + 1
        what = "a NUL character" if bad.group() == "\x00" else "an invalid (lone surrogate) character"
        raise SpecError([SpecProblem(line, f"line {line}: contains {what}; remove it")])
    text = text.lstrip("\ufeff")
    if text.lstrip().startswith("{"):
        return _parse_json(text)
    return _parse_text(text)


# -- the text form ----------------------------------------------------------------------------


def _parse_text(text: str) -> ParsedSpec:
    builder = _Builder()
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        if builder.full:
            break
        line = _strip_comment(raw).strip()
        if not line:
            continue
        typo = _ARROW_TYPO.search(_ATTRIBUTE_LIST.sub("", line))
        if typo:
            builder.problem(number, f"found '{typo.group()}': did you mean '{ARROW}'?")
            continue
        parts = line.split(ARROW)
        names: list[str] = []
        ok = True
        for index, part in enumerate(parts):
            part = part.strip()
            if not part:
                ok = False
                if len(parts) == 1:
                    continue
                if index == 0:
                    builder.problem(number, f"expected a source before '{ARROW}'")
                elif index == len(parts) - 1:
                    builder.problem(number, f"expected a target after '{ARROW}'")
                else:
                    builder.problem(number, f"expected a name between two '{ARROW}'")
                continue
            parsed = _parse_node(builder, number, part)
            if parsed is None:
                ok = False
                continue
            name, attributes = parsed
            names.append(name)
            builder.add_node(number, name, attributes)
        if ok:
            for source, target in zip(names, names[1:]):
                builder.add_edge(number, source, target)
    return builder.finish()


def _strip_comment(line: str) -> str:
    match = _COMMENT.search(line)
    return line[: match.start()] if match else line


def _parse_node(builder: _Builder, line: int, part: str) -> tuple[str, dict[str, str]] | None:
    """`name` or `name [key=value, ...]`; None (and a problem) when it is not one of those."""
    attributes: dict[str, str] = {}
    name = part
    if "[" in part or "]" in part:
        opening = part.find("[")
        if opening == -1:
            builder.problem(line, f"found ']' without '[' in '{_short(part)}'")
            return None
        if not part.endswith("]"):
            builder.problem(line, f"expected ']' to close the attributes of '{_short(part[:opening].strip())}'")
            return None
        name = part[:opening].strip()
        body = part[opening + 1 : -1]
        if "[" in body or "]" in body:
            builder.problem(line, f"expected one [key=value, ...] list after '{_short(name)}'")
            return None
        parsed = _parse_attributes(builder, line, name, body)
        if parsed is None:
            return None
        attributes = parsed
        if not name:
            builder.problem(line, "expected a node name before '['")
            return None
    if not _valid_name(builder, line, name):
        return None
    return name, attributes


def _parse_attributes(builder: _Builder, line: int, name: str, body: str) -> dict[str, str] | None:
    attributes: dict[str, str] = {}
    items = [item.strip() for item in body.split(",") if item.strip()]
    if len(items) > MAX_ATTRIBUTES:
        builder.problem(line, f"too many attributes on '{_short(name)}' (at most {MAX_ATTRIBUTES})")
        return None
    for item in items:
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip().strip('"').strip()
        if not equals or not key or not value:
            builder.problem(line, f"expected key=value in the attributes of '{_short(name)}', got '{_short(item)}'")
            return None
        if not _ATTRIBUTE_KEY.match(key):
            builder.problem(line, f"attribute names are letters, digits, '_' and '-' (got '{_short(key)}')")
            return None
        if len(value) > MAX_ATTRIBUTE_VALUE_LENGTH or _CONTROL.search(value):
            builder.problem(
                line, f"the value of {key} must be at most {MAX_ATTRIBUTE_VALUE_LENGTH} printable characters"
            )
            return None
        attributes[key] = value
    return attributes


def _valid_name(builder: _Builder, line: int | None, name: str) -> bool:
    if len(name) > MAX_NAME_LENGTH:
        builder.problem(line, f"the name '{_short(name)}' is {len(name)} characters long (at most {MAX_NAME_LENGTH})")
        return False
    if _CONTROL.search(name):
        builder.problem(line, f"the name '{_short(name)}' contains a control character")
        return False
    return True


def _short(text: str, limit: int = 40) -> str:
    text = _CONTROL.sub("?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the JSON form ----------------------------------------------------------------------------


def _parse_json(text: str) -> ParsedSpec:
    try:
        document = loads_strict(text, max_depth=MAX_JSON_DEPTH)
    except UnsafeJSON as exc:
        message = f"line {exc.line}: {exc}" if exc.line is not None else f"not a valid JSON spec: {exc}"
        raise SpecError([SpecProblem(exc.line, message)]) from None
    if not isinstance(document, dict) or not set(document) <= {"nodes", "edges"}:
        raise SpecError([SpecProblem(1, 'line 1: expected a JSON object with "nodes" and "edges" lists')])
    nodes, edges = document.get("nodes", []), document.get("edges", [])
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise SpecError([SpecProblem(1, 'line 1: "nodes" and "edges" must be lists')])

    builder = _Builder()
    for index, item in enumerate(nodes):
        if builder.full:
            break
        where = f"nodes[{index}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            builder.problem(None, f'{where}: expected a name or an object with a "name"')
            continue
        name = item["name"].strip()
        attributes = {}
        for key, value in item.items():
            if key == "name":
                continue
            if (
                not _ATTRIBUTE_KEY.match(str(key))
                or not isinstance(value, (str, int, float))
                or isinstance(value, bool)
            ):
                builder.problem(
                    None, f"{where}: attribute '{_short(str(key))}' must be a short name with a text or number value"
                )
                continue
            attributes[key] = str(value)
        if len(attributes) > MAX_ATTRIBUTES:
            builder.problem(None, f"{where}: too many attributes (at most {MAX_ATTRIBUTES})")
            continue
        if _json_name(builder, where, name):
            builder.add_node(None, name, attributes)
    for index, item in enumerate(edges):
        if builder.full:
            break
        where = f"edges[{index}]"
        if isinstance(item, dict):
            pair = (item.get("source"), item.get("target"))
        elif isinstance(item, list) and len(item) == 2:
            pair = (item[0], item[1])
        else:
            builder.problem(None, f'{where}: expected {{"source": ..., "target": ...}} or [source, target]')
            continue
        if not all(isinstance(end, str) and end.strip() for end in pair):
            builder.problem(None, f"{where}: source and target must be node names")
            continue
        source, target = str(pair[0]).strip(), str(pair[1]).strip()  # both are non-blank text (checked above)
        if _json_name(builder, where, source) and _json_name(builder, where, target):
            builder.add_node(None, source, {})
            builder.add_node(None, target, {})
            builder.add_edge(None, source, target)
    return builder.finish()


def _json_name(builder: _Builder, where: str, name: str) -> bool:
    if len(name) > MAX_NAME_LENGTH or _CONTROL.search(name):
        builder.problem(
            None, f"{where}: the name '{_short(name)}' must be at most {MAX_NAME_LENGTH} printable characters"
        )
        return False
    return True
