//! `--memory-limit`: how much memory a query's joins, sorts and
//! aggregations may hold before they spill to disk.

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;

/// The default of `--memory-limit`.
pub const DEFAULT_MEMORY_LIMIT: &str = "auto";

/// A `--memory-limit` value: bytes, or `None` for no bound (the default
/// of a library caller; the command line's default is [`DEFAULT_MEMORY_LIMIT`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryLimit(pub Option<u64>);

/// Parses `auto` (see [`auto_memory_limit`]), `none`, or a size in bytes
/// with an optional binary unit: `K`, `M`, `G` or `T`, optionally followed
/// by `B` or `iB` (`1.5G`, `512MiB`, `4096`).
pub fn parse_memory_limit(text: &str) -> Result<MemoryLimit, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(MemoryLimit(None));
    }
    if t.eq_ignore_ascii_case("auto") {
        return Ok(MemoryLimit(auto_memory_limit()));
    }
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 512M, 8G, auto or none"))?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        other => return Err(format!("unknown unit {other:?} in {text:?} (K, M, G or T)")),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !(1.0..=u64::MAX as f64).contains(&bytes) {
        return Err(format!("{text:?} is out of range (at least 1 byte)"));
    }
    Ok(MemoryLimit(Some(bytes as u64)))
}

/// Half the memory this process may use: the machine's (`MemTotal`), or
/// its cgroup's limit when that is lower. `None` (no bound) where neither
/// can be read.
pub fn auto_memory_limit() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| meminfo_total(&t));
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .find_map(|t| t.trim().parse::<u64>().ok());
    let usable = match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    };
    usable.map(|b| (b / 2).max(1))
}

/// A runtime whose joins, sorts and aggregations hold at most `limit`
/// together (each operator that can spill gets a fair share), past which
/// they spill to files in TMPDIR.
pub fn runtime_within(limit: MemoryLimit) -> RuntimeEnvBuilder {
    let runtime = RuntimeEnvBuilder::new();
    let MemoryLimit(Some(limit)) = limit else {
        return runtime;
    };
    let pool = FairSpillPool::new(usize::try_from(limit).unwrap_or(usize::MAX));
    // Tracking names the biggest holders in a "resources exhausted" error.
    let top = NonZeroUsize::new(5).expect("5 is not zero");
    runtime.with_memory_pool(Arc::new(TrackConsumersPool::new(pool, top)))
}

/// `MemTotal` of /proc/meminfo's text, in bytes.
fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_parse_in_binary_units() {
        let bytes = |t: &str| parse_memory_limit(t).unwrap().0;
        assert_eq!(bytes("4G"), Some(4 << 30));
        assert_eq!(bytes("512MiB"), Some(512 << 20));
        assert_eq!(bytes("1.5g"), Some(3 << 29));
        assert_eq!(bytes("64kb"), Some(64 << 10));
        assert_eq!(bytes("4096"), Some(4096));
        assert_eq!(bytes("None"), None);
        assert_eq!(bytes("auto"), auto_memory_limit());
        for bad in ["", "G", "4X", "-1G", "0", "1.2.3M", "99999999T"] {
            assert!(parse_memory_limit(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn meminfo_total_is_read_in_bytes() {
        let text = "MemFree:  100 kB\nMemTotal:       24684096 kB\nBuffers: 1 kB\n";
        assert_eq!(meminfo_total(text), Some(24_684_096 * 1024));
        assert_eq!(meminfo_total("MemFree: 1 kB\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn auto_is_at_most_half_of_this_machines_memory() {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let total = meminfo_total(&meminfo).unwrap();
        let auto = auto_memory_limit().unwrap();
        assert!(auto <= total / 2 && auto > 0, "{auto} of {total}");
    }
}
