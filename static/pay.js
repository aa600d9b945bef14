// Paying a held booking by card: Stripe.js's card Element takes the card
// (it goes to Stripe, never through this site), `createToken` turns it into
// a card id, the page's server charges it, and 3-D Secure, when the bank
// asks for it, is finished here with `confirmCardPayment`. Works against
// Stripe and against localstripe's stand-in, which has these calls.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form || !window.Stripe) return;
  var stripe = window.Stripe(form.getAttribute("data-key"));
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var error = document.getElementById("card-error");
  var button = form.querySelector("button[type=submit]");
  var csrf = form.querySelector("input[name=csrf]").value;
  var booking = "/bookings/" + form.getAttribute("data-booking");

  function fail(message) {
    error.textContent = message || "The payment did not go through. Try again or use another card.";
    error.hidden = false;
    button.disabled = false;
  }

  function post(path, fields) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    var made = await stripe.createToken(card);
    if (made.error || !made.token) return fail(made.error && made.error.message);
    var reply = await post(booking + "/pay", { csrf: csrf, payment_method: made.token.card.id });
    var payment = await reply.json().catch(function () { return {}; });
    if (!reply.ok) return fail(payment.message);
    if (payment.status === "requires_action" && payment.client_secret) {
      var done = await stripe.confirmCardPayment(payment.client_secret);
      if (done.error) return fail(done.error.message || "The bank did not confirm the payment.");
    }
    // Ask Stripe how it went; the booking page then shows the tickets.
    await post(booking + "/payment/confirm", { csrf: csrf });
    location.reload();
  });
})();
