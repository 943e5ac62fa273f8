"""Untrusted worker SVG: safe parsing and allow-list sanitizing, tested on their own (SPEC §5)."""

import re
import time

import pytest

from maestro_web.ingest.svg import SvgError, sanitize_svg

NS = 'xmlns="http://www.w3.org/2000/svg"'

BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1) if i > 1 else "&lol;") * 10}">' for i in range(1, 10))
    + f"]><svg {NS}>&lol9;</svg>"
)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "svg is empty"),
        ("   ", "svg is empty"),
        ("<svg", "svg is not well-formed XML"),
        ("not xml at all", "svg is not well-formed XML"),
        (BOMB, "svg must not contain a DOCTYPE or entity declarations"),
        (f'<!DOCTYPE svg SYSTEM "file:///etc/passwd"><svg {NS}/>', "DOCTYPE"),
        ('<html xmlns="http://www.w3.org/1999/xhtml"/>', "root element must be <svg>, got <html>"),
        ('<svg xmlns="http://example.com/not-svg"/>', "root element must be <svg>"),
    ],
)
def test_refusals_name_the_problem(text, message):
    with pytest.raises(SvgError, match=message):
        sanitize_svg(text)


def test_entity_bomb_is_refused_without_expanding_it():
    started = time.perf_counter()
    with pytest.raises(SvgError):
        sanitize_svg(BOMB)
    assert time.perf_counter() - started < 1  # refused at the DOCTYPE, never expanded


def test_drawing_survives_unchanged_in_meaning():
    source = (
        f'<svg {NS} viewBox="0 0 100 40" width="100" height="40"><defs><marker id="arrow" markerWidth="8" '
        'markerHeight="8" refX="8" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>'
        '<g class="node"><rect x="1" y="1" width="60" height="20" fill="#abc" style="stroke: #333; stroke-width: 1"/>'
        '<text x="5" y="15" font-size="12">api &amp; db</text><title>api</title></g>'
        '<line x1="0" y1="0" x2="9" y2="9" marker-end="url(#arrow)"/><use href="#arrow"/></svg>'
    )
    clean = sanitize_svg(source)
    assert clean.startswith(f"<svg {NS}")
    assert "ns0:" not in clean
    for kept in (
        'viewBox="0 0 100 40"',
        '<marker id="arrow"',
        'd="M0,0 L8,4 L0,8 z"',
        'style="stroke: #333; stroke-width: 1"',
        ">api &amp; db</text>",
        'marker-end="url(#arrow)"',
        'href="#arrow"',
        "<title>api</title>",
    ):
        assert kept in clean, kept


def test_svg_without_namespace_is_accepted_and_given_one():
    assert sanitize_svg('<svg><rect width="1" height="1"/></svg>').startswith(f"<svg {NS}")


@pytest.mark.parametrize(
    "hostile, gone",
    [
        (f'<svg {NS} onload="alert(1)"/>', "onload"),
        (f"<svg {NS}><script>alert(1)</script></svg>", "script"),
        (
            f'<svg {NS}><foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject></svg>',
            "foreignobject",
        ),
        (
            f'<svg {NS} xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="javascript:alert(1)"><rect/></a></svg>',
            "javascript",
        ),
        (f'<svg {NS}><use href="https://evil.example/s.svg#x"/></svg>', "evil.example"),
        (
            f'<svg {NS} xmlns:xlink="http://www.w3.org/1999/xlink"><use xlink:href="data:image/svg+xml,&lt;svg/&gt;"/></svg>',
            "data:",
        ),
        (f'<svg {NS}><image href="https://evil.example/track.png"/></svg>', "evil.example"),
        (f'<svg {NS}><rect style="fill: url(https://evil.example/x)"/></svg>', "evil.example"),
        (f'<svg {NS}><rect fill="url(https://evil.example/x)"/></svg>', "evil.example"),
        (f"<svg {NS}><style>@import url(https://evil.example/x.css);</style></svg>", "evil.example"),
        (f'<svg {NS}><animate attributeName="href" to="javascript:alert(1)"/></svg>', "javascript"),
        (f'<svg {NS}><set attributeName="onmouseover" to="alert(1)"/></svg>', "alert"),
        (f'<svg {NS}><rect ONCLICK="alert(1)"/></svg>', "alert"),
        (f'<svg {NS}><iframe xmlns="http://www.w3.org/1999/xhtml" src="https://evil.example"/></svg>', "evil.example"),
    ],
)
def test_nothing_executable_or_external_survives(hostile, gone):
    clean = sanitize_svg(hostile)
    assert gone not in clean.lower()
    assert clean.startswith("<svg")


