// restic-manager dashboard behaviour that HTMX does not cover: times that
// keep ageing, copy buttons, and re-reading a page after its event stream
// reconnects. No inline scripts anywhere: the CSP allows only this origin.
(function () {
  "use strict";

  // rel mirrors relativeTime in web/host_view.go; keep the two in step.
  function rel(then, now) {
    var d = now - then, future = d < 0;
    if (future) d = -d;
    var s, min = 60e3, hour = 60 * min, day = 24 * hour;
    if (d < 45e3) return future ? "in under 1 min" : "just now";
    if (d < 90 * min) s = Math.max(1, Math.floor((d + 30e3) / min)) + " min";
    else if (d < 36 * hour) s = Math.floor((d + 30 * min) / hour) + " h";
    else if (d < 365 * day) { var n = Math.floor((d + 12 * hour) / day); s = n + (n === 1 ? " day" : " days"); }
    else { var y = Math.floor(d / (365 * day)); s = y + (y === 1 ? " year" : " years"); }
    return future ? "in " + s : s + " ago";
  }

  function refreshTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[data-rel]").forEach(function (t) {
      var at = Date.parse(t.getAttribute("datetime"));
      if (isNaN(at)) return;
      t.textContent = rel(at, now);
      if (!t.dataset.local) {
        t.title = new Date(at).toLocaleString() + " (" + t.title + ")";
        t.dataset.local = "1";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { refreshTimes(document); });
  document.addEventListener("htmx:load", function (e) { refreshTimes(e.detail.elt); });
  setInterval(function () { refreshTimes(document); }, 30e3);

  // Copy buttons: copy the command next to them, say so, keep focus.
  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-copy]");
    if (!button) return;
    var code = button.parentElement.querySelector("pre");
    if (!code) return;
    var text = code.textContent;
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(code); });
    } else {
      selectText(code);
      button.textContent = "Press Ctrl+C";
      setTimeout(function () { button.textContent = "Copy"; }, 3000);
    }
  });

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  // Job log (#job-log): the stream sends lines as children carrying their
  // number (data-n). Append only lines newer than the last one shown (a
  // reconnect may resend some), follow the tail unless the reader scrolled
  // up (then offer "jump to the end"), keep at most maxLogLines in the page
  // (the full log is a link away), and keep the stream's ?after= in step so
  // a reconnect resumes where the page is.
  var maxLogLines = 5000;
  var following = true;
  function logAtEnd(log) { return log.scrollHeight - log.scrollTop - log.clientHeight < 24; }
  function followButton() { return document.getElementById("log-follow"); }
  function setFollowing(log, on) {
    following = on;
    var b = followButton();
    if (b) b.classList.toggle("hidden", on);
    if (on) log.scrollTop = log.scrollHeight;
  }
  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    var log = e.target;
    if (!log || log.id !== "job-log") return;
    e.preventDefault();
    var last = Number(log.dataset.last || 0);
    var tpl = document.createElement("template");
    tpl.innerHTML = e.detail.data;
    var frag = document.createDocumentFragment();
    Array.prototype.forEach.call(tpl.content.querySelectorAll("[data-n]"), function (ln) {
      var n = Number(ln.getAttribute("data-n"));
      if (n > last) { frag.appendChild(ln); last = n; }
    });
    log.appendChild(frag);
    log.dataset.last = String(last);
    for (var extra = log.children.length - maxLogLines; extra > 0; extra--) {
      log.removeChild(log.firstElementChild);
    }
    var stream = document.getElementById("job-stream");
    if (stream) {
      stream.setAttribute("sse-connect", stream.getAttribute("sse-connect").replace(/after=\d+/, "after=" + last));
    }
    if (following) log.scrollTop = log.scrollHeight;
  });
  document.addEventListener("DOMContentLoaded", function () {
    var log = document.getElementById("job-log");
    if (!log) return;
    log.scrollTop = log.scrollHeight;
    log.addEventListener("scroll", function () {
      var end = logAtEnd(log);
      if (end !== following) setFollowing(log, end);
    }, { passive: true });
    var b = followButton();
    if (b) b.addEventListener("click", function () { setFollowing(log, true); log.focus(); });
  });

  // When an event stream comes back after a drop (server restart, network,
  // or the server shedding a slow client), the page may have missed updates:
  // ask every live region to re-read itself ("rm:resync" in hx-trigger).
  var opened = new WeakSet();
  // A stream that keeps failing to reopen while the server answers means the
  // session ended (signed out elsewhere, expired): reload, which lands on the
  // sign-in page and comes back here afterwards.
  var failures = 0;
  document.addEventListener("htmx:sseError", function () {
    failures++;
    if (failures === 3) {
      fetch("/healthz", { cache: "no-store" }).then(function (r) {
        if (r.ok) { location.reload(); } else { failures = 0; }
      }, function () { failures = 0; });
    }
  });
  document.addEventListener("htmx:sseOpen", function (e) {
    failures = 0;
    var elt = e.detail.elt || e.target;
    if (opened.has(elt)) {
      htmx.trigger(document.body, "rm:resync");
    }
    opened.add(elt);
  });
  // Schedule forms: a blank time zone field gets the browser's own zone
  // (the server falls back to UTC), and only the fields the chosen preset
  // uses are shown (without JavaScript they all are).
  function setupSchedules(root) {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    root.querySelectorAll("input[data-browser-zone]").forEach(function (input) {
      if (!input.value && zone) input.value = zone;
    });
    root.querySelectorAll("[data-schedule]").forEach(function (box) {
      var select = box.querySelector("[data-preset-select]");
      if (!select || select.dataset.bound) return;
      select.dataset.bound = "1";
      var show = function () {
        box.querySelectorAll("[data-show]").forEach(function (el) {
          el.hidden = el.getAttribute("data-show").split(" ").indexOf(select.value) < 0;
        });
      };
      select.addEventListener("change", show);
      show();
    });
  }
  document.addEventListener("DOMContentLoaded", function () { setupSchedules(document); });
  document.addEventListener("htmx:load", function (e) { setupSchedules(e.detail.elt); });

  // Fleet actions (#12.5): the box in the host table's header ticks or
  // unticks every host on the page; ticking hosts switches the action
  // card to "the ticked hosts" and the table says how many are ticked
  // (#15: a page is not the fleet; "Select all N" acts on every page);
  // choosing a tag in the action card switches it to "every host tagged".
  var countPicked = function () {
    var n = document.querySelectorAll("#host-rows input[name=host_id]:checked").length;
    document.querySelectorAll("[data-picked-count]").forEach(function (el) { el.textContent = String(n); });
  };
  var pickTarget = function (value) {
    var radio = document.querySelector('input[name=target][value="' + value + '"]:not([form])') ||
      document.querySelector('input[name=target][value="' + value + '"]');
    if (radio) radio.checked = true;
  };
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches("[data-pick-all]")) {
      document.querySelectorAll("#host-rows input[name=host_id]").forEach(function (box) { box.checked = t.checked; });
      if (t.checked) pickTarget("picked");
      countPicked();
    } else if (t.matches && t.matches("#host-rows input[name=host_id]")) {
      if (t.checked) pickTarget("picked");
      countPicked();
    } else if (t.id === "fleet-tag") {
      pickTarget("tag");
    }
  });
  document.addEventListener("htmx:afterSettle", countPicked);

  // Forms marked data-confirm ask before they submit (deleting a schedule).
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
})();
