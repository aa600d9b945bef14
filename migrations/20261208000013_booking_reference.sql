-- A booking's reference ("K7M2-9QXD", domain::reference): the row's number
-- from this sequence, through a fixed permutation of 40 bits. A column
-- default, so every insert (the worker's batches, the pre-queue's parking,
-- a request accepted while Redis was down) numbers its rows without a word
-- from the code; existing rows are numbered as the column is added.
CREATE SEQUENCE booking_numbers AS bigint MAXVALUE 1099511627775;
ALTER TABLE bookings ADD COLUMN number bigint NOT NULL DEFAULT nextval('booking_numbers');
ALTER SEQUENCE booking_numbers OWNED BY bookings.number;
CREATE UNIQUE INDEX bookings_number ON bookings (number);
