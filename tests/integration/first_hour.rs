//! What a new user meets first: a wrong `--data`, an empty answer, output
//! piped into `head`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::fixtures::{data_dir, run, run_ingest};

#[test]
fn a_folder_that_is_not_a_dataset_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("not-a-dataset");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "hello").unwrap();
    let dir = empty.to_str().unwrap();
    for args in [
        vec!["query", "--data", dir, "SELECT count(*) FROM certs"],
        vec!["check", "--data", dir],
        vec!["status", "--data", dir],
    ] {
        let out = run(&args, tmp.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("is not a dataset"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed an answer");
    }
    // Nothing was written into it (no reader lock folder, no findings).
    let names: Vec<_> = std::fs::read_dir(&empty)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["notes.txt"]);
}

#[test]
fn an_empty_answer_shows_its_columns_and_a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run_ingest(
        &[data_dir().join("wrapped").join("real-certs")],
        &data,
        None,
    );
    let data = data.to_str().unwrap();
    let none = "SELECT log, entry_index FROM certs WHERE false";
    let out = run(&["query", "--data", data, none], tmp.path());
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("| log | entry_index |"), "{text}");
    assert!(text.trim_end().ends_with("0 rows"), "{text}");
    let out = run(
        &["query", "--data", data, "--format", "csv", none],
        tmp.path(),
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "log,entry_index\n");

    // `pipeline query ... | head -1`: the reader leaves after one line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["query", "--data", data, "--format", "csv"])
        .arg("SELECT value FROM generate_series(1, 3000000)")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "value\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn one_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// A dataset of the real certificates (and the ZLint corpus), in `tmp`.
