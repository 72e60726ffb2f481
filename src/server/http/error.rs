//! The JSON API's error: a status and `{"error": "<message>"}`.

use crate::server::core;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

/// The body of every error answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

const INVALID_TOKEN: &str = "invalid or expired access token";

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthenticated() -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "authentication required")
    }

    /// A bearer token was sent but is not valid (bad, expired or revoked).
    pub fn invalid_token() -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, INVALID_TOKEN)
    }

    pub fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not found")
    }
}

/// The status each core error answers with.
pub fn status_of(e: &core::Error) -> StatusCode {
    use core::Error::*;
    match e {
        Invalid { .. } | InvalidLink => StatusCode::BAD_REQUEST,
        EmailNotVerified => StatusCode::FORBIDDEN,
        Conflict { .. } | StateConflict(_) => StatusCode::CONFLICT,
        InvalidCredentials | Unauthenticated | WrongPassword { .. } | ReauthRequired | SignInExpired => {
            StatusCode::UNAUTHORIZED
        }
        EnrolmentRequired => StatusCode::FORBIDDEN,
        Forbidden(_) => StatusCode::FORBIDDEN,
        NotFound(_) => StatusCode::NOT_FOUND,
        RateLimited { .. } | Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        OAuth { code, .. } => StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST),
        Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The message people see: the core's, except for internal failures, whose
/// details go to the log only.
pub fn public_message(e: &core::Error) -> String {
    match e {
        core::Error::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            "internal error".to_string()
        }
        core::Error::Unavailable(detail) => {
            tracing::warn!(error = %detail, "the database did not answer");
            e.to_string()
        }
        other => other.to_string(),
    }
}

impl From<core::Error> for ApiError {
    fn from(e: core::Error) -> Self {
        ApiError {
            status: status_of(&e),
            retry_after: e.retry_after(),
            message: public_message(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.message == INVALID_TOKEN {
                "Bearer realm=\"gatehouse\", error=\"invalid_token\""
            } else {
                "Bearer realm=\"gatehouse\""
            };
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        res
    }
}
