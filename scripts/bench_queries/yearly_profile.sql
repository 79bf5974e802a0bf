-- Issuance per year: certificates, issuers, precert share, distinct keys.
SELECT date_part('year', not_before) AS year, count(*) AS n, count(DISTINCT issuer_cn) AS issuers,
       avg(CASE WHEN entry_type = 'precert' THEN 1.0 ELSE 0.0 END) AS precert_share,
       count(DISTINCT spki_sha256) AS keys
FROM certs WHERE not_before IS NOT NULL
GROUP BY 1 ORDER BY 1
