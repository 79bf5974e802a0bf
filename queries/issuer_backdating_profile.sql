-- id: issuer_backdating_profile
-- severity: warning
-- source: Mozilla, "WoSign and StartCom" (2016): backdated certificates found across an issuer's output; CA/Browser Forum Baseline Requirements 7.1.2.7
-- description: An issuer whose 99th percentile of (earliest evidence of issuance - not_before) over a calendar month (UTC, by not_before) exceeds max_days while its median stays within max_median_hours: most of its issuance that month is prompt and a subset is backdated. Exactly: of the month's entries with evidence (at least min_entries; an entry is a log entry, so a precertificate and its final certificate count twice), more than 1% are more than max_days after not_before and at least half within max_median_hours. Each entry of that subset is reported, with the month's figures.
-- param: max_days = 3 | days between not_before and the earliest evidence above which an entry counts as backdated
-- param: max_median_hours = 24 | hours within which at least half of the month's entries must be
-- param: min_entries = 100 | entries with evidence an issuer needs in a month to be judged
WITH evidence AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, issuer_dn, not_before,
         date_trunc('month', not_before) AS month,
         CAST(least(array_min(sct_timestamps),
                    CASE WHEN entry_type = 'precert' THEN entry_timestamp END) AS BIGINT)
           - CAST(not_before AS BIGINT) AS delay_ms
  FROM certs
  WHERE NOT coalesce(is_ca, false) AND not_before IS NOT NULL AND issuer_dn IS NOT NULL
),
months AS (
  SELECT issuer_dn, month, count(*) AS entries,
         count(*) FILTER (WHERE delay_ms > ${max_days} * 86400000) AS late,
         count(*) FILTER (WHERE delay_ms <= ${max_median_hours} * 3600000) AS prompt
  FROM evidence
  WHERE delay_ms IS NOT NULL
  GROUP BY issuer_dn, month
  HAVING count(*) >= ${min_entries}
     AND count(*) FILTER (WHERE delay_ms > ${max_days} * 86400000) * 100 > count(*)
     AND count(*) FILTER (WHERE delay_ms <= ${max_median_hours} * 3600000) * 2 >= count(*)
)
SELECT e.log, e.entry_index, e.cert_sha256, e.issuer_cn, e.not_before,
       CAST(m.late AS VARCHAR) || ' of ' || CAST(m.entries AS VARCHAR)
         || ' entries of this issuer with not_before in ' || substr(CAST(m.month AS VARCHAR), 1, 7)
         || ' have their earliest evidence more than ' || CAST(${max_days} AS VARCHAR)
         || ' days after not_before (' || CAST(m.prompt AS VARCHAR) || ' within '
         || CAST(${max_median_hours} AS VARCHAR) || ' hours); this one '
         || CAST(e.delay_ms / 3600000 AS VARCHAR) || ' hours' AS detail
FROM evidence e JOIN months m ON e.issuer_dn = m.issuer_dn AND e.month = m.month
WHERE e.delay_ms > ${max_days} * 86400000
