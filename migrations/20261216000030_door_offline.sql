-- The door offline (issue 31): scans made without a connection come in
-- later, each once (a device's nonce), and are applied in the order they
-- were made; check-in lists let a gate admit only some ticket types.
CREATE TABLE checkin_lists (
    id              uuid PRIMARY KEY,
    event_id        uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name            text NOT NULL,
    ticket_type_ids uuid[] NOT NULL CHECK (cardinality(ticket_type_ids) > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, name)
);

CREATE TABLE door_scans (
    id          uuid PRIMARY KEY,
    event_id    uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    device_id   text NOT NULL,
    nonce       text NOT NULL,
    gate        text,
    list_id     uuid REFERENCES checkin_lists (id) ON DELETE SET NULL,
    -- The ticket scanned, when the code is one of the event's.
    ticket_code text,
    scanned_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- admitted: this scan let the ticket in; duplicate: another scan did,
    -- earlier; void: a cancelled ticket; unknown: no such ticket;
    -- not_valid_here: a ticket type the scan's list does not admit.
    outcome     text NOT NULL CHECK (outcome IN ('admitted', 'duplicate', 'void', 'unknown', 'not_valid_here')),
    UNIQUE (event_id, device_id, nonce)
);
CREATE INDEX door_scans_of_ticket ON door_scans (ticket_code) WHERE ticket_code IS NOT NULL;

-- Where and by what a ticket was admitted (null: the online door of old).
ALTER TABLE tickets ADD COLUMN checked_in_gate text;
ALTER TABLE tickets ADD COLUMN checked_in_device text;
