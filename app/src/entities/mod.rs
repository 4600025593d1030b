//! SeaORM entities: plain table shapes with no behaviour (that lives in the services).

pub mod membership;
pub mod organization;
pub mod session;
pub mod user;
