-- After this time a buyer can no longer cancel (the organizer still can).
-- NULL: when the event starts, resolved when read so a moved start moves it.
ALTER TABLE events ADD COLUMN cancellation_deadline timestamptz;
