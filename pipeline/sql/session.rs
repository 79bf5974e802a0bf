//! The one place a DataFusion session over a dataset is built: tables
//! `certs`, `rejects` and `findings` as Hive-partitioned listing tables,
//! `manifest` (the ingested inputs), `ct_logs` (the CT log list), and the
//! helper UDFs. `query`, `check`
//! and the tests all use it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::ObjectStore;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::ct::log_list;
use crate::dataset::manifest::{self, ManifestEntry};
use crate::dataset::remote::{self, Location, Remote, StoreOptions};
use crate::dataset::snapshot::{self, Snapshot, DATA_TABLES};
use crate::sql::memory_limit::{parse_memory_limit, MemoryLimit, DEFAULT_MEMORY_LIMIT};
use crate::sql::script::ParamValue;
use crate::sql::snapshot_store::SnapshotStore;
use crate::sql::udfs;
use crate::table::schema::{cert_schema, finding_schema, manifest_schema, reject_schema};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::context::SQLOptions;

/// The tables of a dataset, with their Hive partition column.
pub const TABLES: &[(&str, &str)] = &[("certs", "log"), ("rejects", "log"), ("findings", "run")];

fn known_schema(table: &str) -> SchemaRef {
    match table {
        "certs" => cert_schema(false),
        "rejects" => reject_schema(),
        _ => finding_schema(),
    }
}

/// Whether `dir` holds a Parquet file at any depth.
pub fn has_parquet(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            has_parquet(&p)
        } else {
            p.extension().is_some_and(|x| x == "parquet")
        }
    })
}

/// DataFusion's message for `e`; when the memory limit was what stopped a
/// query, with how to lift it (DataFusion's own hint names a setting our
/// command line does not have).
pub fn error_message(e: &DataFusionError) -> String {
    let message = e.to_string();
    if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) {
        format!("{message}\n(the memory limit was reached: pass a larger --memory-limit, or --memory-limit none)")
    } else {
        message
    }
}

/// Statements a rule, or a `query` without `--allow-write`, may run:
/// queries only. DDL (CREATE, DROP), DML (INSERT, COPY ... TO) and
/// statements that change settings or transactions are refused when the
/// statement is planned, before anything runs.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// The typed values of a rule's parameters, for `DataFrame::with_param_values`.
pub fn param_values(values: &[(String, ParamValue)]) -> ParamValues {
    let utc: Option<Arc<str>> = Some("UTC".into());
    ParamValues::Map(
        values
            .iter()
            .map(|(name, v)| {
                let scalar = match v {
                    ParamValue::Int(i) => ScalarValue::Int64(Some(*i)),
                    ParamValue::Float(f) => ScalarValue::Float64(Some(*f)),
                    ParamValue::Text(t) => ScalarValue::Utf8(Some(t.clone())),
                    ParamValue::Timestamp(ms) => {
                        ScalarValue::TimestampMillisecond(Some(*ms), utc.clone())
                    }
                };
                (name.clone(), scalar.into())
            })
            .collect(),
    )
}

/// The environment variable that overrides our default for skipping the
/// partial aggregation (any `DATAFUSION_*` setting is read from the
/// environment; a rule can also set its own with `-- set:`).
const SKIP_PARTIAL_VAR: &str =
    "DATAFUSION_EXECUTION_SKIP_PARTIAL_AGGREGATION_PROBE_RATIO_THRESHOLD";

/// How every command that opens a SQL session (`query`, `check`) sets it
/// up: the log list served as `ct_logs` and the memory bound.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SessionOptions {
    /// A CT log list (Google's v3 JSON) served as table `ct_logs`, instead
    /// of the compiled-in one.
    #[arg(long, value_name = "FILE")]
    pub log_list: Option<PathBuf>,
    /// Memory that joins, sorts and aggregations may hold together, e.g.
    /// 512M or 8G (binary units); past it they spill to files in TMPDIR.
    /// `auto`: half the machine's memory (or of the cgroup's limit);
    /// `none`: no bound.
    #[arg(long, value_name = "SIZE", default_value = DEFAULT_MEMORY_LIMIT, value_parser = parse_memory_limit)]
    pub memory_limit: MemoryLimit,
    /// How to reach a dataset on object storage.
    #[command(flatten)]
    pub store: StoreOptions,
    /// Run on the Ballista cluster whose scheduler is at HOST:PORT (see
    /// `pipeline scheduler`); `standalone`: on an in-process one. Planned
    /// here, over the same snapshot; the same answers as without it.
    #[arg(long, value_name = "HOST:PORT")]
    pub cluster: Option<String>,
}

