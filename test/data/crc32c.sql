-- CRC-32C in SQL, and a reseal that writes a valid checksum into a meta
-- embedding or item code: the checksum detects corruption, not forgery, and
-- the tests forge headers with it (docs/formats.md)
CREATE FUNCTION pg_temp.crc32c(b bytea) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	crc bigint := 4294967295;
BEGIN
	FOR i IN 0 .. length(b) - 1 LOOP
		crc := crc # get_byte(b, i);
		FOR k IN 1 .. 8 LOOP
			IF crc & 1 = 1 THEN
				crc := (crc >> 1) # 2197175160;		-- 0x82F63B78, reflected
			ELSE
				crc := crc >> 1;
			END IF;
		END LOOP;
	END LOOP;
	RETURN crc # 4294967295;
END $$;
-- writes the checksum (little-endian) of the header and payload: bytes 40-43
-- of format 2's 44-byte header, bytes 20-23 of format 1's 24-byte one
CREATE FUNCTION pg_temp.reseal(b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	c bigint;
	at int := CASE WHEN get_byte(b, 4) = 1 THEN 20 ELSE 40 END;
BEGIN
	b := overlay(b PLACING '\x00000000'::bytea FROM at + 1);
	c := pg_temp.crc32c(b);
	FOR k IN 0 .. 3 LOOP
		b := set_byte(b, at + k, ((c >> (8 * k)) & 255)::int);
	END LOOP;
	RETURN b;
END $$;
