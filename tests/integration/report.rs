//! `pipeline report`: the HTML page of a stored check run, made from a
//! synthetic dataset's aggregates; names from certificates and rules shown
//! as text, never as markup; a missing run named.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::fixtures::{data_dir, json_lines, pipeline_ok, run, run_ingest};

fn query(dir: &Path, sql: &str) -> Vec<Value> {
    json_lines(&pipeline_ok(&["query", "--data", "data", "--format", "json", sql], dir).stdout)
}

/// The text between `from` and the next `to` after it.
fn between<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text.find(from).unwrap_or_else(|| panic!("no {from}")) + from.len();
    let end = text[start..].find(to).map_or(text.len(), |e| start + e);
    &text[start..end]
}

/// A synthetic dataset of 6,000 entries in `dir/data`, with one stored
/// check run.
pub(crate) fn synthetic_run(dir: &Path) {
    pipeline_ok(
        &["synth", "--entries", "6000", "--seed", "5", "--out", "dump"],
        dir,
    );
    pipeline_ok(
        &[
            "ingest",
            "dump/synth-1",
            "dump/synth-2",
            "--out",
            "data",
            "--progress",
            "quiet",
        ],
        dir,
    );
    pipeline_ok(
        &["check", "--data", "data", "--store", "--format", "json"],
        dir,
    );
}

#[test]
fn a_report_of_a_synthetic_dataset_holds_its_run_issuers_and_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synthetic_run(dir);
    let out = pipeline_ok(
        &[
            "report",
            "--data",
            "data",
            "--out",
            "out/report.html",
            "--json",
            "--top",
            "3",
        ],
        dir,
    );
    assert_eq!(out.status.code(), Some(0));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let html = fs::read_to_string(dir.join("out/report.html")).unwrap();
    assert_eq!(summary["bytes"].as_u64().unwrap(), html.len() as u64);

    // The run and its findings, as the stored findings hold them.
    let run_id = summary["run"].as_str().unwrap();
    let stored = &query(
        dir,
        "SELECT count(*) AS n, count(DISTINCT run) AS runs FROM findings",
    )[0];
    assert_eq!(stored["runs"], 1);
    assert_eq!(summary["findings"], stored["n"]);
    assert!(summary["findings"].as_i64().unwrap() > 50);
    assert!(html.contains(&format!("check run <code>{run_id}</code>")));

    // Every rule with findings is listed with its count.
    let per_rule = query(
        dir,
        "SELECT rule, count(*) AS n FROM findings GROUP BY rule",
    );
    for r in &per_rule {
        let row = between(
            &html,
            &format!("id=\"rule-{}\"", r["rule"].as_str().unwrap()),
            "</tr>",
        );
        assert!(
            row.contains(&format!("<td class=\"n\">{}</td>", r["n"])),
            "{row}"
        );
    }

    // The league table starts with the issuer with the most error findings.
    let top = &query(
        dir,
        "SELECT coalesce(nullif(issuer_cn, ''), nullif(issuer_org, ''), issuer_dn) AS issuer, \
           count(*) FILTER (WHERE severity = 'error') AS errors \
         FROM findings GROUP BY 1 ORDER BY errors DESC LIMIT 1",
    )[0];
    let league = between(&html, "id=\"league\"", "</table>");
    let first_row = between(league, "<tr><td>", "</tr>");
    assert!(
        first_row.contains(top["issuer"].as_str().unwrap()),
        "{first_row}"
    );
    assert!(
        first_row.contains(&format!(" err\">{}</td>", top["errors"])),
        "{first_row}"
    );

    // Three issuers detailed, each with its forensic charts drawn.
    assert_eq!(summary["detailed"], 3);
    for i in 0..3 {
        let section = between(&html, &format!("id=\"issuer-{i}\""), "</section>");
        assert!(section.matches("<svg").count() >= 4, "issuer {i}");
        assert!(section.contains("<rect"), "issuer {i}");
        assert!(section.contains("https://crt.sh/?sha256="), "issuer {i}");
    }
    assert!(between(&html, "id=\"heat\"", "</section>").contains("<svg"));
    // Self-contained: no script, nothing fetched.
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\"http"));
    assert!(!html.contains("<link"));

    // An unknown run is named, with the runs there are.
    let out = run(
        &[
            "report", "--data", "data", "--out", "x.html", "--run", "nope",
        ],
        dir,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no stored run \"nope\"") && err.contains(run_id),
        "{err}"
    );
    assert!(!dir.join("x.html").exists());
}

#[test]
fn hostile_names_show_as_text() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run_ingest(
        &[data_dir().join("wrapped/real-certs")],
        &dir.join("data"),
        None,
    );
    // With no stored run, the report says what to do.
    let out = run(&["report", "--data", "data", "--out", "r.html"], dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("has no stored check run"), "{err}");

    // A rule whose issuer and detail carry markup and terminal controls.
    fs::create_dir(dir.join("rules")).unwrap();
    fs::write(
        dir.join("rules/hostile.sql"),
        "-- id: hostile\n-- severity: error\n-- source: test\n-- description: names with markup\n\
         SELECT log, entry_index, cert_sha256, \
           '<script>alert(1)</script>' || chr(27) || '[2J' AS issuer_cn, not_before, \
           '<img src=x onerror=alert(2)> & \"q\"' AS detail \
         FROM certs WHERE entry_index < 3\n",
    )
    .unwrap();
    let out = run(
        &[
            "check", "--data", "data", "--rules", "rules", "--store", "--format", "json",
        ],
        dir,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pipeline_ok(
        &[
            "report", "--data", "data", "--out", "r.html", "--issuer", "script",
        ],
        dir,
    );
    let html = fs::read_to_string(dir.join("r.html")).unwrap();
    assert!(!html.contains("<script"), "markup reached the page");
    assert!(!html.contains("<img"), "markup reached the page");
    assert!(
        !html.contains('\u{1b}'),
        "a control character reached the page"
    );
    // Shown as text: escaped for HTML (table, heading) and SVG (heat map),
    // the control character written out.
    assert!(
        html.contains("<h2>&#60;script&#62;alert(1)&#60;/script&#62;\\x1b[2J</h2>"),
        "{html}"
    );
    assert!(
        html.contains("<td>&#60;img src=x onerror=alert(2)&#62; &#38; &#34;q&#34;</td>"),
        "{html}"
    );
    let heat = between(&html, "id=\"heat\"", "</section>");
    assert!(heat.contains("&lt;script&gt;"), "{heat}");
}
