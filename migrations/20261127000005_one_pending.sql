-- One booking request in line per user and ticket type, also for requests
-- accepted through PostgreSQL while Redis was down (Redis holds the rest).
CREATE UNIQUE INDEX bookings_one_pending ON bookings (user_id, ticket_type_id) WHERE status = 'pending';
