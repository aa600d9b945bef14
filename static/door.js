// The door's camera: reads a ticket's QR code and checks it in. The browser's
// BarcodeDetector where it has one, else the vendored jsQR (fetched only
// then). Scanning goes on after each verdict until "Stop camera". A verdict
// also buzzes and beeps where the device can. The same on both door pages:
// the online one sends the form (a new page comes with the verdict), the
// offline one judges it in place (door-offline.js) and the camera goes on.
(function () {
  "use strict";
  var form = document.getElementById("check-in");
  var button = document.getElementById("scan");
  var video = document.getElementById("camera");
  if (!form || !button || !video) return;

  var verdict = document.querySelector(".verdict:not([hidden])");
  if (verdict) {
    var good = verdict.classList.contains("admitted");
    if (navigator.vibrate) navigator.vibrate(good ? 120 : [80, 60, 80]);
    try {
      var audio = new (window.AudioContext || window.webkitAudioContext)();
      var tone = audio.createOscillator();
      tone.frequency.value = good ? 880 : 220;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.15);
    } catch (e) { /* no sound here: the colour and the words say it */ }
  }

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  button.hidden = false;
  var stream = null;
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });
  var detector = null;

  function decoder() {
    if ("BarcodeDetector" in window) {
      detector = detector || new window.BarcodeDetector({ formats: ["qr_code"] });
      return Promise.resolve(function (frame) {
        return detector.detect(frame).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
      });
    }
    return new Promise(function (resolve, reject) {
      if (window.jsQR) return resolve();
      var script = document.createElement("script");
      script.src = form.getAttribute("data-decoder");
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    }).then(function () {
      return function (frame) {
        canvas.width = frame.videoWidth;
        canvas.height = frame.videoHeight;
        context.drawImage(frame, 0, 0);
        var pixels = context.getImageData(0, 0, canvas.width, canvas.height);
        var found = window.jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts: "dontInvert" });
        return Promise.resolve(found ? found.data : null);
      };
    });
  }

  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true;
    button.textContent = "Scan with camera";
    sessionStorage.removeItem("boxoffice-scanning");
  }

  function start() {
    Promise.all([decoder(), navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } })])
      .then(function (ready) {
        var read = ready[0];
        stream = ready[1];
        video.srcObject = stream;
        video.hidden = false;
        button.textContent = "Stop camera";
        sessionStorage.setItem("boxoffice-scanning", "1");
        return video.play().then(function () {
          var look = function () {
            if (!stream) return;
            if (video.readyState < 2) return setTimeout(look, 150);
            read(video).then(function (code) {
              code = code && code.trim();
              // The ticket just judged, still in front of the camera, is not
              // sent again at once: its verdict stays on screen a while.
              var last = JSON.parse(sessionStorage.getItem("boxoffice-last-scan") || "{}");
              if (code && last.code === code && Date.now() - last.at < 5000) code = null;
              if (code && stream) {
                sessionStorage.setItem("boxoffice-last-scan", JSON.stringify({ code: code, at: Date.now() }));
                form.querySelector("input[name=code]").value = code;
                // The offline page judges in place: keep reading after a moment.
                if (form.requestSubmit) form.requestSubmit(); else form.submit();
                setTimeout(look, 1500);
              } else {
                setTimeout(look, 150);
              }
            }, function () { setTimeout(look, 300); });
          };
          look();
        });
      })
      .catch(function (error) {
        stop();
        var note = document.getElementById("camera-error");
        note.textContent = "The camera cannot be used here (" + (error && error.name || "no permission") + "): type the code instead.";
        note.hidden = false;
      });
  }

  button.addEventListener("click", function () { if (stream) stop(); else start(); });
  // Scanning when the last verdict came: go on after a moment to read it.
  if (sessionStorage.getItem("boxoffice-scanning")) setTimeout(start, verdict ? 1500 : 0);
})();
