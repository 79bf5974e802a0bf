-- id: duplicate_serial
-- severity: error
-- source: RFC 5280 4.1.2.2 (serial numbers unique per CA); CA/Browser Forum Baseline Requirements 7.1
-- description: Two different certificates (different tbs_sha256) from the same issuer (issuer_dn, and issuer key hash where both entries know it) with the same serial. A precert and its final certificate share a tbs_sha256 and are not duplicates; nor is one certificate logged twice. Each certificate of a pair is reported (every entry of it).
WITH s AS (
  SELECT log, entry_index, cert_sha256, tbs_sha256, issuer_cn, issuer_dn, issuer_key_hash, serial, not_before
  FROM certs
  WHERE NOT coalesce(is_ca, false)
    AND serial IS NOT NULL AND tbs_sha256 IS NOT NULL AND issuer_dn IS NOT NULL
),
-- Serials with more than one tbs_sha256 under any issuer (grouping on the
-- serial alone keeps the keys short; min <> max of the hashes' 64-bit
-- prefixes tells two hashes apart and aggregates as integers),
-- then the distinct certificates holding them, so a certificate logged many
-- times costs nothing extra. The issuer is compared in `pairs`.
shared AS (
  SELECT serial FROM s
  GROUP BY serial
  HAVING min(prefix64(tbs_sha256)) <> max(prefix64(tbs_sha256))
),
-- The small side of each join is written first: it is the one built.
candidates AS (
  SELECT DISTINCT s.issuer_dn, s.serial, s.tbs_sha256, s.issuer_key_hash
  FROM shared JOIN s ON s.serial = shared.serial
),
pairs AS (
  SELECT a.issuer_dn, a.serial, a.tbs_sha256,
         count(DISTINCT b.tbs_sha256) AS others, min(hex(b.tbs_sha256)) AS example
  FROM candidates a
  JOIN candidates b
    ON a.issuer_dn = b.issuer_dn AND a.serial = b.serial AND a.tbs_sha256 <> b.tbs_sha256
  WHERE a.issuer_key_hash IS NULL OR b.issuer_key_hash IS NULL OR a.issuer_key_hash = b.issuer_key_hash
  GROUP BY a.issuer_dn, a.serial, a.tbs_sha256
)
SELECT DISTINCT s.log, s.entry_index, hex(s.cert_sha256) AS cert_sha256, s.issuer_cn, s.not_before,
       'serial ' || s.serial || ' is also used by ' || CAST(p.others AS VARCHAR)
         || ' other certificate(s) of this issuer, e.g. tbs_sha256 ' || p.example AS detail
FROM pairs p
JOIN s ON s.issuer_dn = p.issuer_dn AND s.serial = p.serial AND s.tbs_sha256 = p.tbs_sha256
