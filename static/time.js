/* Keeps every <time data-relative datetime="…"> fresh ("3 minutes ago", "in 7 days", "4 Mar 2027"), with the exact
 * UTC time in its title. The server writes the same words (maestro_web/presentation.py
 * relative_time, same rounding), so the first paint and every refresh agree. No inline script: CSP. */
(function () {
  "use strict";
  var FAR_DAYS = 30;  // further away, a time reads as its date
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function nearest(value) { return Math.floor(value + 0.5); }

  function dayText(ms) {
    var date = new Date(ms);
    return date.getUTCDate() + " " + MONTHS[date.getUTCMonth()] + " " + date.getUTCFullYear();
  }

  /* presentation.relative_time, word for word: the nearest whole unit, a unit that rounds up to the
   * next becomes it, the date beyond FAR_DAYS days. */
  function relative(ms, now) {
    var seconds = (ms - now) / 1000;
    var ahead = seconds > 0;
    var span = Math.abs(seconds);
    if (span < 45) { return ahead ? "in a few seconds" : "just now"; }
    var count = Math.max(1, nearest(span / 60)), unit = "minute";
    if (count >= 60) {
      count = nearest(span / 3600); unit = "hour";
      if (count >= 24) {
        count = nearest(span / 86400); unit = "day";
        if (count > FAR_DAYS) { return dayText(ms); }
      }
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
