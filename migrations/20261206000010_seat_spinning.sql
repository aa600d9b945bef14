-- Against seat spinning (one account holding a sale's seats unpaid, again
-- and again): see docs/RELIABILITY.md.
--
-- After a hold of theirs ran out unpaid, a buyer waits this long before
-- holding the same ticket type again (0: no wait).
ALTER TABLE events
    ADD COLUMN hold_cooldown_seconds integer NOT NULL DEFAULT 600
        CHECK (hold_cooldown_seconds BETWEEN 0 AND 86400),
    -- A bank transfer takes a day or two, not three: a day by default.
    ALTER COLUMN offline_hold_hours SET DEFAULT 24;

-- One buyer owns at most max_per_order seats of a type unless the organizer
-- says otherwise: unlimited made one account able to hold a whole type.
UPDATE ticket_types SET max_per_buyer = max_per_order WHERE max_per_buyer IS NULL;

-- The unpaid holds of a buyer in an event, and the holds of theirs that ran
-- out (the cooldown counts from then: updated_at), read in the worker's
-- transaction.
CREATE INDEX bookings_user_event_held ON bookings (user_id, event_id) WHERE status = 'held';
CREATE INDEX bookings_user_type_lapsed ON bookings (user_id, ticket_type_id, updated_at)
    WHERE status = 'expired' AND reason = 'hold_expired';
