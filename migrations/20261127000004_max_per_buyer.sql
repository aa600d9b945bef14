-- Seats one user may own of a ticket type across all their bookings (NULL: no
-- limit beyond max_per_order), checked in the worker's batch transaction.
ALTER TABLE ticket_types ADD COLUMN max_per_buyer integer CHECK (max_per_buyer >= 1);
