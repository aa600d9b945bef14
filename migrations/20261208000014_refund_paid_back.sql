-- An offline refund is paid out by the organizer (a transfer, cash at the
-- desk), who then says so: the refund is recorded succeeded with who and
-- when, and the buyer's refund email goes out (booking::payback).
ALTER TABLE refunds ADD COLUMN paid_back_by uuid REFERENCES users (id),
                    ADD COLUMN paid_back_at timestamptz;
