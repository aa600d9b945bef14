-- Verified addresses. Until verified, an account cannot book, and nothing but
-- the verification email is sent to it (accounts from before this migration
-- verify like new ones: their address was never confirmed either).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- Single-use verification links; only the token's SHA-256 is stored.
CREATE TABLE email_verifications (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX email_verifications_user ON email_verifications (user_id);

-- The outbox also carries emails about an account (the verification link):
-- such a row names the user instead of a booking, and holds the link's token
-- until it is sent (then it is cleared; the table keeps only its hash).
ALTER TABLE outbox ALTER COLUMN booking_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE outbox ADD COLUMN secret text;
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'event_cancelled', 'email_verification'));
ALTER TABLE outbox ADD CONSTRAINT outbox_about_one CHECK ((booking_id IS NULL) <> (user_id IS NULL));
