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

/* The Crawl button asks without leaving the page, so the live events of the crawl arrive on the
   connection that is already open (a reload would start a new one and could miss the first). */
(function () {
  "use strict";
  if (!window.fetch || !window.FormData) { return; }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !/\/sources\/[^/]+\/crawl$/.test(form.getAttribute("action") || "")) { return; }
    var line = form.closest("[data-source-id]");
    var id = line ? line.getAttribute("data-source-id") : null;
    event.preventDefault();
    var button = form.querySelector("button");
    if (button) { button.disabled = true; }
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin", redirect: "follow" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var flash = doc.querySelector(".flash-error");
        var own = id ? document.querySelector('[data-crawl-line="' + id + '"]') : null;
        var fresh = id ? doc.querySelector('[data-crawl-line="' + id + '"]') : null;
        if (own && fresh && (flash || !own.textContent.match(/Crawling|Complete|Partial|Failed/))) {
          own.innerHTML = fresh.innerHTML;  // the server's word: running, or why it could not start
        }
        if (flash && own) { own.textContent = flash.textContent.trim(); }
      })
      .catch(function () { form.submit(); })
      .then(function () { if (button) { button.disabled = false; } });
  });
})();
