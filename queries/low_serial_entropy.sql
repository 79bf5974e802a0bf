-- id: low_serial_entropy
-- severity: error
-- source: CA/Browser Forum Baseline Requirements 7.1 (ballot 164: at least 64 bits of CSPRNG output in serials from 2016-09-30)
-- description: A serial shorter than 64 bits (fewer than 8 content octets once a leading 00 sign octet is dropped) in a certificate whose not_before is on or after 2016-09-30.
-- param: since = 2016-09-30T00:00:00Z | the serial entropy requirement applies from this date
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'serial ' || serial || ' has ' || CAST(length(serial) * 4 AS VARCHAR) || ' bits as encoded' AS detail
FROM certs
WHERE NOT coalesce(is_ca, false)
  AND serial IS NOT NULL
  AND not_before >= TIMESTAMP '${since}'
  AND length(CASE WHEN starts_with(serial, '00') THEN substr(serial, 3) ELSE serial END) < 16