/// A session with the dataset at `data` registered and the UDFs loaded,
/// and the compiled-in log list as `ct_logs`.
pub async fn open(data: &Path) -> crate::error::Result<SessionContext> {
    open_with(data, &SessionOptions::default()).await
}

/// Like [`open`], with `ct_logs` read from `--log-list` when given, and the
/// memory that joins, sorts and aggregations may hold bounded by
/// `--memory-limit` when given: past it they spill to files in the
/// OS's temporary directory (`TMPDIR`), and an operator that cannot spill
/// fails with an error naming the limit. `data` may be an object-store URL.
pub async fn open_with(
    data: &Path,
    options: &SessionOptions,
) -> crate::error::Result<SessionContext> {
    open_datasets(&[data.to_path_buf()], options, false).await
}

/// A session over the datasets at `data` (directories or object-store
/// URLs) as one: each table is the union of theirs, `manifest` lists the
/// inputs of all. Statements cannot write files unless `allow_write`.
pub async fn open_datasets(
    data: &[PathBuf],
    options: &SessionOptions,
    allow_write: bool,
) -> crate::error::Result<SessionContext> {
    let mut parts = Vec::with_capacity(data.len());
    for d in data {
        parts.push(match remote::locate(d, &options.store)? {
            Location::Local(dir) => local_part(Arc::new(snapshot::open(&dir)?))?,
            Location::Remote(r) => remote_part(r).await?,
        });
    }
    Ok(register(parts, options, allow_write).await?)
}

