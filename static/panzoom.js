// The picture viewer (SPEC §9): opens fitted and centred in a box sized to the picture; Fit, 100 %,
// zoom buttons, the wheel, drag and pinch (Pointer Events), arrow keys; pointing at or focusing a
// node lights up its edges and neighbours; Full screen opens it at a size where labels can be read.
// A picture swapped in later by live.js (a `picture:replaced` event) gets its own viewer, which keeps
// the visitor's zoom and position when the new picture allows it. No inline script: the CSP forbids it.
(function () {
  "use strict";
  var MIN_SCALE = 0.02, MAX_SCALE = 8, STEP = 1.25, PAN_STEP = 60;
  var MAX_FOCUSABLE_NODES = 400; // beyond this, tabbing through every box would trap keyboard users
  var READABLE_LABEL_PX = 10; // full screen opens with labels at least this tall on the screen (CSS px)
  var NARROW = 600; // the page's phone layout (style.css), where the inline box is made taller

  function clamp(value, low, high) { return Math.min(high, Math.max(low, value)); }

  function naturalSize(svg) {
    var box = svg.viewBox && svg.viewBox.baseVal;
    if (box && box.width > 0 && box.height > 0) { return { w: box.width, h: box.height }; }
    return { w: parseFloat(svg.getAttribute("width")) || 300, h: parseFloat(svg.getAttribute("height")) || 150 };
  }

  function Viewer(box) {
    this.box = box;
    this.stage = box.querySelector(".panzoom-stage");
    this.svg = this.stage ? this.stage.querySelector("svg") : null;
    this.section = box.closest("[data-viewer]") || box.parentNode;
    // The element that goes full screen and remembers the view: the live region around the picture
    // when there is one, so a redraw (which replaces the section) neither leaves full screen nor loses it.
    this.host = box.closest("[data-live-picture]") || this.section;
    this.level = this.section.querySelector("[data-zoom-level]");
    this.embed = !!box.closest(".embed");
    this.scale = 1; this.x = 0; this.y = 0; this.fitted = true;
    this.pointers = new Map(); this.drag = null; this.pinch = null; this.lit = []; this.pressing = false;
    box.__viewer = this;
    if (!this.svg) { return; }
    this.size = naturalSize(this.svg);
    this.labelPx = labelSize(this.svg);
    this.svg.style.width = this.size.w + "px";
    this.svg.style.height = this.size.h + "px";
    this.svg.setAttribute("focusable", "false");
    this.bind();
    this.index();
    this.sizeBox();
    this.showFullscreenState();
    this.restore(this.host.__pictureView);
    // A scroll bar that appears once the page grows narrows the box: a fitted picture follows.
    if (window.ResizeObserver) {
      var self = this, width = box.clientWidth;
      new ResizeObserver(function () {
        if (box.clientWidth !== width) { width = box.clientWidth; if (self.fitted) { self.fit(); } }
      }).observe(box);
    }
  }

  // The box takes the picture's aspect within the page: the whole width, and the height the picture
  // needs at that width (never more than 3/4 of the window, never less than a usable strip; on a
  // phone a third of the window, room to pinch). In an iframe (the embed page) it fills the rest of
  // the frame instead; in full screen the stylesheet gives it the rest of the screen.
  Viewer.prototype.sizeBox = function () {
    var height;
    if (this.inFullscreen()) {
      this.box.style.height = "";
      return;
    }
    if (this.embed) {
      var top = this.box.getBoundingClientRect().top + window.scrollY;
      height = Math.max(160, window.innerHeight - top - 12);
    } else {
      var width = this.box.clientWidth || 300;
      var tallest = Math.max(240, window.innerHeight * 0.75);
      var scale = Math.min(1, width / this.size.w, tallest / this.size.h);
      var least = window.innerWidth <= NARROW ? Math.max(160, Math.round(window.innerHeight * 0.35)) : 160;
      height = Math.max(least, Math.ceil(this.size.h * scale));
    }
    // The style's height may include the border (border-box): add it, so the inside is `height`.
    this.box.style.height = (height + this.box.offsetHeight - this.box.clientHeight) + "px";
  };

  Viewer.prototype.apply = function () {
    // Whole pixels: a picture at a fractional offset shows seams of its edge along the box.
    this.x = Math.round(this.x); this.y = Math.round(this.y);
    this.stage.style.transform = "translate(" + this.x + "px," + this.y + "px) scale(" + this.scale + ")";
    this.box.setAttribute("data-scale", this.scale.toFixed(4));
    this.box.setAttribute("data-fitted", this.fitted ? "1" : "0");
    if (this.level) { this.level.textContent = Math.round(this.scale * 100) + " %"; }
    // What a redraw or leaving full screen comes back to: the scale and the picture's point at the centre.
    var c = this.centre();
    this.host.__pictureView = { fitted: this.fitted, scale: this.scale, fullscreen: this.inFullscreen(),
                                cx: (c.x - this.x) / this.scale, cy: (c.y - this.y) / this.scale };
  };

  Viewer.prototype.fitScale = function () {
    return Math.min(this.box.clientWidth / this.size.w, this.box.clientHeight / this.size.h);
  };

  // Put the picture's point (px, py) at the box's centre, at `scale`.
  Viewer.prototype.viewAround = function (scale, px, py) {
    var c = this.centre();
    this.scale = clamp(scale, MIN_SCALE, MAX_SCALE);
    this.x = c.x - px * this.scale;
    this.y = c.y - py * this.scale;
    this.fitted = false;
    this.apply();
  };

  // The scale at which labels are READABLE_LABEL_PX on the screen.
  Viewer.prototype.readableScale = function () { return READABLE_LABEL_PX / this.labelPx; };

  // Full screen opens the picture readable: fitted if that is readable already (up to 200 %), else at
  // the readable scale from its top left (the title, the legend and the entry points), centred along
  // an axis that fits.
  Viewer.prototype.openReadable = function () {
    var width = this.box.clientWidth, height = this.box.clientHeight, margin = 12;
    var fit = this.fitScale(), readable = this.readableScale();
    if (fit >= readable) {
      this.scale = clamp(Math.min(fit, 2), MIN_SCALE, MAX_SCALE);
    } else {
      this.scale = clamp(readable, MIN_SCALE, MAX_SCALE);
    }
    var w = this.size.w * this.scale, h = this.size.h * this.scale;
    this.x = w <= width ? (width - w) / 2 : margin;
    this.y = h <= height ? (height - h) / 2 : margin;
    this.fitted = false;
    this.apply();
  };

  // A remembered view (a redraw, or back from full screen) when the picture allows it: a fitted view
  // fits; a zoomed one keeps its scale and the point at the centre (kept inside the picture), unless
  // the new picture would then be smaller than fitted; else the fresh opening.
  Viewer.prototype.restore = function (view) {
    if (view && view.fullscreen === this.inFullscreen() && !view.fitted && view.scale >= this.fitScale()) {
      this.viewAround(view.scale, clamp(view.cx, 0, this.size.w), clamp(view.cy, 0, this.size.h));
    } else if (this.inFullscreen() && !(view && view.fullscreen && view.fitted)) {
      this.openReadable();
    } else {
      this.fit();
    }
  };

  Viewer.prototype.inFullscreen = function () { return this.host.classList.contains("is-fullscreen"); };

  Viewer.prototype.showFullscreenState = function () {
    var on = this.inFullscreen();
    this.section.querySelectorAll("[data-fullscreen-toggle]").forEach(function (button) {
      button.textContent = on ? "Exit full screen" : "Full screen";
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
  };

  Viewer.prototype.fit = function () {
    var width = this.box.clientWidth, height = this.box.clientHeight;
    this.scale = clamp(Math.min(width / this.size.w, height / this.size.h, this.embed ? 2 : 1), MIN_SCALE, MAX_SCALE);
    this.x = (width - this.size.w * this.scale) / 2;
    this.y = (height - this.size.h * this.scale) / 2;
    this.fitted = true;
    this.apply();
  };

  Viewer.prototype.zoomTo = function (scale, cx, cy) {
    var next = clamp(scale, MIN_SCALE, MAX_SCALE);
    // Keep the picture's point under (cx, cy) where it is.
    this.x = cx - (cx - this.x) * (next / this.scale);
    this.y = cy - (cy - this.y) * (next / this.scale);
    this.scale = next;
    this.fitted = false;
    this.apply();
  };

  Viewer.prototype.centre = function () { return { x: this.box.clientWidth / 2, y: this.box.clientHeight / 2 }; };

  Viewer.prototype.panBy = function (dx, dy) {
    this.x += dx; this.y += dy; this.fitted = false; this.apply();
  };

  Viewer.prototype.local = function (event) {
    var rect = this.box.getBoundingClientRect();
    return { x: event.clientX - rect.left - this.box.clientLeft, y: event.clientY - rect.top - this.box.clientTop };
  };

  Viewer.prototype.bind = function () {
    var self = this, box = this.box;
    box.addEventListener("wheel", function (event) {
      event.preventDefault();
      var at = self.local(event);
      // deltaY is in pixels, lines (Firefox with a mouse wheel) or pages: bring it to pixels.
      var delta = event.deltaY * (event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? window.innerHeight : 1);
      self.zoomTo(self.scale * Math.exp(clamp(-delta, -300, 300) * 0.002), at.x, at.y);
    }, { passive: false });

    // A press on the picture focuses the box (keys then pan), never the <svg>, and starts no text
    // selection; a press on a node lets the node take focus (its edges light up).
    box.addEventListener("mousedown", function (event) {
      if (event.target.closest && event.target.closest("g.node[tabindex]")) { return; }
      event.preventDefault();
      box.focus({ preventScroll: true });
    });
    box.addEventListener("pointerdown", function (event) {
      if (event.pointerType === "mouse" && event.button !== 0) { return; }
      self.pressing = true;
      self.pointers.set(event.pointerId, self.local(event));
      try { box.setPointerCapture(event.pointerId); } catch (e) { /* the pointer is already gone */ }
      self.startGesture();
    });
    box.addEventListener("pointermove", function (event) {
      if (!self.pointers.has(event.pointerId)) { return; }
      self.pointers.set(event.pointerId, self.local(event));
      self.moveGesture();
    });
    function end(event) {
      if (!self.pointers.delete(event.pointerId)) { return; }
      if (!self.pointers.size) { self.pressing = false; }
      self.startGesture();
    }
    box.addEventListener("pointerup", end);
    box.addEventListener("pointercancel", end);
    // Focusing a box inside would scroll the overflow box itself; the viewer pans instead.
    box.addEventListener("scroll", function () { box.scrollLeft = 0; box.scrollTop = 0; });

    box.addEventListener("keydown", function (event) {
      var c = self.centre(), handled = true;
      switch (event.key) {
        case "ArrowLeft": self.panBy(PAN_STEP, 0); break;
        case "ArrowRight": self.panBy(-PAN_STEP, 0); break;
        case "ArrowUp": self.panBy(0, PAN_STEP); break;
        case "ArrowDown": self.panBy(0, -PAN_STEP); break;
        case "+": case "=": self.zoomTo(self.scale * STEP, c.x, c.y); break;
        case "-": case "_": self.zoomTo(self.scale / STEP, c.x, c.y); break;
        case "0": self.fit(); break;
        case "1": self.zoomTo(1, c.x, c.y); break;
        default: handled = false;
      }
      if (handled) { event.preventDefault(); }
    });

    this.section.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        var c = self.centre(), what = button.getAttribute("data-zoom");
        if (what === "fit") { self.fit(); }
        else if (what === "actual") { self.zoomTo(1, c.x, c.y); }
        else { self.zoomTo(what === "in" ? self.scale * STEP : self.scale / STEP, c.x, c.y); }
      });
    });
  };

  // One pointer drags; two pinch (zoom about their midpoint, which also pans as it moves).
  Viewer.prototype.startGesture = function () {
    var points = Array.from(this.pointers.values());
    this.drag = null; this.pinch = null;
    if (points.length === 1) {
      this.drag = { px: points[0].x, py: points[0].y, x: this.x, y: this.y };
      this.box.classList.add("is-dragging");
    } else if (points.length >= 2) {
      var a = points[0], b = points[1];
      var mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      this.pinch = { distance: Math.max(1, Math.hypot(a.x - b.x, a.y - b.y)), scale: this.scale,
                     at: { x: (mid.x - this.x) / this.scale, y: (mid.y - this.y) / this.scale } };
    } else {
      this.box.classList.remove("is-dragging");
    }
  };

  Viewer.prototype.moveGesture = function () {
    var points = Array.from(this.pointers.values());
    if (this.pinch && points.length >= 2) {
      var a = points[0], b = points[1];
      var mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      this.scale = clamp(this.pinch.scale * Math.hypot(a.x - b.x, a.y - b.y) / this.pinch.distance, MIN_SCALE, MAX_SCALE);
      this.x = mid.x - this.pinch.at.x * this.scale;
      this.y = mid.y - this.pinch.at.y * this.scale;
      this.fitted = false;
      this.apply();
    } else if (this.drag && points.length === 1) {
      var dx = points[0].x - this.drag.px, dy = points[0].y - this.drag.py;
      if (Math.abs(dx) + Math.abs(dy) < 2 && this.fitted) { return; } // a click, not a drag
      this.x = this.drag.x + dx; this.y = this.drag.y + dy;
      this.fitted = false;
      this.apply();
    }
  };

  // --- highlighting --------------------------------------------------------------------------------

  Viewer.prototype.index = function () {
    var self = this, edges = {}, neighbours = {}, nodes = {};
    var nodeList = this.svg.querySelectorAll("g.node[data-node]");
    nodeList.forEach(function (node) {
      var name = node.getAttribute("data-node");
      nodes[name] = node; edges[name] = []; neighbours[name] = [];
      if (nodeList.length <= MAX_FOCUSABLE_NODES) { node.setAttribute("tabindex", "0"); }
    });
    this.svg.querySelectorAll("g.edge[data-source][data-target]").forEach(function (edge) {
      var source = edge.getAttribute("data-source"), target = edge.getAttribute("data-target");
      [source, target].forEach(function (end) { if (edges[end]) { edges[end].push(edge); } });
      if (neighbours[source] && nodes[target]) { neighbours[source].push(nodes[target]); }
      if (neighbours[target] && nodes[source]) { neighbours[target].push(nodes[source]); }
    });
    this.nodes = nodes; this.edgesOf = edges; this.neighbours = neighbours;

    function nodeOf(event) { return event.target.closest ? event.target.closest("g.node[data-node]") : null; }
    this.svg.addEventListener("pointerover", function (event) {
      if (self.drag && self.box.classList.contains("is-dragging") && !self.fitted) { return; }
      var node = nodeOf(event);
      if (node) { self.light(node); }
    });
    this.svg.addEventListener("pointerout", function (event) {
      var node = nodeOf(event);
      if (node && !(event.relatedTarget && node.contains(event.relatedTarget)) && document.activeElement !== node) { self.unlight(); }
    });
    this.svg.addEventListener("focusin", function (event) {
      var node = nodeOf(event);
      if (node) { self.light(node); if (!self.pressing) { self.reveal(node); } } // a click does not pan
    });
    this.svg.addEventListener("focusout", function () { self.unlight(); });
  };

  Viewer.prototype.light = function (node) {
    this.unlight();
    var name = node.getAttribute("data-node");
    var lit = [node].concat(this.edgesOf[name] || [], this.neighbours[name] || []);
    node.classList.add("is-focus");
    (this.edgesOf[name] || []).forEach(function (edge) { edge.classList.add("is-lit"); });
    (this.neighbours[name] || []).forEach(function (other) { other.classList.add("is-near"); });
    this.svg.classList.add("has-focus");
    this.lit = lit;
  };

  Viewer.prototype.unlight = function () {
    this.lit.forEach(function (el) { el.classList.remove("is-focus", "is-lit", "is-near"); });
    this.lit = [];
    this.svg.classList.remove("has-focus");
  };

  // A node reached with Tab that sits outside the box is panned into view.
  Viewer.prototype.reveal = function (node) {
    var box = this.box.getBoundingClientRect(), rect = node.getBoundingClientRect(), margin = 24, dx = 0, dy = 0;
    if (rect.left < box.left + margin) { dx = box.left + margin - rect.left; }
    else if (rect.right > box.right - margin) { dx = box.right - margin - rect.right; }
    if (rect.top < box.top + margin) { dy = box.top + margin - rect.top; }
    else if (rect.bottom > box.bottom - margin) { dy = box.bottom - margin - rect.bottom; }
    if (dx || dy) { this.panBy(dx, dy); }
  };

  // --- setting up ------------------------------------------------------------------------------------

  function labelSize(svg) {
    var label = svg.querySelector("g.node text");
    var size = label && parseFloat(label.getAttribute("font-size") || window.getComputedStyle(label).fontSize);
    return size > 0 ? size : 13;
  }

  // --- full screen ---------------------------------------------------------------------------------

  function viewerIn(host) {
    var box = host.querySelector("[data-panzoom]");
    return box && box.__viewer && box.__viewer.svg ? box.__viewer : null;
  }

  function fullscreenElement() { return document.fullscreenElement || document.webkitFullscreenElement || null; }

  // Lay the host out full screen (the class), then ask the browser for real full screen; a browser
  // without the API (iPhone Safari) or one that refuses (an iframe without allow="fullscreen") keeps
  // the class alone: a fixed layer over the page.
  function enterFullscreen(host) {
    var viewer = viewerIn(host);
    host.classList.add("is-fullscreen");
    host.setAttribute("data-fullscreen", "css");
    document.documentElement.classList.add("has-fullscreen-viewer");
    if (viewer) { viewer.opened(); }
    var request = host.requestFullscreen || host.webkitRequestFullscreen;
    var enabled = document.fullscreenEnabled || document.webkitFullscreenEnabled;
    if (!request || !enabled) { return; }
    try {
      var asked = request.call(host);
      host.setAttribute("data-fullscreen", "api");
      if (asked && asked.then) {
        asked.then(null, function () { host.setAttribute("data-fullscreen", "css"); });
      }
    } catch (e) {
      host.setAttribute("data-fullscreen", "css");
    }
  }

  function leaveFullscreen(host) {
    if (!host.classList.contains("is-fullscreen")) { return; }
    host.classList.remove("is-fullscreen");
    host.removeAttribute("data-fullscreen");
    document.documentElement.classList.remove("has-fullscreen-viewer");
    if (fullscreenElement() === host) {
      var exit = document.exitFullscreen || document.webkitExitFullscreen;
      if (exit) { try { var left = exit.call(document); if (left && left.catch) { left.catch(function () {}); } } catch (e) { /* gone already */ } }
    }
    var viewer = viewerIn(host);
    if (viewer) { viewer.closed(); }
  }

  Viewer.prototype.opened = function () {
    this.host.__inlineView = this.host.__pictureView; // what closing comes back to
    this.showFullscreenState();
    this.sizeBox();
    this.openReadable();
    this.box.focus({ preventScroll: true });
  };

  Viewer.prototype.closed = function () {
    this.showFullscreenState();
    this.sizeBox();
    this.restore(this.host.__inlineView);
  };

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-fullscreen-toggle]");
    var box = button && button.closest("[data-viewer]") && button.closest("[data-viewer]").querySelector("[data-panzoom]");
    if (!box || !box.__viewer) { return; }
    var host = box.__viewer.host;
    if (host.classList.contains("is-fullscreen")) { leaveFullscreen(host); } else { enterFullscreen(host); }
  });
  // Escape leaves the page's own full-screen layer (the browser's full screen handles Escape itself).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    document.querySelectorAll(".is-fullscreen[data-fullscreen=css]").forEach(leaveFullscreen);
  });
  function fullscreenChanged() {
    var current = fullscreenElement();
    document.querySelectorAll(".is-fullscreen[data-fullscreen=api]").forEach(function (host) {
      if (current !== host) { leaveFullscreen(host); }
      else { var viewer = viewerIn(host); if (viewer) { viewer.sizeBox(); } }
    });
  }
  document.addEventListener("fullscreenchange", fullscreenChanged);
  document.addEventListener("webkitfullscreenchange", fullscreenChanged);

  // --- setting up ------------------------------------------------------------------------------------

  function setUp(root) {
    (root || document).querySelectorAll("[data-panzoom]").forEach(function (box) {
      var viewer = box.__viewer;
      if (viewer && viewer.svg && viewer.stage.contains(viewer.svg) && box.contains(viewer.stage)) { return; }
      new Viewer(box); // a new box, or one whose picture was replaced: set up and fit it
    });
  }

  setUp(document);
  document.addEventListener("picture:replaced", function (event) {
    setUp(event.target instanceof Element ? event.target : document);
  });
  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) { window.cancelAnimationFrame(pending); }
    pending = window.requestAnimationFrame(function () {
      document.querySelectorAll("[data-panzoom]").forEach(function (box) {
        var viewer = box.__viewer;
        if (!viewer || !viewer.svg) { return; }
        viewer.sizeBox();
        if (viewer.fitted) { viewer.fit(); }
      });
    });
  });
})();