fn real_dataset(tmp: &std::path::Path, extra: &[&str]) -> String {
    let data = tmp.join("data");
    let mut args = vec![
        "ingest".to_owned(),
        data_dir().join("wrapped/real-certs").display().to_string(),
        data_dir().join("wrapped/zlint").display().to_string(),
        "--out".to_owned(),
        data.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    crate::fixtures::pipeline_ok(&args, tmp);
    data.display().to_string()
}

/// `query --format csv` of `sql`.
fn csv_query(cwd: &std::path::Path, data: &str, sql: &str) -> std::process::Output {
    run(&["query", "--data", data, "--format", "csv", sql], cwd)
}

/// The hex SHA-256 and index of the first entry of the real certificates.
fn first_real_certificate(cwd: &std::path::Path, data: &str) -> (String, String) {
    let picked = one_line(&csv_query(
        cwd,
        data,
        "SELECT hex(cert_sha256), entry_index FROM certs WHERE log = 'real-certs' \
         ORDER BY entry_index LIMIT 1",
    ));
    let (hash, index) = picked.split_once(',').unwrap();
    (hash.to_owned(), index.to_owned())
}

#[test]
fn hashes_are_looked_up_and_joined_as_people_write_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = real_dataset(tmp.path(), &[]);
    let q = |sql: &str| csv_query(tmp.path(), &data, sql);
    let (hash, index) = first_real_certificate(tmp.path(), &data);
    let (hash, index) = (hash.as_str(), index.as_str());
    let upper = hash.to_uppercase();
    let colons: Vec<String> = upper
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    for literal in [hash.to_owned(), upper.clone(), colons.join(":")] {
        let out = q(&format!(
            "SELECT entry_index FROM certs WHERE log = 'real-certs' AND cert_sha256 = '{literal}'"
        ));
        assert_eq!(one_line(&out), index, "{literal}: {out:?}");
    }
    let out = q(&format!(
        "SELECT count(*) FROM certs WHERE cert_sha256 IN ('{upper}', X'{hash}') AND log = 'real-certs'"
    ));
    assert_eq!(one_line(&out), "1");
    // Not a hash: an error naming the column, never an empty answer.
    let out = q(&format!(
        "SELECT count(*) FROM certs WHERE cert_sha256 = '{}'",
        &upper[..10]
    ));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cert_sha256 is a SHA-256 (64 hex digits)"),
        "{err}"
    );
    let out = q("SELECT count(*) FROM certs WHERE cert_sha256 = 'not a hash'");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not hexadecimal"));

    // findings and certs join on the hash as written.
    let out = run(
        &[
            "check",
            "--data",
            &data,
            "--new",
            "--format",
            "json",
            "--out",
            "/dev/null",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stored = one_line(&q("SELECT count(*) FROM findings"));
    assert!(stored.parse::<u64>().unwrap() > 100, "{stored}");
    let joined = one_line(&q(
        "SELECT count(*) FROM findings f JOIN certs c \
         ON c.cert_sha256 = f.cert_sha256 AND c.log = f.log AND c.entry_index = f.entry_index",
    ));
    assert_eq!(joined, stored);
    // The manifest's input hash (BLAKE3) is binary too, and found by its hex.
    let input = data_dir().join("wrapped/real-certs");
    let file = std::fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap();
    let digest = blake3::hash(&std::fs::read(&file).unwrap())
        .to_hex()
        .to_uppercase();
    let out = q(&format!(
        "SELECT arrow_typeof(blake3), count(*) FROM manifest WHERE blake3 = '{digest}' GROUP BY 1"
    ));
    assert_eq!(one_line(&out), "Binary,1", "{out:?}");
}

#[test]
fn show_prints_every_entry_of_a_certificate_with_its_pem_and_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let data = real_dataset(tmp.path(), &["--keep-der"]);
    // A precertificate whose final certificate is in the dataset too.
    let out = run(
        &[
            "query", "--data", &data, "--format", "csv",
            "SELECT hex(p.cert_sha256), p.log, p.entry_index, f.entry_index, p.serial FROM certs p \
             JOIN certs f ON p.tbs_sha256 = f.tbs_sha256 \
             WHERE p.entry_type = 'precert' AND f.entry_type = 'x509' ORDER BY 2, 3 LIMIT 1",
        ],
        tmp.path(),
    );
    let line = one_line(&out);
    let cells: Vec<&str> = line.split(',').collect();
    assert_eq!(cells.len(), 5, "{out:?}");
    let (hash, precert, final_cert, serial) = (cells[0], cells[2], cells[3], cells[4]);
    crate::fixtures::pipeline_ok(
        &[
            "check",
            "--data",
            &data,
            "--store",
            "--format",
            "json",
            "--out",
            "/dev/null",
        ],
        tmp.path(),
    );
    let out = crate::fixtures::pipeline_ok(
        &[
            "show",
            "--data",
            &data,
            "--format",
            "json",
            &hash.to_uppercase(),
        ],
        tmp.path(),
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = shown["entries"].as_array().unwrap();
    let index_of = |relation: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["relation"] == relation)
            .map(|e| e["columns"]["entry_index"].to_string())
            .collect()
    };
    assert!(index_of("match").contains(&precert.to_owned()), "{shown}");
    assert!(
        index_of("same certificate").contains(&final_cert.to_owned()),
        "{shown}"
    );
    let matched = entries.iter().find(|e| e["relation"] == "match").unwrap();
    assert_eq!(
        matched["crt_sh"],
        format!("https://crt.sh/?sha256={}", hash.to_uppercase())
    );
    // The PEM is the DER whose SHA-256 was asked for.
    use base64::Engine as _;
    use sha2::Digest;
    let pem = matched["pem"].as_str().unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&der)), hash);
    // Every column of certs is there.
    for column in [
        "serial",
        "issuer_dn",
        "san_dns",
        "sct_timestamps",
        "parse_error",
        "log",
    ] {
        assert!(matched["columns"].get(column).is_some(), "{column}");
    }
    // The logs that signed a certificate's SCTs are named from the log list
    // (github.com's certificate of 2016, with SCTs of Pilot, DigiCert and Skydiver).
    let github = "3111500C4A66012CDAE333EC3FCA1C9DDE45C954440E7EE413716BFF3663C074";
    let out = crate::fixtures::pipeline_ok(
        &["show", "--data", &data, "--format", "json", github],
        tmp.path(),
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        shown["entries"][0]["sct_logs"],
        serde_json::json!([
            "Google 'Pilot' log (Google, https://ct.googleapis.com/pilot/)",
            "DigiCert Log Server (DigiCert, https://ct1.digicert-ct.com/log/)",
            "Google 'Skydiver' log (Google, https://ct.googleapis.com/skydiver/)"
        ])
    );
    assert_eq!(shown["entries"][0]["columns"]["subject_cn"], "github.com");
    // The text form, by serial.
    let out =
        crate::fixtures::pipeline_ok(&["show", "--data", &data, "--serial", serial], tmp.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BEGIN CERTIFICATE"), "{text}");
    assert!(
        text.contains(&format!("serial               {serial}")),
        "{text}"
    );
    // Not there: exit 1; not a hash: exit 2.
    let absent = "00".repeat(32);
    assert_eq!(
        run(&["show", "--data", &data, &absent], tmp.path())
            .status
            .code(),
        Some(1)
    );
    let out = run(&["show", "--data", &data, "3111"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("64 hex digits"));
}

/// The stored runs of `check` in `data`.
fn runs(data: &str) -> Vec<String> {
    let mut runs: Vec<String> = std::fs::read_dir(std::path::Path::new(data).join("findings"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    runs
}

#[test]
fn check_new_compares_each_rule_with_its_own_last_run_and_prune_keeps_that() {
    let tmp = tempfile::tempdir().unwrap();
    let data = real_dataset(tmp.path(), &[]);
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "--data", &data, "--format", "json"];
        args.extend(extra);
        run(&args, tmp.path())
    };
    let first = check(&["--new"]);
    let all = crate::fixtures::json_lines(&first.stdout).len();
    assert!(all > 100);
    assert!(String::from_utf8_lossy(&first.stderr).contains("every finding is new"));
    assert_eq!(runs(&data).len(), 1);
    // An ad-hoc run is not stored.
    let adhoc = check(&["--rule", "backdated", "--param", "backdated.max_hours=1"]);
    assert!(!crate::fixtures::json_lines(&adhoc.stdout).is_empty());
    assert_eq!(runs(&data).len(), 1);
    // Stored on purpose, with another parameter: still not the nightly's baseline.
    check(&[
        "--rule",
        "backdated",
        "--param",
        "backdated.max_hours=1",
        "--store",
    ]);
    assert_eq!(runs(&data).len(), 2);
    let again = check(&["--new"]);
    assert_eq!(
        crate::fixtures::json_lines(&again.stdout).len(),
        0,
        "{again:?}"
    );
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        said.contains(&format!("0 new findings; {all} were already reported")),
        "{said}"
    );
    // One rule alone compares with the last run of that rule.
    let one = check(&["--new", "--rule", "backdated"]);
    assert_eq!(crate::fixtures::json_lines(&one.stdout).len(), 0, "{one:?}");
    assert_eq!(runs(&data).len(), 4);
    // Prune keeps the newest run and every rule's last run.
    let before = runs(&data);
    let out = crate::fixtures::pipeline_ok(
        &["prune", "--data", &data, "--keep", "1", "--json"],
        tmp.path(),
    );
    let pruned: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        pruned["removed"],
        serde_json::json!([before[0].trim_start_matches("run=")])
    );
    assert_eq!(runs(&data), before[1..]);
    let after = check(&["--new"]);
    assert_eq!(
        crate::fixtures::json_lines(&after.stdout).len(),
        0,
        "{after:?}"
    );
    // Parameters are typed; unknown rules list the known ones.
    let out = check(&["--param", "backdated.max_hours=abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a number"));
    let out = check(&["--rule", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("backdated, cn_not_in_san"));
}

