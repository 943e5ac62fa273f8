/* The share and extend forms (progressive enhancement; no inline script: CSP).
 * - <div data-shown-by="NAME" data-shown-value="VALUE|checked"> is shown only while the control NAME of
 *   the same form has that value (or is ticked). Without this script every field shows and works. A part
 *   holding an error stays shown, so the server's question is never hidden.
 * - <p data-local-time-of="NAME"> says the UTC date typed into NAME in the visitor's own time zone. */
(function () {
  "use strict";

  function wanted(part) {
    var control = part.closest("form").elements.namedItem(part.dataset.shownBy);
    if (!control) { return true; }
    return part.dataset.shownValue === "checked" ? control.checked : control.value === part.dataset.shownValue;
  }

  function localTime(input) {
    var match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(input.value);
    if (!match) { return ""; }
    var when = new Date(Date.UTC(+match[1], +match[2] - 1, +match[3], +match[4], +match[5]));
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone";
    return "Your local time: " + when.toLocaleString(undefined, {
      weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
    }) + " (" + zone + ")";
  }

  function refresh(form) {
    form.querySelectorAll("[data-shown-by]").forEach(function (part) {
      part.hidden = !wanted(part) && !part.querySelector(".has-error");
    });
    form.querySelectorAll("[data-local-time-of]").forEach(function (note) {
      var input = form.elements.namedItem(note.dataset.localTimeOf);
      var text = input ? localTime(input) : "";
      note.textContent = text;
      note.hidden = !text;
    });
  }

  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector("[data-shown-by], [data-local-time-of]")) { return; }
    refresh(form);
    form.addEventListener("change", function () { refresh(form); });
    form.addEventListener("input", function () { refresh(form); });
  });
}());
