-- id: wildcard_misplaced
-- severity: error
-- source: CA/Browser Forum Baseline Requirements 7.1.4.2.1 and RFC 6125 6.4.3 (a wildcard only as the entire leftmost label)
-- description: A dNSName with "*" anywhere but as the whole leftmost label (f*.example.com, www.*.example.com, *.*.example.com).
WITH names AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, unnest(san_dns) AS name
  FROM name_suspects
  WHERE facts & 16 <> 0
)
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'misplaced wildcard in ' || string_agg(name, ', ') AS detail
FROM names
WHERE strpos(name, '*') > 0
  AND NOT (name = '*' OR (starts_with(name, '*.') AND strpos(substr(name, 3), '*') = 0))
GROUP BY log, entry_index, cert_sha256, issuer_cn, not_before
