"""The dependency spec parser on its own: a pure function (SPEC §4)."""

import json

import pytest

from maestro_web.domain.spec import MAX_EDGES, MAX_NODES, MAX_PROBLEMS, SpecError, parse_spec


def problems(text):
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    return [problem.message for problem in caught.value.problems]


def test_edges_lone_nodes_comments_and_attributes():
    spec = parse_spec(
        "# the shop\nweb [kind=frontend] -> api   # web calls api\napi -> db [kind=database, tier=1]\n\ncron\n"
    )
    assert spec.nodes == {"web": {"kind": "frontend"}, "api": {}, "db": {"kind": "database", "tier": "1"}, "cron": {}}
    assert spec.edges == [("web", "api"), ("api", "db")]
    assert spec.to_dict() == {
        "nodes": [
            {"name": "web", "kind": "frontend"},
            {"name": "api"},
            {"name": "db", "kind": "database", "tier": "1"},
            {"name": "cron"},
        ],
        "edges": [{"source": "web", "target": "api"}, {"source": "api", "target": "db"}],
    }


def test_blank_and_comment_only_specs_are_empty_not_errors():
    for text in ("", "   \n\n", "# nothing yet\n  # still nothing"):
        assert parse_spec(text).is_empty


def test_unicode_names_crlf_and_byte_order_mark():
    spec = parse_spec("\ufeffZürich-API -> 数据库\r\nπ\r\n")
    assert list(spec.nodes) == ["Zürich-API", "数据库", "π"]
    assert spec.edges == [("Zürich-API", "数据库")]


def test_self_loop_is_kept_and_duplicate_edges_collapse():
    spec = parse_spec("a -> a\nb -> c\nb -> c\nb->c")
    assert spec.edges == [("a", "a"), ("b", "c")]


def test_a_chain_is_a_shorthand_for_consecutive_edges():
    assert parse_spec("a -> b -> c").edges == [("a", "b"), ("b", "c")]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a -> b\napi ->", "line 2: expected a target after '->'"),
        ("-> c", "line 1: expected a source before '->'"),
        ("a -> -> c", "line 1: expected a name between two '->'"),
        ("db [kind=database", "line 1: expected ']' to close the attributes of 'db'"),
        ("db [database]", "line 1: expected key=value in the attributes of 'db', got 'database'"),
        ("[kind=x]", "line 1: expected a node name before '['"),
        ("db ] x", "line 1: found ']' without '['"),
        ("a [kind=x]\n\na [kind=y]", "line 3: 'a' already has kind=x on line 1, not kind=y"),
        ("x" * 101, "line 1: the name 'xxxxxxxx"),
    ],
)
def test_every_error_names_its_line_and_what_was_expected(text, expected):
    assert any(message.startswith(expected) for message in problems(text)), problems(text)


@pytest.mark.parametrize(
    "line, typo",
    [
        ("checkout => payments", "=>"),
        ("checkout --> payments", "-->"),
        ("checkout → payments", "→"),
        ("checkout <- payments", "<-"),
        ("checkout -- payments", "--"),
        ("checkout=>payments", "=>"),
        ("web -> checkout => payments", "=>"),
    ],
)
def test_arrow_typos_are_errors_that_name_the_arrow(line, typo):
    assert problems(f"web -> api\n{line}") == [f"line 2: found '{typo}': did you mean '->'?"]


def test_hyphens_in_names_and_arrows_in_attribute_values_are_not_typos():
    parsed = parse_spec("blue-green -> api--v2\ndb [note=a => b] -> x-1")
    assert list(parsed.nodes) == ["blue-green", "api--v2", "db", "x-1"]
    assert parsed.nodes["db"] == {"note": "a => b"}


def test_all_problems_are_reported_in_line_order_up_to_a_cap():
    found = problems("a ->\nok -> fine\n-> b\n")
    assert found == ["line 1: expected a target after '->'", "line 3: expected a source before '->'"]
    many = problems("\n".join("x ->" for _ in range(100)))
    assert len(many) == MAX_PROBLEMS


def test_node_limit_gives_one_clear_error_at_the_line_that_crossed_it():
    assert problems("\n".join(f"n{i}" for i in range(MAX_NODES + 1))) == [
        "line 2001: too many nodes: 2,001 (at most 2,000)"
    ]
    assert len(parse_spec("\n".join(f"n{i}" for i in range(MAX_NODES))).nodes) == MAX_NODES


def test_edge_limit():
    # 101 x 100 distinct edges between 201 nodes.
    lines = [f"s{i} -> t{j}" for i in range(101) for j in range(100)]
    assert len(lines) > MAX_EDGES
    found = problems("\n".join(lines))
    assert found[0].startswith("line 10001: too many edges: 10,100")


def test_a_two_megabyte_paste_is_parsed_or_refused_clearly_and_quickly():
    text = "\n".join(f"service-{i % 1500:04d} -> dependency-{i % 400:03d}" for i in range(70000))
    assert len(text) > 2_000_000
    spec = parse_spec(text)  # 1,900 nodes, 6,000 distinct edges: within the limits
    assert len(spec.nodes) == 1900 and len(spec.edges) == 6000
    garbage = ("->" * 10 + "\n") * 100_000
    assert len(garbage) > 2_000_000
    assert len(problems(garbage)) == MAX_PROBLEMS
    assert problems("a" * 3_000_001) == ["the spec is too long: 3,000,001 characters (at most 3,000,000)"]


def test_json_import():
    document = {
        "nodes": ["a", {"name": "db", "kind": "database"}],
        "edges": [["a", "db"], {"source": "db", "target": "c"}],
    }
    spec = parse_spec(json.dumps(document, indent=2))
    assert spec.nodes == {"a": {}, "db": {"kind": "database"}, "c": {}}
    assert spec.edges == [("a", "db"), ("db", "c")]
    # What the worker receives can be pasted back in unchanged.
    assert parse_spec(json.dumps(spec.to_dict())).to_dict() == spec.to_dict()


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"nodes": [\n  "a",\n  oops\n]}', "line 3: not valid JSON"),
        ('{"vertices": []}', 'line 1: expected a JSON object with "nodes" and "edges"'),
        ('{"nodes": "a"}', 'line 1: "nodes" and "edges" must be lists'),
        ('{"nodes": [1]}', 'nodes[0]: expected a name or an object with a "name"'),
        ('{"edges": [["a"]]}', "edges[0]: expected"),
        ('{"edges": [{"source": "a", "target": 5}]}', "edges[0]: source and target must be node names"),
    ],
)
def test_json_errors_name_where(text, expected):
    assert any(message.startswith(expected) for message in problems(text)), problems(text)


def test_non_text_is_refused():
    with pytest.raises(SpecError):
        parse_spec(["a -> b"])  # type: ignore[arg-type]
