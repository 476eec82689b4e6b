//! The server's error type. Everything a user may see is an [`AppError`]; the other
//! variants are internal, logged here and shown to the user only as "something went wrong".

use app::error::AppError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("session store: {0}")]
    Session(#[from] tower_sessions::session::Error),
    #[error("password hashing: {0}")]
    Hash(String),
    #[error("stored data cannot be read: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("configuration: {0}")]
    Config(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        match error {
            Error::App(e) => e,
            other => {
                tracing::error!(error = %other, "internal error");
                AppError::Internal
            }
        }
    }
}
