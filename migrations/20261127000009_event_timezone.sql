-- Where an event happens, as an IANA time zone ("Europe/Berlin"): pages show
-- its times in that zone, named. Times stay stored in UTC.
ALTER TABLE events ADD COLUMN timezone text NOT NULL DEFAULT 'UTC';
