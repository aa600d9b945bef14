-- A scan the device itself turned away (its list said not valid, already
-- admitted, not for this entrance) is recorded as such and never admits
-- anyone later: the door's word at the time stands.
ALTER TABLE door_scans DROP CONSTRAINT door_scans_outcome_check;
ALTER TABLE door_scans ADD CONSTRAINT door_scans_outcome_check
    CHECK (outcome IN ('admitted', 'duplicate', 'void', 'unknown', 'not_valid_here', 'refused'));
