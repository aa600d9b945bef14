-- Checkout: a priced booking is held while the buyer pays, sold once paid,
-- and refunded exactly once when cancelled.

-- How long a hold lasts: with a card (Stripe), and with offline payment
-- (bank transfer, pay at the door) until the organizer marks it paid.
ALTER TABLE events
    ADD COLUMN hold_seconds integer NOT NULL DEFAULT 600 CHECK (hold_seconds BETWEEN 60 AND 3600),
    ADD COLUMN offline_hold_hours integer NOT NULL DEFAULT 72 CHECK (offline_hold_hours BETWEEN 1 AND 336);

ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
ALTER TABLE bookings ADD CONSTRAINT bookings_status_check
    CHECK (status IN ('pending', 'held', 'confirmed', 'rejected', 'expired', 'cancelled'));
-- A hold's end (held bookings only), and how it is to be paid: the provider
-- is fixed when the seats are held, so a server switched to Stripe later
-- does not strand a bank transfer on its way.
ALTER TABLE bookings
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN payment_provider text CHECK (payment_provider IN ('stripe', 'offline')),
    ADD COLUMN paid_at timestamptz;
-- The organizer's order list, newest first, with or without a status filter.
DROP INDEX bookings_by_event;
CREATE INDEX bookings_by_event ON bookings (event_id, status, id);
CREATE INDEX bookings_orders ON bookings (event_id, id);
-- The worker releases due holds through this index.
CREATE INDEX bookings_holds_due ON bookings (expires_at) WHERE status = 'held';

-- Payments: one row per attempt (a Stripe Payment Intent, or the organizer's
-- "mark paid"). At most one attempt in flight per booking, so two clicks
-- never charge a card twice; at most one succeeded payment per booking is
-- kept (another one that succeeds is refunded).
CREATE TABLE payments (
    id           uuid PRIMARY KEY,
    booking_id   uuid NOT NULL REFERENCES bookings (id),
    provider     text NOT NULL CHECK (provider IN ('stripe', 'offline')),
    -- Stripe's Payment Intent id, once Stripe gave one.
    intent_id    text UNIQUE,
    status       text NOT NULL CHECK (status IN ('creating', 'requires_confirmation', 'requires_action',
                                                  'processing', 'succeeded', 'failed')),
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    currency     text NOT NULL,
    client_secret text,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_by_booking ON payments (booking_id);
CREATE UNIQUE INDEX payments_one_in_flight ON payments (booking_id)
    WHERE status IN ('creating', 'requires_confirmation', 'requires_action', 'processing');

-- Refunds: one per succeeded payment (the unique key is the promise that no
-- payment is refunded twice), written in the transaction that cancels; the
-- worker sends Stripe's with its id as the Idempotency-Key. An offline refund
-- stays `pending`: the organizer pays it out.
CREATE TABLE refunds (
    id                 uuid PRIMARY KEY,
    payment_id         uuid NOT NULL UNIQUE REFERENCES payments (id),
    booking_id         uuid NOT NULL REFERENCES bookings (id),
    provider           text NOT NULL CHECK (provider IN ('stripe', 'offline')),
    amount_cents       bigint NOT NULL CHECK (amount_cents >= 0),
    currency           text NOT NULL,
    reason             text NOT NULL,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts           integer NOT NULL DEFAULT 0,
    -- Claimed by moving it forward (a lease), like the outbox.
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    provider_refund_id text,
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_by_booking ON refunds (booking_id);
CREATE INDEX refunds_due ON refunds (next_attempt_at) WHERE status = 'pending' AND provider = 'stripe';

-- Stripe webhook events applied, so a replayed or repeated event changes nothing.
CREATE TABLE stripe_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'event_cancelled', 'email_verification',
                    'refund_succeeded'));
