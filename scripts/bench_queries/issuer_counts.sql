-- Certificates per issuer, the first question of every investigation.
SELECT issuer_cn, count(*) AS n FROM certs GROUP BY issuer_cn ORDER BY n DESC, issuer_cn
