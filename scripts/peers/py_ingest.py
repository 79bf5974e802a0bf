#!/usr/bin/env python3
"""Baseline CT dump ingester in Python: what a competent engineer writes today.

Reads RFC 6962 get-entries pages (`<start>-<end>.json[.gz|.zst]`) and JSON-lines
files with an `index` per line, decodes each MerkleTreeLeaf, parses the
certificate with pyca/cryptography, and writes one zstd Parquet file per input
file with pyarrow. Files are spread over a process pool (one worker per core).
Entries that cannot be framed are counted as rejects; certificates that
cryptography refuses keep a row with `parse_error`, as `pipeline ingest` does.
A page cut short (a truncated gzip) keeps the entries before the cut.

Usage: py_ingest.py OUT_DIR LOG_DIR... [--workers N]   (prints a JSON summary)
"""
import argparse
import base64
import concurrent.futures as cf
import hashlib
import json
import os
import re
import struct
import sys
import time
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

PAGE_NAME = re.compile(r"^(\d+)-(\d+)\.json(\.gz|\.zst)?$")

SCHEMA = pa.schema([
    ("log", pa.string()),
    ("entry_index", pa.int64()),
    ("entry_type", pa.string()),
    ("entry_timestamp", pa.timestamp("ms", tz="UTC")),
    ("cert_sha256", pa.binary(32)),
    ("serial", pa.string()),
    ("issuer_dn", pa.string()),
    ("issuer_cn", pa.string()),
    ("subject_cn", pa.string()),
    ("not_before", pa.timestamp("ms", tz="UTC")),
    ("not_after", pa.timestamp("ms", tz="UTC")),
    ("signature_oid", pa.string()),
    ("key_algorithm", pa.string()),
    ("key_bits", pa.int32()),
    ("san_dns", pa.list_(pa.string())),
    ("san_ip", pa.list_(pa.string())),
    ("is_ca", pa.bool_()),
    ("sct_count", pa.int32()),
    ("sct_timestamps", pa.list_(pa.timestamp("ms", tz="UTC"))),
    ("chain_sha256", pa.list_(pa.binary(32))),
    ("parse_error", pa.string()),
])


