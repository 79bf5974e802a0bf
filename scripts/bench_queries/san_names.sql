-- Unnest every dNSName: names with underscores or wildcards, per issuer.
SELECT issuer_cn,
       sum(CASE WHEN strpos(name, '_') > 0 THEN 1 ELSE 0 END) AS underscores,
       sum(CASE WHEN starts_with(name, '*.') THEN 1 ELSE 0 END) AS wildcards,
       count(*) AS names
FROM (SELECT issuer_cn, unnest(san_dns) AS name FROM certs)
GROUP BY issuer_cn ORDER BY names DESC, issuer_cn
