"""axe-core, Deque's accessibility rule engine (npm, pinned), for the browser tests.

It is installed by npm into .cache/ on first use (tests/node_support.py) and reaches a page as a
same-origin script served by Playwright's router at AXE_PATH, so the app's strict CSP
(script-src 'self') stays on while it runs. The session fixture `axe_source` (conftest.py) holds
the script.
"""

from __future__ import annotations

from node_support import npm_package

AXE_CORE = "axe-core@4.14.1"
AXE_PATH = "/__axe-core.js"  # never served by the app: Playwright's router answers it

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').split('\\n').slice(0, 2).join(' '))}));
}"""


def axe_script() -> str:
    """The text of axe.min.js."""
    return (npm_package(AXE_CORE) / "node_modules" / "axe-core" / "axe.min.js").read_text()
