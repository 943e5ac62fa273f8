"""What each figure of a graph means, in plain words: the one home of that wording.

The graph page (templates/analytics/_figures.html, through presenters.page_fields) and the report
documents (maestro_web/reports/documents.py) print the same sentences, so a reader of the PDF is
told what "Density" means in the words the page uses. Pure data: no Flask, no database.
"""

from __future__ import annotations

# `info` key (as the worker posts it, SPEC §6) -> label, one-line hint; in the order pages show them.
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("nodes", "Nodes", "Boxes in the picture: services, databases, queues…"),
    ("edges", "Edges", "Arrows: one for each “source -> target” dependency."),
    (
        "density",
        "Density",
        "How tangled it is: edges divided by the most edges possible (0 = none, 1 = everything uses everything).",
    ),
    ("max_depth", "Max depth", "The longest shortest chain from an entry point down to a node, in steps."),
    ("cycles", "Cycles", "Loops where a node ends up depending on itself; 0 is what you want."),
    ("components", "Components", "Separate groups with no arrow between them; 1 means everything is connected."),
)

# The lists under the figures. The page adds what its chips do ("Press one to…"); a document does not.
ENTRY_POINTS_HINT = "Nodes nothing depends on: where requests come in."
KINDS_HINT = "What each box is (set with “name [kind=database]”)."
DEPTHS_HINT = "How many nodes sit 0, 1, 2… steps from an entry point."

# label -> hint, as the page's template looks them up.
HINTS: dict[str, str] = {
    **{label: hint for _, label, hint in FIGURES},
    "Entry points": ENTRY_POINTS_HINT,
    "Kinds": KINDS_HINT,
    "Nodes per depth": DEPTHS_HINT,
}
