/* The spec editor (templates/graphs/form.html): a gutter of line numbers beside the textarea, the lines
 * the server reported marked (data-error-lines="3 7", from the form's line-numbered errors), and
 * "Try an example" filling a realistic spec. Plain textarea underneath: typing, undo, paste and
 * screen readers work as ever; the gutter is aria-hidden. No inline script (CSP). */
(function () {
  "use strict";

  function setUp(textarea) {
    var bad = {};
    (textarea.getAttribute("data-error-lines") || "").split(/\s+/).forEach(function (n) {
      if (/^\d+$/.test(n)) { bad[n] = true; }
    });
    var wrap = document.createElement("div");
    wrap.className = "spec-editor";
    var gutter = document.createElement("pre");
    gutter.className = "gutter";
    gutter.setAttribute("aria-hidden", "true");
    // Moving the textarea into the wrap blurs it: someone (or a test) already typing when this deferred
    // script arrives would see their next keys go nowhere. Give back the focus and the selection.
    var focused = document.activeElement === textarea;
    var start = textarea.selectionStart, end = textarea.selectionEnd, direction = textarea.selectionDirection;
    textarea.parentNode.insertBefore(wrap, textarea);
    wrap.appendChild(gutter);
    wrap.appendChild(textarea);
    if (focused) {
      textarea.focus();
      textarea.setSelectionRange(start, end, direction);
    }
    var shown = -1;

    function draw() {
      var count = textarea.value.split("\n").length;
      if (count === shown) { return; }
      shown = count;
      gutter.textContent = "";
      for (var i = 1; i <= Math.max(count, 1); i += 1) {
        var line = document.createElement("span");
        line.textContent = String(i);
        if (bad[i]) { line.className = "bad"; line.title = "The server found a problem on line " + i; }
        gutter.appendChild(line);  // each a block (style.css): no "\n" between them
      }
    }
    function follow() { gutter.scrollTop = textarea.scrollTop; }
    textarea.addEventListener("input", draw);
    textarea.addEventListener("scroll", follow);
    new ResizeObserver(function () { gutter.style.height = textarea.offsetHeight + "px"; follow(); }).observe(textarea);
    draw();
    return { redraw: function () { bad = {}; shown = -1; draw(); follow(); } };
  }

  var editors = {};
  Array.prototype.forEach.call(document.querySelectorAll("textarea[data-spec-editor]"), function (textarea) {
    editors[textarea.id] = setUp(textarea);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-spec-example]") : null;
    if (!button) { return; }
    var textarea = document.getElementById(button.getAttribute("aria-controls") || "spec");
    if (!textarea) { return; }
    textarea.value = button.getAttribute("data-spec-example");
    var name = textarea.form && textarea.form.elements.namedItem("name");
    if (name && !name.value.trim()) { name.value = button.getAttribute("data-example-name") || ""; }
    if (editors[textarea.id]) { editors[textarea.id].redraw(); }
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.focus();
    textarea.setSelectionRange(0, 0);
    textarea.scrollTop = 0;
  });
}());
