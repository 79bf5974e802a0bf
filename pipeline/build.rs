//! Build script: names what is compiled in, for `pipeline --version` and for
//! the build check of a cluster (client, scheduler and executors must run
//! the same build: SQL functions are sent by name, and the Public Suffix
//! List they consult is compiled in).
//!
//! Sets `PIPELINE_PSL_VERSION`, `PIPELINE_DATAFUSION_VERSION` and
//! `PIPELINE_BALLISTA_VERSION` (from Cargo.lock) and `PIPELINE_SOURCE_DIGEST`
//! (SHA-256 of the crate's sources, rules and Cargo.lock, first 12 hex digits).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    for (var, package) in [
        ("PIPELINE_PSL_VERSION", "psl"),
        ("PIPELINE_DATAFUSION_VERSION", "datafusion"),
        ("PIPELINE_BALLISTA_VERSION", "ballista"),
    ] {
        let version = locked_version(&lock, package).unwrap_or_else(|| "unknown".into());
        println!("cargo:rustc-env={var}={version}");
    }
    let mut files = Vec::new();
    for dir in ["pipeline", "queries"] {
        collect(&root.join(dir), &mut files);
        println!("cargo:rerun-if-changed={dir}");
    }
    files.push(root.join("Cargo.lock"));
    println!("cargo:rerun-if-changed=Cargo.lock");
    files.sort();
    let mut digest = Sha256::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f);
        digest.update(rel.to_string_lossy().as_bytes());
        digest.update([0]);
        digest.update(std::fs::read(f).unwrap_or_default());
        digest.update([0]);
    }
    let hex: String = digest.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=PIPELINE_SOURCE_DIGEST={hex}");
}

/// The version of `package` in Cargo.lock's text.
fn locked_version(lock: &str, package: &str) -> Option<String> {
    let wanted = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let next = lines.next()?;
            let v = next
                .trim()
                .strip_prefix("version = \"")?
                .strip_suffix('"')?;
            return Some(v.to_string());
        }
    }
    None
}

/// Every file under `dir`, recursively.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}
