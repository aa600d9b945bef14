-- Sign-in links are counted per address and the network that asked for
-- them (a stranger asking six times must not lock the owner out for a day),
-- with a ceiling per address over all networks against mail bombing.
ALTER TABLE sign_in_links ADD COLUMN network text NOT NULL DEFAULT '';
