-- id: underscore_in_dnsname
-- severity: error
-- source: CA/Browser Forum ballot SC12 (no underscores in dNSNames of certificates issued from 2019-04-01); Baseline Requirements 7.1.4.2.1
-- description: A dNSName containing "_" in a certificate whose not_before is on or after 2019-04-01.
-- param: since = 2019-04-01T00:00:00Z | underscores are forbidden from this date
WITH names AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, unnest(san_dns) AS name
  FROM name_suspects
  WHERE not_before >= TIMESTAMP '${since}' AND facts & 8 <> 0
)
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'underscore in ' || string_agg(name, ', ') AS detail
FROM names
WHERE strpos(name, '_') > 0
GROUP BY log, entry_index, cert_sha256, issuer_cn, not_before
