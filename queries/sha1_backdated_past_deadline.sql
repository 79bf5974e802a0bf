-- id: sha1_backdated_past_deadline
-- severity: error
-- source: Mozilla, "WoSign and StartCom" (2016): SHA-1 certificates backdated to before the 2016-01-01 ban; CA/Browser Forum Baseline Requirements 7.1.3
-- description: A SHA-1 subscriber certificate whose not_before is before the deadline but whose earliest evidence of issuance (earliest embedded SCT, or a precert entry's log timestamp) is on or after it.
-- param: deadline = 2016-01-01T00:00:00Z | the SHA-1 deadline
WITH evidence AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, signature_algorithm,
         least(array_min(sct_timestamps),
               CASE WHEN entry_type = 'precert' THEN entry_timestamp END) AS first_seen
  FROM certs
  WHERE NOT coalesce(is_ca, false)
    AND signature_oid IN ('1.2.840.113549.1.1.5', '1.3.14.3.2.29', '1.2.840.10040.4.3', '1.2.840.10045.4.1')
)
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       signature_algorithm || ' with not_before ' || CAST(not_before AS VARCHAR)
         || ' but first seen ' || CAST(first_seen AS VARCHAR) AS detail
FROM evidence
WHERE not_before < TIMESTAMP '${deadline}' AND first_seen >= TIMESTAMP '${deadline}'
