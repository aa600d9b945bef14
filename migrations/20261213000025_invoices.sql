-- Papers: tax on ticket types, billing details, invoices and credit notes.

-- Basis points (1900 = 19 %); whether an event's prices include it.
ALTER TABLE ticket_types ADD COLUMN tax_rate integer NOT NULL DEFAULT 0 CHECK (tax_rate BETWEEN 0 AND 10000);
ALTER TABLE events ADD COLUMN prices_include_tax boolean NOT NULL DEFAULT true;

-- What a seated booking was sold at, kept with it: the charge (and its
-- invoice) does not move when the organizer changes a rate later.
ALTER TABLE bookings
    ADD COLUMN tax_rate integer CHECK (tax_rate BETWEEN 0 AND 10000),
    ADD COLUMN prices_include_tax boolean,
    -- Entered by the buyer on the booking's page, for its invoice.
    ADD COLUMN billing_name text,
    ADD COLUMN billing_address text;

-- The seller on an organizer's invoices.
CREATE TABLE billing_profiles (
    user_id        uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    legal_name     text NOT NULL,
    address        text NOT NULL,
    tax_id         text NOT NULL DEFAULT '',
    invoice_footer text NOT NULL DEFAULT '',
    invoice_prefix text NOT NULL DEFAULT 'INV',
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Gapless numbering per organizer and year: a row lock on the counter (a
-- sequence may skip numbers; an invoice series must not).
CREATE TABLE invoice_counters (
    organizer_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    year         integer NOT NULL,
    last         integer NOT NULL,
    PRIMARY KEY (organizer_id, year)
);

-- Invoices and credit notes, as issued: never changed afterwards.
CREATE TABLE invoices (
    id           uuid PRIMARY KEY,
    organizer_id uuid NOT NULL REFERENCES users (id),
    year         integer NOT NULL,
    seq          integer NOT NULL,
    number       text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    booking_id   uuid NOT NULL REFERENCES bookings (id),
    -- A credit note: the invoice it corrects, and the refund it records.
    credits      uuid REFERENCES invoices (id),
    refund_id    uuid UNIQUE REFERENCES refunds (id),
    -- The payment it invoices (an invoice), or whose refund it records.
    payment_id   uuid NOT NULL REFERENCES payments (id),
    issued_at    timestamptz NOT NULL DEFAULT now(),
    currency     text NOT NULL,
    net_cents    bigint NOT NULL,
    tax_cents    bigint NOT NULL,
    gross_cents  bigint NOT NULL CHECK (gross_cents = net_cents + tax_cents),
    -- Everything the paper shows (seller, buyer, lines, rates), as issued.
    document     jsonb NOT NULL,
    UNIQUE (organizer_id, year, seq),
    UNIQUE (organizer_id, number),
    CHECK ((kind = 'invoice') = (credits IS NULL))
);
-- One invoice per booking.
CREATE UNIQUE INDEX invoices_one_per_booking ON invoices (booking_id) WHERE kind = 'invoice';
CREATE INDEX invoices_by_booking ON invoices (booking_id);
CREATE INDEX invoices_by_organizer ON invoices (organizer_id, issued_at);
