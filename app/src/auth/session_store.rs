//! A tower-sessions store on the application's own database (SQLite or PostgreSQL), so
//! sessions share the connection pool and migrations with everything else and survive
//! restarts and load balancing across instances.
//!
//! Rows are keyed by SHA-256 of the session id: a copy of the table cannot be replayed
//! as cookies, and the id never reaches a log line through a database error.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, SqlErr,
};
use sha2::{Digest, Sha256};
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result};

use crate::entities::session::{ActiveModel, Column, Entity};

#[derive(Clone)]
pub struct DbSessionStore {
    db: DatabaseConnection,
}

impl DbSessionStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Deletes expired sessions; run periodically by the server.
    pub async fn delete_expired(&self) -> std::result::Result<u64, DbErr> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let res = Entity::delete_many()
            .filter(Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected)
    }
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessionStore")
    }
}

fn key(id: &Id) -> String {
    let digest = Sha256::digest(id.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn row(record: &Record) -> Result<ActiveModel> {
    Ok(ActiveModel {
        id: Set(key(&record.id)),
        data: Set(serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))?),
        expires_at: Set(record.expiry_date.unix_timestamp()),
    })
}

fn backend(err: DbErr) -> Error {
    Error::Backend(err.to_string())
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        // A colliding id (2^-128 per pair, but cheap to handle) gets a fresh one.
        loop {
            match Entity::insert(row(record)?).exec(&self.db).await {
                Ok(_) => return Ok(()),
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    record.id = Id::default();
                }
                Err(e) => return Err(backend(e)),
            }
        }
    }

    /// Updates an existing session only. New and cycled sessions go through `create`, so
    /// a request still in flight when its session was deleted (logout, login elsewhere)
    /// cannot bring it back (S2, S3).
    async fn save(&self, record: &Record) -> Result<()> {
        let row = row(record)?;
        Entity::update_many()
            .col_expr(Column::Data, Expr::value(row.data.unwrap()))
            .col_expr(Column::ExpiresAt, Expr::value(row.expires_at.unwrap()))
            .filter(Column::Id.eq(key(&record.id)))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let Some(model) = Entity::find_by_id(key(id))
            .filter(Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_str(&model.data).map_err(|e| Error::Decode(e.to_string()))?;
        let expiry_date = time::OffsetDateTime::from_unix_timestamp(model.expires_at)
            .map_err(|e| Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        Entity::delete_by_id(key(id))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