#[test]
fn rules_are_listed_and_one_s_own_folder_runs_beside_the_built_in_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let out =
        crate::fixtures::pipeline_ok(&["check", "--list-rules", "--format", "json"], tmp.path());
    let rules = crate::fixtures::json_lines(&out.stdout);
    assert_eq!(rules.len(), crate::fixtures::rule_file_count());
    assert_eq!(rules.len(), 19);
    let backdated = rules.iter().find(|r| r["id"] == "backdated").unwrap();
    assert_eq!(backdated["severity"], "warning");
    assert!(backdated["source"]
        .as_str()
        .unwrap()
        .contains("Baseline Requirements"));
    assert_eq!(
        backdated["params"],
        serde_json::json!([{"name": "max_hours", "type": "number", "default": "48",
            "description": "hours allowed between not_before and the earliest evidence of issuance"}])
    );
    let sha1 = rules.iter().find(|r| r["id"] == "sha1_after_2016").unwrap();
    assert_eq!(sha1["params"][0]["type"], "timestamp");
    // One's own folder beside the built-in rules.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(
        mine.join("ev_only.sql"),
        "-- id: ev_only\n-- severity: notice\n-- source: our policy\n\
         -- description: every precert\n\
         SELECT log, entry_index, cert_sha256, issuer_cn, not_before, 'precert' AS detail \
         FROM certs WHERE entry_type = 'precert'\n",
    )
    .unwrap();
    let out = crate::fixtures::pipeline_ok(
        &["check", "--list-rules", "--add-rules", "mine"],
        tmp.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ev_only  [notice]")
            && text.ends_with(&format!(
                "{} rules\n",
                crate::fixtures::rule_file_count() + 1
            )),
        "{text}"
    );
    let data = real_dataset(tmp.path(), &[]);
    let out = run(
        &[
            "check",
            "--data",
            &data,
            "--add-rules",
            "mine",
            "--format",
            "json",
        ],
        tmp.path(),
    );
    let found = crate::fixtures::json_lines(&out.stdout);
    assert!(found.iter().any(|f| f["rule"] == "ev_only"));
    assert!(found.iter().any(|f| f["rule"] == "sha1_after_2016"));
    // A rule defined twice is refused, naming both files.
    std::fs::copy(
        data_dir().join("../../queries/backdated.sql"),
        mine.join("backdated.sql"),
    )
    .unwrap();
    let out = run(
        &["check", "--list-rules", "--add-rules", "mine"],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("defined twice"));
}

