-- id: san_missing
-- severity: error
-- source: CA/Browser Forum Baseline Requirements 7.1.4.2.1 (the subjectAltName extension is required)
-- description: A subscriber certificate without a subjectAltName extension. Certificates that could not be read at all (parse_error set and not_before null) are not judged: their extensions are unknown.
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'no subjectAltName extension' || coalesce(' (CN ' || subject_cn || ')', '') AS detail
FROM certs
WHERE NOT coalesce(is_ca, false) AND NOT has_san AND not_before IS NOT NULL
