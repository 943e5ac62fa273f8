/* Discovery on the picture (SPEC §9, §11, §13), no inline script:
 *  - point at or tab to an edge (g.edge[data-source][data-target]) to see why it is there: the
 *    evidence of each origin (typed by hand, or a source's crawl), fetched once from data-evidence-url;
 *  - with data-added-nodes / data-added-edges (the picture page's ?since=<version>), what was added
 *    since that version is highlighted (class is-added); the removed ones are listed beside.
 * The picture may be swapped in later by live.js (`picture:replaced`): both are applied again.
 */
(function () {
  "use strict";
  var root = document.querySelector("[data-discovery]");
  if (!root) { return; }
  var tip = root.querySelector("[data-evidence-tip]");
  var evidence = null;   // {"a\u0000b": edge} once fetched
  var sources = {};
  var loading = null;

  function parse(name) {
    try { return JSON.parse(root.getAttribute(name) || "[]"); } catch (e) { return []; }
  }
  var addedNodes = parse("data-added-nodes");
  var addedEdges = parse("data-added-edges").map(function (pair) { return pair[0] + "\u0000" + pair[1]; });

  function load() {
    if (loading) { return loading; }
    loading = fetch(root.getAttribute("data-evidence-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { edges: [], sources: {} }; })
      .then(function (body) {
        evidence = {};
        sources = body.sources || {};
        (body.edges || []).forEach(function (edge) { evidence[edge.source + "\u0000" + edge.target] = edge; });
        return evidence;
      })
      .catch(function () { loading = null; return {}; });
    return loading;
  }

  function line(text, cls) {
    var item = document.createElement("li");
    if (cls) { item.className = cls; }
    item.textContent = text;
    return item;
  }

  function show(edgeEl, x, y) {
    var source = edgeEl.getAttribute("data-source"), target = edgeEl.getAttribute("data-target");
    load().then(function (found) {
      var edge = (found || {})[source + "\u0000" + target];
      tip.innerHTML = "";
      var head = document.createElement("strong");
      head.textContent = source + " → " + target;
      tip.appendChild(head);
      var list = document.createElement("ul");
      if (!edge) {
        list.appendChild(line("No evidence recorded."));
      } else {
        edge.origins.forEach(function (origin) {
          var who = origin.source === "hand" ? "Typed by hand" : "Found by “" + (sources[origin.source] || "a source") + "” (" + origin.confidence + ")";
          list.appendChild(line(who, "evidence-origin"));
          (origin.evidence || []).forEach(function (words) { list.appendChild(line(words, "evidence-item")); });
          if (typeof origin.calls === "number") {
            list.appendChild(line(origin.calls + " calls, p50 " + origin.p50_ms + " ms, p99 " + origin.p99_ms + " ms", "evidence-item"));
          }
        });
      }
      tip.appendChild(list);
      tip.hidden = false;  // placed next to the pointer (or the focused edge), inside the window
      var width = tip.offsetWidth, height = tip.offsetHeight;
      tip.style.left = Math.max(4, Math.min(x + 12, window.innerWidth - width - 8)) + "px";
      tip.style.top = Math.max(4, y + 12 + height > window.innerHeight ? y - height - 12 : y + 12) + "px";
    });
  }

  function hide() { tip.hidden = true; }

  function decorate() {
    var svg = document.querySelector("[data-panzoom] svg");
    if (!svg) { return; }
    svg.querySelectorAll("g.edge[data-source][data-target]").forEach(function (edge) {
      if (!edge.hasAttribute("tabindex")) { edge.setAttribute("tabindex", "0"); }
      // A focusable group needs a role for its name to count (axe: aria-label is prohibited on a generic <g>).
      edge.setAttribute("role", "img");
      edge.setAttribute("aria-label", "Dependency " + edge.getAttribute("data-source") + " → " + edge.getAttribute("data-target") + ": focus to see why");
      var key = edge.getAttribute("data-source") + "\u0000" + edge.getAttribute("data-target");
      edge.classList.toggle("is-added", addedEdges.indexOf(key) >= 0);
    });
    svg.querySelectorAll("g.node[data-node]").forEach(function (node) {
      node.classList.toggle("is-added", addedNodes.indexOf(node.getAttribute("data-node")) >= 0);
    });
    if (addedNodes.length || addedEdges.length) { svg.classList.add("has-added"); }
  }

  document.addEventListener("mouseover", function (event) {
    var edge = event.target instanceof Element ? event.target.closest("[data-panzoom] g.edge[data-source][data-target]") : null;
    if (edge) { show(edge, event.clientX, event.clientY); } else if (!tip.contains(event.target)) { hide(); }
  });
  document.addEventListener("focusin", function (event) {
    var edge = event.target instanceof Element ? event.target.closest("g.edge[data-source][data-target]") : null;
    if (edge) {
      var rect = edge.getBoundingClientRect();
      show(edge, rect.left + rect.width / 2, rect.top + rect.height / 2);
    } else { hide(); }
  });
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") { hide(); } });
  document.addEventListener("picture:replaced", function () { evidence = null; loading = null; decorate(); });
  decorate();
})();
