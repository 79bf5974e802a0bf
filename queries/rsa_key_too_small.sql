-- id: rsa_key_too_small
-- severity: error
-- source: CA/Browser Forum Baseline Requirements 6.1.5 (RSA moduli of at least 2048 bits for certificates expiring after 2013-12-31)
-- description: An RSA key with a modulus under 2048 bits in a certificate whose not_after is on or after 2014-01-01.
-- param: min_bits = 2048 | the smallest acceptable modulus
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'RSA key of ' || CAST(key_bits AS VARCHAR) || ' bits, not_after ' || CAST(not_after AS VARCHAR) AS detail
FROM certs
WHERE NOT coalesce(is_ca, false)
  AND key_algorithm = 'RSA'
  AND key_bits < ${min_bits}
  AND not_after >= TIMESTAMP '2014-01-01T00:00:00Z'
