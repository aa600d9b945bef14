-- Organizations own events; people are members with one role each
-- (domain::team). Every organizer so far gets a personal organization with
-- their own id (so the invoice series and billing details keyed by their id
-- stay theirs), and is its owner; their events move into it.
CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    -- The person whose personal organization this is (made on their first event).
    personal_of uuid UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('owner', 'manager', 'box_office', 'door')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

INSERT INTO organizations (id, name, personal_of)
SELECT u.id, u.name, u.id FROM users u
 WHERE EXISTS (SELECT 1 FROM events e WHERE e.organizer_id = u.id)
    OR EXISTS (SELECT 1 FROM billing_profiles b WHERE b.user_id = u.id)
    OR EXISTS (SELECT 1 FROM invoices i WHERE i.organizer_id = u.id);
INSERT INTO memberships (organization_id, user_id, role) SELECT id, id, 'owner' FROM organizations;

ALTER TABLE events ADD COLUMN organization_id uuid REFERENCES organizations (id);
UPDATE events SET organization_id = organizer_id;
ALTER TABLE events ALTER COLUMN organization_id SET NOT NULL;
CREATE INDEX events_by_organization ON events (organization_id, starts_at, id);

-- Billing details and invoice series belong to the organization.
ALTER TABLE billing_profiles DROP CONSTRAINT billing_profiles_user_id_fkey,
    ADD CONSTRAINT billing_profiles_organization FOREIGN KEY (user_id) REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE invoice_counters DROP CONSTRAINT invoice_counters_organizer_id_fkey,
    ADD CONSTRAINT invoice_counters_organization FOREIGN KEY (organizer_id) REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE invoices DROP CONSTRAINT invoices_organizer_id_fkey,
    ADD CONSTRAINT invoices_organization FOREIGN KEY (organizer_id) REFERENCES organizations (id);

-- An invitation: a single-use link mailed to an address, valid 7 days;
-- accepted by a verified account with that address.
CREATE TABLE invitations (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           text NOT NULL,
    role            text NOT NULL CHECK (role IN ('owner', 'manager', 'box_office', 'door')),
    token_hash      bytea NOT NULL UNIQUE,
    invited_by      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    accepted_at     timestamptz,
    accepted_by     uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX invitations_by_organization ON invitations (organization_id, created_at);

-- Who did what to which event, order or member, when.
CREATE TABLE audit_log (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    action          text NOT NULL,
    event_id        uuid REFERENCES events (id) ON DELETE SET NULL,
    subject         text NOT NULL DEFAULT '',
    detail          jsonb NOT NULL DEFAULT '{}',
    at              timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_log_by_organization ON audit_log (organization_id, at DESC, id);

-- The invitation email: a row naming its address and its invitation.
ALTER TABLE outbox ADD COLUMN invitation_id uuid REFERENCES invitations (id) ON DELETE CASCADE;
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'event_cancelled', 'email_verification',
                    'refund_succeeded', 'waiting_list_offer', 'sign_in_link', 'invitation'));
ALTER TABLE outbox DROP CONSTRAINT outbox_email_is_for_links;
ALTER TABLE outbox ADD CONSTRAINT outbox_email_is_for_links
    CHECK ((kind IN ('sign_in_link', 'invitation')) = (email IS NOT NULL));
ALTER TABLE outbox ADD CONSTRAINT outbox_invitation_names_one CHECK ((kind = 'invitation') = (invitation_id IS NOT NULL));
