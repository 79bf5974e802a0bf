-- id: cn_not_in_san
-- severity: error
-- source: CA/Browser Forum Baseline Requirements 7.1.4.3 (a subject commonName must be one of the SAN values)
-- description: A subject CN that is not exactly one of the certificate's SAN dNSNames or iPAddresses.
-- name_suspects (schemas/name_suspects.md): subscriber certificates with
-- a name fact; 128 is this rule's own test, made once with the others.
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'CN ' || subject_cn || ' is not among the SANs' AS detail
FROM name_suspects
WHERE facts & 128 <> 0
  AND subject_cn IS NOT NULL
  AND NOT array_has(san_dns, subject_cn)
  AND NOT array_has(san_ip, subject_cn)
