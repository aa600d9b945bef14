-- The waiting list: buyers of a sold-out ticket type, in order; seats that
-- come back are offered to them (a held booking) before open sale.

-- How long an offer (a held booking made for a waiting entry) stays open.
ALTER TABLE events ADD COLUMN offer_hours integer NOT NULL DEFAULT 24 CHECK (offer_hours BETWEEN 1 AND 168);

CREATE TABLE waiting_list (
    id             uuid PRIMARY KEY,
    ticket_type_id uuid NOT NULL REFERENCES ticket_types (id) ON DELETE CASCADE,
    event_id       uuid NOT NULL,
    user_id        uuid NOT NULL REFERENCES users (id),
    quantity       integer NOT NULL CHECK (quantity > 0),
    -- waiting: in line for seats; offered: holds an offer (`booking_id`);
    -- done: the offer was taken, declined or ran out; left: the buyer left.
    status         text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'offered', 'done', 'left')),
    booking_id     uuid REFERENCES bookings (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- One entry per user and ticket type while it is live.
CREATE UNIQUE INDEX waiting_list_one_per_user ON waiting_list (user_id, ticket_type_id)
    WHERE status IN ('waiting', 'offered');
-- The list in order (ids are UUIDv7: time order).
CREATE INDEX waiting_list_in_order ON waiting_list (ticket_type_id, id) WHERE status = 'waiting';
CREATE INDEX waiting_list_by_booking ON waiting_list (booking_id) WHERE booking_id IS NOT NULL;
CREATE INDEX waiting_list_by_user ON waiting_list (user_id, id);

ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'event_cancelled', 'email_verification',
                    'refund_succeeded', 'waiting_list_offer'));
