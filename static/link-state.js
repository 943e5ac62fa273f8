/* A refusal page that may end (a paused share link): it asks the link's state every `data-poll`
 * seconds (GET data-state-url: one word, counts nothing) and reloads once the link opens again, so
 * the graph comes back by itself when its owner resumes the link. An open page that turned into this
 * refusal is followed by static/live.js instead (this file is not run inside a swapped-in <main>).
 */
(function () {
  "use strict";
  var watch = document.querySelector("[data-link-watch]");
  if (!watch || !window.fetch) { return; }
  var url = watch.getAttribute("data-state-url");
  var every = (parseInt(watch.getAttribute("data-poll") || "30", 10) || 30) * 1000;
  var timer = setInterval(function () {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { state: "gone" }; })
      .then(function (body) {
        if (body.state === "paused") { return; }
        clearInterval(timer);
        window.location.reload();  // open again, or ended for good: the reload shows which
      })
      .catch(function () { /* no answer: ask again next round */ });
  }, every);
}());
