-- Accounts and sessions.
-- Emails are stored lower-cased (normalised at the edge), so the plain unique
-- constraint makes them unique case-insensitively.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL CONSTRAINT users_email_key UNIQUE CHECK (email = lower(email)),
    name          text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A session is one login: the family of every refresh token rotated from it and
-- every access token minted along the way (the JWT carries the session id as `sid`).
-- Revoking the session ends all of them at once (logout, refresh-token reuse).
CREATE TABLE sessions (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Refresh tokens are opaque random strings; only their SHA-256 is stored.
-- A token with `rotated_at` set has been exchanged once; presenting it again is reuse.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
