-- id: public_suffix_san
-- severity: error
-- source: CA/Browser Forum Baseline Requirements 3.2.2.6 (no certificate for a name at a public suffix); Mozilla Root Store Policy
-- description: A dNSName that, without a leading "*.", is itself a public suffix of the Public Suffix List's ICANN section (co.uk, com.au, *.com): no one can hold such a name, so its certificate is mis-issued. Names of the private section (github.io) are private_suffix_san.
WITH names AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, unnest(san_dns) AS name
  FROM name_suspects
  WHERE facts & 1 <> 0
)
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'dNSName is a public suffix (ICANN section): ' || string_agg(name, ', ') AS detail
FROM names
WHERE is_public_suffix(name) AND public_suffix_section(name) = 'icann'
GROUP BY log, entry_index, cert_sha256, issuer_cn, not_before
