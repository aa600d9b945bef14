-- Search finds words, in any order, not a phrase (db::events::list): a
-- generated text-search vector over the title (weighted first), the venue
-- and the description, with a GIN index. The 'simple' configuration: events
-- are written in many languages, and an English stemmer would mangle the
-- others (a word is found as typed, and the last word typed as a prefix).
ALTER TABLE events ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', title), 'A') ||
    setweight(to_tsvector('simple', venue), 'B') ||
    setweight(to_tsvector('simple', description), 'C')) STORED;
CREATE INDEX events_search ON events USING GIN (search);
