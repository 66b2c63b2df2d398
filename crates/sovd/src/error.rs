//! Errors as `application/problem+json`: RFC 9457 fields and the SOVD
//! `GenericError` fields (`error_code`, `vendor_code`, `message`, `parameters`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The SOVD error codes this server uses (ISO 17978-3 `GenericError.error_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The request is malformed or misses something (400).
    IncompleteRequest,
    /// No token, or a token without the scope the request needs (401, 403).
    InsufficientAccessRights,
    /// The entity's state does not allow the request: locked by another client,
    /// no lock held, a read-only resource (409).
    PreconditionNotFulfilled,
    /// The platform part asked did not answer (503).
    NotResponding,
    /// Tomoe-specific; `vendor_code` says what (`not-found`, `too-large`).
    VendorSpecific,
}

/// A problem, as sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// RFC 9457: a URI reference naming the problem type.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// RFC 9457: a short summary (the HTTP reason phrase).
    pub title: String,
    /// RFC 9457: the HTTP status code.
    pub status: u16,
    /// RFC 9457: the explanation, same as `message`.
    pub detail: String,
    /// RFC 9457: the resource the problem is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// SOVD: the error code.
    pub error_code: ErrorCode,
    /// SOVD: Tomoe's own code when `error_code` is `vendor-specific`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_code: Option<String>,
    /// SOVD: what went wrong, naming the resource.
    pub message: String,
    /// SOVD: details (the limit that was met, the parameter at fault).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
}

/// An error of a request: what the client is told.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub struct SovdError {
    status: StatusCode,
    code: ErrorCode,
    vendor_code: Option<&'static str>,
    message: String,
    instance: Option<String>,
    parameters: Option<serde_json::Value>,
}

impl SovdError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> SovdError {
        SovdError {
            status,
            code,
            vendor_code: None,
            message: message.into(),
            instance: None,
            parameters: None,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> SovdError {
        SovdError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::IncompleteRequest,
            message,
        )
    }

    /// 401: no valid token.
    pub fn unauthorized(message: impl Into<String>) -> SovdError {
        SovdError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientAccessRights,
            message,
        )
    }

    /// 403: the token lacks a scope.
    pub fn forbidden(message: impl Into<String>) -> SovdError {
        SovdError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::InsufficientAccessRights,
            message,
        )
    }

    /// 404: no such entity or resource.
    pub fn not_found(message: impl Into<String>) -> SovdError {
        let mut error = SovdError::new(StatusCode::NOT_FOUND, ErrorCode::VendorSpecific, message);
        error.vendor_code = Some("not-found");
        error
    }

    /// 409: the entity's state does not allow it.
    pub fn conflict(message: impl Into<String>) -> SovdError {
        SovdError::new(
            StatusCode::CONFLICT,
            ErrorCode::PreconditionNotFulfilled,
            message,
        )
    }

    /// 413: the body is larger than allowed.
    pub fn too_large(message: impl Into<String>) -> SovdError {
        let mut error = SovdError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::VendorSpecific,
            message,
        );
        error.vendor_code = Some("too-large");
        error
    }

    /// 429: a limit of concurrent resources (locks, executions, subscriptions).
    pub fn too_many(message: impl Into<String>) -> SovdError {
        let mut error = SovdError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::VendorSpecific,
            message,
        );
        error.vendor_code = Some("limit-reached");
        error
    }

    /// 503: a platform part did not answer.
    pub fn unavailable(message: impl Into<String>) -> SovdError {
        SovdError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::NotResponding,
            message,
        )
    }

    /// A generic error of `status` (for rejections the framework produced).
    pub fn with_status(status: StatusCode, message: impl Into<String>) -> SovdError {
        match status {
            StatusCode::NOT_FOUND => SovdError::not_found(message),
            StatusCode::PAYLOAD_TOO_LARGE => SovdError::too_large(message),
            StatusCode::UNAUTHORIZED => SovdError::unauthorized(message),
            StatusCode::FORBIDDEN => SovdError::forbidden(message),
            StatusCode::CONFLICT => SovdError::conflict(message),
            status if status.is_client_error() => {
                let mut error = SovdError::new(status, ErrorCode::IncompleteRequest, message);
                if status == StatusCode::METHOD_NOT_ALLOWED {
                    error.code = ErrorCode::VendorSpecific;
                    error.vendor_code = Some("method-not-allowed");
                }
                error
            }
            // A server-side failure is reported as the part not answering.
            _ => SovdError::unavailable(message),
        }
    }

    /// The resource the error is about.
    pub fn at(mut self, instance: impl Into<String>) -> SovdError {
        self.instance = Some(instance.into());
        self
    }

    /// Details.
    pub fn with_parameters(mut self, parameters: serde_json::Value) -> SovdError {
        self.parameters = Some(parameters);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The problem document.
    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!(
                "https://tomoe.dev/problems/{}",
                self.vendor_code.unwrap_or(match self.code {
                    ErrorCode::IncompleteRequest => "incomplete-request",
                    ErrorCode::InsufficientAccessRights => "insufficient-access-rights",
                    ErrorCode::PreconditionNotFulfilled => "precondition-not-fulfilled",
                    ErrorCode::NotResponding => "not-responding",
                    ErrorCode::VendorSpecific => "vendor-specific",
                })
            ),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.message.clone(),
            instance: self.instance.clone(),
            error_code: self.code,
            vendor_code: self.vendor_code.map(str::to_owned),
            message: self.message.clone(),
            parameters: self.parameters.clone(),
        }
    }
}

impl IntoResponse for SovdError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Turns every error response that is not already a problem (a rejection by the
/// framework: an unknown route, a wrong method, a bad path parameter) into one,
/// and any server error into 503, so that a client always gets a problem document.
pub async fn problems_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let allow = response.headers().get(header::ALLOW).cloned();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem && !status.is_server_error() {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_owned();
    let message = match status {
        StatusCode::NOT_FOUND if text.is_empty() => format!("no resource {path}"),
        StatusCode::METHOD_NOT_ALLOWED => format!("{path} does not support this method"),
        _ if text.is_empty() => format!("{path}: {status}"),
        _ => format!("{path}: {text}"),
    };
    if status.is_server_error() {
        tracing::error!(%path, %status, %message, "SOVD request failed");
    }
    let mut problem = SovdError::with_status(status, message)
        .at(path)
        .into_response();
    if let Some(allow) = allow {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    problem
}
