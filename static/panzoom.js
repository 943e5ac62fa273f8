// Pan and zoom for the dependency picture. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";
  document.querySelectorAll("[data-panzoom]").forEach(function (box) {
    var stage = box.querySelector(".panzoom-stage");
    var scale = 1, x = 0, y = 0, dragging = null;
    function apply() { stage.style.transform = "translate(" + x + "px," + y + "px) scale(" + scale + ")"; }
    function zoom(factor, cx, cy) {
      var next = Math.min(8, Math.max(0.1, scale * factor));
      // Keep the point under the cursor where it is.
      x = cx - (cx - x) * (next / scale);
      y = cy - (cy - y) * (next / scale);
      scale = next;
      apply();
    }
    box.addEventListener("wheel", function (event) {
      event.preventDefault();
      var rect = box.getBoundingClientRect();
      zoom(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });
    box.addEventListener("pointerdown", function (event) {
      dragging = { px: event.clientX, py: event.clientY, x: x, y: y };
      box.setPointerCapture(event.pointerId);
    });
    box.addEventListener("pointermove", function (event) {
      if (!dragging) return;
      x = dragging.x + event.clientX - dragging.px;
      y = dragging.y + event.clientY - dragging.py;
      apply();
    });
    box.addEventListener("pointerup", function () { dragging = null; });
    var section = box.closest("section") || document;
    section.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        var rect = box.getBoundingClientRect(), what = button.getAttribute("data-zoom");
        if (what === "reset") { scale = 1; x = 0; y = 0; apply(); return; }
        zoom(what === "in" ? 1.25 : 0.8, rect.width / 2, rect.height / 2);
      });
    });
    box.addEventListener("keydown", function (event) {
      var rect = box.getBoundingClientRect();
      if (event.key === "+" || event.key === "=") zoom(1.25, rect.width / 2, rect.height / 2);
      else if (event.key === "-") zoom(0.8, rect.width / 2, rect.height / 2);
    });
  });
})();
