//! The builders that turn `certs` and `rejects` records into record
//! batches of the schemas of [`super::schema`].

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::schema::{cert_schema, item, reject_schema, timestamp_type, UTC};
use crate::error::{Error, Result};
use crate::ingest::reject::{Position, RejectRecord};
use crate::x509::cert_record::{CertRecord, Sha256Digest};

fn string_list() -> ListBuilder<StringBuilder> {
    ListBuilder::new(StringBuilder::new()).with_field(item(DataType::Utf8))
}

fn binary_list() -> ListBuilder<BinaryBuilder> {
    ListBuilder::new(BinaryBuilder::new()).with_field(item(DataType::Binary))
}

fn append_strings(b: &mut ListBuilder<StringBuilder>, values: &[impl AsRef<str>]) {
    for v in values {
        b.values().append_value(v.as_ref());
    }
    b.append(true);
}

fn append_digests<'a>(
    b: &mut ListBuilder<BinaryBuilder>,
    values: impl IntoIterator<Item = &'a Sha256Digest>,
) {
    for v in values {
        b.values().append_value(v);
    }
    b.append(true);
}

/// Accumulates [`CertRecord`]s column by column.
pub struct CertBatchBuilder {
    schema: SchemaRef,
    rows: usize,
    entry_index: Int64Builder,
    entry_timestamp: TimestampMillisecondBuilder,
    entry_type: StringBuilder,
    cert_sha256: BinaryBuilder,
    tbs_sha256: BinaryBuilder,
    cert_version: Int32Builder,
    serial: StringBuilder,
    issuer_dn: StringBuilder,
    issuer_cn: StringBuilder,
    issuer_org: StringBuilder,
    subject_dn: StringBuilder,
    subject_cn: StringBuilder,
    subject_org: StringBuilder,
    has_san: BooleanBuilder,
    san_dns: ListBuilder<StringBuilder>,
    san_ip: ListBuilder<StringBuilder>,
    signature_algorithm: StringBuilder,
    signature_oid: StringBuilder,
    key_algorithm: StringBuilder,
    key_bits: Int32Builder,
    key_curve: StringBuilder,
    spki_sha256: BinaryBuilder,
    not_before: TimestampMillisecondBuilder,
    not_after: TimestampMillisecondBuilder,
    is_ca: BooleanBuilder,
    policy_oids: ListBuilder<StringBuilder>,
    eku: ListBuilder<StringBuilder>,
    ocsp_urls: ListBuilder<StringBuilder>,
    ca_issuers_urls: ListBuilder<StringBuilder>,
    crl_urls: ListBuilder<StringBuilder>,
    sct_count: Int32Builder,
    sct_log_ids: ListBuilder<BinaryBuilder>,
    sct_timestamps: ListBuilder<TimestampMillisecondBuilder>,
    issuer_key_hash: BinaryBuilder,
    chain_sha256: ListBuilder<BinaryBuilder>,
    parse_error: StringBuilder,
    source_file: StringBuilder,
    der: Option<BinaryBuilder>,
}

impl CertBatchBuilder {
    /// A builder for [`cert_schema`]`(keep_der)`.
    pub fn new(keep_der: bool) -> Self {
        let ts = || TimestampMillisecondBuilder::new().with_timezone(UTC);
        CertBatchBuilder {
            schema: cert_schema(keep_der),
            rows: 0,
            entry_index: Int64Builder::new(),
            entry_timestamp: ts(),
            entry_type: StringBuilder::new(),
            cert_sha256: BinaryBuilder::new(),
            tbs_sha256: BinaryBuilder::new(),
            cert_version: Int32Builder::new(),
            serial: StringBuilder::new(),
            issuer_dn: StringBuilder::new(),
            issuer_cn: StringBuilder::new(),
            issuer_org: StringBuilder::new(),
            subject_dn: StringBuilder::new(),
            subject_cn: StringBuilder::new(),
            subject_org: StringBuilder::new(),
            has_san: BooleanBuilder::new(),
            san_dns: string_list(),
            san_ip: string_list(),
            signature_algorithm: StringBuilder::new(),
            signature_oid: StringBuilder::new(),
            key_algorithm: StringBuilder::new(),
            key_bits: Int32Builder::new(),
            key_curve: StringBuilder::new(),
            spki_sha256: BinaryBuilder::new(),
            not_before: ts(),
            not_after: ts(),
            is_ca: BooleanBuilder::new(),
            policy_oids: string_list(),
            eku: string_list(),
            ocsp_urls: string_list(),
            ca_issuers_urls: string_list(),
            crl_urls: string_list(),
            sct_count: Int32Builder::new(),
            sct_log_ids: binary_list(),
            sct_timestamps: ListBuilder::new(ts()).with_field(item(timestamp_type())),
            issuer_key_hash: BinaryBuilder::new(),
            chain_sha256: binary_list(),
            parse_error: StringBuilder::new(),
            source_file: StringBuilder::new(),
            der: keep_der.then(BinaryBuilder::new),
        }
    }

