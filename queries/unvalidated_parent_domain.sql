-- id: unvalidated_parent_domain
-- severity: error
-- source: Mozilla, "WoSign and StartCom" (2016), issue "Arbitrary domain validation": control of x.github.io yielded github.io; CA/Browser Forum Baseline Requirements 3.2.2.4
-- description: The SANs hold a name c.P and its parent P where P is a public suffix or lies above the registrable domain of c.P, so whoever validated c.P cannot own P.
-- A parent that qualifies is itself a suffix (it has no registrable domain):
-- only certificates holding such a name can have a pair, so only their names
-- are unnested. Each name sees all names of its certificate through a window
-- (no self-join: that would scan certs twice), and finds its parent there.
WITH names AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, unnest(san_dns) AS name
  FROM name_suspects
  WHERE cardinality(san_dns) > 1 AND facts & 2 <> 0
),
cert_names AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, name,
         parent_domain(name) AS parent_norm,
         array_agg(name) OVER w AS originals,
         array_agg(lower(rtrim(name, '.'))) OVER w AS norms
  FROM names
  WINDOW w AS (PARTITION BY log, entry_index)
),
pairs AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, name AS child,
         originals[CAST(array_position(norms, parent_norm) AS BIGINT)] AS parent
  FROM cert_names
  WHERE array_has(norms, parent_norm)
    AND (is_public_suffix(parent_norm)
         OR (registrable_domain(name) IS NOT NULL
             AND registrable_domain(name) <> parent_norm
             AND registrable_domain(name) LIKE '%.' || parent_norm))
)
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       string_agg(parent || ' is the parent of ' || child, '; ') AS detail
FROM pairs
GROUP BY log, entry_index, cert_sha256, issuer_cn, not_before
