-- A name and questions per ticket. Names and answers are the booking's
-- (given with the request, written in the deciding transaction, edited by
-- the buyer until the event's `answers_until`); a ticket finds its holder by
-- its position in the booking.

ALTER TABLE ticket_types
    ADD COLUMN attendee_names text NOT NULL DEFAULT 'off'
        CHECK (attendee_names IN ('off', 'optional', 'required'));

-- NULL: until the event starts.
ALTER TABLE events ADD COLUMN answers_until timestamptz;

-- A ticket's place in its booking (0-based): the attendee at that index holds it.
ALTER TABLE tickets ADD COLUMN position smallint NOT NULL DEFAULT 0;
UPDATE tickets t SET position = n.position
FROM (SELECT code, (row_number() OVER (PARTITION BY booking_id ORDER BY created_at, code) - 1)::smallint AS position
        FROM tickets) n
WHERE n.code = t.code AND n.position <> 0;

CREATE TABLE questions (
    id              uuid PRIMARY KEY,
    event_id        uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    position        integer NOT NULL,
    label           text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('text', 'long_text', 'choice', 'multi', 'checkbox', 'email', 'phone', 'date')),
    options         text[] NOT NULL DEFAULT '{}',
    required        boolean NOT NULL,
    -- NULL: every ticket type of the event.
    ticket_type_ids uuid[],
    applies_to      text NOT NULL CHECK (applies_to IN ('ticket', 'booking')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX questions_by_event ON questions (event_id, position);

-- The names given per ticket (none given: the buyer's name holds it).
CREATE TABLE attendees (
    booking_id   uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    ticket_index smallint NOT NULL CHECK (ticket_index >= 0),
    name         text NOT NULL,
    PRIMARY KEY (booking_id, ticket_index)
);

-- An answer: per ticket (`ticket_index`), or for the whole booking (NULL).
-- `value` is a JSON string, array of strings (multi) or boolean (checkbox).
CREATE TABLE answers (
    booking_id   uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    question_id  uuid NOT NULL REFERENCES questions (id),
    ticket_index smallint CHECK (ticket_index >= 0),
    value        jsonb NOT NULL,
    CONSTRAINT answers_once UNIQUE NULLS NOT DISTINCT (booking_id, question_id, ticket_index)
);
CREATE INDEX answers_by_question ON answers (question_id);

-- A request waiting in the line keeps its names and answers here until it is
-- decided (then they move to `attendees` and `answers`, or go with a refusal).
ALTER TABLE bookings ADD COLUMN pending_details jsonb;
