//! `pipeline synth`: realistic CT dumps of any size, deterministic for a
//! seed, with planted anomalies and a ground truth.
//!
//! A dump is `OUT/<log>/<start>-<end>.json[.gz|.zst]` get-entries pages per
//! log (1000 entries a page in the first log, 256 in the second, ...), the
//! last part of each log as a JSON-lines file, `OUT/ground_truth.jsonl` (one
//! line per planted entry: log, entry_index, rules it must trigger, decoy,
//! reject kind, parse error) and `OUT/synth.json` (what was made). Ingest it
//! with `pipeline ingest OUT/*/`.
//!
//! Pages are generated in parallel, each from its own random stream, so the
//! output does not depend on the number of threads.

pub(crate) mod authorities;
pub(crate) mod ct_encode;
pub(crate) mod issuance;
pub(crate) mod keys;
pub mod log_tree;
pub(crate) mod names;
pub(crate) mod scenarios;
pub(crate) mod time;
pub(crate) mod x509_der;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use authorities::Authorities;
use ct_encode::{Encoder, EntryText};
use issuance::{Issuance, Logging};
use keys::KeyPool;
use scenarios::{HostStats, MonthKey, MonthStats, Scenarios};

/// How pages are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compress {
    /// One page in eight gzip, one in eight zstd, the rest plain JSON.
    Mixed,
    /// Plain JSON only.
    None,
    /// Every page gzip.
    Gzip,
    /// Every page zstd.
    Zstd,
}

/// Formats `pipeline synth` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthFormat {
    /// RFC 6962 get-entries pages (and a JSON-lines tail per log).
    #[default]
    GetEntries,
    /// static-ct-api data tiles with leaf_index and issuer/ files, one
    /// tiled log per directory (no malformed entries: tiles have no JSON).
    Tiles,
}

/// What `pipeline synth` was asked to do: its command-line arguments (the
/// command line adds only how to show the summary).
#[derive(Debug, Clone, clap::Args)]
pub struct SynthOptions {
    /// Entries in all (split evenly across the logs).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub entries: u64,
    /// Random seed: the same seed and options write the same bytes.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// The directory to create (absent or empty). Logs go to OUT/synth-1, ...
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Dump format.
    #[arg(long, value_enum, default_value_t = SynthFormat::GetEntries)]
    pub format: SynthFormat,
    /// Number of logs.
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub logs: u32,
    /// Page compression.
    #[arg(long, value_enum, default_value_t = Compress::Mixed)]
    pub compress: Compress,
    /// Share of certificates planted with each rule's anomaly (0.003 = 0.3% per rule).
    #[arg(long, value_name = "RATE", default_value_t = 0.003)]
    pub plant_rate: f64,
    /// Generator threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// What `pipeline synth` made; its keys are the command's JSON output and
/// the content of `OUT/synth.json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SynthSummary {
    /// Entries written (log slots), malformed ones included.
    pub entries: u64,
    /// The seed.
    pub seed: u64,
    /// Per log: name, entries, page size.
    pub logs: Vec<LogSummary>,
    /// Files written (excluding the ground truth and this summary).
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Entries of precert type.
    pub precert_entries: u64,
    /// Entries planted per rule (an entry can count for several rules).
    pub planted: BTreeMap<String, u64>,
    /// Decoy entries per decoy kind.
    pub decoys: BTreeMap<String, u64>,
    /// Malformed entries per reject kind they must produce.
    pub rejects: BTreeMap<String, u64>,
    /// Entries whose certificate cannot be parsed (rows with parse_error).
    pub parse_errors: u64,
    /// Pages cut short on purpose (an `io` reject each).
    pub truncated_files: Vec<String>,
    /// Wall time.
    pub elapsed_seconds: f64,
    /// Entries per second.
    pub entries_per_second: f64,
}

/// One log of a generated dump.
#[derive(Debug, Clone, Serialize)]
pub struct LogSummary {
    /// Its name (and directory).
    pub name: String,
    /// Entries (indices 0..entries).
    pub entries: u64,
    /// Entries per get-entries page.
    pub page_size: u64,
}

