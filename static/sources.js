/* The Sources page's add form: only the fields of the chosen kind are shown (no inline script). */
(function () {
  "use strict";
  var select = document.querySelector("[data-source-kind]");
  if (!select) { return; }
  function show() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-kind-only]"), function (part) {
      part.hidden = part.getAttribute("data-kind-only").split(" ").indexOf(select.value) < 0;
    });
  }
  select.addEventListener("change", show);
  show();
})();
