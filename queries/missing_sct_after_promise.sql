-- id: missing_sct_after_promise
-- severity: warning
-- source: Mozilla, "WoSign and StartCom" (2016): WoSign committed to log all certificates from 2016-07-05
-- description: Final certificates (entry_type x509) of matching issuers with not_before on or after `since`, no embedded SCT, and no precert with the same tbs_sha256 anywhere in the dataset.
-- param: issuer_pattern = %WoSign% | SQL LIKE pattern matched against issuer_dn
-- param: since = 2016-07-05T00:00:00Z | when the issuer promised to log everything
SELECT c.log, c.entry_index, c.cert_sha256, c.issuer_cn, c.not_before,
       'no embedded SCT and no precert logged for ' || coalesce(c.subject_cn, hex(c.tbs_sha256)) AS detail
FROM certs c
WHERE c.entry_type = 'x509'
  AND NOT coalesce(c.is_ca, false)
  AND c.issuer_dn LIKE '${issuer_pattern}'
  AND c.not_before >= TIMESTAMP '${since}'
  AND c.sct_count = 0
  AND NOT EXISTS (
    SELECT 1 FROM certs p
    WHERE p.entry_type = 'precert' AND p.tbs_sha256 = c.tbs_sha256
  )
