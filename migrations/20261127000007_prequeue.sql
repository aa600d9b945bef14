-- The on-sale: a pre-queue drawn in an auditable random order at sales_start.

-- Minutes before sales_start from which requests are taken into the pre-queue.
ALTER TABLE events ADD COLUMN prequeue_minutes integer NOT NULL DEFAULT 30
    CHECK (prequeue_minutes BETWEEN 0 AND 1440);

-- The line in PostgreSQL: requests of an event whose sales have not started
-- (`prequeued`), and, while any of those are still undecided after the draw,
-- requests that arrive behind them. `line_position` orders them: the draw's
-- order for the pre-queue, arrival order after it. The worker decides them in
-- that order, a chunk per transaction.
ALTER TABLE bookings
    ADD COLUMN prequeued boolean NOT NULL DEFAULT false,
    ADD COLUMN line_position integer;
CREATE INDEX bookings_line ON bookings (event_id, line_position) WHERE status = 'pending' AND line_position IS NOT NULL;
CREATE INDEX bookings_prequeue ON bookings (event_id) WHERE status = 'pending' AND prequeued AND line_position IS NULL;

-- The draw, once per event: the row is the draw. Written in the transaction
-- that numbers the pre-queue, so it exists exactly when the order does; a
-- second worker's insert waits for the first to commit and then finds it.
CREATE TABLE draws (
    event_id    uuid PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    -- 32 bytes from the operating system's CSPRNG; published once drawn.
    seed        bytea NOT NULL CHECK (length(seed) = 32),
    drawn_at    timestamptz NOT NULL DEFAULT now(),
    -- The sales start the draw was made for, and how many requests it ordered.
    sales_start timestamptz NOT NULL,
    entries     integer NOT NULL
);
