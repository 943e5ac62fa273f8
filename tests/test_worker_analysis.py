"""The reference worker's analysis and drawing, on their own (SPEC §6)."""

import random
import re

from maestro_web.domain.spec import parse_spec
from maestro_web.ingest.svg import sanitize_svg
from maestro_web.worker.analysis import analyse, build_graph
from maestro_web.worker.render import colour_of, layers, render_svg
from maestro_web.worker.runner import build_result


def spec(text):
    return parse_spec(text).to_dict()


def test_figures_of_a_small_acyclic_graph():
    result = analyse(
        spec(
            "web [kind=frontend] -> api\nmobile [kind=frontend] -> api\napi -> db [kind=database]\n"
            "api -> cache [kind=cache]\ncron"
        )
    )
    assert result.status == "finished" and result.message == "6 nodes, 4 edges"
    info = result.info
    assert info["nodes"] == 6 and info["edges"] == 4
    assert info["density"] == round(4 / 30, 4)
    assert info["entry_points"] == ["cron", "mobile", "web"]
    assert info["depth_histogram"] == {"0": 3, "1": 1, "2": 2} and info["max_depth"] == 2
    assert info["kinds"] == {"cache": 1, "database": 1, "default": 2, "frontend": 2}
    assert info["cycles"] == 0 and info["components"] == 2
    assert info["top_dependencies"][0] == ["api", 2]


def test_cycles_are_a_warning_with_an_example():
    result = analyse(spec("a -> b\nb -> c\nc -> a\nd -> d"))
    assert result.status == "warning"
    assert result.info["cycles"] == 2 and result.info["self_loops"] == 1
    assert "d → d" in result.message and "2 dependency cycles" in result.message
    assert result.info["unreachable"] == 3  # a, b, c sit only on a cycle: no entry point reaches them


def test_empty_spec_is_a_warning():
    result = analyse(spec(""))
    assert (result.status, result.message) == ("warning", "Empty dependencies")


def test_cycle_counting_is_bounded_on_a_dense_graph():
    random.seed(7)
    text = "\n".join(f"n{random.randrange(300)} -> n{random.randrange(300)}" for _ in range(3000))
    result = analyse(spec(text))
    assert result.info["cycles"] == 100 and result.info["cycles_capped"] is True
    assert result.message.startswith("more than 100 dependency cycles")


def test_layers_go_left_to_right_and_survive_cycles():
    graph = build_graph(spec("web -> api\napi -> db\nweb -> db\ndb -> api\nbatch -> queue"))
    columns = layers(graph)
    column_of = {name: i for i, column in enumerate(columns) for name in column}
    assert column_of["web"] == 0 and column_of["batch"] == 0
    # The cycle api -> db -> api is laid out along its walk; db -> api is the edge turned around.
    assert column_of["api"] == 1 and column_of["db"] == 2
    assert column_of["queue"] == 1


def test_drawing_has_a_box_and_label_per_node_coloured_by_kind_and_an_arrow_per_edge():
    svg = render_svg(spec("web [kind=frontend] -> api\napi -> db [kind=database]\napi -> api"), title="Shop & co")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert ">Shop &amp; co</text>" in svg
    for name in ("web", "api", "db"):
        assert f">{name}</text>" in svg
    assert svg.count('<polygon class="arrowhead"') == 3  # one arrowhead per edge, the self-loop too
    assert colour_of("database") in svg and colour_of("frontend") in svg
    assert sanitize_svg(svg) == svg  # the reference worker draws nothing the sanitizer has to remove


def test_two_hundred_nodes_keep_a_readable_font_and_fit_in_the_canvas():
    random.seed(3)
    lines = [
        f"service-{i} -> service-{j}" for i in range(200) for j in random.sample(range(i + 1, 201), k=min(2, 200 - i))
    ]
    svg = render_svg(spec("\n".join(lines)))
    width, height = (float(v) for v in re.search(r'viewBox="0 0 (\S+) (\S+)"', svg).groups())
    assert re.search(r'<svg[^>]* font-size="13"', svg)
    xs = [float(x) for x in re.findall(r'<rect x="([\d.]+)"', svg)]
    ys = [float(y) for y in re.findall(r'<rect x="[\d.]+" y="([\d.]+)"', svg)]
    assert len(xs) >= 201 and max(xs) < width and max(ys) < height
    assert svg.count("<title>") == 201 + 1  # one per node, one for the picture


def test_long_names_are_shortened_on_the_box_and_kept_whole_in_the_tooltip():
    name = "a-very-long-service-name-that-goes-on-and-on"
    svg = render_svg(spec(f"{name} -> db"))
    assert f"<title>{name}</title>" in svg
    assert ">a-very-long-service-</tspan>" in svg and ">name-that-goes-on-and…</tspan>" in svg


def test_a_failing_analysis_is_reported_as_an_error_never_as_success():
    job = {"graph_id": "g", "run_id": "r", "name": "x", "spec": {"nodes": [{"kind": "no name"}], "edges": []}}
    result = build_result(job)
    assert result["status"] == "error" and result["msg"].startswith("Analysis failed: KeyError")
    assert "svg" not in result