fn external(e: crate::error::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// A session over one [`Snapshot`] of a dataset: `certs` and `rejects` are
/// exactly the files its manifest names (see [`crate::sql::snapshot_store`]),
/// `manifest` is its manifest. The snapshot stays held (its files kept)
/// as long as the session lives. A table with no files yet is registered
/// empty, with its known schema. Statements cannot write files unless
/// `allow_write`.
pub async fn open_snapshot(
    snapshot: Arc<Snapshot>,
    options: &SessionOptions,
    allow_write: bool,
) -> Result<SessionContext> {
    register(
        vec![local_part(snapshot).map_err(external)?],
        options,
        allow_write,
    )
    .await
}

/// One dataset of a session, as its snapshot shows it.
#[derive(Clone)]
pub(crate) struct Part {
    /// The dataset's root: a directory or a URL, without a trailing `/`.
    pub(crate) root: String,
    /// The URL DataFusion finds its store under.
    pub(crate) store_url: ObjectStoreUrl,
    /// The store.
    pub(crate) inner: Arc<dyn ObjectStore>,
    /// Its data tables, as object paths.
    pub(crate) tables: Vec<ObjectPath>,
    /// The data files its manifest names, as object paths.
    pub(crate) files: BTreeSet<ObjectPath>,
    /// Whether `certs`, `rejects` and `findings` have files.
    pub(crate) present: [bool; 3],
    /// Whether every `certs` file holds name facts with this binary's stamp.
    pub(crate) name_facts: bool,
    /// Its manifest's entries.
    pub(crate) entries: Vec<ManifestEntry>,
    /// The local snapshot held while the session lives.
    pub(crate) hold: Option<Arc<Snapshot>>,
}

/// A dataset on disk.
pub(crate) fn local_part(snapshot: Arc<Snapshot>) -> crate::error::Result<Part> {
    let data = &snapshot.data;
    let object = |p: &Path| {
        ObjectPath::from_absolute_path(p).map_err(|e| crate::error::Error::Input {
            path: p.to_path_buf(),
            message: format!("cannot be read as an object path: {e}"),
        })
    };
    let tables = DATA_TABLES
        .iter()
        .map(|t| object(&data.join(t)))
        .collect::<crate::error::Result<_>>()?;
    let files = snapshot
        .files
        .keys()
        .map(|f| object(&data.join(f)))
        .collect::<crate::error::Result<_>>()?;
    Ok(Part {
        root: data.display().to_string(),
        store_url: ObjectStoreUrl::local_filesystem(),
        inner: Arc::new(LocalFileSystem::new()),
        tables,
        files,
        present: [
            !snapshot.table_files("certs").is_empty(),
            !snapshot.table_files("rejects").is_empty(),
            has_parquet(&data.join("findings")),
        ],
        name_facts: snapshot.manifest.name_facts_current(),
        entries: snapshot.entries().to_vec(),
        hold: Some(snapshot),
    })
}

/// A dataset on object storage, as the manifest read from it names it
/// (see [`crate::dataset::remote`]).
pub(crate) async fn remote_part(remote: Remote) -> crate::error::Result<Part> {
    let manifest = remote::read_manifest(&remote).await?;
    let (files, _) = snapshot::named_files(&manifest);
    let has = |table: &str| files.keys().any(|f| f.starts_with(&format!("{table}/")));
    let present = [
        has("certs"),
        has("rejects"),
        remote::has_parquet(&remote, "findings").await?,
    ];
    Ok(Part {
        root: remote.url.clone(),
        store_url: ObjectStoreUrl::parse(&remote.store_url)?,
        inner: remote.store.clone(),
        tables: DATA_TABLES.iter().map(|t| remote.path(t)).collect(),
        files: files.keys().map(|f| remote.path(f)).collect(),
        present,
        name_facts: manifest.name_facts_current(),
        entries: manifest.entries,
        hold: None,
    })
}

/// Builds the session over `parts`: one snapshot view per store, the
/// tables (each the union of the parts' files), the UDFs, `ct_logs` and
/// `manifest`.
async fn register(
    parts: Vec<Part>,
    options: &SessionOptions,
    allow_write: bool,
) -> Result<SessionContext> {
    let ctx = new_context(options)?;
    let stored_facts = parts.iter().all(|p| p.name_facts);
    udfs::register(&ctx);
    crate::sql::hex_literals::register(&ctx);
    // DataFusion finds one store per URL (the local file system, a
    // bucket): the parts on one store share one snapshot view of it.
    let mut stores: BTreeMap<String, Part> = BTreeMap::new();
    for p in &parts {
        let shared = stores
            .entry(p.store_url.as_str().to_string())
            .or_insert_with(|| Part {
                tables: Vec::new(),
                files: BTreeSet::new(),
                entries: Vec::new(),
                hold: None,
                ..p.clone()
            });
        shared.tables.extend(p.tables.iter().cloned());
        shared.files.extend(p.files.iter().cloned());
    }
    let holds: Vec<Arc<Snapshot>> = parts.iter().filter_map(|p| p.hold.clone()).collect();
    for (url, shared) in stores {
        let store = SnapshotStore::over(
            shared.inner,
            shared.tables,
            shared.files,
            allow_write,
            holds.clone(),
        );
        ctx.register_object_store(ObjectStoreUrl::parse(&url)?.as_ref(), Arc::new(store));
    }
    for (i, (table, partition)) in TABLES.iter().enumerate() {
        let urls: Vec<ListingTableUrl> = parts
            .iter()
            .filter(|p| p.present[i])
            .map(|p| ListingTableUrl::parse(format!("{}/{table}/", p.root)))
            .collect::<Result<_>>()?;
        if urls.is_empty() {
            let schema = stored_schema(table, partition);
            ctx.register_table(*table, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
            continue;
        }
        // The session's Parquet options: on a cluster, strings are read
        // as plain Utf8 (see `new_context`).
        let format =
            ParquetFormat::default().with_options(ctx.state().default_table_options().parquet);
        let listing = ListingOptions::new(Arc::new(format))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![(partition.to_string(), DataType::Utf8)]);
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(listing)
            .infer_schema(&ctx.state())
            .await?;
        ctx.register_table(*table, Arc::new(ListingTable::try_new(config)?))?;
    }
    let list = log_list::load(options.log_list.as_deref()).map_err(external)?;
    let batch = log_list::to_batch(&list).map_err(external)?;
    ctx.register_table(
        "ct_logs",
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?),
    )?;
    let entries: Vec<ManifestEntry> = parts.into_iter().flat_map(|p| p.entries).collect();
    let manifest = manifest::to_batch(&entries).map_err(external)?;
    ctx.register_table(
        "manifest",
        Arc::new(MemTable::try_new(manifest_schema(), vec![vec![manifest]])?),
    )?;
    let ctx = match &options.cluster {
        None => ctx,
        Some(cluster) => on_cluster(ctx, cluster).await?,
    };
    // A manifest that claims stamps its files' schema lacks (a damaged or
    // forged one) gets the view that tests the names.
    let has_facts = ctx
        .table_provider("certs")
        .await?
        .schema()
        .column_with_name(crate::table::name_facts::COLUMN)
        .is_some();
    crate::sql::shared_views::register(&ctx, stored_facts && has_facts).await?;
    Ok(ctx)
}

