-- Events and their ticket types.
CREATE TABLE events (
    id           uuid PRIMARY KEY,
    organizer_id uuid NOT NULL REFERENCES users (id),
    title        text NOT NULL,
    description  text NOT NULL,
    venue        text NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz,
    -- NULL sales_start: sales open when the event is published (published_at).
    -- NULL sales_end: sales close at starts_at. Both are resolved when read, so
    -- moving starts_at moves the default close with it.
    sales_start  timestamptz,
    sales_end    timestamptz,
    status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'cancelled')),
    published_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR ends_at >= starts_at)
);
-- The public list: published events in (starts_at, id) order, keyset-paginated.
CREATE INDEX events_published_by_start ON events (starts_at, id) WHERE status = 'published';
CREATE INDEX events_by_organizer ON events (organizer_id, starts_at, id);

CREATE TABLE ticket_types (
    id            uuid PRIMARY KEY,
    event_id      uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name          text NOT NULL,
    price_cents   bigint NOT NULL CHECK (price_cents >= 0),
    currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    capacity      integer NOT NULL CHECK (capacity BETWEEN 1 AND 1000000),
    -- The invariant the whole booking pipeline protects:
    -- capacity = remaining + sum(quantity of confirmed bookings), remaining >= 0.
    remaining     integer NOT NULL CHECK (remaining >= 0),
    max_per_order integer NOT NULL CHECK (max_per_order >= 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ticket_types_event_name_key UNIQUE (event_id, name),
    CHECK (remaining <= capacity)
);
CREATE INDEX ticket_types_event ON ticket_types (event_id);
