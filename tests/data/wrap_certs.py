#!/usr/bin/env python3
"""Wraps the real certificates under tests/data/real/x509 into RFC 6962
get-entries pages, and writes what an independent parser (pyca/cryptography
plus a separate DER walker written here) says each entry holds.

Output (committed; tests read it, they do not run this script), for each of
real/x509 (-> real-certs) and real/zlint (-> zlint, the labelled lint corpus):
  tests/data/wrapped/<name>/0-<n>.json       one page, entry i = certificate i
  tests/data/wrapped/<name>.expected.jsonl   one JSON object per entry

Certificates carrying the CT poison extension become precert_entry items
(leaf TBS = the TBS with the poison removed); the others become x509_entry
items whose chain is the rest of the PEM file they came from.

Run from the repository root:  python3 tests/data/wrap_certs.py
"""
import base64
import hashlib
import json
import pathlib
import struct

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

ROOT = pathlib.Path(__file__).resolve().parent
SOURCES = [(ROOT / "real" / "x509", "real-certs"), (ROOT / "real" / "zlint", "zlint")]
OUT = ROOT / "wrapped"
POISON = bytes.fromhex("060a2b06010401d679020403")
POISON_CONTENT = bytes.fromhex("2b06010401d679020403")
SCT_CONTENT = bytes.fromhex("2b06010401d679020402")
CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521",
          "secp192r1": "P-192", "secp224r1": "P-224"}


def tlv(buf, pos=0):
    """(tag, header_len, content_len) of the element at pos."""
    tag = buf[pos]
    n = buf[pos + 1]
    if n < 0x80:
        return tag, 2, n
    k = n & 0x7F
    return tag, 2 + k, int.from_bytes(buf[pos + 2:pos + 2 + k], "big")


def children(buf):
    pos, out = 0, []
    while pos < len(buf):
        tag, h, n = tlv(buf, pos)
        out.append((tag, buf[pos:pos + h + n], buf[pos + h:pos + h + n]))
        pos += h + n
    return out


def enc(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(b)]) + b + content


def tbs_of(der):
    _, h, _ = tlv(der)
    tag, h2, n2 = tlv(der, h)
    if tag != 0x30 or h + h2 + n2 > len(der):
        raise ValueError("no TBSCertificate")
    return der[h:h + h2 + n2]


def strip_ct_extensions(tbs):
    """The TBS without poison / SCT-list extensions (RFC 6962 3.2)."""
    _, h, _ = tlv(tbs)
    fields = children(tbs[h:])
    out = []
    for tag, raw, content in fields:
        if tag != 0xA3:
            out.append(raw)
            continue
        seq = children(content)[0][2]
        kept = [raw_e for _, raw_e, c in children(seq)
                if children(c)[0][2] not in (POISON_CONTENT, SCT_CONTENT)]
        if kept:
            out.append(enc(0xA3, enc(0x30, b"".join(kept))))
    return enc(0x30, b"".join(out))


def issuer_hex(tbs):
    _, h, _ = tlv(tbs)
    fields = children(tbs[h:])
    if fields[0][0] == 0xA0:
        fields = fields[1:]
    return fields[2][1].hex()


def serial_hex(tbs):
    _, h, _ = tlv(tbs)
    fields = children(tbs[h:])
    f = fields[1] if fields[0][0] == 0xA0 else fields[0]
    return f[2].hex()


def u24(n):
    return struct.pack(">I", n)[1:]


def load(path):
    data = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" in data:
        ders = []
        for block in data.split(b"-----BEGIN CERTIFICATE-----")[1:]:
            body = block.split(b"-----END CERTIFICATE-----")[0]
            try:
                ders.append(base64.b64decode(b"".join(body.split())))
            except Exception:
                pass
        return ders
    if path.suffix == ".der" and data[:1] == b"\x30":
        return [data]
    return []


def first(name, oid):
    attrs = name.get_attributes_for_oid(oid)
    if not attrs:
        return None
    v = attrs[0].value
    return v if isinstance(v, str) else None