#[test]
fn findings_carry_their_evidence_in_every_format_and_the_summary_ranks_issuers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = real_dataset(tmp.path(), &[]);
    let csv_out = tmp.path().join("incident.csv");
    let out = run(
        &[
            "check",
            "--data",
            &data,
            "--format",
            "csv",
            "--out",
            csv_out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let mut reader = csv::Reader::from_path(&csv_out).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, crate::fixtures::FINDING_KEYS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.len() > 100);
    // Each row's evidence is its certificate's, as `certs` holds it.
    let row = rows.iter().find(|r| &r[0] == "sha1_after_2016").unwrap();
    let want = one_line(&run(
        &[
            "query",
            "--data",
            &data,
            "--format",
            "csv",
            &format!(
                "SELECT serial, subject_dn, cardinality(san_dns) + cardinality(san_ip), issuer_dn \
                 FROM certs WHERE log = '{}' AND entry_index = {}",
                &row[2], &row[3]
            ),
        ],
        tmp.path(),
    ));
    let mut want_reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(want.as_bytes());
    let want = want_reader.records().next().unwrap().unwrap();
    assert_eq!(
        (&row[8], &row[9], &row[10], &row[12]),
        (&want[0], &want[1], &want[2], &want[3])
    );
    let names: Vec<String> = serde_json::from_str(&row[11]).unwrap();
    assert!(names.len() <= 5);
    assert_eq!(
        row[14],
        format!("https://crt.sh/?sha256={}", row[4].to_uppercase())
    );
    // JSON has the same keys.
    let out = run(&["check", "--data", &data, "--format", "json"], tmp.path());
    let first = &crate::fixtures::json_lines(&out.stdout)[0];
    for key in &header {
        assert!(first.get(key).is_some(), "{key}");
    }
    // The summary names issuers without a CN by organisation, most errors first.
    let summary = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = summary
        .lines()
        .skip_while(|l| !l.starts_with("issuer "))
        .skip(1)
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("VeriSign, Inc.")),
        "{summary}"
    );
    let errors: Vec<u64> = lines
        .iter()
        .filter_map(|l| {
            l.split("  ")
                .map(str::trim)
                .find(|c| !c.is_empty() && c.chars().all(|c| c.is_ascii_digit()))
        })
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(errors.windows(2).all(|w| w[0] >= w[1]), "{summary}");
}