/// A file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageKind {
    /// A get-entries page with this compression ("", "gz", "zst").
    Page(&'static str),
    /// A gzip page cut at 60% of its bytes, holding only background entries.
    Truncated,
    /// JSON lines with explicit indices.
    Lines,
    /// A full or partial static-ct-api data tile; gzip when true.
    Tile(bool),
}

#[derive(Debug, Clone)]
struct PagePlan {
    log: usize,
    number: u64,
    start: u64,
    count: u64,
    kind: PageKind,
}

/// Malformed entries, by the reject they must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Malformed {
    NotObject,
    MissingExtra,
    BadBase64,
    BadFraming,
    NoIndex,
    BrokenLine,
}

impl Malformed {
    const IN_PAGES: [Malformed; 4] = [
        Malformed::NotObject,
        Malformed::MissingExtra,
        Malformed::BadBase64,
        Malformed::BadFraming,
    ];
    const IN_LINES: [Malformed; 2] = [Malformed::NoIndex, Malformed::BrokenLine];

    fn reject_kind(self) -> &'static str {
        match self {
            Malformed::NotObject | Malformed::BrokenLine => "json",
            Malformed::MissingExtra => "missing_field",
            Malformed::BadBase64 => "base64",
            Malformed::BadFraming => "framing",
            Malformed::NoIndex => "index",
        }
    }
}

enum Slot {
    Entry(EntryText),
    Malformed(Malformed, EntryText),
}

