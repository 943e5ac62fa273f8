/* The Reports page's buttons ask without leaving the page, so the live events of the new report arrive
   on the connection that is already open (a reload would start a new one and could miss the first). */
(function () {
  "use strict";
  if (!window.fetch || !window.FormData) { return; }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !/\/graphs\/[^/]+\/reports$/.test(form.getAttribute("action") || "")) { return; }
    event.preventDefault();
    var buttons = document.querySelectorAll(".report-buttons button");
    Array.prototype.forEach.call(buttons, function (button) { button.disabled = true; });
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin", redirect: "follow" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector('[data-live-region="reports"]');
        var own = document.querySelector('[data-live-region="reports"]');
        if (fresh && own) { own.innerHTML = fresh.innerHTML; }
        var flash = doc.querySelector(".flash-error");
        var old = document.querySelector("[data-report-flash]");
        if (old) { old.remove(); }
        if (flash && own) {
          var note = document.createElement("p");
          note.className = "flash flash-error";
          note.setAttribute("data-report-flash", "");
          note.setAttribute("role", "alert");
          note.textContent = flash.textContent.trim();
          own.parentNode.insertBefore(note, own);
        }
      })
      .catch(function () { form.submit(); })
      .then(function () { Array.prototype.forEach.call(buttons, function (button) { button.disabled = false; }); });
  });
})();