    /// True when no rows are buffered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one record; `source_file` names the file it was read from
    /// (for certificate files, whose rows have no log index of their own).
    pub fn append(&mut self, r: &CertRecord, source_file: Option<&str>) {
        self.rows += 1;
        self.entry_index.append_value(r.entry_index);
        self.entry_timestamp.append_value(r.entry_timestamp_ms);
        self.entry_type.append_value(r.entry_type);
        self.cert_sha256.append_value(r.cert_sha256);
        self.tbs_sha256.append_option(r.tbs_sha256);
        self.cert_version.append_option(r.cert_version);
        self.serial.append_option(r.serial.as_deref());
        self.issuer_dn.append_option(r.issuer_dn.as_deref());
        self.issuer_cn.append_option(r.issuer_cn.as_deref());
        self.issuer_org.append_option(r.issuer_org.as_deref());
        self.subject_dn.append_option(r.subject_dn.as_deref());
        self.subject_cn.append_option(r.subject_cn.as_deref());
        self.subject_org.append_option(r.subject_org.as_deref());
        self.has_san.append_value(r.has_san);
        append_strings(&mut self.san_dns, &r.san_dns);
        append_strings(&mut self.san_ip, &r.san_ip);
        self.signature_algorithm
            .append_option(r.signature_algorithm.as_deref());
        self.signature_oid.append_option(r.signature_oid.as_deref());
        self.key_algorithm.append_option(r.key_algorithm.as_deref());
        self.key_bits.append_option(r.key_bits);
        self.key_curve.append_option(r.key_curve.as_deref());
        self.spki_sha256.append_option(r.spki_sha256);
        self.not_before.append_option(r.not_before_ms);
        self.not_after.append_option(r.not_after_ms);
        self.is_ca.append_option(r.is_ca);
        append_strings(&mut self.policy_oids, &r.policy_oids);
        append_strings(&mut self.eku, &r.eku);
        append_strings(&mut self.ocsp_urls, &r.ocsp_urls);
        append_strings(&mut self.ca_issuers_urls, &r.ca_issuers_urls);
        append_strings(&mut self.crl_urls, &r.crl_urls);
        self.sct_count.append_value(r.scts.len() as i32);
        append_digests(&mut self.sct_log_ids, r.scts.iter().map(|s| &s.0));
        for (_, ts) in &r.scts {
            self.sct_timestamps.values().append_value(*ts);
        }
        self.sct_timestamps.append(true);
        self.issuer_key_hash.append_option(r.issuer_key_hash);
        append_digests(&mut self.chain_sha256, &r.chain_sha256);
        self.parse_error.append_option(r.parse_error.as_deref());
        self.source_file.append_option(source_file);
        if let Some(der) = &mut self.der {
            der.append_value(r.der.as_deref().unwrap_or_default());
        }
    }