#[test]
fn every_column_type_is_written_readably_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    let data = real_dataset(tmp.path(), &[]);
    let sql =
        "SELECT not_after - not_before AS validity, named_struct('a', 1, 'b', 'x\"y') AS st, \
               map(['k'], [1]) AS mp, san_dns, sct_log_ids, CAST(1.5 AS DECIMAL(10, 2)) AS dec \
               FROM certs WHERE log = 'real-certs' AND sct_count > 0 ORDER BY entry_index LIMIT 3";
    let out = crate::fixtures::pipeline_ok(
        &["query", "--data", &data, "--format", "csv", sql],
        tmp.path(),
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "validity_seconds",
            "st",
            "mp",
            "san_dns",
            "sct_log_ids",
            "dec"
        ]
    );
    for row in reader.records() {
        let row = row.unwrap();
        assert!(row[0].parse::<f64>().unwrap() > 86_400.0, "{row:?}");
        let st: serde_json::Value = serde_json::from_str(&row[1]).unwrap();
        assert_eq!(st, serde_json::json!({"a": 1, "b": "x\"y"}));
        let ids: Vec<String> = serde_json::from_str(&row[4]).unwrap();
        assert!(ids.iter().all(|i| i.len() == 64));
    }
    let out = crate::fixtures::pipeline_ok(
        &["query", "--data", &data, "--format", "json", sql],
        tmp.path(),
    );
    for v in crate::fixtures::json_lines(&out.stdout) {
        assert!(v["validity_seconds"].as_f64().unwrap() > 86_400.0);
        assert_eq!(v["mp"], serde_json::json!({"k": 1}));
    }
    let out = crate::fixtures::pipeline_ok(&["query", "--data", &data, sql], tmp.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" days ") && !text.contains("PT"), "{text}");
}

#[test]
fn smaller_stumbles() {
    let tmp = tempfile::tempdir().unwrap();
    // A folder of signed tree heads is refused, by name, with exit 1.
    let sths = tmp.path().join("sths");
    std::fs::create_dir(&sths).unwrap();
    for i in 0..3 {
        std::fs::write(
            sths.join(format!("sth-{i}.json")),
            format!(
                r#"{{"tree_size":{},"timestamp":1,"sha256_root_hash":"AA==","tree_head_signature":"BB=="}}"#,
                (i + 1) * 100
            ),
        )
        .unwrap();
    }
    let out = run(&["ingest", "sths", "--out", "d1"], tmp.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("a signed tree head (a get-sth response)")
            .count(),
        3,
        "{err}"
    );
    // --log pilot: the log list's name is suggested.
    let out = run(
        &[
            "ingest",
            data_dir().join("wrapped/real-certs").to_str().unwrap(),
            "--out",
            "d2",
            "--log",
            "pilot",
        ],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did you mean --log ct.googleapis.com_pilot"),
        "{err}"
    );
    // An unreadable input is named in the warning.
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("0-9.json.gz"), b"\x1f\x8b\x08\x00garbage").unwrap();
    let out = run(&["ingest", "bad", "--out", "d3"], tmp.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("could not be read") && err.contains("0-9.json.gz:"),
        "{err}"
    );
    // The help names every input format and every table.
    let help = String::from_utf8_lossy(&run(&["ingest", "--help"], tmp.path()).stdout).into_owned();
    for word in [".jsonl", ".pem", "Axeman", "ct-archive", "tile/data"] {
        assert!(help.contains(word), "ingest --help lacks {word}: {help}");
    }
    let help = String::from_utf8_lossy(&run(&["query", "--help"], tmp.path()).stdout).into_owned();
    assert!(help.contains("manifest, ct_logs"), "{help}");
    // SHOW FUNCTIONS describes our helpers.
    let data = real_dataset(tmp.path(), &[]);
    let out = crate::fixtures::pipeline_ok(
        &["query", "--data", &data, "--format", "csv",
          "SELECT description FROM information_schema.routines WHERE routine_name = 'public_suffix_section'"],
        tmp.path(),
    );
    assert!(
        one_line(&out).contains("Public Suffix List section"),
        "{out:?}"
    );
}

