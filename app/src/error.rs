//! The errors a user can see. The server maps each variant to an HTTP status once
//! (`server::http::error`); server functions carry them to the browser unchanged.

use crate::model::FieldError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Sign in to continue")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A name, path or priority another request already holds (a conflict, shown by the field).
    #[error("{message}")]
    Taken { field: String, message: String },
    #[error("{}", summary(.0))]
    Validation(Vec<FieldError>),
    #[error("Too many attempts; try again in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    BadRequest(String),
    /// A body larger than Berth reads for this path.
    #[error("{0}")]
    TooLarge(String),
    /// Something Berth depends on (AWS) did not answer; asking again later may work.
    #[error("{0}")]
    Unavailable(String),
    /// Details are in the server log; the user sees only that it was not their fault.
    #[error("Something went wrong on the server; the details are in its log")]
    Internal,
}

fn summary(errors: &[FieldError]) -> String {
    match errors {
        [one] => one.message.clone(),
        many => format!("{} fields need attention", many.len()),
    }
}

impl AppError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, message)])
    }

    /// The messages to show next to form fields.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            AppError::Validation(errors) => errors.clone(),
            AppError::Taken { field, message } => vec![FieldError::new(field, message.clone())],
            _ => Vec::new(),
        }
    }
}

impl From<Vec<FieldError>> for AppError {
    fn from(errors: Vec<FieldError>) -> Self {
        AppError::Validation(errors)
    }
}

impl leptos::server_fn::error::FromServerFnError for AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(m) | E::Deserialization(m) => AppError::BadRequest(m),
            _ => AppError::Internal,
        }
    }
}