    /// Builds a batch of the buffered rows and empties the builder.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        self.rows = 0;
        let (subject_cn, san_dns, san_ip): (ArrayRef, ArrayRef, ArrayRef) = (
            Arc::new(self.subject_cn.finish()),
            Arc::new(self.san_dns.finish()),
            Arc::new(self.san_ip.finish()),
        );
        let facts = super::name_facts::cert_facts_column(&san_dns, &subject_cn, &san_ip)
            .map_err(|e| Error::Internal(format!("computing name facts: {e}")))?;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.entry_index.finish()),
            Arc::new(self.entry_timestamp.finish()),
            Arc::new(self.entry_type.finish()),
            Arc::new(self.cert_sha256.finish()),
            Arc::new(self.tbs_sha256.finish()),
            Arc::new(self.cert_version.finish()),
            Arc::new(self.serial.finish()),
            Arc::new(self.issuer_dn.finish()),
            Arc::new(self.issuer_cn.finish()),
            Arc::new(self.issuer_org.finish()),
            Arc::new(self.subject_dn.finish()),
            subject_cn,
            Arc::new(self.subject_org.finish()),
            Arc::new(self.has_san.finish()),
            san_dns,
            san_ip,
            Arc::new(self.signature_algorithm.finish()),
            Arc::new(self.signature_oid.finish()),
            Arc::new(self.key_algorithm.finish()),
            Arc::new(self.key_bits.finish()),
            Arc::new(self.key_curve.finish()),
            Arc::new(self.spki_sha256.finish()),
            Arc::new(self.not_before.finish()),
            Arc::new(self.not_after.finish()),
            Arc::new(self.is_ca.finish()),
            Arc::new(self.policy_oids.finish()),
            Arc::new(self.eku.finish()),
            Arc::new(self.ocsp_urls.finish()),
            Arc::new(self.ca_issuers_urls.finish()),
            Arc::new(self.crl_urls.finish()),
            Arc::new(self.sct_count.finish()),
            Arc::new(self.sct_log_ids.finish()),
            Arc::new(self.sct_timestamps.finish()),
            Arc::new(self.issuer_key_hash.finish()),
            Arc::new(self.chain_sha256.finish()),
            Arc::new(self.parse_error.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(facts),
        ];
        if let Some(der) = &mut self.der {
            columns.push(Arc::new(der.finish()));
        }
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::arrow("building a certs batch", e))
    }
}

/// Accumulates [`RejectRecord`]s column by column.
pub struct RejectBatchBuilder {
    schema: SchemaRef,
    rows: usize,
    entry_index: Int64Builder,
    source_file: StringBuilder,
    position: StringBuilder,
    line: Int64Builder,
    entry_ordinal: Int64Builder,
    byte_offset: Int64Builder,
    kind: StringBuilder,
    reason: StringBuilder,
}

impl Default for RejectBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RejectBatchBuilder {
    /// A builder for [`reject_schema`].
    pub fn new() -> Self {
        RejectBatchBuilder {
            schema: reject_schema(),
            rows: 0,
            entry_index: Int64Builder::new(),
            source_file: StringBuilder::new(),
            position: StringBuilder::new(),
            line: Int64Builder::new(),
            entry_ordinal: Int64Builder::new(),
            byte_offset: Int64Builder::new(),
            kind: StringBuilder::new(),
            reason: StringBuilder::new(),
        }
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no rows are buffered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one record.
    pub fn append(&mut self, r: &RejectRecord) {
        self.rows += 1;
        self.entry_index.append_option(r.entry_index);
        self.source_file.append_value(&r.source_file);
        self.position.append_value(r.position.to_string());
        let (line, ordinal, offset) = match r.position {
            Position::Line { line, byte_offset } => (Some(line), None, Some(byte_offset)),
            Position::Entry { ordinal } => (None, Some(ordinal), None),
            Position::Json { line, .. } => (Some(line), None, None),
            Position::Byte(offset) => (None, None, Some(offset)),
        };
        self.line.append_option(line.map(|v| v as i64));
        self.entry_ordinal.append_option(ordinal.map(|v| v as i64));
        self.byte_offset.append_option(offset.map(|v| v as i64));
        self.kind.append_value(r.kind.as_str());
        self.reason.append_value(&r.reason);
    }

    /// Builds a batch of the buffered rows and empties the builder.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.entry_index.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(self.position.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.entry_ordinal.finish()),
            Arc::new(self.byte_offset.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.reason.finish()),
        ];
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::arrow("building a rejects batch", e))
    }
}
