-- id: foreign_issuance_infrastructure
-- severity: warning
-- source: Mozilla, "WoSign and StartCom" (2016): StartCom certificates made with WoSign's systems; RFC 5280 4.2.2.1 and 4.2.1.13 (authorityInfoAccess, cRLDistributionPoints)
-- description: A certificate whose OCSP or CRL URL host belongs to another issuer organisation (issuer_org, else issuer_dn): that organisation names the host on the most entries, at least min_entries, while the certificate's own organisation names it on fewer than max_own_percent % as many entries as its own most-named host. The certificate was made with another CA's systems under this CA's name. Datasets written before the URL columns existed have no URLs and give no findings.
-- param: min_entries = 20 | entries of the owning organisation that must name the host
-- param: max_own_percent = 1 | the most the certificate's own organisation may name the host, as a percentage of its most-named host's entries
-- set: datafusion.optimizer.repartition_joins = false
-- set: datafusion.execution.parquet.pushdown_filters = true
WITH hosts AS (
  SELECT log, entry_index, cert_sha256, issuer_cn, not_before,
         coalesce(issuer_org, issuer_dn) AS org,
         unnest(url_hosts(ocsp_urls, crl_urls)) AS host
  FROM certs
  WHERE NOT coalesce(is_ca, false) AND issuer_dn IS NOT NULL
),
per_org AS (
  SELECT org, host, count(*) AS entries FROM hosts GROUP BY org, host
),
-- Each (organisation, host) with the host's owner (the organisation naming it
-- on the most entries, ties to the first name) and the organisation's own
-- most-named host: window functions over the few rows of per_org, as a
-- self-join would compute per_org (and read certs) twice.
ranked AS (
  SELECT org, host, entries,
         first_value(org) OVER by_host AS owner,
         first_value(entries) OVER by_host AS owner_entries,
         max(entries) OVER (PARTITION BY org) AS org_top
  FROM per_org
  WINDOW by_host AS (PARTITION BY host ORDER BY entries DESC, org)
),
-- (certificate organisation, host) pairs where the host is another
-- organisation's and barely this one's.
foreign_hosts AS (
  SELECT org, host, entries AS own_entries, org_top, owner, owner_entries
  FROM ranked
  WHERE owner <> org
    AND owner_entries >= ${min_entries}
    AND entries * 100 < ${max_own_percent} * org_top
),
-- One sentence per foreign host of each entry (the few foreign hosts first:
-- the join builds its table from them, not from every entry's hosts).
sentences AS (
  SELECT h.log, h.entry_index, h.cert_sha256, h.issuer_cn, h.not_before,
         h.host || ' is the host of ' || f.owner || ' (' || CAST(f.owner_entries AS VARCHAR)
           || ' entries); this issuer''s organisation names it on '
           || CAST(f.own_entries AS VARCHAR) || ' entries, against '
           || CAST(f.org_top AS VARCHAR) || ' for its own most-named host' AS sentence
  FROM foreign_hosts f JOIN hosts h ON h.org = f.org AND h.host = f.host
)
-- DISTINCT: a host is named once per certificate, whatever the plan repeats;
-- a sentence starts with its host, so they come in host order.
SELECT log, entry_index, min(cert_sha256) AS cert_sha256, min(issuer_cn) AS issuer_cn,
       min(not_before) AS not_before,
       string_agg(DISTINCT sentence, '; ' ORDER BY sentence) AS detail
FROM sentences
GROUP BY log, entry_index
