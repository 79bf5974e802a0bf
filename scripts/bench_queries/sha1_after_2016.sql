-- The sha1_after_2016 rule's filter.
SELECT log, entry_index, issuer_cn, not_before FROM certs
WHERE NOT coalesce(is_ca, false)
  AND signature_oid IN ('1.2.840.113549.1.1.5', '1.3.14.3.2.29', '1.2.840.10040.4.3', '1.2.840.10045.4.1')
  AND not_before >= TIMESTAMP '2016-01-01 00:00:00'
ORDER BY log, entry_index
