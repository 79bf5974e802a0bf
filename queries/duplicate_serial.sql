-- id: duplicate_serial
-- severity: error
-- source: RFC 5280 4.1.2.2 (serial numbers unique per CA); CA/Browser Forum Baseline Requirements 7.1
-- description: Two different certificates (different tbs_sha256) from the same issuer (issuer_dn, and issuer key hash where both entries know it) with the same serial. A precert and its final certificate share a tbs_sha256 and are not duplicates; nor is one certificate logged twice. Each certificate of a pair is reported.
WITH s AS (
  SELECT log, entry_index, cert_sha256, tbs_sha256, issuer_cn, issuer_dn, issuer_key_hash, serial, not_before
  FROM certs
  WHERE NOT coalesce(is_ca, false)
    AND serial IS NOT NULL AND tbs_sha256 IS NOT NULL AND issuer_dn IS NOT NULL
)
SELECT a.log, a.entry_index, hex(a.cert_sha256) AS cert_sha256, a.issuer_cn, a.not_before,
       'serial ' || a.serial || ' is also used by ' || CAST(count(DISTINCT b.tbs_sha256) AS VARCHAR)
         || ' other certificate(s), e.g. ' || min(hex(b.cert_sha256)) AS detail
FROM s a
JOIN s b
  ON a.issuer_dn = b.issuer_dn AND a.serial = b.serial AND a.tbs_sha256 <> b.tbs_sha256
WHERE a.issuer_key_hash IS NULL OR b.issuer_key_hash IS NULL OR a.issuer_key_hash = b.issuer_key_hash
GROUP BY a.log, a.entry_index, a.cert_sha256, a.issuer_cn, a.not_before, a.serial