/// A line of `ground_truth.jsonl`.
#[derive(Debug, Clone, Serialize)]
struct TruthLine {
    log: String,
    entry_index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rules: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decoy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reject: Option<&'static str>,
    /// Whether the reject row carries the entry_index (a line that cannot
    /// be parsed, or has no index, cannot tell it).
    #[serde(skip_serializing_if = "Option::is_none")]
    reject_has_index: Option<bool>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    parse_error: bool,
    /// The CA month of an entry whose evidence is late: it is also
    /// `issuer_backdating_profile`'s when that month is a profile.
    #[serde(skip)]
    late_in: Option<MonthKey>,
    /// The organisation and OCSP/CRL hosts of an entry made with another
    /// CA's systems: `foreign_issuance_infrastructure`'s when the dump's
    /// counts say so.
    #[serde(skip)]
    foreign: Option<(&'static str, Vec<String>)>,
}

#[derive(Default)]
struct PageReport {
    truth: Vec<TruthLine>,
    bytes: u64,
    precerts: u64,
    truncated: Option<String>,
    /// Entries with evidence of issuance, per CA month (truncated pages,
    /// whose entries may be lost, hold none that could matter: see `draw`).
    months: HashMap<MonthKey, MonthStats>,
    /// Entries per (organisation, OCSP/CRL host) (truncated pages' entries
    /// name no URL: see `draw`).
    hosts: HostStats,
    /// A tile's entries' Merkle leaf hashes, in order (none for pages).
    leaf_hashes: Vec<crate::ct::merkle::Hash>,
}

/// The rule whose ground truth depends on the whole dump's URL hosts.
const FOREIGN: &str = "foreign_issuance_infrastructure";

/// Chance per entry of a malformed entry, and of an unparseable certificate.
const MALFORMED_RATE: f64 = 1.0 / 20_000.0;
const BROKEN_RATE: f64 = 1.0 / 20_000.0;
/// Decoys per issuance, per decoy kind.
const DECOY_RATE: f64 = 0.002;
const PAGE_SIZES: [u64; 2] = [1000, 256];

fn page_rng(seed: u64, log: usize, page: u64) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(b"pipeline synth page");
    h.update(seed.to_be_bytes());
    h.update((log as u64).to_be_bytes());
    h.update(page.to_be_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// The name of log `i` of a dump.
pub fn log_name(i: usize) -> String {
    format!("synth-{}", i + 1)
}

fn plan_pages(opts: &SynthOptions) -> (Vec<LogSummary>, Vec<PagePlan>) {
    let logs = opts.logs.max(1) as u64;
    let mut summaries = Vec::new();
    let mut plans = Vec::new();
    for log in 0..logs as usize {
        let entries = opts.entries / logs + u64::from((log as u64) < opts.entries % logs);
        let page_size = if opts.format == SynthFormat::Tiles {
            256
        } else {
            PAGE_SIZES[log % PAGE_SIZES.len()]
        };
        let pages = entries.div_ceil(page_size);
        for number in 0..pages {
            let start = number * page_size;
            let count = page_size.min(entries - start);
            let kind = if opts.format == SynthFormat::Tiles {
                PageKind::Tile(
                    opts.compress == Compress::Gzip
                        || (opts.compress == Compress::Mixed && number % 8 == 3),
                )
            } else if pages >= 2 && number == pages - 1 {
                PageKind::Lines
            } else if pages >= 6 && number == 2 {
                PageKind::Truncated
            } else {
                match (opts.compress, number % 8) {
                    (Compress::None, _) => PageKind::Page(""),
                    (Compress::Gzip, _) => PageKind::Page("gz"),
                    (Compress::Zstd, _) => PageKind::Page("zst"),
                    (Compress::Mixed, 3) => PageKind::Page("gz"),
                    (Compress::Mixed, 6) => PageKind::Page("zst"),
                    (Compress::Mixed, _) => PageKind::Page(""),
                }
            };
            plans.push(PagePlan {
                log,
                number,
                start,
                count,
                kind,
            });
        }
        summaries.push(LogSummary {
            name: log_name(log),
            entries,
            page_size,
        });
    }
    (summaries, plans)
}

/// Generates a dump. The output directory must be absent or empty.
pub fn run(opts: &SynthOptions) -> Result<SynthSummary> {
    let started = Instant::now();
    if let Ok(mut entries) = fs::read_dir(&opts.out) {
        if entries.next().is_some() {
            return Err(Error::Usage(format!(
                "{} is not empty: give a new directory",
                opts.out.display()
            )));
        }
    }
    fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let keys = KeyPool::default();
    let mut ca_rng = page_rng(opts.seed, usize::MAX, u64::MAX);
    let cas = Authorities::make(&mut ca_rng, &keys);
    let (logs, plans) = plan_pages(opts);
    let pages: Vec<(usize, u64, u64, bool)> = plans
        .iter()
        .map(|p| {
            let full = matches!(p.kind, PageKind::Page(_) | PageKind::Tile(_));
            (p.log, p.number, p.count, full)
        })
        .collect();
    let scenarios = Scenarios::plan(&mut ca_rng, &cas, opts.entries, opts.plant_rate, &pages);
    for l in &logs {
        let dir = opts.out.join(&l.name);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    let encoders: Vec<Encoder<'_>> = logs
        .iter()
        .map(|l| Encoder::new(&cas, keys, &l.name))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start threads: {e}")))?;
    let ctx = Ctx {
        opts,
        cas: &cas,
        encoders: &encoders,
        logs: &logs,
        scenarios: &scenarios,
    };
    let reports: Vec<PageReport> = pool.install(|| {
        plans
            .par_iter()
            .map(|plan| ctx.page(plan))
            .collect::<Result<Vec<_>>>()
    })?;

    let mut summary = SynthSummary {
        entries: logs.iter().map(|l| l.entries).sum(),
        seed: opts.seed,
        files: plans.len() as u64,
        logs,
        ..SynthSummary::default()
    };
    let mut truth = Vec::new();
    let mut months: HashMap<MonthKey, MonthStats> = HashMap::new();
    let mut hosts = HostStats::default();
    // Each tiled log's leaf hashes, in entry order (plans are in order).
    let mut tiled: BTreeMap<usize, Vec<crate::ct::merkle::Hash>> = BTreeMap::new();
    for (plan, r) in plans.iter().zip(reports) {
        if matches!(plan.kind, PageKind::Tile(_)) {
            tiled.entry(plan.log).or_default().extend(&r.leaf_hashes);
        }
        summary.bytes += r.bytes;
        summary.precert_entries += r.precerts;
        summary.truncated_files.extend(r.truncated);
        truth.extend(r.truth);
        scenarios::merge_months(&mut months, &r.months);
        hosts.merge(&r.hosts);
    }
    for t in &mut truth {
        if t.late_in.is_some_and(|k| months[&k].is_profile()) {
            t.rules.push("issuer_backdating_profile");
        }
        if let Some((org, names)) = &t.foreign {
            t.rules.retain(|r| *r != FOREIGN);
            if hosts.is_foreign(org, names) {
                t.rules.push(FOREIGN);
            }
        }
    }
    // A tiled log's hash tiles and signed checkpoint (origin: its name).
    for (log, leaves) in &tiled {
        let name = &summary.logs[*log].name;
        log_tree::write_tree(&opts.out.join(name), name, leaves)?;
    }
    truth.sort_by(|a, b| (&a.log, a.entry_index).cmp(&(&b.log, b.entry_index)));
    let mut text = Vec::with_capacity(truth.len() * 100);
    for t in &truth {
        for rule in &t.rules {
            *summary.planted.entry((*rule).to_owned()).or_default() += 1;
        }
        if let Some(d) = t.decoy {
            *summary.decoys.entry(d.to_owned()).or_default() += 1;
        }
        if let Some(k) = t.reject {
            *summary.rejects.entry(k.to_owned()).or_default() += 1;
        }
        summary.parse_errors += u64::from(t.parse_error);
        serde_json::to_writer(&mut text, t).expect("serialisable");
        text.push(b'\n');
    }
    write_file(&opts.out.join("ground_truth.jsonl"), &text)?;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    summary.entries_per_second = summary.entries as f64 / summary.elapsed_seconds.max(1e-9);
    let json = serde_json::to_vec_pretty(&summary).expect("serialisable");
    write_file(&opts.out.join("synth.json"), &json)?;
    Ok(summary)
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(data).map_err(|e| Error::io(path, e))
}

struct Ctx<'a> {
    opts: &'a SynthOptions,
    cas: &'a Authorities,
    encoders: &'a [Encoder<'a>],
    logs: &'a [LogSummary],
    scenarios: &'a Scenarios,
}

/// Finds a free slot after `i`: from `first_try` on, else between `i` and it.
fn free_slot_after(slots: &[Option<Slot>], i: usize, first_try: usize) -> Option<usize> {
    let n = slots.len();
    (first_try..n)
        .chain(i + 1..first_try.min(n))
        .find(|&j| j > i && slots[j].is_none())
}

impl Ctx<'_> {
    /// Generates and writes one page, JSON-lines file or tile.
    fn page(&self, plan: &PagePlan) -> Result<PageReport> {
        let mut fill = Fill::new(self, plan);
        for i in 0..plan.count as usize {
            fill.slot(i);
        }
        let Fill {
            slots, mut report, ..
        } = fill;
        let log = &self.logs[plan.log].name;
        if let PageKind::Tile(gzip) = plan.kind {
            (report.bytes, report.leaf_hashes) = self.write_tile(plan, &slots, gzip)?;
            return Ok(report);
        }
        let body = render(plan, &slots);
        let (name, bytes) = self.compress(plan, body)?;
        let path = self.opts.out.join(log).join(&name);
        write_file(&path, &bytes)?;
        report.bytes = bytes.len() as u64;
        if plan.kind == PageKind::Truncated {
            report.truncated = Some(format!("{log}/{name}"));
        }
        Ok(report)
    }

