-- The transactional outbox: every email is a row written in the same
-- transaction as the change it reports, so no email is lost (the row commits
-- with the change) and none is sent for a change that did not commit.
CREATE TABLE outbox (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'event_cancelled')),
    booking_id      uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    -- pending: to send (again) at next_attempt_at; sent; failed: given up, see last_error.
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    -- A mailer claims a row by moving this forward (a lease): other mailers
    -- skip it, and should the claimer die the row comes due again.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_by_booking ON outbox (booking_id);

-- Wake the mailers as soon as rows commit (they also poll, for retries).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_inserted AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
