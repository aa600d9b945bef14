-- One image per event, re-encoded by the server: WebP at most 1600 px wide
-- and at most 400 px wide (cards). Served under the large rendition's hash,
-- so a URL's bytes never change and browsers may keep them for a year.
CREATE TABLE event_images (
    event_id   uuid PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    hash       text NOT NULL,
    width      integer NOT NULL,
    height     integer NOT NULL,
    large      bytea NOT NULL,
    small      bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Two events may carry the same picture: the URL finds either.
CREATE INDEX event_images_hash ON event_images (hash);

-- The event says which image it shows (its hash), read with the event.
ALTER TABLE events ADD COLUMN image_hash text;
