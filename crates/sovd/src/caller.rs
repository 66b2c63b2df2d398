//! Who is calling, and what they may do: the bearer token verified with the
//! broker's keys, or an anonymous caller where development mode allows one.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use tomoe_auth::{DiagAccess, TokenVerifier};
use tomoe_broker::Permissions;

use crate::error::SovdError;
use crate::SovdState;

/// The header an anonymous client (development mode) may use to name itself,
/// so that locks can tell two such clients apart.
pub const CLIENT_HEADER: &str = "x-sovd-client";

/// Longest client name accepted in [`CLIENT_HEADER`].
pub const MAX_CLIENT_NAME_BYTES: usize = 128;

/// How callers are authorized.
#[derive(Clone, Default)]
pub struct AccessPolicy {
    /// Keys whose tokens are accepted (the broker's).
    pub verifiers: Vec<Arc<TokenVerifier>>,
    /// Whether a caller without a token has full access (development mode, on
    /// loopback only, as the broker allows).
    pub anonymous: bool,
}

impl std::fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPolicy")
            .field("verifiers", &self.verifiers.len())
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

/// An authorized caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who it is (the token's subject, or the anonymous client's name).
    pub client: String,
    /// What it may do on the diagnostic API.
    pub diag: DiagAccess,
    /// What it may do on the broker (data writes go through these).
    pub permissions: Permissions,
}

impl Caller {
    /// Refuses a caller without the `diag` scope.
    pub fn require_read(&self) -> Result<(), SovdError> {
        if self.diag >= DiagAccess::Read {
            Ok(())
        } else {
            Err(SovdError::forbidden(
                "the token has no \"diag\" scope, which reading diagnostics needs",
            ))
        }
    }

    /// Refuses a caller without the `diag:write` scope; `what` names the request.
    pub fn require_write(&self, what: &str) -> Result<(), SovdError> {
        if self.diag >= DiagAccess::Write {
            Ok(())
        } else {
            Err(SovdError::forbidden(format!(
                "the token has no \"diag:write\" scope, which {what} needs"
            )))
        }
    }
}

impl FromRequestParts<SovdState> for Caller {
    type Rejection = SovdError;

    async fn from_request_parts(parts: &mut Parts, state: &SovdState) -> Result<Caller, SovdError> {
        let policy = &state.config().access;
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            if policy.anonymous {
                let client = match parts.headers.get(CLIENT_HEADER) {
                    Some(value) => {
                        let name = value
                            .to_str()
                            .ok()
                            .filter(|n| !n.is_empty() && n.len() <= MAX_CLIENT_NAME_BYTES)
                            .ok_or_else(|| {
                                SovdError::bad_request(format!(
                                    "the {CLIENT_HEADER} header must be 1 to {MAX_CLIENT_NAME_BYTES} visible ASCII characters"
                                ))
                            })?;
                        format!("anonymous:{name}")
                    }
                    None => "anonymous".to_owned(),
                };
                return Ok(Caller {
                    client,
                    diag: DiagAccess::Write,
                    permissions: Permissions::allow_all(),
                });
            }
            return Err(SovdError::unauthorized(
                "no auth token provided: send \"Authorization: Bearer <token>\" with a \"diag\" scope",
            ));
        };
        let header = header
            .to_str()
            .map_err(|_| SovdError::unauthorized("the authorization header is not text"))?;
        let token =
            tomoe_auth::bearer_token(header).map_err(|e| SovdError::unauthorized(e.to_string()))?;
        let grant = tomoe_auth::verify_any_grant(policy.verifiers.iter().map(Arc::as_ref), token)
            .map_err(|e| SovdError::unauthorized(e.to_string()))?;
        Ok(Caller {
            client: grant
                .subject
                .map(|s| format!("token:{s}"))
                .unwrap_or_else(|| "token".to_owned()),
            diag: grant.diag,
            permissions: grant.permissions,
        })
    }
}
