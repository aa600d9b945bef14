-- Messages to an event's people (issue 31): what an organizer wrote, to
-- whom, and one outbox email per person (the unique index: never two of
-- one message to one person, however often it is queued).
CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    event_id        uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    author_id       uuid REFERENCES users (id) ON DELETE SET NULL,
    -- all: every buyer with a confirmed booking; ticket_type: those of one
    -- type; checked_in / not_checked_in: whether a ticket of theirs was
    -- admitted; waiting_list: people waiting for seats.
    audience        text NOT NULL CHECK (audience IN ('all', 'ticket_type', 'checked_in', 'not_checked_in', 'waiting_list')),
    ticket_type_id  uuid REFERENCES ticket_types (id) ON DELETE SET NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    recipients      integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_of_event ON messages (event_id, created_at DESC);

ALTER TABLE outbox ADD COLUMN message_id uuid REFERENCES messages (id) ON DELETE CASCADE;
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('booking_confirmed', 'booking_cancelled', 'event_cancelled', 'email_verification',
                    'refund_succeeded', 'waiting_list_offer', 'sign_in_link', 'invitation', 'webhook_disabled',
                    'attendee_message'));
ALTER TABLE outbox ADD CONSTRAINT outbox_message_names_one
    CHECK ((kind = 'attendee_message') = (message_id IS NOT NULL AND user_id IS NOT NULL));
CREATE UNIQUE INDEX outbox_one_message_per_person ON outbox (message_id, user_id) WHERE message_id IS NOT NULL;
