-- Codes (vouchers) per event. How often one was used is not stored: it is
-- the seats of its held and confirmed bookings, summed by the worker under
-- the code's row lock (so a cancellation or a lapsed hold gives its use back
-- without anyone counting down).
CREATE TABLE codes (
    id              uuid PRIMARY KEY,
    event_id        uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- As compared: upper case, letters and digits only.
    code            text NOT NULL CHECK (code ~ '^[A-Z0-9]{1,40}$'),
    kind            text NOT NULL CHECK (kind IN ('percent', 'fixed', 'price', 'unlock')),
    value           bigint CHECK (value >= 0),
    -- NULL: every ticket type of the event that is not hidden.
    ticket_type_ids uuid[],
    -- Seats it may go to, in all and per buyer (NULL: no limit).
    max_uses        integer CHECK (max_uses > 0),
    max_per_buyer   integer CHECK (max_per_buyer > 0),
    valid_from      timestamptz,
    valid_until     timestamptz,
    note            text NOT NULL DEFAULT '',
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT codes_event_code_key UNIQUE (event_id, code)
);

ALTER TABLE bookings ADD COLUMN code_id uuid REFERENCES codes (id);
-- A code's uses, and each buyer's, summed by the worker.
CREATE INDEX bookings_by_code ON bookings (code_id, user_id) INCLUDE (quantity, status) WHERE code_id IS NOT NULL;

-- A hidden type is listed and sold only with a code that names it.
ALTER TABLE ticket_types ADD COLUMN hidden boolean NOT NULL DEFAULT false;

-- (Sign-in links, issue 28:) an outbox row names an address exactly when it
-- carries a sign-in link.
ALTER TABLE outbox ADD CONSTRAINT outbox_email_is_for_links CHECK ((kind = 'sign_in_link') = (email IS NOT NULL));
