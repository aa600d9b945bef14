// The live parts of pages, where the browser must act: countdowns ("Pay
// within 09:59", "Booking opens in …") and the waiting room's place in line,
// from the booking's event stream. Without JavaScript the pages refresh
// themselves instead (a <noscript> meta refresh).
(function () {
  "use strict";

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    if (d > 0) return d + (d === 1 ? " day " : " days ") + two(h) + ":" + two(m) + ":" + two(x);
    if (h > 0) return h + ":" + two(m) + ":" + two(x);
    return two(m) + ":" + two(x);
  }

  var started = Date.now();
  var countdowns = Array.prototype.slice.call(document.querySelectorAll("[data-countdown]"));
  // A countdown already at zero when the page came waits for the stream
  // (the server's decision), not for a reload loop.
  var running = countdowns.filter(function (el) { return Number(el.getAttribute("data-countdown")) > 0; });
  function tick() {
    var gone = (Date.now() - started) / 1000;
    var over = false;
    running.forEach(function (el) {
      var left = Number(el.getAttribute("data-countdown")) - gone;
      el.textContent = clock(left);
      if (left <= 0) over = true;
    });
    if (over) setTimeout(function () { location.reload(); }, 1500);
    else setTimeout(tick, 1000);
  }
  if (running.length) tick();

  // An event page: "N left" kept current (the API's event, cached for a
  // second server-side); a type that sells out or comes back reloads the
  // page, which then offers the waiting list or the Book form.
  var event = document.querySelector("[data-event]");
  if (event && window.fetch) {
    var refresh = function () {
      fetch("/api/v1/events/" + event.getAttribute("data-event"), { credentials: "omit" })
        .then(function (reply) { return reply.ok ? reply.json() : null; })
        .then(function (current) {
          if (!current) return;
          current.ticket_types.forEach(function (type) {
            var left = document.querySelector('[data-left="' + type.id + '"]');
            if (!left) return;
            var wasOpen = !left.classList.contains("soldout");
            if (wasOpen !== type.remaining > 0) { location.reload(); return; }
            if (type.remaining > 0) left.textContent = type.remaining + " left";
          });
        })
        .catch(function () {});
    };
    setInterval(refresh, 5000);
  }

  // A back-office page's live part: fetched again every few seconds and put
  // in place (the server renders it; nothing is computed here).
  var live = document.querySelector("[data-live]");
  if (live && window.fetch && window.DOMParser) {
    setInterval(function () {
      fetch(location.href, { credentials: "same-origin" })
        .then(function (reply) { return reply.ok ? reply.text() : null; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live]");
          if (fresh) live.innerHTML = fresh.innerHTML;
        })
        .catch(function () {});
    }, 3000);
  }

  var state = document.querySelector("[data-stream]");
  if (state && window.EventSource) {
    var shown = state.getAttribute("data-status");
    var source = new EventSource(state.getAttribute("data-stream"));
    // Refused (too many streams open: 429, which asks for 10 s) or gone for
    // good: the page refreshes itself instead, now and then.
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) setTimeout(function () { location.reload(); }, 15000);
    });
    source.addEventListener("booking", function (event) {
      var booking = JSON.parse(event.data);
      var place = state.querySelector("[data-place]");
      var inLine = booking.queue && booking.queue.phase === "line" && booking.queue.position;
      // A new state (decided, held, drawn into the line): the page shows it.
      if (booking.status !== shown || (inLine && !place)) {
        source.close();
        location.reload();
        return;
      }
      if (place && inLine) place.textContent = "You are number " + booking.queue.position + " in line";
      var estimate = state.querySelector("[data-estimate]");
      if (estimate && booking.queue) {
        var wait = booking.queue.estimated_wait_seconds;
        estimate.textContent = wait ? "About " + clock(Math.round(wait)) + " to go." : "Your turn comes soon.";
      }
    });
  }
})();
