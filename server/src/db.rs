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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};

    use super::*;

    async fn read_counter(txn: &DatabaseTransaction) -> i64 {
        let sql = Statement::from_string(DbBackend::Sqlite, "SELECT n FROM counter");
        let row = txn.query_one(sql).await.unwrap().unwrap();
        row.try_get("", "n").unwrap()
    }

    async fn write_counter(txn: &DatabaseTransaction, n: i64) -> Result<(), DbErr> {
        txn.execute_unprepared(&format!("UPDATE counter SET n = {n}"))
            .await
            .map(drop)
    }

    /// Two transactions that each read a counter and then write it back one higher,
    /// overlapping, on the server's own SQLite pool: the second waits for the first and
    /// sees its write, so both commit and nothing is lost. With a deferred `BEGIN`, the
    /// second would commit while the first waits, and the first's write would then fail
    /// at once with "database is locked" (its snapshot is stale), answered 500.
    #[tokio::test]
    async fn overlapping_read_then_write_transactions_both_commit() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new().filename(dir.path().join("keygate.db"));
        let db = sqlite(options, None).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        db.execute_unprepared("CREATE TABLE counter (n INTEGER NOT NULL)")
            .await
            .unwrap();
        db.execute_unprepared("INSERT INTO counter VALUES (0)")
            .await
            .unwrap();

        let first = app::ssr::begin_write(&db).await.unwrap();
        let seen_first = read_counter(&first).await;
        let second = tokio::spawn({
            let db = db.clone();
            async move {
                let txn = app::ssr::begin_write(&db).await?;
                let seen = read_counter(&txn).await;
                write_counter(&txn, seen + 1).await?;
                txn.commit().await
            }
        });
        // Time for the second to run as far as it can while the first is open.
        tokio::time::sleep(Duration::from_millis(200)).await;
        write_counter(&first, seen_first + 1)
            .await
            .expect("the first transaction's write");
        first.commit().await.unwrap();
        second.await.unwrap().expect("the second transaction");

        let after = db
            .query_one(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT n FROM counter",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.try_get::<i64>("", "n").unwrap(), 2, "no update lost");
    }
}
