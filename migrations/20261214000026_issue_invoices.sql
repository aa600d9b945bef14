-- Whether an event's paid bookings get invoices from Boxoffice (default) or
-- from the organizer's own accounting. Fixed once the event is published, so
-- every paid booking of an event is invoiced the same way.
ALTER TABLE events ADD COLUMN issue_invoices boolean NOT NULL DEFAULT true;
