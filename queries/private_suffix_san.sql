-- id: private_suffix_san
-- severity: warning
-- source: CA/Browser Forum Baseline Requirements 3.2.2.6 (a name at a public suffix needs the suffix's own operator); WoSign incident 2016 (github.io, github.com issued to the holder of a github.io subdomain)
-- description: A dNSName that, without a leading "*.", is itself a public suffix of the Public Suffix List's private section (github.io, *.blogspot.com, tuxfamily.org). The operator of that domain may hold such a certificate; anyone else may not, so it is worth a look at who the subject is.
WITH names AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, unnest(san_dns) AS name
  FROM name_suspects
  WHERE facts & 1 <> 0
)
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'dNSName is a public suffix (private section, operated by one organisation): '
         || string_agg(name, ', ') AS detail
FROM names
WHERE is_public_suffix(name) AND public_suffix_section(name) = 'private'
GROUP BY log, entry_index, cert_sha256, issuer_cn, not_before
