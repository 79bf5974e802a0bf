#!/usr/bin/env python3
"""The benchmark behind scripts/bench (run it through that script, which builds
the binary and prepares the virtualenv). For N entries:

1. generates a dump with `pipeline synth` once (cached by N and seed);
2. `pipeline ingest`: entries/s, input MB/s, peak RSS, Parquet bytes per entry,
   CPU (user + system) per entry, and beside it the floor (scripts/floor.rs:
   the primitives alone, single-threaded, on the same files) and their ratio;
3. `pipeline check`, all rules: seconds in all and per rule;
4. the queries of scripts/bench_queries/ in `pipeline query` and in DuckDB over
   the same Parquet files: our statement time / DuckDB's per query;
5. the Python baseline ingester (scripts/peers/py_ingest.py) on the same dump:
   its row count must match ours; our throughput / its throughput;
6. prints a markdown table and writes bench/results/<date>-<N>.json (-2, -3, ...
   for further runs that day).
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def cpu_seconds(time_v):
    """User and system CPU seconds from /usr/bin/time -v's report."""
    user = float(re.search(r"User time \(seconds\): ([0-9.]+)", time_v).group(1))
    system = float(re.search(r"System time \(seconds\): ([0-9.]+)", time_v).group(1))
    return user, system


def floor(bin_path, dirs):
    """The floor benchmark on dirs: its JSON (microseconds per entry)."""
    p = subprocess.run([bin_path, *map(str, dirs)], check=True, capture_output=True, text=True)
    return json.loads(p.stdout)


def cpu_figures(err, entries, floor_result):
    """Ingest's CPU per entry (from time -v's report) against the floor's."""
    user, system = cpu_seconds(err)
    us = (user + system) * 1e6 / entries
    return {"user_seconds": user, "system_seconds": system, "cpu_us_per_entry": us,
            "floor": floor_result, "floor_ratio": us / floor_result["us_per_entry"]}