    /// Writes a data tile and the issuer files it refers to; returns its size.
    fn write_tile(
        &self,
        plan: &PagePlan,
        slots: &[Option<Slot>],
        gzip: bool,
    ) -> Result<(u64, Vec<crate::ct::merkle::Hash>)> {
        let ct_encode::Tile {
            data: tile,
            issuers,
            leaves,
        } = ct_encode::tile(&slots_entries(slots), plan.start);
        let bytes = if gzip {
            gzip_fast(&tile).map_err(|e| Error::io(&self.opts.out, e))?
        } else {
            tile
        };
        let root = self.opts.out.join(&self.logs[plan.log].name);
        let mut name = crate::ct::tile::tile_path(plan.number);
        if plan.count < 256 {
            name = format!("{name}.p/{}", plan.count);
        }
        let path = root.join("tile/data").join(name);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        write_file(&path, &bytes)?;
        let issuer_dir = root.join("issuer");
        fs::create_dir_all(&issuer_dir).map_err(|e| Error::io(&issuer_dir, e))?;
        for (name, der) in issuers {
            let p = issuer_dir.join(name);
            // Pages run in parallel: the first to create an issuer file writes it.
            if let Ok(mut f) = fs::OpenOptions::new().write(true).create_new(true).open(&p) {
                f.write_all(&der).map_err(|e| Error::io(&p, e))?;
            }
        }
        Ok((bytes.len() as u64, leaves))
    }

