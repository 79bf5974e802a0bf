-- id: sha1_after_2016
-- severity: error
-- source: CA/Browser Forum Baseline Requirements 7.1.3 (no SHA-1 subscriber certificates from 2016-01-01); Mozilla Root Store Policy 5.1.1
-- description: A subscriber certificate signed with SHA-1 (sha1WithRSAEncryption, sha1WithRSA, dsaWithSHA1, ecdsa-with-SHA1) whose not_before is on or after the deadline.
-- param: deadline = 2016-01-01T00:00:00Z | the SHA-1 deadline
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'signed with ' || signature_algorithm || ', not_before ' || CAST(not_before AS VARCHAR) AS detail
FROM certs
WHERE NOT coalesce(is_ca, false)
  AND signature_oid IN ('1.2.840.113549.1.1.5', '1.3.14.3.2.29', '1.2.840.10040.4.3', '1.2.840.10045.4.1')
  AND not_before >= TIMESTAMP '${deadline}'
