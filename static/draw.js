// Checks an on-sale draw in the buyer's browser: the published seed must hash
// (SHA-256) to the commitment published before the pre-queue opened, and the
// order recomputed from the seed and the pre-queued booking ids must be the
// published order. The algorithm mirrors src/domain/draw.rs and
// scripts/draw.py (README, "The draw"): sort the ids, ChaCha20 keyed with the
// seed as a stream of 64-bit words, Fisher–Yates with rejection sampling.
// No dependencies; SHA-256 is here too, as crypto.subtle is missing on plain
// http. (BigInt is called, never written as a literal, so this parses as ES2017.)
(function () {
  "use strict";

  // --- SHA-256 (FIPS 180-4) ---------------------------------------------
  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);

  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

  function sha256Hex(bytes) {
    // Pad: 0x80, zeros, then the length in bits as a 64-bit big-endian number.
    var len = bytes.length, total = Math.ceil((len + 9) / 64) * 64;
    var msg = new Uint8Array(total);
    msg.set(bytes);
    msg[len] = 0x80;
    var view = new DataView(msg.buffer);
    view.setUint32(total - 8, Math.floor(len / 0x20000000));
    view.setUint32(total - 4, (len * 8) >>> 0);
    var h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    var w = new Uint32Array(64);
    for (var off = 0; off < total; off += 64) {
      for (var t = 0; t < 16; t++) w[t] = view.getUint32(off + 4 * t);
      for (t = 16; t < 64; t++) {
        var s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >>> 3);
        var s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >>> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (t = 0; t < 64; t++) {
        var t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
    }
    var hex = "";
    for (var i = 0; i < 8; i++) hex += ("0000000" + h[i].toString(16)).slice(-8);
    return hex;
  }

  function hexToBytes(hex) {
    if (typeof hex !== "string" || !/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error("not hex: " + hex);
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }

  // --- ChaCha20 as a generator (rand_chacha's ChaCha20Rng) -----------------
  // 32-byte key, 64-bit block counter (words 12–13) and nonce (14–15) from 0;
  // each 64-bit output is two keystream words, low word first (little-endian).
  function chachaWords(seed) {
    var key = new DataView(seed.buffer, seed.byteOffset, 32);
    var input = new Uint32Array(16), x = new Uint32Array(16), pos = 16;
    input.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
    for (var i = 0; i < 8; i++) input[4 + i] = key.getUint32(4 * i, true);
    function qr(a, b, c, d) {
      x[a] += x[b]; x[d] = rotr(x[d] ^ x[a], 16);
      x[c] += x[d]; x[b] = rotr(x[b] ^ x[c], 20);
      x[a] += x[b]; x[d] = rotr(x[d] ^ x[a], 24);
      x[c] += x[d]; x[b] = rotr(x[b] ^ x[c], 25);
    }
    function block() {
      x.set(input);
      for (var r = 0; r < 10; r++) {
        qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15);
        qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14);
      }
      for (r = 0; r < 16; r++) x[r] += input[r];
      if (++input[12] === 0) input[13]++;
      pos = 0;
    }
    var SHIFT = BigInt(32);
    return function next() {
      if (pos === 16) block();
      var lo = x[pos], hi = x[pos + 1];
      pos += 2;
      return (BigInt(hi) << SHIFT) | BigInt(lo);
    };
  }

  var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  var TWO64 = BigInt(2) ** BigInt(64);

  // The booking ids in the order the draw with `seed` gives them (a new array).
  function drawOrder(seed, ids) {
    if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new Error("the seed is 32 bytes");
    var list = ids.map(function (id) {
      var s = String(id).toLowerCase();
      if (!UUID.test(s)) throw new Error("not a booking id: " + id);
      return s;
    });
    list.sort(); // canonical lower-case text: the order of the 16-byte values
    var next = chachaWords(seed);
    for (var i = list.length - 1; i >= 1; i--) {
      var n = BigInt(i + 1), zone = TWO64 / n * n, v;
      do { v = next(); } while (v >= zone);
      var j = Number(v % n), tmp = list[i];
      list[i] = list[j]; list[j] = tmp;
    }
    return list;
  }

  // --- The page ---------------------------------------------------------
  async function loadDraw(url) {
    var first = null, entries = [], order = [], cursor = null, seen = {};
    for (;;) {
      var pageUrl = cursor === null ? url
        : url + (url.indexOf("?") >= 0 ? "&" : "?") + "cursor=" + encodeURIComponent(cursor);
      var res = await fetch(pageUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error("the server answered " + res.status);
      var page = await res.json();
      if (!page || typeof page !== "object") throw new Error("the answer is not a draw");
      if (first === null) first = page;
      entries = entries.concat(page.entries || []);
      order = order.concat(page.order || []);
      cursor = page.next_cursor;
      if (typeof cursor !== "string") break;
      if (seen[cursor]) throw new Error("the pages go round in a circle");
      seen[cursor] = true;
    }
    return { commitment: first.commitment, seed: first.seed, note: first.note, total: first.total,
             entries: entries, order: order };
  }

  function item(list, place, id, mine) {
    var li = document.createElement("li");
    li.setAttribute("value", String(place));
    var code = document.createElement("code");
    code.textContent = id;
    li.appendChild(code);
    if (mine) {
      li.className = "mine";
      li.setAttribute("aria-current", "true");
      li.appendChild(document.createTextNode(" (you)"));
    }
    list.appendChild(li);
  }

  // Places [from, to) of `order` as <li>s, with a gap marker between ranges.
  function fillOrder(list, order, mineIndex) {
    var n = order.length, ranges;
    if (mineIndex < 0) ranges = [[0, Math.min(n, 50)]];
    else if (n <= 200) ranges = [[0, n]];
    else {
      ranges = [[0, 20]];
      var from = Math.max(0, mineIndex - 10), to = Math.min(n, mineIndex + 11);
      if (from <= 20) ranges[0][1] = Math.max(20, to);
      else ranges.push([from, to]);
    }
    var frag = document.createDocumentFragment();
    ranges.forEach(function (r, k) {
      if (k > 0) {
        var gap = document.createElement("li");
        gap.setAttribute("aria-hidden", "true");
        gap.textContent = "…";
        frag.appendChild(gap);
      }
      for (var i = r[0]; i < r[1]; i++) item(frag, i + 1, order[i], i === mineIndex);
    });
    list.appendChild(frag);
  }

  function firstDifference(a, b) {
    for (var i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
    return a.length === b.length ? -1 : Math.min(a.length, b.length);
  }

  async function check(section) {
    var button = document.getElementById("draw-run");
    var result = document.getElementById("draw-result");
    var list = document.getElementById("draw-order");
    var mine = (section.getAttribute("data-mine") || "").trim().toLowerCase();
    if (button) button.disabled = true;
    result.classList.remove("draw-ok", "draw-failed");
    result.textContent = "Checking…";
    if (list) list.textContent = "";
    try {
      var draw;
      try {
        draw = await loadDraw(section.getAttribute("data-draw-url"));
      } catch (err) {
        result.textContent = "The draw could not be loaded: " + err.message + ".";
        result.classList.add("draw-failed");
        return;
      }
      if ((draw.seed === null || draw.seed === undefined) && draw.note) {
        result.textContent = draw.note;
        return;
      }
      if (draw.seed === null || draw.seed === undefined) {
        result.textContent = draw.commitment
          ? "The draw has not happened yet. The commitment published before the pre-queue opened is " + draw.commitment + "."
          : "No draw was committed for this event.";
        return;
      }
      var seed = hexToBytes(draw.seed);
      var seedOk = seed.length === 32 && sha256Hex(seed) === String(draw.commitment).toLowerCase();
      var order = drawOrder(seed, draw.entries);
      var published = draw.order.map(function (id) { return String(id).toLowerCase(); });
      var diff = firstDifference(order, published);
      var n = order.length, problems = [];
      if (!seedOk) problems.push("The seed does not match the commitment.");
      // The entries as published must be a set, sorted, of the size announced:
      // otherwise the order could be recomputed from a list nobody showed.
      var listed = draw.entries.map(function (id) { return String(id).toLowerCase(); });
      for (var k = 1; k < listed.length; k++) {
        if (!(listed[k - 1] < listed[k])) { problems.push("The entries are not a sorted list of distinct bookings."); break; }
      }
      if (typeof draw.total === "number" && draw.total !== listed.length) {
        problems.push("The draw says " + draw.total + " entries but lists " + listed.length + ".");
      }
      if (mine && listed.indexOf(mine) < 0) {
        problems.push("Your booking is not among the " + listed.length + " entries.");
      }
      if (diff >= 0 && published.length !== n) {
        problems.push("The published order has " + published.length + " places; the recomputed order has " + n + ".");
      } else if (diff >= 0) {
        problems.push("The recomputed order differs from the published order at place " + (diff + 1) + ".");
      }
      var text = problems.length ? problems.join(" ")
        : "Checked in your browser: the seed matches the commitment, and the order recomputed from the seed and the " +
          n + " entries is the published order.";
      var mineIndex = mine ? order.indexOf(mine) : -1;
      if (mineIndex >= 0) text += " Your booking is number " + (mineIndex + 1) + " of " + n + ".";
      result.textContent = text;
      result.classList.add(problems.length ? "draw-failed" : "draw-ok");
      if (list) fillOrder(list, order, mineIndex);
    } catch (err) {
      result.textContent = "The draw could not be checked: " + err.message + ".";
      result.classList.add("draw-failed");
    } finally {
      if (button) button.disabled = false;
    }
  }

  function start() {
    var section = document.getElementById("draw-check");
    if (!section) return;
    check(section);
    var button = document.getElementById("draw-run");
    if (button) button.addEventListener("click", function () { check(section); });
  }
  if (typeof document !== "undefined") {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }

  if (typeof module !== "undefined") module.exports = { drawOrder: drawOrder, sha256Hex: sha256Hex, hexToBytes: hexToBytes };
})();