    fn compress(&self, plan: &PagePlan, body: Vec<u8>) -> Result<(String, Vec<u8>)> {
        let end = plan.start + plan.count - 1;
        let io = |e: std::io::Error| Error::io(&self.opts.out, e);
        Ok(match plan.kind {
            PageKind::Lines => (format!("tail-{}.ndjson", plan.start), body),
            PageKind::Page("") => (format!("{}-{end}.json", plan.start), body),
            PageKind::Page("zst") => (
                format!("{}-{end}.json.zst", plan.start),
                zstd::bulk::compress(&body, 3).map_err(io)?,
            ),
            PageKind::Tile(_) => unreachable!("tiles are written by page()"),
            PageKind::Page(_) | PageKind::Truncated => {
                let mut gz = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 2),
                    flate2::Compression::fast(),
                );
                gz.write_all(&body).map_err(io)?;
                let mut data = gz.finish().map_err(io)?;
                if plan.kind == PageKind::Truncated {
                    data.truncate(data.len() * 6 / 10);
                }
                (format!("{}-{end}.json.gz", plan.start), data)
            }
        })
    }
}

/// The entries of one page as they are drawn, slot by slot, from the page's
/// own random stream (so a page is the same whatever the thread count).
struct Fill<'c, 'a> {
    ctx: &'c Ctx<'a>,
    plan: &'c PagePlan,
    rng: ChaCha8Rng,
    slots: Vec<Option<Slot>>,
    report: PageReport,
    /// A truncated page: background entries only.
    clean: bool,
    /// No malformed entries (truncated pages, tiles: a tile has no JSON to break).
    framed_only: bool,
    kinds: &'static [Malformed],
    /// Malformed entries placed on purpose: every first page and last file
    /// holds one of each kind.
    forced: Vec<(usize, Malformed)>,
    /// Where the first page's certificate that does not parse goes.
    forced_broken: Option<usize>,
    /// The page's group of certificates sharing a notBefore, still to place
    /// (last first); they take the first slots free.
    group: Vec<Issuance>,
}

