-- An address's type is one of a few words (elms.customer.domain.AddressType), as the API reads
-- it; the spec's free VARCHAR let any text in. Types written before are kept when they are one
-- of the words in another case or with spaces around, else become OTHER, so the check holds
-- for every row (an update of an old row's street would otherwise fail on its type).
UPDATE customer_addresses
   SET address_type = CASE
       WHEN upper(btrim(address_type)) IN ('PRIMARY', 'HOME', 'WORK', 'MAILING', 'BILLING', 'OTHER')
       THEN upper(btrim(address_type))
       ELSE 'OTHER'
   END
 WHERE address_type IS NOT NULL
   AND address_type NOT IN ('PRIMARY', 'HOME', 'WORK', 'MAILING', 'BILLING', 'OTHER');

ALTER TABLE customer_addresses ADD CONSTRAINT chk_address_type_valid
    CHECK (address_type IN ('PRIMARY', 'HOME', 'WORK', 'MAILING', 'BILLING', 'OTHER'));
