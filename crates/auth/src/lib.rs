//! Authorization for the broker's front ends: verifies JWT bearer tokens and turns
//! their KUKSA-style scopes into [`tomoe_broker::Permissions`].
//!
//! A token carries a space-separated `scope` claim such as
//! `read:Vehicle.Speed actuate:Vehicle.Cabin.* provide:Vehicle.Powertrain`. Each
//! entry is `action` or `action:pattern`, with action `read`, `actuate`, `provide`
//! or `create`; an action without a pattern covers every path. Patterns follow
//! [`tomoe_vss::PathPattern`]. The audience must include `kuksa.val` and `exp` is
//! required, as in KUKSA.
//!
//! Non-goals: issuing tokens (the app runtime does that with its own key) and TLS
//! (the transport's job).
//!
//! # Example
//!
//! ```
//! use tomoe_broker::Access;
//! let permissions = tomoe_auth::parse_scope("read:Vehicle.Speed provide:Vehicle.Cabin").unwrap();
//! assert!(permissions.allows(Access::Read, "Vehicle.Speed"));
//! assert!(permissions.allows(Access::Provide, "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"));
//! assert!(!permissions.allows(Access::Actuate, "Vehicle.Speed"));
//! ```

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tomoe_broker::Permissions;
use tomoe_vss::PathPattern;

/// The audience a token must name.
pub const AUDIENCE: &str = "kuksa.val";

/// Why a request could not be authorized.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `authorization` header was sent.
    #[error("no auth token provided")]
    MissingToken,
    /// The `authorization` header is not `Bearer <token>`.
    #[error("invalid auth token: the authorization header must be \"Bearer <token>\"")]
    MalformedHeader,
    /// The token's signature does not verify with the configured key.
    #[error("invalid auth token: bad signature")]
    BadSignature,
    /// The token has expired.
    #[error("invalid auth token: expired")]
    Expired,
    /// The token is malformed or misses a required claim.
    #[error("invalid auth token: {0}")]
    Invalid(String),
    /// A scope entry cannot be understood.
    #[error("invalid scope \"{entry}\": {reason}")]
    InvalidScope {
        /// The offending scope entry.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The public key cannot be used.
    #[error("cannot use public key {origin}: {reason}")]
    Key {
        /// The key file.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

/// Verifies tokens signed with one public key (RSA: RS256/384/512; EC P-256/P-384:
/// ES256/ES384; Ed25519: EdDSA).
pub struct TokenVerifier {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Claims {
    scope: String,
    exp: u64,
}

impl TokenVerifier {
    /// Reads a PEM public key file.
    pub fn from_pem_file(path: &Path) -> Result<TokenVerifier, AuthError> {
        let origin = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| AuthError::Key {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        TokenVerifier::from_pem(&pem, &origin)
    }

    /// Uses a PEM public key; `origin` names it in errors.
    pub fn from_pem(pem: &[u8], origin: &str) -> Result<TokenVerifier, AuthError> {
        if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            return Ok(TokenVerifier {
                key,
                algorithms: vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
            });
        }
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            return Ok(TokenVerifier {
                key,
                algorithms: vec![Algorithm::ES256, Algorithm::ES384],
            });
        }
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return Ok(TokenVerifier {
                key,
                algorithms: vec![Algorithm::EdDSA],
            });
        }
        Err(AuthError::Key {
            origin: origin.to_owned(),
            reason: "not a PEM RSA, EC or Ed25519 public key".into(),
        })
    }

    /// Verifies `token` and returns the permissions its scope grants, expiring with it.
    pub fn verify(&self, token: &str) -> Result<Permissions, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} does not match the configured key (expected one of {:?})",
                header.alg, self.algorithms
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &validation).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAudience => {
                    AuthError::Invalid(format!("the audience must include \"{AUDIENCE}\""))
                }
                _ => AuthError::Invalid(e.to_string()),
            }
        })?;
        let expires_at = UNIX_EPOCH + Duration::from_secs(data.claims.exp);
        Ok(parse_scope(&data.claims.scope)?.expiring_at(expires_at))
    }
}

/// Extracts the token from an `authorization` header value (`Bearer <token>`).
pub fn bearer_token(header: &str) -> Result<&str, AuthError> {
    header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(AuthError::MalformedHeader)
}

/// Parses a space-separated KUKSA scope string into permissions.
pub fn parse_scope(scope: &str) -> Result<Permissions, AuthError> {
    let mut permissions = Permissions::none();
    for entry in scope.split_whitespace() {
        let invalid = |reason: String| AuthError::InvalidScope {
            entry: entry.to_owned(),
            reason,
        };
        let (action, pattern) = match entry.split_once(':') {
            Some((action, path)) => (
                action,
                PathPattern::parse(path).map_err(|e| invalid(e.to_string()))?,
            ),
            None => (entry, PathPattern::parse("**").expect("a valid pattern")),
        };
        permissions = match action {
            "read" => permissions.with_read(pattern),
            "actuate" => permissions.with_actuate(pattern),
            "provide" => permissions.with_provide(pattern),
            "create" => permissions.with_create(pattern),
            other => {
                return Err(invalid(format!(
                    "unknown action \"{other}\" (expected read, actuate, provide or create)"
                )))
            }
        };
    }
    Ok(permissions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tomoe_broker::Access;

    #[test]
    fn actions_without_path_cover_everything() {
        let permissions = parse_scope("read").unwrap();
        assert!(permissions.allows(Access::Read, "Vehicle.Anything.At.All"));
        assert!(!permissions.allows(Access::Provide, "Vehicle.Speed"));
    }

    #[test]
    fn wildcard_scopes() {
        let permissions = parse_scope("actuate:Vehicle.Cabin.Door.*.*.IsOpen").unwrap();
        assert!(permissions.allows(Access::Actuate, "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"));
        assert!(!permissions.allows(
            Access::Actuate,
            "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"
        ));
    }

    #[test]
    fn bad_scopes_are_named() {
        let error = parse_scope("read:Vehicle.Speed write:Vehicle").unwrap_err();
        assert_eq!(error.to_string(), "invalid scope \"write:Vehicle\": unknown action \"write\" (expected read, actuate, provide or create)");
        assert!(parse_scope("read:Vehicle..Speed").is_err());
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer_token("Bearer abc").unwrap(), "abc");
        assert!(matches!(
            bearer_token("Basic abc"),
            Err(AuthError::MalformedHeader)
        ));
        assert!(matches!(
            bearer_token("Bearer "),
            Err(AuthError::MalformedHeader)
        ));
    }

    #[test]
    fn garbage_key_is_refused() {
        let error = TokenVerifier::from_pem(b"not a key", "key.pem").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot use public key key.pem"),
            "{error}"
        );
    }
}