impl<'c, 'a> Fill<'c, 'a> {
    fn new(ctx: &'c Ctx<'a>, plan: &'c PagePlan) -> Self {
        let mut rng = page_rng(ctx.opts.seed, plan.log, plan.number);
        let n = plan.count as usize;
        let clean = plan.kind == PageKind::Truncated;
        let framed_only = clean || matches!(plan.kind, PageKind::Tile(_));
        let kinds: &'static [Malformed] = if plan.kind == PageKind::Lines {
            &Malformed::IN_LINES
        } else {
            &Malformed::IN_PAGES
        };
        let mut forced: Vec<(usize, Malformed)> = Vec::new();
        if !framed_only
            && (plan.number == 0 || plan.kind == PageKind::Lines)
            && n >= 4 * kinds.len()
        {
            for &k in kinds {
                loop {
                    let at = rng.random_range(0..n);
                    if !forced.iter().any(|(a, _)| *a == at) {
                        forced.push((at, k));
                        break;
                    }
                }
            }
        }
        let forced_broken = if !clean && plan.number == 0 && n >= 16 {
            Some(rng.random_range(0..n))
        } else {
            None
        };
        let mut group = match ctx.scenarios.groups.get(&(plan.log, plan.number)) {
            Some(g) => issuance::group(&mut rng, ctx.cas, g.ca, g.not_before, g.size, g.kind),
            None => Vec::new(),
        };
        group.reverse();
        Fill {
            ctx,
            plan,
            rng,
            slots: (0..n).map(|_| None).collect(),
            report: PageReport::default(),
            clean,
            framed_only,
            kinds,
            forced,
            forced_broken,
            group,
        }
    }

    /// Fills slot `i` (unless an earlier entry's twin took it): a malformed
    /// entry, or an issuance (background, planted or decoy) with its
    /// precert and final certificate in this slot and a later one.
    fn slot(&mut self, i: usize) {
        if self.slots[i].is_some() {
            return;
        }
        // A forced entry lands on the first free slot at or after its place.
        let forced_here = self
            .forced
            .iter()
            .position(|(a, _)| *a <= i)
            .map(|p| self.forced.swap_remove(p).1);
        let malformed = forced_here.or_else(|| {
            (!self.framed_only && self.rng.random_bool(MALFORMED_RATE))
                .then(|| self.kinds[self.rng.random_range(0..self.kinds.len())])
        });
        if let Some(kind) = malformed {
            self.malformed(i, kind);
            return;
        }
        let mut is = match self.group.pop() {
            Some(member) => member,
            None => {
                let mut is = self.draw();
                let broken_due = self.forced_broken.is_some_and(|b| b <= i);
                if broken_due || (!self.clean && self.rng.random_bool(BROKEN_RATE)) {
                    self.forced_broken = self.forced_broken.filter(|_| !broken_due);
                    is = issuance::background(&mut self.rng, self.ctx.cas);
                    is.logging = Logging::FinalWithoutScts;
                    is.broken = true;
                }
                self.avoid_reserved(&mut is);
                is
            }
        };
        if is.rules.first() == Some(&"duplicate_serial") {
            let twin_slot = free_slot_after(&self.slots, i, i + 1 + self.rng.random_range(0..40));
            match twin_slot {
                Some(j) => {
                    let mut twin = issuance::duplicate_of(&mut self.rng, self.ctx.cas, &is);
                    self.avoid_reserved(&mut twin);
                    let enc = self.encoder().encode(&twin, &mut self.rng);
                    self.place(j, &twin, "x509", enc.final_cert);
                }
                None => {
                    is = issuance::background(&mut self.rng, self.ctx.cas);
                    self.avoid_reserved(&mut is);
                }
            }
        }
        let enc = self.encoder().encode(&is, &mut self.rng);
        match enc.precert {
            Some(pre) => {
                self.report.precerts += 1;
                self.place(i, &is, "precert", pre);
                let j = free_slot_after(&self.slots, i, i + 1 + self.rng.random_range(0..40));
                if let Some(j) = j {
                    self.place(j, &is, "x509", enc.final_cert);
                }
            }
            None => self.place(i, &is, "x509", enc.final_cert),
        }
    }

    /// Puts an entry of `is` in `slot`, with its ground truth and, when it
    /// carries evidence of issuance, its count in its CA month.
    fn place(&mut self, slot: usize, is: &Issuance, entry_type: &'static str, text: EntryText) {
        let evidence = match (entry_type, is.logging) {
            ("precert", _) => true,
            (_, Logging::Pair { final_scts }) => final_scts,
            (_, Logging::FinalWithScts) => true,
            (_, Logging::FinalWithoutScts) => false,
        };
        let mut late_in = None;
        if evidence && !is.broken && !self.clean {
            let key = scenarios::month_key(is.ca, is.not_before);
            self.report
                .months
                .entry(key)
                .or_default()
                .add(is.evidence_delay);
            if is.evidence_delay > scenarios::LATE_AFTER {
                late_in = Some(key);
            }
        }
        let mut foreign = None;
        if !is.broken {
            let hosts = ct_encode::url_hosts(is, self.ctx.cas);
            let org = self.ctx.cas.all[is.ca]
                .def
                .org()
                .expect("issuing CAs have an O");
            self.report.hosts.add(org, &hosts);
            if is.infra.is_some_and(|i| i != is.ca) {
                foreign = Some((org, hosts));
            }
        }
        self.truth_at(slot, is, entry_type, late_in, foreign);
        self.slots[slot] = Some(Slot::Entry(text));
    }

    /// Moves `is` off a (CA, notBefore) that a group holds: by one second.
    fn avoid_reserved(&self, is: &mut Issuance) {
        while self
            .ctx
            .scenarios
            .reserved
            .contains(&(is.ca, is.not_before))
        {
            is.not_before += 1;
            is.not_after += 1;
        }
    }

    fn encoder(&self) -> &'c ct_encode::Encoder<'a> {
        &self.ctx.encoders[self.plan.log]
    }

    /// A malformed entry of `kind` in slot `i`, and its ground truth.
    fn malformed(&mut self, i: usize, kind: Malformed) {
        let is = issuance::background(&mut self.rng, self.ctx.cas);
        let enc = self.encoder().encode(&is, &mut self.rng);
        let text = enc.precert.unwrap_or(enc.final_cert);
        let has_index = !(self.plan.kind == PageKind::Lines
            && matches!(
                kind,
                Malformed::NoIndex | Malformed::BrokenLine | Malformed::NotObject
            ));
        self.report.truth.push(TruthLine {
            log: self.ctx.logs[self.plan.log].name.clone(),
            entry_index: self.plan.start + i as u64,
            entry_type: None,
            rules: Vec::new(),
            decoy: None,
            reject: Some(kind.reject_kind()),
            reject_has_index: Some(has_index),
            parse_error: false,
            late_in: None,
            foreign: None,
        });
        self.slots[i] = Some(Slot::Malformed(kind, text));
    }

    /// The next issuance: background, or at the plant and decoy rates a
    /// planted anomaly or a decoy, or one of the scenario months'. A
    /// truncated page holds background only, and only entries without
    /// evidence of issuance except WoSign's after its promise to log (a
    /// month of WoSign's has no late entry, so is never a backdating
    /// profile), naming no OCSP or CRL URL: whether its entries are lost or
    /// not, no CA month that could be a profile and no host count holds them.
    fn draw(&mut self) -> Issuance {
        let opts = self.ctx.opts;
        let plant_total = opts.plant_rate * issuance::PLANTS.len() as f64;
        let decoy_total = DECOY_RATE * issuance::DECOYS.len() as f64;
        let x: f64 = self.rng.random();
        let cas = self.ctx.cas;
        let months = plant_total + decoy_total;
        if self.clean {
            let mut is = issuance::background(&mut self.rng, cas);
            is.without_urls = true;
            let c = &cas.all[is.ca];
            if !(c.def.wosign && is.logging != Logging::FinalWithoutScts) {
                is.logging = Logging::FinalWithoutScts;
            }
            is
        } else if x >= months + scenarios::PROFILE_SHARE + scenarios::TOLERANCE_SHARE {
            issuance::background(&mut self.rng, cas)
        } else if x >= months {
            let profile = x < months + scenarios::PROFILE_SHARE;
            let month = if profile {
                self.ctx.scenarios.profile
            } else {
                self.ctx.scenarios.tolerance
            };
            let backdated = self.rng.random_bool(scenarios::BACKDATED_SHARE);
            issuance::in_month(
                &mut self.rng,
                cas,
                month.ca,
                (month.from, month.to),
                profile && backdated,
                !profile && backdated,
            )
        } else if x < plant_total {
            let rule =
                issuance::PLANTS[((x / opts.plant_rate) as usize).min(issuance::PLANTS.len() - 1)];
            issuance::plant(&mut self.rng, cas, rule)
        } else {
            let k = ((x - plant_total) / DECOY_RATE) as usize;
            issuance::decoy(
                &mut self.rng,
                cas,
                issuance::DECOYS[k.min(issuance::DECOYS.len() - 1)],
            )
        }
    }

    /// The ground truth of an entry in `slot`, when it has any to tell.
    fn truth_at(
        &mut self,
        slot: usize,
        is: &Issuance,
        entry_type: &'static str,
        late_in: Option<MonthKey>,
        foreign: Option<(&'static str, Vec<String>)>,
    ) {
        if is.rules.is_empty() && is.decoy.is_none() && !is.broken && foreign.is_none() {
            return;
        }
        self.report.truth.push(TruthLine {
            log: self.ctx.logs[self.plan.log].name.clone(),
            entry_index: self.plan.start + slot as u64,
            entry_type: Some(entry_type),
            rules: is.rules.clone(),
            decoy: is.decoy,
            reject: None,
            reject_has_index: None,
            parse_error: is.broken,
            late_in,
            foreign,
        });
    }
}

