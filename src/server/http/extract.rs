//! Extractors: a JSON body whose every failure is a clear 4xx in the API's
//! error shape (never echoing what was sent), and the signed-in user.

use super::error::ApiError;
use crate::server::{
    auth::{self, AuthUnavailable, BearerRejected, CurrentAuth},
    core::{sessions::Authenticated, Client},
    AppState,
};
use axum::{
    body::Bytes,
    extract::{FromRef, FromRequest, FromRequestParts, Request},
    http::{header, request::Parts, StatusCode},
};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// `Json<T>` with the API's errors: 415 without a JSON content type, 413 over
/// the body limit, 400 for malformed JSON or missing and mistyped fields.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a JSON body (Content-Type: application/json)",
            ));
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Reads the whole body (413 over the limit).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large (the limit is 64 KiB)",
            )
        } else {
            ApiError::bad_request("could not read the request body")
        }
    })
}

/// Parses a JSON body; the error names what is wrong without repeating any
/// submitted value.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of this API is an object. serde would also read a struct
    // from an array (`[]` as `{}` with every field defaulted): refuse that.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(ApiError::bad_request("expected a JSON object"));
    }
    serde_json::from_slice::<T>(bytes).map_err(|e| {
        use serde_json::error::Category;
        let message = match e.classify() {
            Category::Syntax | Category::Eof => "malformed JSON body".to_string(),
            Category::Io => "could not read the request body".to_string(),
            Category::Data => describe_data_error(&e.to_string()),
        };
        ApiError::bad_request(message)
    })
}

/// serde's data errors quote the offending value ("invalid type: string
/// \"hunter2\" ..."); keep only the kind of problem and the field name.
fn describe_data_error(text: &str) -> String {
    let text = text.split(" at line ").next().unwrap_or(text);
    if let Some(rest) = text.strip_prefix("missing field ") {
        return format!("missing field {rest}");
    }
    if let Some(rest) = text.strip_prefix("unknown field ") {
        let name = rest.split(',').next().unwrap_or(rest);
        return format!("unknown field {name}");
    }
    if text.starts_with("invalid type") {
        return "a field has the wrong type (expected a JSON object of strings and booleans)".to_string();
    }
    if text.starts_with("unknown variant") {
        let allowed = text
            .split_once("expected ")
            .map(|(_, a)| a)
            .unwrap_or("another value");
        return format!("a field has a value it does not allow (expected {allowed})");
    }
    if text.starts_with("invalid length") || text.starts_with("invalid value") {
        return "a field has an invalid value".to_string();
    }
    "the JSON body does not have the expected shape".to_string()
}

fn is_json(value: Option<&header::HeaderValue>) -> bool {
    let Some(v) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// The signed-in user; 401 with `WWW-Authenticate: Bearer` otherwise, and
/// 403 while the policy requires a second factor they have not set up.
pub struct CurrentUser(pub Arc<Authenticated>);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let EnrollingUser(auth) = EnrollingUser::from_request_parts(parts, state).await?;
        if auth.must_enrol {
            return Err(crate::server::core::Error::EnrolmentRequired.into());
        }
        Ok(CurrentUser(auth))
    }
}

/// The signed-in user, also one who still has to set up a second factor
/// (for the endpoints that set one up).
pub struct EnrollingUser(pub Arc<Authenticated>);

impl<S: Send + Sync> FromRequestParts<S> for EnrollingUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        unavailable(parts)?;
        match parts.extensions.get::<CurrentAuth>() {
            Some(CurrentAuth(Some(auth))) => Ok(EnrollingUser(auth.clone())),
            _ if parts.extensions.get::<BearerRejected>().is_some() => Err(ApiError::invalid_token()),
            _ => Err(ApiError::unauthenticated()),
        }
    }
}

/// A JSON body that may be absent (empty): `None` then.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers().get(header::CONTENT_TYPE));
        let bytes = read_body(req, state).await?;
        // No body, and a JSON `null`, are both "not given".
        let text = bytes.trim_ascii();
        if text.is_empty() || (json && text == b"null") {
            return Ok(OptionalJson(None));
        }
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a JSON body (Content-Type: application/json)",
            ));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// A signed-in admin: 401 when signed out, 403 for any other role.
pub struct AdminUser(pub Arc<Authenticated>);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let CurrentUser(auth) = CurrentUser::from_request_parts(parts, state).await?;
        crate::server::core::admin::require_admin(&auth)?;
        Ok(AdminUser(auth))
    }
}

/// 503 when the request's credentials could not be checked (the database
/// did not answer): never "signed out" because of an outage.
fn unavailable(parts: &Parts) -> Result<(), ApiError> {
    if parts.extensions.get::<AuthUnavailable>().is_some() {
        return Err(
            crate::server::core::Error::Unavailable("credentials could not be checked".into()).into(),
        );
    }
    Ok(())
}

/// The signed-in user if there is one (503 if that cannot be told).
pub struct MaybeUser(pub Option<Arc<Authenticated>>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        unavailable(parts)?;
        Ok(MaybeUser(
            parts.extensions.get::<CurrentAuth>().and_then(|a| a.0.clone()),
        ))
    }
}

/// Who is asking (address and user agent; see [`auth::client_of`]).
pub struct ClientInfo(pub Client);

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo
where
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        Ok(ClientInfo(auth::client_of(
            &parts.extensions,
            &parts.headers,
            &state.config,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_never_repeat_the_value() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            password: String,
        }
        let err = parse_json::<Body>(br#"{"password": 123456789}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(!err.message.contains("123456789"), "{}", err.message);
        let err = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(err.message, "missing field `password`");
        let err = parse_json::<Body>(br#"{"password": "x"#).unwrap_err();
        assert_eq!(err.message, "malformed JSON body");
    }

    #[test]
    fn bodies_must_be_objects() {
        #[derive(serde::Deserialize, Debug, Default)]
        #[allow(dead_code)]
        struct Body {
            #[serde(default)]
            token: Option<String>,
        }
        for body in [&b"[]"[..], b"[\"x\"]", b"null", b" 42", b"\"x\""] {
            let err = parse_json::<Body>(body).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
            assert_eq!(err.message, "expected a JSON object");
        }
        assert!(parse_json::<Body>(b" {}").is_ok());
        assert_eq!(
            parse_json::<Body>(b"[").unwrap_err().message,
            "malformed JSON body"
        );
    }

    #[test]
    fn json_content_types() {
        let v = |s: &'static str| header::HeaderValue::from_static(s);
        assert!(is_json(Some(&v("application/json"))));
        assert!(is_json(Some(&v("application/json; charset=utf-8"))));
        assert!(is_json(Some(&v("application/merge-patch+json"))));
        assert!(!is_json(Some(&v("text/plain"))));
        assert!(!is_json(Some(&v("application/x-www-form-urlencoded"))));
        assert!(!is_json(None));
    }
}
