/* Live updates (SPEC §8): one WebSocket to the live server, pages updated in place.
 *
 * The page marks itself with a `[data-live]` element (its text is the aria-live "Live updates on/off"
 * status) that says where tickets come from and what kind of page this is:
 *   data-live-kind      graph (overview and picture pages), shares (link lists), public (share visitors)
 *   data-live-ticket-url   GET -> {ticket, url, channels, expires_at}; a page may also carry a first
 *                          ticket in data-live-ticket / data-live-url / data-live-channels / data-live-expires
 *   data-live-refresh-url  the page as it is now; `[data-live-region]` elements are swapped from it
 *   data-live-state-url, data-live-poll, data-live-link-expires   (public pages) the link's state in one
 *                          word, how often to ask it while no live event can arrive, and when the link
 *                          expires: an open page turns into the refusal without the live server too
 *   data-live-since     the event id the page was rendered from (shortly before its request began)
 * Reconnects with exponential backoff, subscribes with `since` = the last event id seen per channel, or
 * data-live-since before any (so nothing is lost between rendering and subscribing, nor across a
 * reconnect), and renews its ticket a minute before it expires.
 * No inline script anywhere: the CSP stays `script-src 'self'`.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-live]");
  if (!root) { return; }
  var indicator = root.querySelector("[data-live-indicator]") || root;
  var kind = root.getAttribute("data-live-kind") || "graph";
  // Read once: a public page may swap its whole <main> (and this element) for a refusal and back.
  var ticketUrl = root.getAttribute("data-live-ticket-url");
  var refreshUrl = root.getAttribute("data-live-refresh-url");

  var RENEW_BEFORE_MS = 60 * 1000;
  var MAX_BACKOFF_MS = 30 * 1000;
  var NO_WORKER_AFTER_MS = 60 * 1000;

  var ticket = null;          // {ticket, url, channels, expiresAt}
  var socket = null;
  var attempt = 0;
  var reconnectTimer = null;
  var renewTimer = null;
  var stopped = false;
  var lastIds = {};           // channel -> last event id seen
  var renderedSince = root.getAttribute("data-live-since") || null;  // until a channel has one
  var subscribed = {};        // channel -> true, for the current connection
  var everSubscribed = false;
  var liveOn = false;         // subscribed now: events arrive

  function setIndicator(on, text) {
    liveOn = on;
    var message = text || (on ? "Live updates on" : "Live updates off");
    if (indicator.textContent !== message) { indicator.textContent = message; }
    root.setAttribute("data-live-state", on ? "on" : "off");
  }

  // --- tickets -----------------------------------------------------------------------------------

  function embeddedTicket() {
    var value = root.getAttribute("data-live-ticket");
    if (!value) { return null; }
    root.removeAttribute("data-live-ticket");  // used once; renewals come from the ticket URL
    return {
      ticket: value,
      url: root.getAttribute("data-live-url"),
      channels: (root.getAttribute("data-live-channels") || "").split(" ").filter(Boolean),
      expiresAt: Date.parse(root.getAttribute("data-live-expires") || "") || (Date.now() + 5 * 60 * 1000)
    };
  }

  function fetchTicket() {
    var first = embeddedTicket();
    if (first && first.expiresAt - Date.now() > RENEW_BEFORE_MS) { return Promise.resolve(first); }
    return fetch(ticketUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.status === 404 || response.status === 410) {
          var error = new Error("ticket refused");
          error.final = true;
          throw error;
        }
        if (!response.ok) { throw new Error("ticket " + response.status); }
        return response.json();
      })
      .then(function (body) {
        return { ticket: body.ticket, url: body.url, channels: body.channels, expiresAt: Date.parse(body.expires_at) };
      });
  }

  function scheduleRenewal() {
    clearTimeout(renewTimer);
    var wait = Math.max(5000, ticket.expiresAt - Date.now() - RENEW_BEFORE_MS);
    renewTimer = setTimeout(function () {
      fetchTicket().then(function (fresh) {
        ticket = fresh;
        if (socket && socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify({ type: "hello", ticket: ticket.ticket }));
        }
        scheduleRenewal();
      }).catch(onTicketFailure);
    }, wait);
  }

  function onTicketFailure(error) {
    if (error && error.final && kind === "public") {
      // The link may have stopped: the page checks it (and shows the refusal, or tries again).
      handlers.accessLost(null);
      return;
    }
    if (error && error.final) {
      // Logged out, access lost, or the link stopped: nothing to follow any more.
      stop();
      handlers.accessLost(null);
      return;
    }
    scheduleReconnect();
  }

  // --- the connection ----------------------------------------------------------------------------

  function connect() {
    clearTimeout(reconnectTimer);
    if (stopped) { return; }
    var ready = ticket && ticket.expiresAt - Date.now() > RENEW_BEFORE_MS ? Promise.resolve(ticket) : fetchTicket();
    ready.then(function (fresh) {
      ticket = fresh;
      open();
    }).catch(onTicketFailure);
  }

  function open() {
    var ws;
    try {
      ws = new WebSocket(ticket.url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    subscribed = {};
    ws.onopen = function () { ws.send(JSON.stringify({ type: "hello", ticket: ticket.ticket })); };
    ws.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      onFrame(ws, frame);
    };
    ws.onclose = function (event) {
      if (socket !== ws) { return; }
      socket = null;
      setIndicator(false);
      if (event.code === 4401 || event.code === 4403) { ticket = null; }  // a new ticket, or the answer why not
      scheduleReconnect();
    };
    ws.onerror = function () { /* onclose follows and decides */ };
  }

  function scheduleReconnect() {
    if (stopped) { return; }
    clearTimeout(reconnectTimer);
    setIndicator(false);
    var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, attempt));
    delay = delay / 2 + Math.random() * delay / 2;  // jitter: a restarted live server is not hit all at once
    attempt += 1;
    reconnectTimer = setTimeout(connect, delay);
  }

  function stop() {
    stopped = true;
    clearTimeout(reconnectTimer);
    clearTimeout(renewTimer);
    if (socket) {
      var ws = socket;
      socket = null;
      ws.close();
    }
    setIndicator(false);
  }

  function onFrame(ws, frame) {
    if (frame.type === "welcome") {
      (ticket.channels || frame.channels || []).forEach(function (channel) {
        if (subscribed[channel]) { return; }
        subscribed[channel] = true;
        var since = Object.prototype.hasOwnProperty.call(lastIds, channel) ? lastIds[channel] : renderedSince;
        ws.send(JSON.stringify({ type: "subscribe", channel: channel, since: since }));
      });
      scheduleRenewal();
    } else if (frame.type === "subscribed") {
      // "on" only once a channel is really followed: a welcome alone promises nothing.
      attempt = 0;
      setIndicator(true);
      if (!everSubscribed) {
        everSubscribed = true;
        handlers.firstSubscribed();
      }
    } else if (frame.type === "event") {
      lastIds[frame.channel] = frame.id;
      handlers.event(frame.channel, frame.event, frame.data || {});
    } else if (frame.type === "unsubscribed" || (frame.type === "error" && frame.code === 403)) {
      delete subscribed[frame.channel];
      if (!Object.keys(subscribed).length) { setIndicator(false); }
      handlers.accessLost(frame.channel);
    }
  }

  // --- swapping parts of the page ----------------------------------------------------------------

  function refresh() {
    if (kind === "public") { return check(); }
    var url = refreshUrl;
    if (!url) { return Promise.resolve(); }
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          if (!response.ok) { return; }
          swapRegions(doc);
        });
      })
      .catch(function () { /* the page stays as it is; the next event tries again */ });
  }

  function swapRegions(doc) {
    var regions = document.querySelectorAll("[data-live-region]");
    Array.prototype.forEach.call(regions, function (region) {
      var name = region.getAttribute("data-live-region");
      var fresh = doc.querySelector('[data-live-region="' + name + '"]');
      if (!fresh || fresh.innerHTML === region.innerHTML) { return; }
      region.innerHTML = fresh.innerHTML;
      if (region.hasAttribute("data-live-picture")) {
        // The picture viewer (panzoom.js) listens for this to set itself up on the new picture.
        region.dispatchEvent(new CustomEvent("picture:replaced", { bubbles: true }));
        // "Graph created, the worker will draw it shortly" has come true: the banner goes.
        if (region.querySelector("[data-viewer]")) {
          Array.prototype.forEach.call(document.querySelectorAll("[data-until-drawn]"), function (flash) {
            flash.parentNode.removeChild(flash);
          });
        }
      }
    });
  }

  // --- a public page follows its link: live events, else a state check every `poll` s, and its expiry --

  var refused = null;         // null while the graph is shown; "paused" or "final" while a refusal is
  var checking = null;
  var stateUrl = root.getAttribute("data-live-state-url");
  var pollMs = (parseInt(root.getAttribute("data-live-poll") || "30", 10) || 30) * 1000;
  var linkExpires = Date.parse(root.getAttribute("data-live-link-expires") || "") || null;
  var expiryTimer = null;
  var pollTimer = null;
  var REFUSED = { 401: true, 403: true, 404: true, 410: true };

  // Fetch the page as it is now (the refresh URL carries the receipt of this page's counted view, so
  // it counts nothing): swap its regions in, or show the refusal a reload would show, or come back.
  // Resolves to "shown", "paused", "final" or "unknown" (the server could not say: nothing changes).
  function check() {
    if (checking) { return checking; }
    checking = fetch(refreshUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          if (response.ok) {
            if (refused) { comeBack(doc); } else { swapRegions(doc); }
            var fresh = doc.querySelector("[data-live-link-expires]");
            if (fresh) { setExpiry(Date.parse(fresh.getAttribute("data-live-link-expires"))); }
            return "shown";
          }
          if (!REFUSED[response.status]) { return "unknown"; }
          // The server marks a refusal that may end (paused) for watching; every other one is final.
          var final = !doc.querySelector("[data-link-watch]");
          showRefusal(doc, final);
          return final ? "final" : "paused";
        });
      })
      .catch(function () { return "unknown"; })
      .then(function (state) { checking = null; return state; });
    return checking;
  }

  function showRefusal(doc, final) {
    var main = document.querySelector("main");
    var fresh = doc.querySelector("main");
    if (!main || !fresh) { return; }
    refused = final ? "final" : "paused";
    main.innerHTML = fresh.innerHTML;
    main.setAttribute("data-live-refused", refused);
    var title = doc.querySelector("title");
    if (title) { document.title = title.textContent; }
    if (final) {
      stop();
      clearTimeout(expiryTimer);
      clearInterval(pollTimer);
    }
  }

  // A paused link was resumed: the page as it is now replaces the refusal, with no reload.
  function comeBack(doc) {
    var main = document.querySelector("main");
    var fresh = doc.querySelector("main");
    if (!main || !fresh) { return; }
    refused = null;
    main.innerHTML = fresh.innerHTML;
    main.removeAttribute("data-live-refused");
    var title = doc.querySelector("title");
    if (title) { document.title = title.textContent; }
    root = main.querySelector("[data-live]") || root;
    indicator = root.querySelector("[data-live-indicator]") || root;
    root.removeAttribute("data-live-ticket");  // this page keeps its own tickets
    setIndicator(liveOn);
    var picture = main.querySelector("[data-live-picture]");
    if (picture) { picture.dispatchEvent(new CustomEvent("picture:replaced", { bubbles: true })); }
    if (stopped) {
      stopped = false;
      attempt = 0;
      ticket = null;
      connect();
    }
  }

  // The subscription ended or was refused, or no ticket came: check the link; while it may still be
  // watched (shown or paused), a fresh ticket and a new connection (a ticket from before a pause was
  // cut off by the live server).
  function recheck() {
    setIndicator(false);
    check().then(function (state) {
      if (state === "final") { return; }
      ticket = null;
      if (socket) {
        var ws = socket;
        socket = null;
        ws.close();
      }
      if (stopped) { stopped = false; }
      scheduleReconnect();
    });
  }

  function poll() {
    if (refused === "final" || (liveOn && !refused) || !stateUrl) { return; }
    fetch(stateUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { state: "gone" }; })
      .then(function (body) {
        if (body.expires_at) { setExpiry(Date.parse(body.expires_at)); }
        var same = refused ? body.state === "paused"
          : body.state === "active" || body.state === "used up";  // an open page is one of the views it allowed
        if (!same) { check(); }
      })
      .catch(function () { /* no answer: the next round asks again */ });
  }

  function setExpiry(at) {
    if (!at || (at === linkExpires && expiryTimer)) { return; }
    linkExpires = at;
    clearTimeout(expiryTimer);
    armExpiry();
  }

  function armExpiry() {
    if (!linkExpires) { return; }
    var wait = Math.min(Math.max(linkExpires - Date.now(), 0), 0x7fffffff);  // setTimeout's limit: ~24 days
    expiryTimer = setTimeout(function () {
      if (Date.now() < linkExpires) { armExpiry(); return; }
      atExpiry(0);
    }, wait);
  }

  function atExpiry(tries) {
    check().then(function (state) {
      // The server's clock may be a moment behind this one: ask again shortly.
      if ((state === "shown" || state === "unknown") && tries < 10 && Date.now() >= linkExpires) {
        expiryTimer = setTimeout(function () { atExpiry(tries + 1); }, 1000);
      }
    });
  }

  // --- what each kind of page does with events ---------------------------------------------------

  var run = {
    line: document.querySelector("[data-live-run]"),
    text: document.querySelector("[data-live-run-text]"),
    age: document.querySelector("[data-live-run-age]"),
    progress: document.querySelector("[data-live-progress]"),
    noWorker: document.querySelector("[data-live-no-worker]"),
    state: root.getAttribute("data-live-run-state") || "",
    queuedAt: Date.parse(root.getAttribute("data-live-queued-at") || "") || null,
    canWrite: root.getAttribute("data-live-can-write") === "1",
    ticker: null
  };

  function ago(ms) {
    var seconds = Math.max(0, Math.round(ms / 1000));
    if (seconds < 60) { return seconds + " s ago"; }
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) { return minutes + " min " + (seconds % 60) + " s ago"; }
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min ago";
  }

  function tick() {
    if (!run.line) { return; }
    var waiting = run.state === "queued" && run.queuedAt;
    if (run.age) { run.age.textContent = waiting ? "queued " + ago(Date.now() - run.queuedAt) : ""; }
    if (run.noWorker) {
      run.noWorker.hidden = !(waiting && run.canWrite && Date.now() - run.queuedAt >= NO_WORKER_AFTER_MS);
    }
  }

  function showRun(state, text, percent) {
    if (!run.line) { return; }
    run.state = state;
    run.line.hidden = !text;
    if (run.text && run.text.textContent !== text) { run.text.textContent = text || ""; }
    if (run.progress) {
      run.progress.hidden = typeof percent !== "number";
      if (typeof percent === "number") { run.progress.value = percent; }
    }
    tick();
  }

  // The plain status words of maestro_web/presentation.py, rendered once by base.html.
  var STATUS_WORDS = (function () {
    try { return JSON.parse(document.body.getAttribute("data-status-words") || "{}"); } catch (e) { return {}; }
  }());

  var PHASES = { analysing: "analysing the dependencies", drawing: "drawing the picture", saving: "saving the result" };

  // A crawl of one of the graph's sources (SPEC §11), shown on the Sources page's line of that source.
  function showCrawl(name, data) {
    var id = String(data.source || "").replace(/["\\]/g, "");
    var text;
    if (name === "discovery.started") {
      text = "Crawling: starting…";
    } else if (name === "discovery.progress") {
      text = "Crawling: " + String(data.phase || "working") + (typeof data.percent === "number" ? " (" + data.percent + " %)" : "");
      if (typeof data.nodes === "number") { text += ", " + data.nodes + " nodes and " + data.edges + " dependencies found"; }
      text += ".";
    } else if (name === "discovery.finished") {
      text = (data.status === "partial" ? "Partial: " : "Complete: ") + data.added + " added, " + data.removed +
        " removed, " + data.unchanged + " unchanged.";
    } else {
      text = "Failed: " + String(data.message || "the crawl failed.");
    }
    setText('[data-crawl-line="' + id + '"]', text);
    Array.prototype.forEach.call(document.querySelectorAll('[data-crawl-progress="' + id + '"]'), function (bar) {
      var done = name === "discovery.finished" || name === "discovery.failed";
      bar.hidden = done;
      if (!done && typeof data.percent === "number") { bar.value = data.percent; }
    });
    if (name === "discovery.finished" || name === "discovery.failed") { refresh(); }
  }

  // A report of this graph (SPEC §12) on the user's own channel, shown on the Reports page's row of it.
  function showReport(name, data) {
    var id = String(data.report || "").replace(/["\\]/g, "");
    var line = document.querySelector('[data-report-line="' + id + '"]');
    if (!line) { refresh(); return; }  // asked for from another tab: the list shows it
    if (name === "report.progress") {
      var bar = line.querySelector("[data-report-progress]");
      if (bar && typeof data.percent === "number") { bar.value = data.percent; }
      var badge = line.querySelector("[data-report-status]");
      if (badge) { badge.textContent = "Being made: " + String(data.phase || "working") + "…"; }
    } else if (name === "report.finished" || name === "report.failed") {
      refresh();  // the row from the server: Ready with its download link, or Failed and why
    }
  }

  var graphHandlers = {
    event: function (channel, name, data) {
      if (channel.indexOf("user:") === 0 && name.indexOf("report.") === 0) {
        var graph = root.getAttribute("data-live-graph");
        if (graph && data.graph === graph) { showReport(name, data); }  // only the Reports page names its graph
        return;
      }
      if (channel.indexOf("graph:") !== 0) { return; }
      if (name.indexOf("discovery.") === 0) {
        showCrawl(name, data);
      } else if (name === "run.queued") {
        run.queuedAt = Date.parse(data.queued_at || "") || Date.now();
        showRun("queued", "Queued for the analytics worker.");
        refresh();
      } else if (name === "run.claimed") {
        showRun("claimed", "The analytics worker is drawing this graph.", 0);
      } else if (name === "run.progress") {
        if (run.state === "finished" || run.state === "failed") { return; }  // a late word about a finished run
        var phase = PHASES[data.phase] || String(data.phase || "working");
        var percent = typeof data.percent === "number" ? data.percent : undefined;
        showRun("claimed", "The analytics worker is " + phase + (percent !== undefined ? " (" + percent + " %)." : "."), percent);
      } else if (name === "run.finished") {
        showRun("finished", data.status === "warning" ? "Drawn, with warnings." : "Drawn.");
        refresh();
      } else if (name === "run.failed") {
        showRun("failed", "The analysis failed" + (data.message ? ": " + data.message : "."));
        refresh();
      }
    },
    firstSubscribed: function () {
      // Anything that happened between rendering this page and subscribing is shown now.
      if (run.state === "queued" || run.state === "claimed") { refresh(); }
      else if (document.querySelector('[data-crawl-status="running"]')) { refresh(); }  // a crawl may have ended meanwhile
      else if (document.querySelector('[data-report-status="running"]')) { refresh(); }  // so may a report
    },
    accessLost: function (channel) {
      if (!channel || channel.indexOf("graph:") === 0) {
        stop();
        setIndicator(false, "Live updates off: you no longer have access to this graph's updates.");
      }
    }
  };

  function setText(selector, text) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), function (node) { node.textContent = text; });
  }

  var sharesHandlers = {
    event: function (channel, name, data) {
      if (!data.link) { return; }
      var id = String(data.link).replace(/["\\]/g, "");
      if (name === "share.viewed") {
        Array.prototype.forEach.call(document.querySelectorAll('[data-link-views="' + id + '"]'), function (node) {
          var max = node.getAttribute("data-max-views");
          node.textContent = String(data.views) + (max ? node.getAttribute("data-max-separator") + max : "");
        });
        if (data.last_viewed_at) {
          var when = new Date(data.last_viewed_at);
          var exact = when.toISOString().slice(0, 16).replace("T", " ") + " UTC";
          Array.prototype.forEach.call(document.querySelectorAll('[data-link-last-viewed="' + id + '"]'), function (node) {
            node.innerHTML = "";
            var time = document.createElement("time");
            time.setAttribute("datetime", data.last_viewed_at);
            time.setAttribute("title", exact);
            time.setAttribute("data-relative", "");
            time.textContent = "just now";  // static/time.js keeps it fresh
            node.appendChild(time);
          });
        }
      } else if (name === "share.changed") {
        Array.prototype.forEach.call(document.querySelectorAll('[data-link-status="' + id + '"]'), function (node) {
          node.innerHTML = "";
          var badge = document.createElement("span");
          var key = String(data.status);
          badge.className = "badge badge-" + (STATUS_WORDS[key] ? key.replace(/ /g, "_") : "unknown");
          badge.setAttribute("data-status", STATUS_WORDS[key] ? key.replace(/ /g, "_") : "unknown");
          badge.textContent = STATUS_WORDS[key] || "Unknown";  // never the internal word
          // The words of the state come with the event (share_rules.STATE_REASONS), as templates/_status.html
          // link_badge renders them: the badge's title, and beside a "Stopped" badge the reason itself.
          if (data.reason) { badge.setAttribute("title", String(data.reason)); }
          node.appendChild(badge);
          if (key === "stopped" && data.reason) {
            var reason = document.createElement("small");
            reason.className = "muted link-reason";
            reason.textContent = String(data.reason);
            node.appendChild(document.createTextNode(" "));
            node.appendChild(reason);
          }
        });
        refresh();  // the buttons (pause / resume) follow the new state
      }
    },
    firstSubscribed: function () {},
    accessLost: function () { stop(); }
  };

  var publicHandlers = {
    event: function (channel, name) {
      if (name === "run.finished" || name === "share.changed") { check(); }
    },
    firstSubscribed: function () {},
    accessLost: function () { recheck(); }
  };

  var handlers = kind === "shares" ? sharesHandlers : kind === "public" ? publicHandlers : graphHandlers;

  if (run.line) {
    if (run.state === "queued") { showRun("queued", "Queued for the analytics worker."); }
    else if (run.state === "claimed") { showRun("claimed", "The analytics worker is drawing this graph."); }
    run.ticker = setInterval(tick, 1000);
  }

  if (kind === "public" && window.fetch) {
    pollTimer = setInterval(poll, pollMs);
    armExpiry();
  }

  if (!("WebSocket" in window) || !window.fetch) {
    setIndicator(false);
    return;
  }
  setIndicator(false, "Live updates off (connecting…)");
  connect();
})();