/// `check --rule san_missing` of `data` (`mode` `--new` or
/// `--store`), findings discarded.
fn san_missing_run(cwd: &std::path::Path, data: &str, mode: &str) -> std::process::Output {
    let rule = [
        "--rule",
        "san_missing",
        "--format",
        "json",
        "--out",
        "/dev/null",
    ];
    let mut all = vec!["check", "--data", data, mode];
    all.extend(rule);
    run(&all, cwd)
}

#[test]
fn findings_stored_with_hex_hashes_are_upgraded_by_the_next_stored_run() {
    use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let data = real_dataset(tmp.path(), &[]);
    // A run as an earlier version stored it: cert_sha256 as hex text, no evidence columns.
    let q = |sql: &str| csv_query(tmp.path(), &data, sql);
    let (hash, index) = first_real_certificate(tmp.path(), &data);
    let (hash, index) = (hash.as_str(), index.as_str());
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("rule", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("log", DataType::Utf8, true),
        Field::new("entry_index", DataType::Int64, true),
        Field::new("cert_sha256", DataType::Utf8, true),
        Field::new("issuer_cn", DataType::Utf8, true),
        Field::new("not_before", ts.clone(), true),
        Field::new("detail", DataType::Utf8, true),
        Field::new("run_time", ts, false),
    ]));
    let text = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
    let time = |v: i64| -> ArrayRef {
        Arc::new(TimestampMillisecondArray::from(vec![v]).with_timezone("UTC"))
    };
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![
            text("ancient_rule"),
            text("error"),
            text("real-certs"),
            Arc::new(Int64Array::from(vec![index.parse::<i64>().unwrap()])),
            text(hash),
            text("CA"),
            time(0),
            text("old"),
            time(1),
        ],
    )
    .unwrap();
    let dir = std::path::Path::new(&data).join("findings/run=20200101T000000.000Z");
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join("part-00000.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    // The old run is read (no hash is "new" by accident) and then upgraded.
    let out = san_missing_run(tmp.path(), &data, "--new");
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    let out = q(&format!(
        "SELECT rule, entry_index, arrow_typeof(cert_sha256) LIKE 'Binary%' FROM findings \
         WHERE cert_sha256 = '{}' AND run = '20200101T000000.000Z'",
        hash.to_uppercase()
    ));
    assert_eq!(
        one_line(&out),
        format!("ancient_rule,{index},true"),
        "{out:?}"
    );
}

#[test]
fn prune_never_follows_a_link_out_of_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let data = real_dataset(tmp.path(), &[]);
    let out = san_missing_run(tmp.path(), &data, "--store");
    assert_eq!(out.status.code(), Some(1), "error findings: {out:?}");
    // A run folder that is a link to a folder outside, holding a file.
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("part-00000.parquet"), b"precious").unwrap();
    let findings = std::path::Path::new(&data).join("findings");
    std::os::unix::fs::symlink(&outside, findings.join("run=20000101T000000.000Z")).unwrap();
    let out = crate::fixtures::pipeline_ok(
        &["prune", "--data", &data, "--keep", "0", "--json"],
        tmp.path(),
    );
    let pruned: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pruned["kept"].as_array().unwrap().len(), 1, "{pruned}");
    assert!(outside.exists());
    // A run that stores (and upgrades older runs) does not write there either.
    san_missing_run(tmp.path(), &data, "--new");
    assert_eq!(
        std::fs::read(outside.join("part-00000.parquet")).unwrap(),
        b"precious"
    );
}
