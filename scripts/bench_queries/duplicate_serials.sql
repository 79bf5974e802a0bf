-- Serials shared by different certificates of one issuer (the heart of duplicate_serial).
SELECT issuer_dn, serial, count(DISTINCT tbs_sha256) AS certs FROM certs
WHERE NOT coalesce(is_ca, false) AND serial IS NOT NULL
GROUP BY issuer_dn, serial
HAVING count(DISTINCT tbs_sha256) > 1
ORDER BY issuer_dn, serial