/// `ctx` made to run on the cluster at `cluster`.
#[cfg(feature = "cluster")]
async fn on_cluster(ctx: SessionContext, cluster: &str) -> Result<SessionContext> {
    crate::sql::cluster::client::connect(ctx, cluster).await
}

/// Without cluster support, `--cluster` is refused.
#[cfg(not(feature = "cluster"))]
async fn on_cluster(_ctx: SessionContext, _cluster: &str) -> Result<SessionContext> {
    Err(DataFusionError::Configuration(
        "--cluster: this pipeline was built without cluster support \
         (build it with the default features)"
            .into(),
    ))
}

/// A session with our settings and `options`' memory bound, no tables yet.
fn new_context(options: &SessionOptions) -> Result<SessionContext> {
    let mut config = SessionConfig::from_env()?;
    if std::env::var_os(SKIP_PARTIAL_VAR).is_none() {
        // Grouping on (nearly) unique keys such as serials: once half the
        // rows seen make new groups, pre-aggregating per partition only
        // doubles the hashing; such rows go straight to the final stage.
        config
            .options_mut()
            .execution
            .skip_partial_aggregation_probe_ratio_threshold = 0.5;
    }
    if options.cluster.is_some() {
        // Ballista ships batches between processes as Arrow IPC over Flight,
        // which sizes a batch by its buffers' allocations: a string view
        // column read from IPC counts the whole message once per data
        // buffer, so a batch of aggregate states (lists of views) is split
        // into one-row messages that each repeat every data buffer. On 10M
        // entries that made `duplicate_serial` stream gigabytes and an
        // executor run out of memory. Plain Utf8 and Binary are sized and
        // sliced exactly.
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
    }
    // target_partitions stays DataFusion's default, one per core, so that
    // DATAFUSION_EXECUTION_TARGET_PARTITIONS can change it.
    let config = config.with_information_schema(true);
    let runtime = crate::sql::memory_limit::runtime_within(options.memory_limit);
    Ok(SessionContext::new_with_config_rt(
        config,
        runtime.build_arc()?,
    ))
}

/// A table's schema with its partition column, for a table with no files yet.
fn stored_schema(table: &str, partition: &str) -> SchemaRef {
    let mut fields: Vec<Field> = known_schema(table)
        .fields()
        .iter()
        .filter(|f| f.name() != partition)
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(partition, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// A session sharing `ctx`'s tables and functions, whose Parquet scans
/// evaluate filters while decoding (`pushdown_filters`): a selective
/// filter's other columns are then decoded only for the rows that pass.
pub fn with_pushdown_filters(ctx: &SessionContext) -> SessionContext {
    let mut state = ctx.state();
    state
        .config_mut()
        .options_mut()
        .execution
        .parquet
        .pushdown_filters = true;
    SessionContext::new_with_state(state)
}
