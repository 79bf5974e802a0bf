-- Final certificates without SCTs whose precert is nowhere in the dataset (an anti-join).
SELECT c.issuer_cn, count(*) AS n FROM certs c
WHERE c.entry_type = 'x509' AND c.sct_count = 0
  AND NOT EXISTS (SELECT 1 FROM certs p WHERE p.entry_type = 'precert' AND p.tbs_sha256 = c.tbs_sha256)
GROUP BY c.issuer_cn ORDER BY n DESC, c.issuer_cn
