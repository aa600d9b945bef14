// The door without a connection. The event's check-in list (each ticket's
// code as its SHA-256, holder, type, state) is kept in this browser and
// refreshed every minute while online; a typed or scanned code is judged
// here, at once, and the scan (a nonce, the code, the time) waits in this
// browser until it can be sent. The server applies each scan once, earliest
// first, and says where another device admitted a ticket first: those
// conflicts are listed under the form.
(function () {
  "use strict";
  var root = document.getElementById("door-offline");
  if (!root) return;
  var event = root.getAttribute("data-event");
  var listUrl = root.getAttribute("data-list");
  var syncUrl = root.getAttribute("data-sync");
  var csrf = root.getAttribute("data-csrf");
  var form = document.getElementById("check-in");
  var input = document.getElementById("code");
  var gateInput = document.getElementById("gate");
  var listSelect = document.getElementById("checkin-list");
  var verdict = document.getElementById("offline-verdict");
  var state = document.getElementById("offline-state");
  var conflicts = document.getElementById("conflicts");
  var key = function (what) { return "boxoffice-door-" + event + "-" + what; };
  var load = function (what, fallback) {
    try { return JSON.parse(localStorage.getItem(key(what))) || fallback; } catch (e) { return fallback; }
  };
  var save = function (what, value) { localStorage.setItem(key(what), JSON.stringify(value)); };
  var random = function () {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  };

  var device = localStorage.getItem("boxoffice-door-device") || random();
  localStorage.setItem("boxoffice-door-device", device);
  gateInput.value = localStorage.getItem("boxoffice-door-gate") || "";
  gateInput.addEventListener("change", function () { localStorage.setItem("boxoffice-door-gate", gateInput.value.trim()); });

  var list = load("list", null);
  var queue = load("queue", []);
  var seen = load("conflicts", []);
  var sending = false;
  var problem = "";

  function time(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function show() {
    var waiting = queue.length;
    var parts = [];
    parts.push(navigator.onLine ? "Online" : "Offline");
    var count = list ? list.tickets.length : 0;
    parts.push(list ? count + (count === 1 ? " ticket" : " tickets") + " on this device, as of " + time(list.generated_at)
                    : "No check-in list yet");
    parts.push(waiting === 0 ? "All scans sent" : waiting + (waiting === 1 ? " scan waiting" : " scans waiting"));
    if (problem && waiting > 0) parts.push(problem);
    state.textContent = parts.join(" · ");
    conflicts.innerHTML = "";
    seen.forEach(function (c) {
      var item = document.createElement("li");
      item.textContent = c.holder + " (" + c.ticket_type + "): already admitted" +
        (c.gate ? " at " + c.gate : "") + (c.at ? " at " + time(c.at) : "") + "; scanned here at " + time(c.scanned_at);
      conflicts.appendChild(item);
    });
    document.getElementById("conflicts-section").hidden = seen.length === 0;
    if (list && listSelect.options.length <= 1) {
      list.lists.forEach(function (l) {
        var option = document.createElement("option");
        option.value = l.id;
        option.textContent = l.name;
        listSelect.appendChild(option);
      });
      listSelect.value = localStorage.getItem("boxoffice-door-list-" + event) || "";
    }
  }
  listSelect.addEventListener("change", function () { localStorage.setItem("boxoffice-door-list-" + event, listSelect.value); });

  function say(kind, big, small) {
    verdict.className = "verdict " + kind;
    verdict.hidden = false;
    verdict.querySelector(".big").textContent = big;
    verdict.querySelector(".small").textContent = small || "";
  }

  function refresh() {
    if (!navigator.onLine) return Promise.resolve();
    return fetch(listUrl, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (fresh) {
        // An answer older than the list in hand (two refreshes crossing) is dropped.
        if (list && fresh.generated_at < list.generated_at) return;
        // Scans not yet sent stay as this device judged them.
        var mine = {};
        queue.forEach(function (s) { if (s.hash) mine[s.hash] = s; });
        fresh.tickets.forEach(function (t) {
          var s = mine[t.hash];
          if (s && s.admitted && t.status === "valid") {
            t.status = "checked_in"; t.checked_in_at = s.scanned_at; t.checked_in_gate = s.gate;
          }
        });
        list = fresh;
        save("list", list);
        show();
      })
      .catch(function () { show(); });
  }

  function send() {
    if (sending || !navigator.onLine || queue.length === 0) { show(); return Promise.resolve(); }
    sending = true;
    // Scans made at one gate with one list go together, a hundred at most
    // (well within what one request may carry).
    var first = queue[0];
    var batch = queue.filter(function (s) { return s.gate === first.gate && (s.list || "") === (first.list || ""); }).slice(0, 100);
    var body = {
      device_id: device,
      gate: first.gate || null,
      list_id: first.list || null,
      scans: batch.map(function (s) {
        return { nonce: s.nonce, code: s.code, scanned_at: s.scanned_at, admitted: s.admitted };
      })
    };
    return fetch(syncUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf, accept: "application/json" },
      body: JSON.stringify(body)
    })
      .then(function (r) {
        if (r.redirected || r.status === 401 || r.status === 403) throw new Error("sign in again to send them");
        if (!r.ok) throw new Error("the server answered " + r.status);
        return r.json();
      })
      .then(function (reply) {
        problem = "";
        var done = {};
        reply.scans.forEach(function (outcome) {
          done[outcome.nonce] = true;
          if (outcome.outcome === "duplicate") {
            var scan = batch.filter(function (s) { return s.nonce === outcome.nonce; })[0] || {};
            seen.unshift({ holder: outcome.holder || "", ticket_type: outcome.ticket_type || "",
                           gate: outcome.admitted_gate, at: outcome.admitted_at, scanned_at: scan.scanned_at });
          }
        });
        queue = queue.filter(function (s) { return !done[s.nonce]; });
        save("queue", queue);
        save("conflicts", seen.slice(0, 50));
      })
      .catch(function (error) {
        // Tried again when online, or in a minute; said meanwhile.
        problem = "Not sent: " + (error && error.message && !/fetch|network/i.test(error.message) ? error.message : "no answer");
      })
      .then(function () { sending = false; return refresh(); });
  }

  function hash(code) {
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(code)).then(function (buffer) {
      return Array.prototype.map.call(new Uint8Array(buffer), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    });
  }

  function judge(code) {
    return hash(code).then(function (h) {
      var now = new Date().toISOString();
      var ticket = list && list.tickets.filter(function (t) { return t.hash === h; })[0];
      var chosen = list && listSelect.value && list.lists.filter(function (l) { return l.id === listSelect.value; })[0];
      var scan = { nonce: random(), code: code, scanned_at: now, hash: ticket ? h : null,
                   gate: gateInput.value.trim(), list: listSelect.value || "", admitted: false };
      queue.push(scan);
      if (!ticket) {
        say("invalid", "Not valid", "No ticket of this event has this code.");
      } else if (ticket.status === "void") {
        say("invalid", "Not valid", "This ticket was cancelled.");
      } else if (chosen && chosen.ticket_type_ids.indexOf(ticket.ticket_type_id) < 0) {
        say("invalid", "Not valid here", ticket.ticket_type + ": not on the list " + chosen.name + ".");
      } else if (ticket.status === "checked_in") {
        say("already", "Already admitted",
          (ticket.checked_in_gate ? "At " + ticket.checked_in_gate + " at " : "At ") + time(ticket.checked_in_at) + ": " + ticket.holder);
      } else {
        scan.admitted = true;
        ticket.status = "checked_in";
        ticket.checked_in_at = now;
        ticket.checked_in_gate = gateInput.value.trim();
        save("list", list);
        say("admitted", "Admitted", ticket.holder + " · " + ticket.ticket_type);
      }
      save("queue", queue);
      show();
      send();
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    // As the server reads a code: trimmed, in capitals (a ticket's is 26 characters).
    var code = input.value.trim().toUpperCase().slice(0, 64);
    input.value = "";
    input.focus();
    if (code) judge(code);
  });
  window.addEventListener("online", function () { send(); });
  window.addEventListener("offline", show);
  setInterval(function () { send().then(refresh); }, 60000);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(root.getAttribute("data-worker"), { scope: root.getAttribute("data-scope") })
      .catch(function () {});
  }
  // This page and its files kept now, for the first launch without a connection.
  if (window.caches) {
    var files = [location.pathname];
    document.querySelectorAll("link[rel=stylesheet], script[src]").forEach(function (el) { files.push(el.getAttribute("href") || el.getAttribute("src")); });
    caches.open("boxoffice-door-v1").then(function (cache) { return cache.addAll(files); }).catch(function () {});
  }
  show();
  send().then(refresh);
})();
