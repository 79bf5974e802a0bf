-- id: notbefore_template
-- severity: warning
-- source: Mozilla, "WoSign and StartCom" (2016): SHA-1 certificates issued in 2016 all carried the notBefore 2015-12-20; CA/Browser Forum Baseline Requirements 7.1.2.7 (notBefore reflects issuance)
-- description: At least min_certs certificates (distinct tbs_sha256) of one issuer share one exact not_before while their earliest evidence of issuance (earliest embedded SCT, or a precert entry's log timestamp) spans at least min_span_days days: the not_before is a template, not the issuance time. Every entry of those certificates is reported, with the span and its ends.
-- param: min_certs = 20 | certificates of one issuer that must share the not_before
-- param: min_span_days = 7 | days the earliest evidence of those certificates must span
-- set: datafusion.execution.parquet.pushdown_filters = true
-- set: datafusion.optimizer.repartition_joins = false
WITH subscriber AS (
  SELECT log, entry_index, cert_sha256, tbs_sha256, issuer_cn, issuer_dn, not_before,
         least(array_min(sct_timestamps),
               CASE WHEN entry_type = 'precert' THEN entry_timestamp END) AS first_seen
  FROM certs
  WHERE NOT coalesce(is_ca, false) AND not_before IS NOT NULL AND issuer_dn IS NOT NULL
),
-- not_before values held by at least min_certs entries of any issuer: one
-- pass over an integer column, so that only these rows are ranked by issuer.
shared AS (
  SELECT not_before FROM subscriber GROUP BY not_before HAVING count(*) >= ${min_certs}
),
-- Certificates (distinct tbs_sha256) numbered within each (issuer, not_before);
-- window functions over the few rows left, not a join back to a grouping.
ranked AS (
  SELECT s.*,
         dense_rank() OVER (PARTITION BY s.issuer_dn, s.not_before
                            ORDER BY encode(s.tbs_sha256, 'hex')) AS cert_rank
  FROM shared JOIN subscriber s ON s.not_before = shared.not_before
),
grouped AS (
  SELECT *,
         max(cert_rank) OVER w AS certs,
         min(first_seen) OVER w AS first_evidence,
         max(first_seen) OVER w AS last_evidence
  FROM ranked
  WINDOW w AS (PARTITION BY issuer_dn, not_before)
)
SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
       'not_before shared by ' || CAST(certs AS VARCHAR)
         || ' certificates of this issuer whose earliest evidence spans '
         || CAST((CAST(last_evidence AS BIGINT) - CAST(first_evidence AS BIGINT)) / 86400000 AS VARCHAR)
         || ' days (' || CAST(first_evidence AS VARCHAR) || ' to ' || CAST(last_evidence AS VARCHAR)
         || '); this one: '
         || coalesce(CAST(first_seen AS VARCHAR), 'no evidence') AS detail
FROM grouped
WHERE certs >= ${min_certs}
  AND CAST(last_evidence AS BIGINT) - CAST(first_evidence AS BIGINT) >= ${min_span_days} * 86400000