/// The entries of a tile's slots (a tile has no malformed ones).
fn slots_entries(slots: &[Option<Slot>]) -> Vec<&EntryText> {
    slots
        .iter()
        .map(|s| match s {
            Some(Slot::Entry(t)) | Some(Slot::Malformed(_, t)) => t,
            None => unreachable!("every slot is filled"),
        })
        .collect()
}

fn gzip_fast(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::fast(),
    );
    gz.write_all(data)?;
    gz.finish()
}

fn render(plan: &PagePlan, slots: &[Option<Slot>]) -> Vec<u8> {
    let lines = plan.kind == PageKind::Lines;
    let mut out = Vec::with_capacity(slots.len() * 4096);
    if !lines {
        out.extend_from_slice(b"{\"entries\":[");
    }
    for (i, slot) in slots.iter().enumerate() {
        let index = plan.start + i as u64;
        if !lines && i > 0 {
            out.push(b',');
        }
        let index_key = if lines {
            format!("\"index\":{index},")
        } else {
            String::new()
        };
        let entry = |out: &mut Vec<u8>, key: &str, leaf: &str, extra: Option<&str>| {
            out.push(b'{');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\"leaf_input\":\"");
            out.extend_from_slice(leaf.as_bytes());
            out.push(b'"');
            if let Some(extra) = extra {
                out.extend_from_slice(b",\"extra_data\":\"");
                out.extend_from_slice(extra.as_bytes());
                out.push(b'"');
            }
            out.push(b'}');
        };
        match slot {
            Some(Slot::Entry(t)) => entry(&mut out, &index_key, &t.leaf_b64, Some(&t.extra_b64)),
            Some(Slot::Malformed(kind, t)) => match kind {
                Malformed::NotObject => out.extend_from_slice(b"[\"not\",\"an\",\"entry\"]"),
                Malformed::MissingExtra => entry(&mut out, &index_key, &t.leaf_b64, None),
                Malformed::BadBase64 => {
                    let bad = format!("{}*{}", &t.leaf_b64[..8], &t.leaf_b64[8..]);
                    entry(&mut out, &index_key, &bad, Some(&t.extra_b64))
                }
                Malformed::BadFraming => {
                    use base64::engine::general_purpose::STANDARD;
                    use base64::Engine;
                    let leaf = STANDARD.decode(&t.leaf_b64).expect("our own base64");
                    let cut = STANDARD.encode(&leaf[..leaf.len() / 2]);
                    entry(&mut out, &index_key, &cut, Some(&t.extra_b64))
                }
                Malformed::NoIndex => entry(&mut out, "", &t.leaf_b64, Some(&t.extra_b64)),
                Malformed::BrokenLine => out.extend_from_slice(
                    format!("{{{index_key}\"leaf_input\":\"{}", &t.leaf_b64[..40]).as_bytes(),
                ),
            },
            None => unreachable!("every slot is filled"),
        }
        if lines {
            out.push(b'\n');
        }
    }
    if !lines {
        out.extend_from_slice(b"]}");
    }
    out
}
