/* Keeps every <time data-relative datetime="…"> fresh ("3 minutes ago", "in 6 days"), with the exact
 * UTC time in its title. The server writes the same words (maestro_web/presentation.py
 * relative_time, same rounding), so the first paint and every refresh agree. No inline script: CSP. */
(function () {
  "use strict";
  var UNITS = [[365 * 86400, "year"], [30 * 86400, "month"], [7 * 86400, "week"], [86400, "day"],
               [3600, "hour"], [60, "minute"]];

  function relative(ms, now) {
    var seconds = (ms - now) / 1000;
    var ahead = seconds > 0;
    var span = Math.abs(seconds);
    if (span < 45) { return ahead ? "in a few seconds" : "just now"; }
    var count = 1, unit = "minute";
    for (var i = 0; i < UNITS.length; i += 1) {
      if (span >= UNITS[i][0]) { count = Math.floor(span / UNITS[i][0]); unit = UNITS[i][1]; break; }
    }
    var words = count + " " + unit + (count === 1 ? "" : "s");
    return ahead ? "in " + words : words + " ago";
  }

  function exact(ms) {
    return new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function refresh() {
    var now = Date.now();
    Array.prototype.forEach.call(document.querySelectorAll("time[data-relative][datetime]"), function (node) {
      var ms = Date.parse(node.getAttribute("datetime"));
      if (isNaN(ms)) { return; }
      var text = relative(ms, now);
      if (node.textContent !== text) { node.textContent = text; }
      if (!node.getAttribute("title")) { node.setAttribute("title", exact(ms)); }
    });
  }

  window.maestroTime = { refresh: refresh, relative: relative };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
  setInterval(refresh, 30000);
}());
