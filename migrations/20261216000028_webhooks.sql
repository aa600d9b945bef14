-- Webhooks (issue 31): an organization's endpoints, and one delivery per
-- endpoint for each event it subscribed to, written in the transaction that
-- made the change (the outbox pattern of the emails) and sent by the
-- worker process with retries.
CREATE TABLE webhook_endpoints (
    id                    uuid PRIMARY KEY,
    organization_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                   text NOT NULL,
    description           text NOT NULL DEFAULT '',
    -- The event types it receives (`booking.confirmed` ...).
    events                text[] NOT NULL CHECK (cardinality(events) > 0),
    -- `whsec_` and 32 random bytes in base64; the previous one stays valid
    -- for a day after a rotation.
    secret                text NOT NULL,
    previous_secret       text,
    previous_secret_until timestamptz,
    enabled               boolean NOT NULL DEFAULT true,
    disabled_reason       text,
    -- Since when every try failed (none since the last success); five days
    -- of it disable the endpoint.
    failing_since         timestamptz,
    created_by            uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_of_organization ON webhook_endpoints (organization_id);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    -- The `webhook-id` (as `msg_` and this in hex): the same for every try
    -- and replay of one event, and for each endpoint that receives it.
    message_id      uuid NOT NULL,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    -- The body sent, exactly (signed as it is).
    payload         text NOT NULL,
    -- pending: to send (again) at next_attempt_at; delivered; failed: given up.
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    -- A sender claims a row by moving this forward (a lease).
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_latency_ms integer,
    last_error      text,
    last_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_of_endpoint ON webhook_deliveries (endpoint_id, created_at DESC);

-- Wake the senders as soon as rows commit (they also poll, for retries).
CREATE FUNCTION webhook_deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('webhooks', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_deliveries_inserted AFTER INSERT ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_notify();

-- The owners hear of an endpoint disabled after five days of failures.
ALTER TABLE outbox ADD COLUMN webhook_endpoint_id uuid REFERENCES webhook_endpoints (id) ON DELETE CASCADE;
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'event_cancelled', 'email_verification',
                    'refund_succeeded', 'waiting_list_offer', 'sign_in_link', 'invitation', 'webhook_disabled'));
ALTER TABLE outbox DROP CONSTRAINT outbox_email_is_for_links;
ALTER TABLE outbox ADD CONSTRAINT outbox_email_is_for_links
    CHECK ((kind IN ('sign_in_link', 'invitation', 'webhook_disabled')) = (email IS NOT NULL));
ALTER TABLE outbox ADD CONSTRAINT outbox_webhook_names_one
    CHECK ((kind = 'webhook_disabled') = (webhook_endpoint_id IS NOT NULL));
