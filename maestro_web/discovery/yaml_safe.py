"""YAML from strangers: PyYAML's safe constructor, with what aliases and nesting may cost bounded.

`yaml.safe_load_all` already refuses custom tags (no object construction), but it is not safe
against two old tricks: a "billion laughs" document (nine levels of ten aliases each, a few hundred
bytes that stand for 10^9 nodes; PyYAML shares the objects, so the load itself is cheap, but anything
that walks the result walks them all) and very deep nesting (a RecursionError in whoever walks it).
So each document's node graph is weighed before it is turned into Python data: how many nodes it
stands for once every alias is expanded, and how deep it reaches. More than MAX_ALIAS_EXPANSION
nodes added by aliases (over the whole input), more than MAX_DEPTH levels, or an alias inside the
node it names (a cycle no walker should meet) → InputRefused.

libyaml's C parser and composer do the reading when present (as in PyYAML's CSafeLoader); the
weighing is one pass over the collections (scalars weigh 1), and strings, lists and plain mappings
are then built directly, the rest by SafeConstructor: together a third faster than CSafeLoader.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from maestro_web.discovery.inference import InputRefused

MAX_DEPTH = 100  # Kubernetes objects nest 10-20 deep, CRD schemas some 40
MAX_ALIAS_EXPANSION = 500_000  # nodes that aliases may add, in the whole input

try:  # libyaml's reader, scanner, parser and composer in one
    from yaml._yaml import CParser as _Reading
except ImportError:  # pragma: no cover - PyYAML built without libyaml: the same, in Python

    class _Reading(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


_IN_PROGRESS = (-1, -1)
_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_SPECIAL_KEYS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


class BoundedSafeLoader(_Reading, SafeConstructor, Resolver):  # type: ignore[misc, valid-type]
    """yaml.CSafeLoader that weighs every document before constructing it."""

    def __init__(self, stream: str) -> None:
        _Reading.__init__(self, stream)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.aliased = 0  # nodes added by aliases so far, over all documents
        self._distinct = 0

    def construct_document(self, node: Node) -> Any:
        self._distinct = 0  # nodes written out in the document (a shared one once)
        size, _ = self._weigh(node, 1, {})
        self.aliased += size - self._distinct
        if self.aliased > MAX_ALIAS_EXPANSION:
            raise _billion_laughs()
        return self._build(node, {})

    def _build(self, node: Node, built: dict[int, Any]) -> Any:
        """The node as Python data, as SafeConstructor makes it, faster: strings, lists and plain
        mappings are built here (most of a manifest); every other tag (numbers, booleans, dates,
        binary, sets, merge keys...) goes to SafeConstructor itself. A shared node is built once."""
        key = id(node)
        if key in built:
            return built[key]
        cls, tag = node.__class__, node.tag
        if cls is ScalarNode and tag == _STR:
            return node.value
        if cls is SequenceNode and tag == _SEQ:
            items: list[Any] = []
            built[key] = items
            items.extend(self._build(child, built) for child in node.value)
            return items
        if cls is MappingNode and tag == _MAP and not any(k.tag in _SPECIAL_KEYS for k, _ in node.value):
            mapping: dict[Any, Any] = {}
            built[key] = mapping
            for key_node, value_node in node.value:
                mapping[self._build(key_node, built)] = self._build(value_node, built)
            return mapping
        built[key] = value = self.construct_object(node, deep=True)
        return value

    def _weigh(self, node: Node, depth: int, weights: dict[int, tuple[int, int]]) -> tuple[int, int]:
        """(nodes it stands for, its height), aliases expanded; refuses cycles and deep nesting."""
        if depth > MAX_DEPTH:
            raise InputRefused(f"the YAML nests deeper than {MAX_DEPTH} levels; refused")
        key = id(node)
        known = weights.get(key)
        if known is not None:
            if known is _IN_PROGRESS:
                raise InputRefused(
                    f"a YAML alias refers to a node that contains it (a recursive structure, "
                    f"line {node.start_mark.line + 1}); write the value out instead"
                )
            if depth + known[1] - 1 > MAX_DEPTH:
                raise InputRefused(f"the YAML nests deeper than {MAX_DEPTH} levels; refused")
            return known
        weights[key] = _IN_PROGRESS
        self._distinct += 1
        size, height = 1, 0
        if node.__class__ is SequenceNode:
            children: list[Node] = node.value
        elif node.__class__ is MappingNode:
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            if child.__class__ is ScalarNode:
                size += 1
                self._distinct += 1
                height = height or 1
            else:
                child_size, child_height = self._weigh(child, depth + 1, weights)
                size += child_size
                if child_height > height:
                    height = child_height
        weights[key] = (size, height + 1)
        if size - self._distinct + self.aliased > MAX_ALIAS_EXPANSION:  # stop as soon as it is too much
            raise _billion_laughs()
        return size, height + 1


def _billion_laughs() -> InputRefused:
    return InputRefused(
        f'the YAML aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes (a "billion laughs" document?); refused'
    )


def load_all(text: str) -> Iterator[Any]:
    """Every document of `text`, as plain Python data. Raises InputRefused naming the problem."""
    try:
        # libyaml encodes the text first: a lone surrogate fails here, before any parsing
        loader = BoundedSafeLoader(text)
    except UnicodeError:
        raise InputRefused("not valid YAML: the text is not valid Unicode (a lone surrogate?)") from None
    try:
        while loader.check_data():
            yield loader.get_data()
    except yaml.MarkedYAMLError as exc:
        raise InputRefused(f"not valid YAML: {_describe(exc)}") from None
    except yaml.YAMLError as exc:
        raise InputRefused(f"not valid YAML: {exc}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, InputRefused):
            raise
        # a scalar the safe constructor could not turn into its type (a date like 2024-13-45)
        raise InputRefused(f"not valid YAML: a value could not be read ({exc})") from None
    except RecursionError:
        raise InputRefused(f"the YAML nests deeper than {MAX_DEPTH} levels; refused") from None
    finally:
        loader.dispose()


def _describe(exc: yaml.MarkedYAMLError) -> str:
    what = exc.problem or exc.context or "unreadable"
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return str(what)
    return f"{what} (line {mark.line + 1}, column {mark.column + 1})"
