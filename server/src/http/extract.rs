//! Extractors: a handler's signature says whether it needs a user, and JSON bodies report
//! bad fields the way the API contract wants (422 with the field's name); query strings
//! that cannot be read at all are problem+json too.

use super::error::ApiError;
use super::AppState;
use app::backend::Backend;
use app::error::AppError;
use app::model::{FieldError, User};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The signed-in user; 401 when there is none.
pub struct AuthUser(pub User);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        state.services.authenticate(parts).await?.map(AuthUser).ok_or(ApiError(AppError::Unauthorized))
    }
}

/// Query parameters. Handlers take them as text and the service checks each one, so that
/// a bad value is a 422 naming it; what is left for this extractor to refuse (a parameter
/// given twice) is a 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(query)| ApiQuery(query))
            .map_err(|e| ApiError(AppError::BadRequest(e.body_text())))
    }
}

/// A JSON body. A value of the wrong type is a 422 naming the field; a body that is not
/// JSON at all, or not a JSON object, is a 400.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError(AppError::BadRequest(format!("Cannot read the request body: {e}"))))?;
        parse_json(&bytes).map(ApiJson).map_err(ApiError)
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut value: Value = serde_json::from_slice(bytes)
        .map_err(|e| AppError::BadRequest(format!("The body is not valid JSON: {e}")))?;
    // Every body Berth reads is an object; serde alone would also take a struct's fields
    // as an array (`[null, null]`), which the document does not allow.
    if !value.is_object() {
        return Err(AppError::BadRequest("The body must be a JSON object".into()));
    }
    whole_numbers(&mut value);
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path != "." && !path.starts_with('[') {
            AppError::Validation(vec![FieldError::new(&path, inner.to_string())])
        } else {
            AppError::BadRequest(format!("The body is not valid JSON for this endpoint: {inner}"))
        }
    })
}

/// JSON (and JSON Schema's `integer`) does not tell `2` from `2.0`; serde does. Whole
/// numbers written with a fraction are read as the integers they are, so a client that
/// writes every number as a float is understood.
fn whole_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15) {
                *n = if f < 0.0 { (f as i64).into() } else { (f as u64).into() };
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::RequestInput;

    #[test]
    fn a_wrong_type_names_its_field() {
        let err = parse_json::<RequestInput>(br#"{"cpu": "lots"}"#).unwrap_err();
        let fields: Vec<_> = err.field_errors().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["cpu"]);
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        assert!(matches!(parse_json::<RequestInput>(b"{"), Err(AppError::BadRequest(_))));
        assert!(matches!(parse_json::<RequestInput>(b"[1]"), Err(AppError::BadRequest(_))));
        assert!(matches!(parse_json::<app::model::UserPatch>(b"[null, null]"), Err(AppError::BadRequest(_))));
    }

    #[test]
    fn whole_numbers_with_a_fraction_are_integers() {
        let input = parse_json::<RequestInput>(br#"{"cpu": 256.0, "memory": 512}"#).unwrap();
        assert_eq!((input.cpu, input.memory), (256, 512));
        let err = parse_json::<RequestInput>(br#"{"cpu": 256.5}"#).unwrap_err();
        assert_eq!(err.field_errors()[0].field, "cpu");
    }
}
