-- id: internal_name
-- severity: error
-- source: CA/Browser Forum Baseline Requirements 4.2.2 and 7.1.4.2 (no Internal Names or Reserved IP Addresses after 2015-11-01)
-- description: A dNSName or hostname-like subject CN whose top-level domain is not delegated (.local, .internal, .corp...), or a SAN iPAddress in a private or reserved range, in a certificate with not_after after 2015-11-01.
-- param: cutoff = 2015-11-01T00:00:00Z | certificates expiring after this must not hold internal names
-- name_suspects (schemas/name_suspects.md): subscriber certificates with
-- a name, CN or IP fact; 4 an undelegated TLD among the dNSNames, 32 the
-- same in a host-name-like CN, 64 a reserved IP. The tests below are the
-- exact ones; the facts only select the few certificates to test.
WITH subscriber AS (
  SELECT * FROM name_suspects
  WHERE facts & (4 | 32 | 64) <> 0 AND not_after > TIMESTAMP '${cutoff}'
),
names AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, unnest(san_dns) AS name, 'dNSName' AS kind
  FROM subscriber
  WHERE any_undelegated_tld(san_dns)
  UNION ALL
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, subject_cn AS name, 'CN' AS kind
  FROM subscriber
  WHERE NOT tld_is_delegated(subject_cn)
    AND regexp_like(subject_cn, '^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*\.?$')
    AND NOT regexp_like(subject_cn, '^[0-9.]+$')
),
bad AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
         kind || ' ' || name || ' has an undelegated TLD' AS why
  FROM names
  WHERE NOT tld_is_delegated(name)
  UNION ALL
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, 'iPAddress ' || ip || ' is reserved' AS why
  FROM (SELECT log, entry_index, cert_sha256, issuer_cn, not_before, unnest(san_ip) AS ip FROM subscriber
        WHERE any_reserved_ip(san_ip))
  WHERE is_reserved_ip(ip)
)
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       string_agg(DISTINCT why, '; ') AS detail
FROM bad
GROUP BY log, entry_index, cert_sha256, issuer_cn, not_before
