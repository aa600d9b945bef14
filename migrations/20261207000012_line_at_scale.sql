-- A place in line is found without counting the line ahead of it
-- (db::line::place): places are numbered without gaps, so what is ahead is
-- the places between the line's head and the booking's, less those among
-- them decided out of turn, which this index finds without reading the
-- undecided ones between.
CREATE INDEX bookings_line_decided ON bookings (event_id, line_position)
    WHERE status <> 'pending' AND line_position IS NOT NULL;

-- An on-sale grows this table by a hundred thousand rows a minute, faster
-- than the default analyze threshold (a tenth of the table) keeps the
-- planner's statistics: planned for an empty line, lookups read all of it.
ALTER TABLE bookings SET (autovacuum_analyze_scale_factor = 0.01, autovacuum_analyze_threshold = 1000,
                          autovacuum_vacuum_scale_factor = 0.05);
