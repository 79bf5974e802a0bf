#!/usr/bin/env python3
"""Builds a small get-entries page of synthetic certificates with planted
rule violations and near-miss decoys, for the cases the real corpus lacks
(WoSign certificates logged without SCTs, backdated SHA-1, duplicate serials,
precert/final pairs). Certificates are made and signed by pyca/cryptography.

Output (committed): wrapped/synthetic/0-<n>.json and
wrapped/synthetic.planted.jsonl: {"entry_index", "name", "rules": [...]}, the
rules each entry must trigger (an empty list: a decoy that must trigger none
of the rules named in "decoy_for").

Run from the repository root:  python3 tests/data/make_synthetic.py
"""
import base64
import datetime as dt
import json
import pathlib
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

ROOT = pathlib.Path(__file__).resolve().parent
OUT = ROOT / "wrapped"
UTC = dt.timezone.utc
SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")

CA_KEY = ec.derive_private_key(0x5EED_CA, ec.SECP256R1())
RSA_CA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SHA256_RSA = bytes.fromhex("2a864886f70d01010b")
SHA1_RSA = bytes.fromhex("2a864886f70d010105")
LEAF_KEY = ec.derive_private_key(0x5EED_1EAF, ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(cn, org=None):
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


WOSIGN = name("WoSign CA Free SSL Certificate G2", "WoSign CA Limited")
OTHER_CA = name("Example Issuing CA 1", "Example Trust Services")


def sct_list(timestamps):
    """A SignedCertificateTimestampList (RFC 6962 3.3) with one SCT per timestamp."""
    scts = b""
    for i, ts in enumerate(timestamps):
        body = (b"\x00" + bytes([0xA0 + i]) * 32 + struct.pack(">Q", ts) + b"\x00\x00"
                + b"\x04\x03" + struct.pack(">H", 8) + b"\x30\x06\x02\x01\x01\x02\x01\x01")
        scts += struct.pack(">H", len(body)) + body
    inner = struct.pack(">H", len(scts)) + scts
    return bytes([0x04, len(inner)]) + inner if len(inner) < 128 else \
        bytes([0x04, 0x81, len(inner)]) + inner


def ms(d):
    return int(d.timestamp() * 1000)


def make(cn, sans, issuer=OTHER_CA, nb=dt.datetime(2017, 6, 1, tzinfo=UTC), days=90, serial=None,
         sha1=False, scts=None, poison=False, key=LEAF_KEY, na=None):
    b = (x509.CertificateBuilder()
         .subject_name(name(cn)).issuer_name(issuer)
         .public_key(key.public_key())
         .serial_number(serial if serial is not None else x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na or nb + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False))
    if scts:
        b = b.add_extension(x509.UnrecognizedExtension(SCT_LIST_OID, sct_list(scts)), critical=False)
    if poison:
        b = b.add_extension(x509.PrecertPoison(), critical=True)
    if sha1:
        # OpenSSL 3 no longer signs with SHA-1: sign with SHA-256 under an RSA
        # key, then relabel both AlgorithmIdentifiers (same length). The
        # signature does not verify; the identifiers are what the rules read.
        d = der(b.sign(RSA_CA_KEY, hashes.SHA256()))
        assert d.count(SHA256_RSA) == 2
        return x509.load_der_x509_certificate(d.replace(SHA256_RSA, SHA1_RSA))
    return b.sign(CA_KEY, hashes.SHA256())


def der(c):
    return c.public_bytes(serialization.Encoding.DER)


def u24(n):
    return struct.pack(">I", n)[1:]


def x509_entry(cert, ts):
    d = der(cert)
    leaf = b"\x00\x00" + struct.pack(">QH", ms(ts), 0) + u24(len(d)) + d + b"\x00\x00"
    return leaf, u24(0)


def precert_entry(cert, ts):
    d = der(cert)
    tbs = cert.tbs_certificate_bytes
    # Strip the poison (added last) from the TBS: it is the final extension.
    poison = bytes.fromhex("3013060a2b06010401d679020403 0101ff 0402 0500".replace(" ", ""))
    assert tbs.find(poison) > 0
    tbs_wo = strip_last_extension(tbs, poison)
    ikh = bytes(32)
    leaf = (b"\x00\x00" + struct.pack(">QH", ms(ts), 1) + ikh + u24(len(tbs_wo)) + tbs_wo + b"\x00\x00")
    return leaf, u24(len(d)) + d + u24(0)


def enc_len(n):
    if n < 128:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def strip_last_extension(tbs, ext):
    """Re-encodes a TBS whose last extension is `ext`, without it."""
    body_start = 1 + (1 if tbs[1] < 128 else 1 + (tbs[1] & 0x7F))
    body = tbs[body_start:]
    # Find the [3] EXPLICIT element: it is the last field.
    pos = 0
    fields = []
    while pos < len(body):
        tag = body[pos]
        ln = body[pos + 1]
        if ln < 128:
            h, n = 2, ln
        else:
            k = ln & 0x7F
            h, n = 2 + k, int.from_bytes(body[pos + 2:pos + 2 + k], "big")
        fields.append(body[pos:pos + h + n])
        pos += h + n
    a3 = fields[-1]
    assert a3[0] == 0xA3 and a3.endswith(ext)
    seq_start = 1 + (1 if a3[1] < 128 else 1 + (a3[1] & 0x7F))
    seq = a3[seq_start:]
    exts_start = 1 + (1 if seq[1] < 128 else 1 + (seq[1] & 0x7F))
    exts = seq[exts_start:-len(ext)]
    new_seq = b"\x30" + enc_len(len(exts)) + exts
    new_a3 = b"\xa3" + enc_len(len(new_seq)) + new_seq
    new_body = b"".join(fields[:-1]) + new_a3
    return b"\x30" + enc_len(len(new_body)) + new_body


def main():
    entries, planted = [], []

    def add(label, entry, rules, decoy_for=()):
        planted.append({"entry_index": len(entries), "name": label, "rules": sorted(rules),
                        "decoy_for": sorted(decoy_for)})
        entries.append({"leaf_input": base64.b64encode(entry[0]).decode(),
                        "extra_data": base64.b64encode(entry[1]).decode()})

    aug16 = dt.datetime(2016, 8, 1, tzinfo=UTC)
    # WoSign after its 2016-07-05 promise, no SCT, no precert: a finding.
    add("wosign_unlogged", x509_entry(make("unlogged.example.com", ["unlogged.example.com"], WOSIGN, aug16), aug16 + dt.timedelta(days=30)),
        ["missing_sct_after_promise"])
    # WoSign after the promise with a precert logged: the final cert is no finding.
    pre = make("logged.example.com", ["logged.example.com"], WOSIGN, aug16, serial=0x1122334455667788AA, poison=True)
    fin = make("logged.example.com", ["logged.example.com"], WOSIGN, aug16, serial=0x1122334455667788AA)
    add("wosign_precert", precert_entry(pre, aug16 + dt.timedelta(hours=1)), [], ["missing_sct_after_promise", "duplicate_serial", "backdated"])
    add("wosign_final_with_precert", x509_entry(fin, aug16 + dt.timedelta(days=3)), [], ["missing_sct_after_promise", "duplicate_serial"])
    # WoSign before the promise: no finding.
    jun16 = dt.datetime(2016, 6, 1, tzinfo=UTC)
    add("wosign_before_promise", x509_entry(make("early.example.com", ["early.example.com"], WOSIGN, jun16), jun16), [], ["missing_sct_after_promise"])
    # WoSign with embedded SCTs: no finding.
    add("wosign_with_scts", x509_entry(make("scts.example.com", ["scts.example.com"], WOSIGN, aug16, scts=[ms(aug16) + 60_000]), aug16), [], ["missing_sct_after_promise", "backdated"])

    # SHA-1 backdated past the deadline: not_before 2015-12-20, first SCT 2016-03-01.
    dec15 = dt.datetime(2015, 12, 20, tzinfo=UTC)
    mar16 = dt.datetime(2016, 3, 1, tzinfo=UTC)
    add("sha1_backdated", x509_entry(make("old.example.com", ["old.example.com"], nb=dec15, sha1=True, scts=[ms(mar16), ms(mar16) + 5000], key=RSA_KEY), mar16),
        ["sha1_backdated_past_deadline", "backdated"])
    # SHA-1 before 2016, logged promptly: no finding.
    add("sha1_2015_prompt", x509_entry(make("prompt.example.com", ["prompt.example.com"], nb=dec15, sha1=True, scts=[ms(dec15) + 3_600_000], key=RSA_KEY), dec15),
        [], ["sha1_backdated_past_deadline", "backdated", "sha1_after_2016"])
    # SHA-1 in 2016: the plain ban.
    add("sha1_2016", x509_entry(make("late.example.com", ["late.example.com"], nb=mar16, sha1=True, key=RSA_KEY), mar16), ["sha1_after_2016"])
    # A precert logged 5 days after its not_before: backdated.
    jan18 = dt.datetime(2018, 1, 10, tzinfo=UTC)
    add("precert_backdated", precert_entry(make("back.example.com", ["back.example.com"], nb=jan18, poison=True), jan18 + dt.timedelta(days=5)), ["backdated"])
    # A precert logged 47 hours after not_before: within the tolerance.
    add("precert_47h", precert_entry(make("ok.example.com", ["ok.example.com"], nb=jan18, poison=True), jan18 + dt.timedelta(hours=47)), [], ["backdated"])

    # Serials: 4 octets after 2016-09-30 is low entropy; 8 octets (top bit clear) is enough.
    add("serial_32bit", x509_entry(make("short.example.com", ["short.example.com"], serial=0x12345678), jan18), ["low_serial_entropy"])
    add("serial_64bit", x509_entry(make("long.example.com", ["long.example.com"], serial=0x1234567890ABCDEF), jan18), [], ["low_serial_entropy"])
    # Two different certificates with one serial from one issuer: both reported.
    add("dup_a", x509_entry(make("a.dup.example.com", ["a.dup.example.com"], serial=0x0DEADBEEFCAFEF00D1), jan18), ["duplicate_serial"])
    add("dup_b", x509_entry(make("b.dup.example.com", ["b.dup.example.com"], serial=0x0DEADBEEFCAFEF00D1), jan18), ["duplicate_serial"])

    # Validity: exactly 398 days (inclusive) is allowed; one second more is not.
    sep21 = dt.datetime(2021, 9, 1, tzinfo=UTC)
    add("validity_398_exact", x509_entry(make("cap.example.com", ["cap.example.com"], nb=sep21, na=sep21 + dt.timedelta(days=398, seconds=-1)), sep21), [], ["validity_too_long"])
    add("validity_398_plus", x509_entry(make("over.example.com", ["over.example.com"], nb=sep21, na=sep21 + dt.timedelta(days=398)), sep21), ["validity_too_long"])

    # The WoSign github bug: x.github.io yields github.io.
    add("github_parent", x509_entry(make("x.github.io", ["x.github.io", "github.io"], nb=sep21), sep21),
        ["unvalidated_parent_domain", "private_suffix_san"])
    # www. and its parent: the same registrable domain, no finding.
    add("www_parent", x509_entry(make("www.example.org", ["www.example.org", "example.org"], nb=sep21), sep21), [],
        ["unvalidated_parent_domain", "public_suffix_san", "private_suffix_san"])
    # A wildcard under a private suffix.
    add("blogspot_wildcard", x509_entry(make("*.blogspot.com", ["*.blogspot.com"], nb=sep21), sep21), ["private_suffix_san"])
    # Misplaced wildcards and an underscore.
    add("wildcard_inner", x509_entry(make("a.example.net", ["a.example.net", "f*.example.net"], nb=sep21), sep21), ["wildcard_misplaced"])
    add("underscore", x509_entry(make("u.example.net", ["u.example.net", "_dmarc.example.net"], nb=sep21), sep21), ["underscore_in_dnsname"])
    # Internal names.
    add("internal", x509_entry(make("intranet.example.net", ["intranet.example.net", "server.corp"], nb=sep21), sep21), ["internal_name"])

    page = OUT / "synthetic"
    page.mkdir(parents=True, exist_ok=True)
    for old in page.glob("*.json"):
        old.unlink()
    (page / f"0-{len(entries) - 1}.json").write_text(json.dumps({"entries": entries}))
    with open(OUT / "synthetic.planted.jsonl", "w") as f:
        for p in planted:
            f.write(json.dumps(p, sort_keys=True) + "\n")
    print(f"{len(entries)} synthetic entries")


if __name__ == "__main__":
    main()
