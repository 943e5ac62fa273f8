// The link page's iframe snippet: the theme chosen with the radios ("The visitor's setting", Light,
// Dark) puts that theme's snippet, rendered by the server into each radio's data-snippet, into the
// textarea that "Copy snippet" copies. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";
  document.querySelectorAll("[data-embed-snippets]").forEach(function (block) {
    var field = block.querySelector("textarea");
    block.addEventListener("change", function (event) {
      var radio = event.target;
      if (field && radio.matches("input[type=radio][data-snippet]") && radio.checked) {
        field.value = radio.getAttribute("data-snippet");
      }
    });
  });
})();
