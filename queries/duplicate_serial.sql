-- id: duplicate_serial
-- severity: error
-- source: RFC 5280 4.1.2.2 (serial numbers unique per CA); CA/Browser Forum Baseline Requirements 7.1
-- description: Two different certificates (different tbs_sha256) from the same issuer (issuer_dn, and issuer key hash where both entries know it) with the same serial. A precert and its final certificate share a tbs_sha256 and are not duplicates; nor is one certificate logged twice. Each certificate of a pair is reported (every entry of it).
-- set: datafusion.execution.parquet.pushdown_filters = true
-- set: datafusion.optimizer.repartition_joins = false
WITH s AS (
  SELECT log, entry_index, cert_sha256, tbs_sha256, issuer_cn, issuer_dn, issuer_key_hash, serial, not_before
  FROM certs
  WHERE NOT coalesce(is_ca, false)
    AND serial IS NOT NULL AND tbs_sha256 IS NOT NULL AND issuer_dn IS NOT NULL
),
-- Serials with more than one tbs_sha256 under any issuer: grouping on a 64-bit
-- hash of the serial keeps the keys short, and min <> max of the hashes'
-- 64-bit prefixes tells two hashes apart while aggregating integers. The
-- issuer is compared in `held`, the serial itself in its window partition.
shared AS (
  SELECT hash64(serial) AS h FROM s
  GROUP BY hash64(serial)
  HAVING min(prefix64(tbs_sha256)) <> max(prefix64(tbs_sha256))
),
-- Every entry holding such a serial, with the tbs_sha256 and issuer key hash
-- of all entries of the same issuer and serial (a window, not a self-join:
-- each reference to a CTE would scan certs again). The join hands its
-- hashes to the scan of `s` as a filter; with the `set:` above the scan
-- applies it while decoding, so only the few matching rows are decoded whole.
held AS (
  SELECT s.*, array_agg(named_struct('t', s.tbs_sha256, 'k', s.issuer_key_hash))
                OVER (PARTITION BY s.issuer_dn, s.serial) AS peers
  FROM shared JOIN s ON hash64(s.serial) = shared.h
),
flagged AS (
  SELECT log, entry_index, cert_sha256, tbs_sha256, issuer_cn, issuer_dn, serial, not_before,
         CASE WHEN peer['t'] <> tbs_sha256
               AND (issuer_key_hash IS NULL OR peer['k'] IS NULL OR issuer_key_hash = peer['k'])
              THEN peer['t'] END AS other
  FROM (SELECT *, unnest(peers) AS peer FROM held)
),
-- A certificate (tbs_sha256) is reported with every entry of it when any of
-- its entries has a differing tbs_sha256 beside it whose issuer key hash
-- agrees (or either is unknown): a precert and its final certificate share
-- a tbs_sha256 and are not duplicates, nor is one certificate logged twice.
pairs AS (
  SELECT serial,
         cardinality(array_distinct(array_agg(other) FILTER (WHERE other IS NOT NULL))) AS others,
         min(hex(other)) AS example,
         array_distinct(array_agg(named_struct('log', log, 'entry_index', entry_index, 'cert_sha256', cert_sha256,
                                               'issuer_cn', issuer_cn, 'not_before', not_before))) AS entries
  FROM flagged
  GROUP BY issuer_dn, serial, tbs_sha256
  HAVING count(other) > 0
)
SELECT e['log'] AS log, e['entry_index'] AS entry_index, e['cert_sha256'] AS cert_sha256,
       e['issuer_cn'] AS issuer_cn, e['not_before'] AS not_before,
       'serial ' || serial || ' is also used by ' || CAST(others AS VARCHAR)
         || ' other certificate(s) of this issuer, e.g. tbs_sha256 ' || example AS detail
FROM (SELECT serial, others, example, unnest(entries) AS e FROM pairs)
