#!/usr/bin/env python3
"""An independent implementation of the rules of queries/*.sql, in Python,
over what pyca/cryptography read from the wrapped real certificates
(wrapped/*.expected.jsonl) and the fixed Public Suffix List copy in psl/.

Writes wrapped/rule_findings.expected.jsonl: one {"rule", "log", "entry_index"}
per expected finding, plus {"rule", "log", "entry_index", "skip": true} for
entries the oracle cannot judge (pyca could not read a field the rule needs).
The integration tests compare `pipeline check` against it.

Run from the repository root:  python3 tests/data/rule_oracle.py
"""
import datetime
import ipaddress
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent
LOGS = ["real-certs", "zlint"]
SHA1 = {"1.2.840.113549.1.1.5", "1.3.14.3.2.29", "1.2.840.10040.4.3", "1.2.840.10045.4.1"}


def ms(s):
    return int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


def load_psl():
    icann, private, section = set(), set(), "icann"
    for line in (ROOT / "psl" / "public_suffix_list.dat").read_text().splitlines():
        line = line.strip()
        if "BEGIN PRIVATE DOMAINS" in line:
            section = "private"
        if not line or line.startswith("//"):
            continue
        rule = line.split()[0]
        try:
            rule = rule.encode("idna").decode() if not rule.isascii() else rule
        except UnicodeError:
            rule = ".".join(l.encode("idna").decode() if not l.isascii() else l for l in rule.split("."))
        (icann if section == "icann" else private).add(rule)
    return icann, private


ICANN, PRIVATE = load_psl()
RULES = ICANN | PRIVATE


def norm(name):
    n = name[2:] if name.startswith("*.") else name
    n = n[:-1] if n.endswith(".") else n
    return n.lower()


def suffix(name):
    """Public suffix by the PSL algorithm (unlisted TLD: the default rule)."""
    labels = name.split(".")
    best = labels[-1:]
    for i in range(len(labels)):
        cand = labels[i:]
        text = ".".join(cand)
        wild = ".".join(["*"] + cand[1:])
        if "!" + text in RULES:
            return ".".join(cand[1:])
        if text in RULES or wild in RULES:
            if len(cand) > len(best) or (len(cand) == len(best)):
                best = cand
            break
    return ".".join(best)


def listed(name):
    labels = name.split(".")
    return name in RULES or ".".join(["*"] + labels[1:]) in RULES


def is_public_suffix(name):
    n = norm(name)
    return bool(n) and listed(n) and "!" + n not in RULES


def section(name):
    """The PSL section ("icann" or "private") of a name that is a public suffix."""
    n = norm(name)
    labels = n.split(".")
    in_private = n in PRIVATE or ".".join(["*"] + labels[1:]) in PRIVATE
    return "private" if in_private else "icann"


def registrable(name):
    n = norm(name)
    s = suffix(n)
    if n == s:
        return None
    head = n[: -len(s) - 1].split(".")
    return head[-1] + "." + s


def parent(name):
    n = norm(name)
    return n.split(".", 1)[1] if "." in n else None


def tld_delegated(name):
    return norm(name).rsplit(".", 1)[-1] in ICANN


def reserved_ip(text):
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def add_months(t, months):
    d = datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc)
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    import calendar
    day = min(d.day, calendar.monthrange(y, m)[1])
    return int(d.replace(year=y, month=m, day=day).timestamp() * 1000)


def cap_limit(nb):
    steps = [("2015-04-01", ("m", 60)), ("2018-03-01", ("m", 39)), ("2020-09-01", ("d", 825)),
             ("2026-03-15", ("d", 398)), ("2027-03-15", ("d", 200)), ("2029-03-15", ("d", 100))]
    unit, n = ("d", 47)
    for date, cap in steps:
        if nb < ms(date + "T00:00:00Z"):
            unit, n = cap
            break
    return add_months(nb, n) if unit == "m" else nb + n * 86_400_000


