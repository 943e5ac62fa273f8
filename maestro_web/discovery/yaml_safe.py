"""YAML from strangers: PyYAML's safe constructor behind a composer that bounds what aliases and
nesting can cost.

`yaml.safe_load_all` already refuses custom tags (no object construction), but it is not safe
against two old tricks: a "billion laughs" document (nine levels of ten aliases each, a few hundred
bytes that stand for 10^9 nodes; PyYAML shares the objects, so the load itself is cheap, but anything
that walks the result walks them all) and very deep nesting (a RecursionError in whoever walks it).
The composer here counts, while the document is read, how many nodes each alias stands for and how
deep it reaches, and refuses the input as soon as either bound is passed, or when an alias refers to
a node that contains it (a cycle no walker should meet). libyaml's C parser is used when present
(about ten times faster than the pure Python one); the composer stays in Python so it can count.
"""
from __future__ import annotations

from typing import Any, Iterator

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import Node
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from maestro_web.discovery.inference import InputRefused

try:  # libyaml's reader, scanner and parser in one; the pure Python ones are the same, slower
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)

MAX_DEPTH = 100                 # Kubernetes objects nest 10-20 deep, CRD schemas some 40
MAX_ALIAS_EXPANSION = 500_000   # nodes that aliases may stand for, in the whole input


class _BoundedComposer(Composer):
    """Composer that keeps, for every anchor, how many nodes it holds and how deep it goes."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._deepest = 0
        self._nodes = 0              # nodes composed so far, aliases counted at their full size
        self._aliased = 0            # the part of _nodes that aliases stand for
        self._weights: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height)

    def compose_document(self) -> Node | None:
        self._weights = {}
        return super().compose_document()  # type: ignore[no-any-return]

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):  # type: ignore[attr-defined]
            anchor = self.peek_event().anchor  # type: ignore[attr-defined]
            node = super().compose_node(parent, index)  # the anchored node (or a ComposerError)
            weight = self._weights.get(anchor)
            if weight is None:
                raise InputRefused(f"the YAML alias *{anchor} refers to a node that contains it "
                                   "(a recursive structure); write the value out instead")
            size, height = weight
            self._nodes += size
            self._aliased += size
            if self._aliased > MAX_ALIAS_EXPANSION:
                raise InputRefused(f"the YAML aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes "
                                   "(a \"billion laughs\" document?); refused")
            self._reach(self._depth + height)
            return node
        anchor = self.peek_event().anchor  # type: ignore[attr-defined]
        if anchor is not None:
            self._weights.pop(anchor, None)  # a redefined anchor: its old size must not be used inside
        start, outer_deepest = self._nodes, self._deepest
        self._depth += 1
        self._nodes += 1
        self._deepest = self._depth
        self._reach(self._depth)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self._weights[anchor] = (self._nodes - start, self._deepest - self._depth + 1)
        self._deepest = max(outer_deepest, self._deepest)
        self._depth -= 1
        return node

    def _reach(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise InputRefused(f"the YAML nests deeper than {MAX_DEPTH} levels; refused")
        if depth > self._deepest:
            self._deepest = depth


class BoundedSafeLoader(_BoundedComposer, _Parser, SafeConstructor, Resolver):  # type: ignore[misc, valid-type]
    """yaml.SafeLoader's parts (libyaml's parser when present) with the bounded composer."""

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _BoundedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


def load_all(text: str) -> Iterator[Any]:
    """Every document of `text`, as plain Python data. Raises InputRefused naming the problem."""
    loader = BoundedSafeLoader(text)
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
