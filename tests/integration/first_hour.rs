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
