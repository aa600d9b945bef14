-- Sign-in links: a random token mailed to an address, its SHA-256 kept (like
-- verification links), good once within 15 minutes. Keyed by the address,
-- not an account: redeeming one for an address nobody registered creates
-- the account, already verified (the link proves the address).
CREATE TABLE sign_in_links (
    token_hash bytea PRIMARY KEY,
    email      text NOT NULL CHECK (email = lower(email)),
    -- Where the person was going (a local path), to land there signed in.
    next       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
-- How many links an address was sent lately (the limit), and the prune.
CREATE INDEX sign_in_links_email ON sign_in_links (email, created_at);

-- An email about an address with no account yet names its recipient itself.
ALTER TABLE outbox ADD COLUMN email text;
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'event_cancelled', 'email_verification',
                    'refund_succeeded', 'waiting_list_offer', 'sign_in_link'));
-- Each row is about exactly one thing: a booking, an account, or an address.
ALTER TABLE outbox DROP CONSTRAINT outbox_about_one;
ALTER TABLE outbox ADD CONSTRAINT outbox_about_one
    CHECK (num_nonnulls(booking_id, user_id, email) = 1);
