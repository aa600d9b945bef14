-- Each ticket of a booking has its own place (its holder is the name given
-- there): written by every path that makes tickets, never left to a default.
-- An integer: a booking's tickets are few, but a list imported at the door
-- (and the tests' large attendee lists) may hang many on one booking.
ALTER TABLE tickets ALTER COLUMN position DROP DEFAULT;
ALTER TABLE tickets ALTER COLUMN position TYPE integer;
CREATE UNIQUE INDEX tickets_booking_position ON tickets (booking_id, position);
