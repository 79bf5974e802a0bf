-- id: backdated
-- severity: warning
-- source: CA/Browser Forum Baseline Requirements 7.1.2.7 (notBefore should reflect issuance; backdating at most 48 hours is tolerated); WoSign incident 2016 (backdated certificates)
-- description: The certificate demonstrably existed later than its not_before claims: its earliest embedded SCT, or for a precert entry its log entry timestamp, is more than max_hours after not_before. Entries with neither are not judged.
-- param: max_hours = 48 | hours allowed between not_before and the earliest evidence of issuance
WITH evidence AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
         least(array_min(sct_timestamps),
               CASE WHEN entry_type = 'precert' THEN entry_timestamp END) AS first_seen
  FROM certs
  WHERE NOT coalesce(is_ca, false) AND not_before IS NOT NULL
)
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'first evidence ' || CAST(first_seen AS VARCHAR) || ' is '
         || CAST((CAST(first_seen AS BIGINT) - CAST(not_before AS BIGINT)) / 3600000 AS VARCHAR)
         || ' hours after not_before' AS detail
FROM evidence
-- Millisecond arithmetic: an interval added to a zoned timestamp converts
-- every row through the time zone database.
WHERE CAST(first_seen AS BIGINT) - CAST(not_before AS BIGINT) > ${max_hours} * 3600000
