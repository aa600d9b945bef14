-- Payment methods per event: which of the server's the event takes ('card'
-- through Stripe, 'offline'); NULL: what the server has. The offline
-- instructions per event; NULL: the server's.
ALTER TABLE events ADD COLUMN payment_methods text[]
    CHECK (payment_methods <@ ARRAY['card', 'offline'] AND cardinality(payment_methods) > 0);
ALTER TABLE events ADD COLUMN offline_payment_instructions text;
