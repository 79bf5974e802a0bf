-- id: validity_too_long
-- severity: error
-- source: CA/Browser Forum Baseline Requirements 6.3.2 (60 months, then 39 months from 2015-04-01, 825 days from 2018-03-01, 398 days from 2020-09-01, ballot SC-081: 200/100/47 days from 2026/2027/2029-03-15)
-- description: not_after - not_before exceeds the maximum validity in force at not_before, counting validity as RFC 5280 does (both ends inclusive): a certificate is too long when not_after >= not_before + cap.
WITH capped AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before, not_after,
         CASE
           WHEN not_before < TIMESTAMP '2015-04-01T00:00:00Z' THEN '60 months'
           WHEN not_before < TIMESTAMP '2018-03-01T00:00:00Z' THEN '39 months'
           WHEN not_before < TIMESTAMP '2020-09-01T00:00:00Z' THEN '825 days'
           WHEN not_before < TIMESTAMP '2026-03-15T00:00:00Z' THEN '398 days'
           WHEN not_before < TIMESTAMP '2027-03-15T00:00:00Z' THEN '200 days'
           WHEN not_before < TIMESTAMP '2029-03-15T00:00:00Z' THEN '100 days'
           ELSE '47 days'
         END AS cap,
         CASE
           WHEN not_before < TIMESTAMP '2015-04-01T00:00:00Z' THEN CAST(not_before + INTERVAL '60 months' AS BIGINT)
           WHEN not_before < TIMESTAMP '2018-03-01T00:00:00Z' THEN CAST(not_before + INTERVAL '39 months' AS BIGINT)
           WHEN not_before < TIMESTAMP '2020-09-01T00:00:00Z' THEN CAST(not_before AS BIGINT) + 825 * 86400000
           WHEN not_before < TIMESTAMP '2026-03-15T00:00:00Z' THEN CAST(not_before AS BIGINT) + 398 * 86400000
           WHEN not_before < TIMESTAMP '2027-03-15T00:00:00Z' THEN CAST(not_before AS BIGINT) + 200 * 86400000
           WHEN not_before < TIMESTAMP '2029-03-15T00:00:00Z' THEN CAST(not_before AS BIGINT) + 100 * 86400000
           ELSE CAST(not_before AS BIGINT) + 47 * 86400000
         END AS limit_ms
  FROM certs
  WHERE NOT coalesce(is_ca, false) AND not_before IS NOT NULL AND not_after IS NOT NULL
)
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'validity of ' || CAST((CAST(not_after AS BIGINT) - CAST(not_before AS BIGINT) + 1000) / 86400000 AS VARCHAR)
         || ' days exceeds the cap of ' || cap AS detail
FROM capped
WHERE CAST(not_after AS BIGINT) >= limit_ms