def test_text_is_escaped_so_it_cannot_become_markup():
    clean = sanitize_svg(f"<svg {NS}><text>&lt;script&gt;alert(1)&lt;/script&gt;</text></svg>")
    assert "<script" not in clean and "&lt;script&gt;" in clean


TRANSLUCENT = '<g opacity="0.5"><rect/></g>'
OPAQUE = '<g opacity="1"><rect/></g>'
CLIPPED = '<rect clip-path="url(#c)"/>'


def _uses(target: str, times: int = 10) -> str:
    return f'<use href="#{target}"/>' * times


@pytest.mark.parametrize(
    "text, message",
    [
        (f'<svg {NS}><rect width="1" height="1" stroke="#000" stroke-width="1e12"/></svg>', "stroke-width holds 1e12"),
        (f'<svg {NS}><rect width="1" height="1" style="stroke-width: 10000000"/></svg>', "stroke-width holds 10000000"),
        (f'<svg {NS}><path d="M0,0 L2.5E+8,1"/></svg>', "d holds 2.5E+8"),
        (f'<svg {NS} viewBox="0 0 1e9 1e9"/>', "viewBox holds 1e9"),
        (f'<svg {NS}><g transform="scale(1000000)"/></svg>', "transform holds 1000000"),
        (
            f'<svg {NS}><defs><rect id="r" width="1" height="1"/><g id="a">{_uses("r")}</g><g id="b">{_uses("a")}</g>'
            f'<g id="c">{_uses("b")}</g></defs><use href="#c"/></svg>',
            "nests <use> 3 deep",
        ),
        (
            f'<svg {NS}><defs><g id="big">{"<rect/>" * 1000}</g></defs>{_uses("big", 300)}</svg>',
            "expands to more than 200,000",
        ),
        (f'<svg {NS}><g id="a"><use href="#a"/></g></svg>', "loop back to #a"),
        (f'<svg {NS} id="top"><use href="#top"/></svg>', "loop back to #top"),
        (
            f'<svg {NS}><clipPath id="p"><rect clip-path="url(#q)"/></clipPath><clipPath id="q"><rect clip-path="url(#p)"/>'
            '</clipPath><rect clip-path="url(#p)"/></svg>',
            "loop back",
        ),
        (f"<svg {NS}>{TRANSLUCENT * 257}</svg>", "257 layers"),
        (
            f'<svg {NS}><defs><g id="o" style="opacity: 0.5"><rect/></g></defs>{_uses("o", 257)}</svg>',
            "more than 256 layers",
        ),
    ],
)
def test_what_is_knowably_costly_to_draw_is_refused(text, message):
    with pytest.raises(SvgError, match=re.escape(message)):
        sanitize_svg(text)


@pytest.mark.parametrize(
    "text",
    [
        f'<svg {NS} viewBox="0 0 999999 40"><path d="M0,0 L999999.5,1e-9 l.0000001,3"/></svg>',  # big, not huge
        f'<svg {NS}><rect id="n1e5" fill="#1e2e3e" width="1" height="1"/></svg>',  # `1e5` that is not a number
        f'<svg {NS}><defs><rect id="r"/><g id="a">{_uses("r")}</g></defs>{_uses("a", 100)}</svg>',  # 2 levels of <use>
        f'<svg {NS}><clipPath id="c"><rect/></clipPath>{CLIPPED * 256}</svg>',
        f'<svg {NS}>{OPAQUE * 300}<use href="#missing"/></svg>',  # opaque groups draw no layer
    ],
)
def test_ordinary_references_sizes_and_groups_are_kept(text):
    assert sanitize_svg(text)