def expected_for(der, entry_type):
    """Fields as pyca/cryptography reads them; a field it cannot read is left out."""
    exp = {}
    try:
        c = x509.load_der_x509_certificate(der)
    except Exception as e:  # noqa: BLE001 - any failure means "no oracle"
        exp["oracle_error"] = str(e)
        return exp
    try:
        # Present but None: the subject was read and has no CN.
        exp["subject_cn"] = first(c.subject, NameOID.COMMON_NAME)
    except Exception:
        pass
    for key, fn in [
        ("issuer_cn", lambda: first(c.issuer, NameOID.COMMON_NAME)),
        ("issuer_org", lambda: first(c.issuer, NameOID.ORGANIZATION_NAME)),
        ("not_before", lambda: int(c.not_valid_before_utc.timestamp() * 1000)),
        ("not_after", lambda: int(c.not_valid_after_utc.timestamp() * 1000)),
        ("signature_oid", lambda: c.signature_algorithm_oid.dotted_string),
    ]:
        try:
            v = fn()
            if v is not None:
                exp[key] = v
        except Exception:
            pass
    try:
        ext = c.extensions
    except Exception:
        ext = None
    if ext is not None:
        try:
            san = ext.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
            exp["san_dns"] = [n.value for n in san if isinstance(n, x509.DNSName)]
            exp["san_ip"] = [str(n.value) for n in san if isinstance(n, x509.IPAddress)]
            exp["has_san"] = True
        except x509.ExtensionNotFound:
            exp["san_dns"], exp["san_ip"] = [], []
            exp["has_san"] = False
        except Exception:
            pass
        try:
            bc = ext.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
            exp["is_ca"] = bc.ca
        except x509.ExtensionNotFound:
            exp["is_ca"] = False
        except Exception:
            pass
        try:
            aia = ext.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
            for key, method in [("ocsp_urls", x509.AuthorityInformationAccessOID.OCSP),
                                ("ca_issuers_urls", x509.AuthorityInformationAccessOID.CA_ISSUERS)]:
                exp[key] = [d.access_location.value for d in aia
                            if d.access_method == method
                            and isinstance(d.access_location, x509.UniformResourceIdentifier)]
        except x509.ExtensionNotFound:
            exp["ocsp_urls"], exp["ca_issuers_urls"] = [], []
        except Exception:
            pass
        try:
            cdp = ext.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
            exp["crl_urls"] = [n.value for p in cdp for n in (p.full_name or [])
                               if isinstance(n, x509.UniformResourceIdentifier)]
        except x509.ExtensionNotFound:
            exp["crl_urls"] = []
        except Exception:
            pass
        if entry_type == "x509":
            try:
                scts = ext.get_extension_for_oid(
                    ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS).value
                exp["sct_count"] = len(scts)
                exp["sct_timestamps"] = [int(s.timestamp.replace(
                    tzinfo=__import__("datetime").timezone.utc).timestamp() * 1000) for s in scts]
            except x509.ExtensionNotFound:
                exp["sct_count"] = 0
                exp["sct_timestamps"] = []
            except Exception:
                pass
        else:
            exp["sct_count"] = 0
    try:
        key = c.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            exp["key_algorithm"], exp["key_bits"] = "RSA", key.key_size
        elif isinstance(key, ec.EllipticCurvePublicKey):
            exp["key_algorithm"], exp["key_bits"] = "EC", key.curve.key_size
            exp["key_curve"] = CURVES.get(key.curve.name, key.curve.name)
        elif isinstance(key, dsa.DSAPublicKey):
            exp["key_algorithm"], exp["key_bits"] = "DSA", key.key_size
        elif isinstance(key, ed25519.Ed25519PublicKey):
            exp["key_algorithm"] = "Ed25519"
    except Exception:
        pass
    return exp


def wrap(src, name):
    files = sorted(p for p in src.rglob("*") if p.is_file())
    entries, expected = [], []
    for path in files:
        ders = load(path)
        if not ders:
            continue
        for k, der in enumerate(ders):
            index = len(entries)
            ts = 1_400_000_000_000 + index * 1000
            chain = ders[k + 1:] if k == 0 else []
            chain_body = b"".join(u24(len(c)) + c for c in chain)
            chain_vec = u24(len(chain_body)) + chain_body
            try:
                tbs = tbs_of(der)
                ct_tbs = strip_ct_extensions(tbs)
                serial = serial_hex(tbs)
                issuer = issuer_hex(tbs)
            except Exception:
                tbs = ct_tbs = serial = issuer = None
            if POISON in der and tbs is not None:
                entry_type = "precert"
                ikh = hashlib.sha256(b"issuer key of " + path.name.encode()).digest()
                leaf = (b"\x00\x00" + struct.pack(">QH", ts, 1) + ikh
                        + u24(len(ct_tbs)) + ct_tbs + b"\x00\x00")
                extra = u24(len(der)) + der + chain_vec
            else:
                entry_type = "x509"
                leaf = b"\x00\x00" + struct.pack(">QH", ts, 0) + u24(len(der)) + der + b"\x00\x00"
                extra = chain_vec
            entries.append({"leaf_input": base64.b64encode(leaf).decode(),
                            "extra_data": base64.b64encode(extra).decode()})
            exp = {"entry_index": index, "source": f"{path.relative_to(ROOT)}#{k}",
                   "entry_type": entry_type, "entry_timestamp": ts,
                   "cert_sha256": hashlib.sha256(der).hexdigest(),
                   "chain_sha256": [hashlib.sha256(c).hexdigest() for c in chain]}
            if tbs is not None:
                exp["serial"] = serial
                exp["issuer_der"] = issuer
                exp["tbs_sha256"] = hashlib.sha256(ct_tbs).hexdigest()
            exp.update(expected_for(der, entry_type))
            expected.append(exp)
    page_dir = OUT / name
    page_dir.mkdir(parents=True, exist_ok=True)
    for old in page_dir.glob("*.json"):
        old.unlink()
    (page_dir / f"0-{len(entries) - 1}.json").write_text(json.dumps({"entries": entries}))
    with open(OUT / f"{name}.expected.jsonl", "w") as f:
        for e in expected:
            f.write(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"{name}: {len(entries)} entries from {len(files)} files")


def main():
    for src, name in SOURCES:
        wrap(src, name)


if __name__ == "__main__":
    main()
