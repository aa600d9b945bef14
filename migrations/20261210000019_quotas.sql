-- Shared quotas: a capacity several ticket types of one event draw from
-- ("Standing" and "Standing, early bird" share 500). `remaining` moves with
-- the seats of its types, in the same statement (`take_seats`), under the
-- quota's row lock, taken after the ticket types' (the order everywhere).
CREATE TABLE quotas (
    id         uuid PRIMARY KEY,
    event_id   uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name       text NOT NULL,
    capacity   integer NOT NULL CHECK (capacity > 0),
    remaining  integer NOT NULL CHECK (remaining >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quotas_event_name_key UNIQUE (event_id, name)
);

CREATE TABLE quota_ticket_types (
    quota_id       uuid NOT NULL REFERENCES quotas (id) ON DELETE CASCADE,
    ticket_type_id uuid NOT NULL REFERENCES ticket_types (id) ON DELETE CASCADE,
    PRIMARY KEY (quota_id, ticket_type_id)
);
CREATE INDEX quota_ticket_types_by_type ON quota_ticket_types (ticket_type_id);
