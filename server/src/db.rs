//! Opening the database (embedded SQLite by default, PostgreSQL by URL) and migrating it.

use std::str::FromStr;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlxSqliteConnector};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _};

use crate::config::Config;

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to the configured database and applies pending migrations.
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let db = match &config.database_url {
        Some(url) if url.starts_with("sqlite:") => {
            let options =
                SqliteConnectOptions::from_str(url).map_err(|e| DbErr::Custom(e.to_string()))?;
            sqlite(options, config.sqlite_max_size_mb).await?
        }
        Some(url) => postgres(url).await?,
        None => {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                DbErr::Custom(format!(
                    "cannot create data directory {}: {e}",
                    config.data_dir.display()
                ))
            })?;
            sqlite(
                SqliteConnectOptions::new().filename(config.sqlite_path()),
                config.sqlite_max_size_mb,
            )
            .await?
        }
    };
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// SQLite in WAL mode: readers never block the writer. `synchronous = NORMAL` is durable
/// across a crash or `kill -9` of the process (R2: a committed transaction is in the WAL
/// in the OS page cache, which outlives the process); only a power loss or OS crash can
/// drop the last transactions, which FULL would prevent at the cost of an fsync per
/// commit. Foreign keys are on (off by default in SQLite). `max_size_mb` caps the file
/// (`PRAGMA max_page_count`): past it, writes fail with SQLITE_FULL and change nothing.
async fn sqlite(
    options: SqliteConnectOptions,
    max_size_mb: Option<u64>,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = options;
    if let Some(mb) = max_size_mb {
        // Pages are 4096 bytes, SQLite's default.
        options = options.pragma("max_page_count", (mb * 256).to_string());
    }
    let options = options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .disable_statement_logging();
    let cannot_open =
        |e: sqlx::Error| DbErr::Custom(format!("cannot open the SQLite database: {e}"));
    // A missing file is created once, here at start. The pool's own connections never
    // create one: if the file goes away while Keygate runs (a lost volume, an operator
    // moving it), a connection opened meanwhile must fail (503) rather than start an
    // empty database that would outlive the file's return in the pool.
    options
        .clone()
        .create_if_missing(true)
        .connect()
        .await
        .map_err(cannot_open)?
        .close()
        .await
        .map_err(cannot_open)?;
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.create_if_missing(false))
        .await
        .map_err(cannot_open)?;
    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

async fn postgres(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(16)
        .min_connections(1)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // Statements are not logged: parameters may carry credentials (K8).
        .sqlx_logging(false);
    Database::connect(options).await
}
