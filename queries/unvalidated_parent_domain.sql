-- id: unvalidated_parent_domain
-- severity: error
-- source: Mozilla, "WoSign and StartCom" (2016), issue "Arbitrary domain validation": control of x.github.io yielded github.io; CA/Browser Forum Baseline Requirements 3.2.2.4
-- description: The SANs hold a name c.P and its parent P where P is a public suffix or lies above the registrable domain of c.P, so whoever validated c.P cannot own P.
-- A parent that qualifies is itself a suffix (it has no registrable domain):
-- only certificates holding such a name can have a pair, so only their names
-- go into the self-join.
WITH candidates AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, unnest(san_dns) AS name
  FROM certs
  WHERE NOT coalesce(is_ca, false) AND cardinality(san_dns) > 1 AND any_unregistrable(san_dns)
),
pairs AS (
  SELECT c.log, c.entry_index, c.cert_sha256, c.issuer_cn, c.not_before, c.name AS child, p.name AS parent
  FROM candidates c
  JOIN candidates p
    ON c.log = p.log AND c.entry_index = p.entry_index
   AND lower(rtrim(p.name, '.')) = parent_domain(c.name)
  WHERE is_public_suffix(p.name)
     OR (registrable_domain(c.name) IS NOT NULL
         AND registrable_domain(c.name) <> lower(rtrim(p.name, '.'))
         AND registrable_domain(c.name) LIKE '%.' || lower(rtrim(p.name, '.')))
)
SELECT log, entry_index, hex(cert_sha256) AS cert_sha256, issuer_cn, not_before,
       string_agg(parent || ' is the parent of ' || child, '; ') AS detail
FROM pairs
GROUP BY log, entry_index, cert_sha256, issuer_cn, not_before