def read_bytes(path):
    """The decompressed content, and whether it was cut short."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = d.decompress(raw)
            return data, not d.eof
        except zlib.error:
            return b"", True
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(raw), False
    return raw, False


def page_entries(data):
    """The entries of a page, salvaging those before a break."""
    try:
        return json.loads(data)["entries"]
    except (ValueError, KeyError):
        pass
    text = data.decode("utf-8", "replace")
    pos = text.find("[", text.find('"entries"')) + 1
    dec = json.JSONDecoder()
    out = []
    while True:
        while pos < len(text) and text[pos] in " \r\n\t,":
            pos += 1
        try:
            value, pos = dec.raw_decode(text, pos)
        except ValueError:
            return out
        out.append(value)


def u24(b, pos):
    if pos + 3 > len(b):
        raise ValueError("truncated length")
    n = int.from_bytes(b[pos:pos + 3], "big")
    if pos + 3 + n > len(b):
        raise ValueError("truncated body")
    return b[pos + 3:pos + 3 + n], pos + 3 + n


def chain_list(b, pos):
    body, end = u24(b, pos)
    certs, p = [], 0
    while p < len(body):
        c, p = u24(body, p)
        certs.append(c)
    return certs, end


def decode_leaf(leaf, extra):
    """(entry_type, timestamp_ms, certificate DER, chain DERs)."""
    if len(leaf) < 12 or leaf[0] != 0 or leaf[1] != 0:
        raise ValueError("not a v1 timestamped entry")
    ts, etype = struct.unpack(">QH", leaf[2:12])
    if etype == 0:
        cert, _ = u24(leaf, 12)
        chain, _ = chain_list(extra, 0)
        return "x509", ts, cert, chain
    if etype == 1:
        u24(leaf, 44)  # the TBS; the precertificate itself is in extra_data
        pre, pos = u24(extra, 0)
        chain, _ = chain_list(extra, pos)
        return "precert", ts, pre, chain
    raise ValueError(f"unknown entry type {etype}")


def cn(name):
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else None


def cert_row(der):
    row = {}
    try:
        c = x509.load_der_x509_certificate(der)
        row["serial"] = format(c.serial_number, "x")
        row["issuer_dn"] = c.issuer.rfc4514_string()
        row["issuer_cn"] = cn(c.issuer)
        row["subject_cn"] = cn(c.subject)
        row["not_before"] = c.not_valid_before_utc
        row["not_after"] = c.not_valid_after_utc
        row["signature_oid"] = c.signature_algorithm_oid.dotted_string
        key = c.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            row["key_algorithm"], row["key_bits"] = "RSA", key.key_size
        elif isinstance(key, ec.EllipticCurvePublicKey):
            row["key_algorithm"], row["key_bits"] = "EC", key.curve.key_size
        dns, ips, is_ca, scts = [], [], False, []
        for ext in c.extensions:
            if ext.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME:
                dns = ext.value.get_values_for_type(x509.DNSName)
                ips = [str(i) for i in ext.value.get_values_for_type(x509.IPAddress)]
            elif ext.oid == ExtensionOID.BASIC_CONSTRAINTS:
                is_ca = ext.value.ca
            elif ext.oid == ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS:
                scts = [s.timestamp for s in ext.value]
        row.update(san_dns=dns, san_ip=ips, is_ca=is_ca, sct_count=len(scts), sct_timestamps=scts)
    except Exception as e:  # cryptography refuses it: keep the row
        row["parse_error"] = str(e)
    return row


def ingest_file(args):
    path, log, out_dir = args
    name = os.path.basename(path)
    m = PAGE_NAME.match(name)
    data, cut = read_bytes(path)
    if m:
        start = int(m.group(1))
        items = [(start + i, e) for i, e in enumerate(page_entries(data))]
    else:
        items = []
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except ValueError:
                items.append((None, None))
                continue
            items.append((e.get("index") if isinstance(e, dict) else None, e))
    rows, rejects = [], int(cut)
    for index, e in items:
        try:
            if index is None or not isinstance(e, dict):
                raise ValueError("no index or not an object")
            leaf = base64.b64decode(e["leaf_input"], validate=True)
            extra = base64.b64decode(e["extra_data"], validate=True)
            etype, ts, der, chain = decode_leaf(leaf, extra)
        except (ValueError, KeyError, TypeError, struct.error):
            rejects += 1
            continue
        row = cert_row(der)
        row.update(
            log=log,
            entry_index=index,
            entry_type=etype,
            entry_timestamp=ts,
            cert_sha256=hashlib.sha256(der).digest(),
            chain_sha256=[hashlib.sha256(c).digest() for c in chain],
        )
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    target = os.path.join(out_dir, log, name.split(".")[0] + ".parquet")
    pq.write_table(table, target, compression="zstd")
    return len(rows), rejects, len(items) + int(cut)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    a = ap.parse_args()
    started = time.time()
    jobs = []
    for log_dir in a.logs:
        log = os.path.basename(os.path.normpath(log_dir))
        os.makedirs(os.path.join(a.out, log), exist_ok=True)
        for name in sorted(os.listdir(log_dir)):
            if re.search(r"\.(json|jsonl|ndjson)(\.gz|\.zst)?$", name):
                jobs.append((os.path.join(log_dir, name), log, a.out))
    rows = rejects = 0
    with cf.ProcessPoolExecutor(max_workers=a.workers) as pool:
        for r, j, _ in pool.map(ingest_file, jobs, chunksize=1):
            rows += r
            rejects += j
    elapsed = time.time() - started
    print(json.dumps({"rows": rows, "rejects": rejects, "files": len(jobs),
                      "elapsed_seconds": elapsed, "rows_per_second": rows / elapsed}))


if __name__ == "__main__":
    sys.exit(main())
