-- An outbox row can be superseded before it is sent: a confirmation whose
-- booking was cancelled first is not sent (its cancellation notice is).
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'skipped'));
