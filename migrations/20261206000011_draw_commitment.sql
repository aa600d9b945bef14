-- The draw, checkable by anyone: its seed is drawn when the event is
-- published and only its SHA-256 is shown until the draw, so the seed is
-- fixed before anyone could enter the pre-queue (docs: README, "The draw").
CREATE TABLE draw_commitments (
    event_id     uuid PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    -- 32 bytes from the operating system's CSPRNG; secret until the draw.
    seed         bytea NOT NULL CHECK (length(seed) = 32),
    -- sha256(seed), hex: published from the start.
    commitment   text NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now()
);

-- Published events not drawn yet, whose pre-queue nobody has entered, get
-- their commitment now (from PostgreSQL's CSPRNG: two random UUIDs, 244
-- random bits). An event whose pre-queue already has entries gets none: a
-- seed chosen now could be chosen knowing them, so its pre-queue goes in
-- the order it arrived, and its draw says so.
INSERT INTO draw_commitments (event_id, seed, commitment)
SELECT id, seed, encode(sha256(seed), 'hex')
FROM (
    SELECT e.id,
           decode(replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), 'hex') AS seed
    FROM events e
    WHERE e.status = 'published'
      AND NOT EXISTS (SELECT 1 FROM draws d WHERE d.event_id = e.id)
      AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = e.id AND b.prequeued)
) fresh;

-- A draw without a commitment orders nothing: its seed is null and the
-- pre-queue keeps its order of arrival.
ALTER TABLE draws ALTER COLUMN seed DROP NOT NULL;

-- The drawn order and its sorted entries, read page by page.
CREATE INDEX bookings_drawn ON bookings (event_id, line_position) WHERE prequeued;
CREATE INDEX bookings_drawn_entries ON bookings (event_id, id) WHERE prequeued;