def main():
    out = []
    entries = []
    for log in LOGS:
        for line in (ROOT / "wrapped" / f"{log}.expected.jsonl").read_text().splitlines():
            e = json.loads(line)
            e["log"] = log
            entries.append(e)

    def emit(rule, e, hit, needs):
        if any(k not in e for k in needs):
            out.append({"rule": rule, "log": e["log"], "entry_index": e["entry_index"], "skip": True})
        elif hit(e):
            out.append({"rule": rule, "log": e["log"], "entry_index": e["entry_index"]})

    def subscriber(e):
        return not e["is_ca"]

    def first_seen(e):
        ev = list(e.get("sct_timestamps") or [])
        if e["entry_type"] == "precert":
            ev.append(e["entry_timestamp"])
        return min(ev) if ev else None

    checks = {
        "sha1_after_2016": (["is_ca", "signature_oid", "not_before"], lambda e: subscriber(e)
                            and e["signature_oid"] in SHA1 and e["not_before"] >= ms("2016-01-01T00:00:00Z")),
        "backdated": (["is_ca", "not_before", "sct_timestamps"], lambda e: subscriber(e)
                      and first_seen(e) is not None and first_seen(e) > e["not_before"] + 48 * 3_600_000),
        "sha1_backdated_past_deadline": (["is_ca", "signature_oid", "not_before", "sct_timestamps"],
            lambda e: subscriber(e) and e["signature_oid"] in SHA1 and e["not_before"] < ms("2016-01-01T00:00:00Z")
            and first_seen(e) is not None and first_seen(e) >= ms("2016-01-01T00:00:00Z")),
        "public_suffix_san": (["is_ca", "san_dns"], lambda e: subscriber(e)
                              and any(is_public_suffix(n) and section(n) == "icann" for n in e["san_dns"])),
        "private_suffix_san": (["is_ca", "san_dns"], lambda e: subscriber(e)
                               and any(is_public_suffix(n) and section(n) == "private" for n in e["san_dns"])),
        "unvalidated_parent_domain": (["is_ca", "san_dns"], lambda e: subscriber(e) and any(
            parent(c) is not None and norm(p) == parent(c)
            and (is_public_suffix(p) or (registrable(c) is not None and registrable(c) != norm(p)
                                         and registrable(c).endswith("." + norm(p))))
            for c in e["san_dns"] for p in e["san_dns"])),
        "validity_too_long": (["is_ca", "not_before", "not_after"], lambda e: subscriber(e)
                              and e["not_after"] >= cap_limit(e["not_before"])),
        "rsa_key_too_small": (["is_ca", "key_algorithm", "not_after"], lambda e: subscriber(e)
                              and e["key_algorithm"] == "RSA" and e["key_bits"] < 2048
                              and e["not_after"] >= ms("2014-01-01T00:00:00Z")),
        "underscore_in_dnsname": (["is_ca", "san_dns", "not_before"], lambda e: subscriber(e)
                                  and e["not_before"] >= ms("2019-04-01T00:00:00Z")
                                  and any("_" in n for n in e["san_dns"])),
        "wildcard_misplaced": (["is_ca", "san_dns"], lambda e: subscriber(e) and any(
            "*" in n and not (n == "*" or (n.startswith("*.") and "*" not in n[2:])) for n in e["san_dns"])),
        "cn_not_in_san": (["is_ca", "san_dns", "san_ip", "subject_cn"], lambda e: subscriber(e)
                          and e.get("subject_cn") is not None
                          and e["subject_cn"] not in e["san_dns"] and e["subject_cn"] not in e["san_ip"]),
        "san_missing": (["is_ca", "has_san"], lambda e: subscriber(e) and not e["has_san"]),
        "low_serial_entropy": (["is_ca", "serial", "not_before"], lambda e: subscriber(e)
                               and e["not_before"] >= ms("2016-09-30T00:00:00Z")
                               and len(e["serial"][2:] if e["serial"].startswith("00") else e["serial"]) < 16),
        "internal_name": (["is_ca", "san_dns", "san_ip", "not_after", "subject_cn"], lambda e: subscriber(e)
                          and e["not_after"] > ms("2015-11-01T00:00:00Z") and (
            any(not tld_delegated(n) for n in e["san_dns"])
            or any(reserved_ip(ip) for ip in e["san_ip"])
            or (e.get("subject_cn") is not None and hostname_like(e["subject_cn"])
                and not tld_delegated(e["subject_cn"])))),
    }
    for rule, (needs, hit) in checks.items():
        for e in entries:
            emit(rule, e, hit, needs)
    # duplicate_serial: same issuer name and serial, different TBS, both subscribers.
    # An entry whose pairing depends on a certificate pyca could not read is skipped.
    keyed = [e for e in entries if all(k in e for k in ("issuer_der", "serial", "tbs_sha256"))]
    groups = {}
    for e in keyed:
        groups.setdefault((e["issuer_der"], e["serial"]), []).append(e)
    for e in entries:
        key = (e.get("issuer_der"), e.get("serial"))
        others = [o for o in groups.get(key, []) if o["tbs_sha256"] != e.get("tbs_sha256")]
        if "is_ca" not in e or "tbs_sha256" not in e or any("is_ca" not in o for o in others):
            out.append({"rule": "duplicate_serial", "log": e["log"], "entry_index": e["entry_index"], "skip": True})
        elif not e["is_ca"] and any(not o["is_ca"] for o in others):
            out.append({"rule": "duplicate_serial", "log": e["log"], "entry_index": e["entry_index"]})
    with open(ROOT / "wrapped" / "rule_findings.expected.jsonl", "w") as f:
        for o in out:
            f.write(json.dumps(o, sort_keys=True) + "\n")
    hits = [o for o in out if not o.get("skip")]
    by_rule = {}
    for o in hits:
        by_rule[o["rule"]] = by_rule.get(o["rule"], 0) + 1
    print(json.dumps(by_rule, sort_keys=True))


def hostname_like(cn):
    import re
    return re.fullmatch(r"[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)*\.?", cn) is not None \
        and re.fullmatch(r"[0-9.]+", cn) is None


if __name__ == "__main__":
    main()