def timed(cmd, **kw):
    """Runs cmd under /usr/bin/time -v: (stdout, stderr, seconds, peak RSS bytes)."""
    started = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, **kw)
    seconds = time.perf_counter() - started
    if p.returncode not in (0, 1):
        sys.exit(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return p.stdout, p.stderr, seconds, int(rss.group(1)) * 1024 if rss else None


def du(path):
    return sum(f.stat().st_size for f in pathlib.Path(path).rglob("*") if f.is_file())


def warm(paths):
    """Reads every file once so that each timed run starts with the dump in the
    page cache (a build or another run may have evicted it)."""
    for root in paths:
        for f in pathlib.Path(root).rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    while fh.read(1 << 24):
                        pass


def best_of(n, fn):
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--floor", help="the floor benchmark's binary (scripts/floor.rs)")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--compress", default="mixed")
    ap.add_argument("--repeat", type=int, default=3, help="query runs; the best counts")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--skip-tiles", action="store_true",
                    help="skip the static-ct-api tile dump (about 1.5 KB per entry on disk)")
    a = ap.parse_args()
    cores = os.cpu_count()
    cache = pathlib.Path(a.cache)
    dump = cache / f"synth-{a.entries}-seed{a.seed}-{a.compress}"
    results = {"entries": a.entries, "seed": a.seed, "cores": cores,
               "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
               "date": datetime.date.today().isoformat()}

    if not (dump / "synth.json").exists():
        tmp = dump.with_name(dump.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        out, _, secs, rss = timed([a.bin, "synth", "--entries", str(a.entries), "--seed", str(a.seed),
                                   "--compress", a.compress, "--out", str(tmp), "--json"])
        tmp.rename(dump)
        results["synth"] = {"seconds": secs, "peak_rss_bytes": rss}
    synth = json.loads((dump / "synth.json").read_text())
    logs = sorted(str(p) for p in dump.iterdir() if p.is_dir())
    input_bytes = synth["bytes"]

    work = pathlib.Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    try:
        data = work / "data"
        warm(logs)
        out, err, secs, rss = timed([a.bin, "ingest", *logs, "--out", str(data), "--json", "--progress", "quiet"])
        ing = json.loads(out)
        cert_bytes = du(data / "certs")
        results["ingest"] = {
            "seconds": secs, "entries": ing["entries_read"], "rows": ing["rows"], "rejects": ing["rejects"],
            "entries_per_second": ing["entries_read"] / secs,
            "entries_per_second_per_core": ing["entries_read"] / secs / cores,
            "input_mb_per_second": input_bytes / 1e6 / secs, "input_bytes": input_bytes,
            "peak_rss_bytes": rss, "parquet_bytes": cert_bytes,
            "parquet_bytes_per_entry": cert_bytes / max(ing["rows"], 1),
        }
        if a.floor:
            results["ingest"].update(cpu_figures(err, ing["entries_read"], floor(a.floor, logs)))

        # The same size as static-ct-api data tiles (synth --format tiles: same plants, no JSON).
        if not a.skip_tiles:
            tiles = cache / f"synth-{a.entries}-seed{a.seed}-tiles"
            if not (tiles / "synth.json").exists():
                tmp = tiles.with_name(tiles.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                timed([a.bin, "synth", "--entries", str(a.entries), "--seed", str(a.seed), "--format", "tiles",
                       "--out", str(tmp), "--json"])
                tmp.rename(tiles)
            tile_logs = sorted(str(p) for p in tiles.iterdir() if p.is_dir())
            warm(tile_logs)
            out, err, secs, rss = timed([a.bin, "ingest", *tile_logs, "--out", str(work / "tiles-data"), "--json",
                                         "--progress", "quiet"])
            ting = json.loads(out)
            tile_bytes = json.loads((tiles / "synth.json").read_text())["bytes"]
            results["ingest_tiles"] = {
                "seconds": secs, "entries": ting["entries_read"], "rows": ting["rows"], "rejects": ting["rejects"],
                "entries_per_second": ting["entries_read"] / secs,
                "entries_per_second_per_core": ting["entries_read"] / secs / cores,
                "input_mb_per_second": tile_bytes / 1e6 / secs, "input_bytes": tile_bytes, "peak_rss_bytes": rss,
            }
            if a.floor:
                results["ingest_tiles"].update(cpu_figures(err, ting["entries_read"], floor(a.floor, tile_logs)))
            shutil.rmtree(work / "tiles-data", ignore_errors=True)

        _, err, secs, rss = timed([a.bin, "check", "--data", str(data), "--rules", str(ROOT / "queries"),
                                   "--format", "json", "--no-store", "--timings", "--out", os.devnull])
        per_rule = {m.group(1): float(m.group(2)) for m in re.finditer(r"timing: (\S+) ([0-9.]+) s", err)}
        results["check"] = {"seconds": secs, "peak_rss_bytes": rss, "rule_seconds": per_rule}

        import duckdb
        con = duckdb.connect()
        con.execute(f"CREATE VIEW certs AS SELECT * FROM read_parquet('{data}/certs/*/*.parquet', hive_partitioning = true)")
        queries = {}
        for q in sorted((ROOT / "scripts" / "bench_queries").glob("*.sql")):
            sql = q.read_text()
            engine = []

            def ours_cli():
                p = subprocess.run([a.bin, "query", "--data", str(data), "-f", str(q), "--format", "csv",
                                    "--out", os.devnull, "--timings"], check=True, capture_output=True, text=True)
                engine.append(float(re.search(r"timing: \S+ ([0-9.]+) s", p.stderr).group(1)))
            cli = best_of(a.repeat, ours_cli)
            our_rows = subprocess.run([a.bin, "query", "--data", str(data), "-f", str(q), "--format", "csv"],
                                      check=True, capture_output=True, text=True).stdout.count("\n") - 1
            duck_rows = len(con.execute(sql).fetchall())
            duck = best_of(a.repeat, lambda: con.execute(sql).fetchall())
            queries[q.stem] = {"ours_seconds": min(engine), "ours_cli_seconds": cli, "duckdb_seconds": duck,
                               "ratio": min(engine) / duck, "rows": our_rows, "duckdb_rows": duck_rows}
        results["queries"] = queries

        if not a.skip_peer:
            peer_out = work / "peer"
            warm(logs)
            out, _, secs, rss = timed([sys.executable, str(ROOT / "scripts" / "peers" / "py_ingest.py"),
                                       str(peer_out), *logs])
            peer = json.loads(out)
            results["python_peer"] = {
                "seconds": secs, "rows": peer["rows"], "rejects": peer["rejects"],
                "entries_per_second": ing["entries_read"] / secs, "peak_rss_bytes": rss,
                "rows_match": peer["rows"] == ing["rows"],
                "our_speedup": results["ingest"]["entries_per_second"] / (ing["entries_read"] / secs),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    # A second run the same day gets -2, -3, ...: results are evidence, never overwritten.
    target = out_dir / f"{results['date']}-{a.entries}.json"
    n = 2
    while target.exists():
        target = out_dir / f"{results['date']}-{a.entries}-{n}.json"
        n += 1
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"\nwritten to {target.relative_to(ROOT)}")


def floor_rows(layout, i):
    """The table rows of ingest's CPU per entry against the floor's."""
    if "floor" not in i:
        return []
    f = i["floor"]
    stages = ", ".join(f"{k} {v:.2f}" for k, v in sorted(f["stage_us_per_entry"].items(), key=lambda kv: -kv[1]))
    return [f"| ingest CPU per entry, {layout} | {i['cpu_us_per_entry']:.1f} µs ({i['user_seconds']:.1f} s user + "
            f"{i['system_seconds']:.1f} s system) |",
            f"| floor per entry, {layout} (one thread: {stages}) | {f['us_per_entry']:.1f} µs; "
            f"**ingest / floor {i['floor_ratio']:.2f}** |"]


def report(r):
    i, c = r["ingest"], r["check"]
    mb = 1 << 20
    lines = [
        f"## pipeline benchmark: {r['entries']:,} entries, seed {r['seed']}, {r['cores']} cores, {r['date']}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| ingest | {i['seconds']:.1f} s, {i['entries_per_second']:,.0f} entries/s "
        f"({i['entries_per_second_per_core']:,.0f}/core), {i['input_mb_per_second']:.0f} MB/s of input |",
        f"| ingest peak RSS | {i['peak_rss_bytes'] / mb:,.0f} MiB |",
        *floor_rows("get-entries", i),
        f"| Parquet (certs, no DER) | {i['parquet_bytes_per_entry']:.0f} bytes/entry |",
        f"| rows / rejects | {i['rows']:,} / {i['rejects']:,} |",
        f"| check, all rules | {c['seconds']:.1f} s, peak RSS {c['peak_rss_bytes'] / mb:,.0f} MiB |",
    ]
    if "ingest_tiles" in r:
        t = r["ingest_tiles"]
        lines.append(f"| ingest, static-ct-api tiles (same N) | {t['seconds']:.1f} s, "
                     f"{t['entries_per_second']:,.0f} entries/s ({t['entries_per_second_per_core']:,.0f}/core), "
                     f"{t['input_mb_per_second']:.0f} MB/s, peak RSS {t['peak_rss_bytes'] / mb:,.0f} MiB; "
                     f"{t['entries_per_second'] / i['entries_per_second']:.2f}x get-entries |")
        lines += floor_rows("tiles", t)
    if "python_peer" in r:
        p = r["python_peer"]
        lines.append(f"| Python peer ingest | {p['seconds']:.1f} s, {p['entries_per_second']:,.0f} entries/s; "
                     f"rows match: {p['rows_match']}; **ours {p['our_speedup']:.1f}x** |")
    lines += ["", "| rule | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in sorted(c["rule_seconds"].items(), key=lambda kv: -kv[1])]
    lines += ["", "Queries: statement time in an open session, best of the runs (ours from `pipeline query "
              "--timings`, DuckDB in-process); `ours CLI` is the whole `pipeline query` process.", "",
              "| query | ours s | DuckDB s | ours / DuckDB | ours CLI s | rows |", "|---|---|---|---|---|---|"]
    for k, q in r["queries"].items():
        same = "" if q["rows"] == q["duckdb_rows"] else f" (DuckDB {q['duckdb_rows']})"
        lines.append(f"| {k} | {q['ours_seconds']:.3f} | {q['duckdb_seconds']:.3f} | {q['ratio']:.2f} | "
                     f"{q['ours_cli_seconds']:.2f} | {q['rows']}{same} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
