-- id: public_suffix_san
-- severity: error
-- source: CA/Browser Forum Baseline Requirements 3.2.2.6 (no wildcard or name at a public suffix); WoSign incident 2016 (github.io)
-- description: A dNSName that, without a leading "*.", is itself a public suffix of the Public Suffix List, ICANN or private section (github.io, co.uk, *.blogspot.com).
WITH names AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, unnest(san_dns) AS name
  FROM certs
  WHERE NOT coalesce(is_ca, false) AND any_public_suffix(san_dns)
)
SELECT log, entry_index, hex(cert_sha256) AS cert_sha256, issuer_cn, not_before,
       'dNSName is a public suffix: ' || string_agg(name, ', ') AS detail
FROM names
WHERE is_public_suffix(name)
GROUP BY log, entry_index, cert_sha256, issuer_cn, not_before
