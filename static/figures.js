/* Figure chips (templates/analytics/_figures.html): pressing an entry point or a kind lights its nodes
 * in the picture. A chip sends `picture:highlight` {nodes: [...]} (or {nodes: []} to clear) on the
 * document; this file also obeys that event, marking `g.node[data-node]` of every picture on the page
 * (`is-picked`, and `has-set` on the svg so the rest fades). Keyboard: chips are buttons. */
(function () {
  "use strict";
  if (window.maestroFigures) { return; }  // the figures may be swapped in again by live.js
  window.maestroFigures = true;

  function pictures() { return document.querySelectorAll("[data-panzoom] svg"); }

  function highlight(names) {
    var wanted = {};
    names.forEach(function (name) { wanted[name] = true; });
    Array.prototype.forEach.call(pictures(), function (svg) {
      var any = false;
      Array.prototype.forEach.call(svg.querySelectorAll("g.node[data-node]"), function (node) {
        var on = wanted[node.getAttribute("data-node")] === true;
        node.classList.toggle("is-picked", on);
        any = any || on;
      });
      svg.classList.toggle("has-set", any);
    });
  }

  function namesOf(chip) {
    var list = chip.getAttribute("data-highlight-nodes");
    if (list) {
      try { return JSON.parse(list).map(String); } catch (e) { return []; }
    }
    var kind = chip.getAttribute("data-highlight-kind");
    var names = [];
    Array.prototype.forEach.call(pictures(), function (svg) {
      Array.prototype.forEach.call(svg.querySelectorAll("g.node[data-node]"), function (node) {
        if (node.getAttribute("data-kind") === kind) { names.push(node.getAttribute("data-node")); }
      });
    });
    return names;
  }

  document.addEventListener("picture:highlight", function (event) {
    highlight((event.detail && event.detail.nodes) || []);
  });

  document.addEventListener("click", function (event) {
    var chip = event.target.closest ? event.target.closest(".chip[data-highlight-nodes], .chip[data-highlight-kind]") : null;
    if (!chip) { return; }
    var pressed = chip.getAttribute("aria-pressed") === "true";
    Array.prototype.forEach.call(document.querySelectorAll(".chip[aria-pressed]"), function (other) {
      other.setAttribute("aria-pressed", "false");
    });
    chip.setAttribute("aria-pressed", pressed ? "false" : "true");
    document.dispatchEvent(new CustomEvent("picture:highlight", { detail: { nodes: pressed ? [] : namesOf(chip) } }));
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.querySelector('.chip[aria-pressed="true"]')) {
      Array.prototype.forEach.call(document.querySelectorAll(".chip[aria-pressed]"), function (chip) {
        chip.setAttribute("aria-pressed", "false");
      });
      document.dispatchEvent(new CustomEvent("picture:highlight", { detail: { nodes: [] } }));
    }
  });

  document.addEventListener("picture:replaced", function () {
    var chip = document.querySelector('.chip[aria-pressed="true"]');
    if (chip) { highlight(namesOf(chip)); }
  });
}());
