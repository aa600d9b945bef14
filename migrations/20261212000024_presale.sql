-- Presale codes: a code's holders book from `presale_from`, before the
-- event's sales start, through a pre-queue and a draw of their own (one per
-- event and presale time: codes opening at the same moment share it).

ALTER TABLE codes ADD COLUMN presale_from timestamptz;

-- A pre-queued request: the presale whose draw it waits for (NULL: the
-- event's own). Any other: the presale it was taken in, if any.
ALTER TABLE bookings ADD COLUMN presale_at timestamptz;
DROP INDEX bookings_prequeue;
CREATE INDEX bookings_prequeue ON bookings (event_id, presale_at)
    WHERE status = 'pending' AND prequeued AND line_position IS NULL;

-- Where a draw's places begin: a presale drawn earlier keeps the places
-- before it (1 when there was none).
ALTER TABLE draws ADD COLUMN first_position integer NOT NULL DEFAULT 1;

CREATE TABLE presale_draws (
    event_id       uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    presale_at     timestamptz NOT NULL,
    -- 32 bytes from the operating system's CSPRNG; secret until the draw.
    -- (Null only for a presale drawn without one, in arrival order.)
    seed           bytea CHECK (length(seed) = 32),
    -- sha256(seed), hex: published from the moment the first code of this
    -- presale was made, before anyone could enter its pre-queue.
    commitment     text,
    committed_at   timestamptz NOT NULL DEFAULT now(),
    drawn_at       timestamptz,
    entries        integer,
    first_position integer,
    PRIMARY KEY (event_id, presale_at)
);
CREATE INDEX presale_draws_due ON presale_draws (presale_at) WHERE drawn_at IS NULL;
