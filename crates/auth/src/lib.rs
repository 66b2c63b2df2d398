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
//! [`TokenIssuer`] signs such tokens with an Ed25519 key of its own, kept in a data
//! directory: the app runtime gives each app a token limited to the signals its
//! manifest declares ([`scope_for`]). [`verify_any`] accepts a token that any of
//! several trusted keys verifies, for a broker that trusts both the operator's key
//! and the runtime's.
//!
//! Non-goals: deciding what an app may do (the runtime's manifests), user
//! management, and TLS (the transport's job).
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

mod issuer;

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tomoe_broker::Permissions;
use tomoe_types::Tenant;
use tomoe_vss::PathPattern;

pub use issuer::{TokenIssuer, ISSUER, NOT_BEFORE_SLACK, PUBLIC_KEY_FILE, SIGNING_KEY_FILE};

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
    /// The token's `nbf` (not before) lies in the future.
    #[error("invalid auth token: not valid yet (its nbf claim lies in the future)")]
    NotYetValid,
    /// The token is longer than [`MAX_TOKEN_BYTES`].
    #[error("invalid auth token: longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
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
    /// No trusted key could verify the token because none is configured.
    #[error("invalid auth token: no token signing key is trusted")]
    NoTrustedKey,
    /// A key file or its directory could not be read or written.
    #[error("cannot {action} {}", path.display())]
    KeyFile {
        /// What was being done, for example `read signing key file`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The signing key file does not hold a usable key. It is left as it is.
    #[error("signing key file {} is corrupt: {reason}", path.display())]
    CorruptKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tenant's key signed a token claiming another tenant.
    #[error("invalid auth token: signed with tenant {key}'s key but claims tenant {claimed}")]
    ForeignTenant {
        /// The tenant whose key signed the token.
        key: Tenant,
        /// The tenant the token claims.
        claimed: Tenant,
    },
    /// A token could not be signed.
    #[error("cannot issue token: {0}")]
    Issue(String),
}

/// Verifies tokens signed with one public key (RSA: RS256/384/512; EC P-256/P-384:
/// ES256/ES384; Ed25519: EdDSA).
pub struct TokenVerifier {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
    tenant: Option<Tenant>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.algorithms)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Claims {
    scope: String,
    exp: u64,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
}

/// What a token allows on the diagnostic API (SOVD), from its `diag` and
/// `diag:write` scope entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum DiagAccess {
    /// No diagnostic access.
    #[default]
    None,
    /// `diag`: read entities, data, faults, logs and updates.
    Read,
    /// `diag:write`: also clear faults, run operations, take locks, write data.
    Write,
}

/// What a token allows on the fleet backend's operator API, from its `fleet` and
/// `fleet:write` scope entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum FleetAccess {
    /// No access to the fleet backend.
    #[default]
    None,
    /// `fleet`: read the inventory, what vehicles run and report, campaigns.
    Read,
    /// `fleet:write`: also register vehicles and run campaigns.
    Write,
}

/// Everything a verified token grants.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Broker permissions, expiring with the token.
    pub permissions: Permissions,
    /// Diagnostic access.
    pub diag: DiagAccess,
    /// Fleet backend access.
    pub fleet: FleetAccess,
    /// The token's subject (`sub`), which identifies a diagnostic client.
    pub subject: Option<String>,
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
                tenant: None,
            });
        }
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            return Ok(TokenVerifier {
                key,
                algorithms: vec![Algorithm::ES256, Algorithm::ES384],
                tenant: None,
            });
        }
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return Ok(TokenVerifier {
                key,
                algorithms: vec![Algorithm::EdDSA],
                tenant: None,
            });
        }
        Err(AuthError::Key {
            origin: origin.to_owned(),
            reason: "not a PEM RSA, EC or Ed25519 public key".into(),
        })
    }

    /// Binds this key to `tenant`: the tokens it verifies are that tenant's, and one
    /// claiming another tenant is refused. A key not bound (the platform's own)
    /// vouches for whatever tenant its tokens claim.
    pub fn for_tenant(mut self, tenant: Tenant) -> TokenVerifier {
        self.tenant = Some(tenant);
        self
    }

    /// The tenant this key belongs to, if bound to one.
    pub fn tenant(&self) -> Option<&Tenant> {
        self.tenant.as_ref()
    }

    /// Verifies `token` and returns the permissions its scope grants, expiring with it.
    pub fn verify(&self, token: &str) -> Result<Permissions, AuthError> {
        self.verify_grant(token).map(|grant| grant.permissions)
    }

    /// Verifies `token` and returns all it grants.
    pub fn verify_grant(&self, token: &str) -> Result<Grant, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLong);
        }
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
        validation.validate_nbf = true;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &validation).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAudience => {
                    AuthError::Invalid(format!("the audience must include \"{AUDIENCE}\""))
                }
                _ => AuthError::Invalid(e.to_string()),
            }
        })?;
        let expires_at = UNIX_EPOCH + Duration::from_secs(data.claims.exp);
        let (mut permissions, diag, fleet) = parse_grant(&data.claims.scope)?;
        if let Some(tenant) = self.tenant_of(data.claims.tenant.as_deref())? {
            permissions = permissions.with_tenant(tenant);
        }
        Ok(Grant {
            fleet,
            permissions: permissions.expiring_at(expires_at),
            diag,
            subject: data.claims.sub,
        })
    }
}

impl TokenVerifier {
    /// The tenant of a token this key verified, from its `tenant` claim and the
    /// key's own tenant.
    fn tenant_of(&self, claimed: Option<&str>) -> Result<Option<Tenant>, AuthError> {
        let claimed = claimed
            .map(|name| {
                Tenant::new(name)
                    .map_err(|error| AuthError::Invalid(format!("tenant claim: {error}")))
            })
            .transpose()?;
        match (&self.tenant, claimed) {
            (Some(own), Some(claimed)) if *own != claimed => Err(AuthError::ForeignTenant {
                key: own.clone(),
                claimed,
            }),
            (Some(own), _) => Ok(Some(own.clone())),
            (None, claimed) => Ok(claimed),
        }
    }
}

/// Verifies `token` with each of `verifiers` and returns the permissions of the
/// first that accepts it.
///
/// When none does, the error is the most specific one: an expired token or a bad
/// scope (the signature verified, so the key is the right one) beats a claim
/// problem, which beats a bad signature, which beats an algorithm that no key
/// uses. Without any verifier the error is [`AuthError::NoTrustedKey`].
pub fn verify_any<'a>(
    verifiers: impl IntoIterator<Item = &'a TokenVerifier>,
    token: &str,
) -> Result<Permissions, AuthError> {
    verify_any_grant(verifiers, token).map(|grant| grant.permissions)
}

/// [`verify_any`], returning all the token grants.
pub fn verify_any_grant<'a>(
    verifiers: impl IntoIterator<Item = &'a TokenVerifier>,
    token: &str,
) -> Result<Grant, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TooLong);
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
    let mut best: Option<AuthError> = None;
    let mut keys = 0;
    let mut algorithms: Vec<Algorithm> = Vec::new();
    for verifier in verifiers {
        keys += 1;
        if !verifier.algorithms.contains(&header.alg) {
            for algorithm in &verifier.algorithms {
                if !algorithms.contains(algorithm) {
                    algorithms.push(*algorithm);
                }
            }
            continue;
        }
        match verifier.verify_grant(token) {
            Ok(grant) => return Ok(grant),
            Err(error) => {
                if best
                    .as_ref()
                    .is_none_or(|best| specificity(&error) > specificity(best))
                {
                    best = Some(error);
                }
            }
        }
    }
    Err(match best {
        Some(error) => error,
        None if keys == 0 => AuthError::NoTrustedKey,
        None => AuthError::Invalid(format!(
            "algorithm {:?} does not match {} (expected one of {:?})",
            header.alg,
            if keys == 1 {
                "the configured key"
            } else {
                "any configured key"
            },
            algorithms
        )),
    })
}

/// The longest token accepted, in bytes; longer ones are refused unparsed.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// How much a verification error says about the token: the higher, the later in
/// the verification it arose.
fn specificity(error: &AuthError) -> u8 {
    match error {
        AuthError::Expired | AuthError::NotYetValid | AuthError::ForeignTenant { .. } => 4,
        AuthError::InvalidScope { .. } => 3,
        AuthError::Invalid(_) => 2,
        AuthError::BadSignature => 1,
        _ => 0,
    }
}

/// Builds the KUKSA scope string that grants reading the paths or patterns in
/// `read`, actuating those in `actuate` and providing those in `provide`, for
/// example from an app's manifest; the result is checked with [`parse_scope`].
///
/// Every entry names a pattern, so an empty list grants nothing (never everything).
/// A pattern that is empty or contains whitespace or `:` is refused: it could not
/// be told apart from another scope entry.
///
/// ```
/// let scope = tomoe_auth::scope_for(&["Vehicle.Speed".into()], &[], &["Vehicle.Tomoe.RangeEstimate".into()]).unwrap();
/// assert_eq!(scope, "read:Vehicle.Speed provide:Vehicle.Tomoe.RangeEstimate");
/// ```
pub fn scope_for(
    read: &[String],
    actuate: &[String],
    provide: &[String],
) -> Result<String, AuthError> {
    let mut entries: Vec<String> = Vec::new();
    for (action, patterns) in [("read", read), ("actuate", actuate), ("provide", provide)] {
        for pattern in patterns {
            let entry = format!("{action}:{pattern}");
            if pattern.is_empty() || pattern.contains(|c: char| c.is_whitespace() || c == ':') {
                return Err(AuthError::InvalidScope {
                    entry,
                    reason: "a pattern must be one word, without whitespace or \":\"".into(),
                });
            }
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
    }
    let scope = entries.join(" ");
    parse_scope(&scope)?;
    Ok(scope)
}

/// Extracts the token from an `authorization` header value (`Bearer <token>`).
pub fn bearer_token(header: &str) -> Result<&str, AuthError> {
    header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(AuthError::MalformedHeader)
}

/// Parses a space-separated KUKSA scope string into permissions. The
/// diagnostic entries `diag` and `diag:write` are accepted and grant no broker
/// permission (see [`parse_grant`]).
pub fn parse_scope(scope: &str) -> Result<Permissions, AuthError> {
    parse_grant(scope).map(|(permissions, _, _)| permissions)
}

/// Parses a scope string into broker permissions, diagnostic access and fleet access.
pub fn parse_grant(scope: &str) -> Result<(Permissions, DiagAccess, FleetAccess), AuthError> {
    let mut permissions = Permissions::none();
    let mut diag = DiagAccess::None;
    let mut fleet = FleetAccess::None;
    for entry in scope.split_whitespace() {
        let invalid = |reason: String| AuthError::InvalidScope {
            entry: entry.to_owned(),
            reason,
        };
        match entry {
            "diag" => {
                diag = diag.max(DiagAccess::Read);
                continue;
            }
            "diag:write" => {
                diag = DiagAccess::Write;
                continue;
            }
            _ if entry.starts_with("diag:") => {
                return Err(invalid(
                    "the diagnostic scopes are \"diag\" and \"diag:write\"".into(),
                ))
            }
            "fleet" => {
                fleet = fleet.max(FleetAccess::Read);
                continue;
            }
            "fleet:write" => {
                fleet = FleetAccess::Write;
                continue;
            }
            _ if entry.starts_with("fleet:") => {
                return Err(invalid(
                    "the fleet scopes are \"fleet\" and \"fleet:write\"".into(),
                ))
            }
            _ => {}
        }
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
    Ok((permissions, diag, fleet))
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
    fn fleet_scopes_grant_no_signal_access() {
        let (permissions, diag, fleet) = parse_grant("fleet").unwrap();
        assert_eq!(fleet, FleetAccess::Read);
        assert_eq!(diag, DiagAccess::None);
        assert!(!permissions.allows(Access::Read, "Vehicle.Speed"));
        assert_eq!(
            parse_grant("fleet fleet:write").unwrap().2,
            FleetAccess::Write
        );
        assert!(parse_scope("fleet:admin").is_err());
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
    fn scope_for_manifest_lists() {
        let paths = |list: &[&str]| list.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let scope = scope_for(
            &paths(&["Vehicle.Speed", "Vehicle.Speed", "Vehicle.Cabin.**"]),
            &paths(&["Vehicle.Tomoe.ModeRequest"]),
            &paths(&[]),
        )
        .unwrap();
        assert_eq!(
            scope,
            "read:Vehicle.Speed read:Vehicle.Cabin.** actuate:Vehicle.Tomoe.ModeRequest"
        );
        assert_eq!(scope_for(&[], &[], &[]).unwrap(), "");
        assert!(!parse_scope("")
            .unwrap()
            .allows(Access::Read, "Vehicle.Speed"));
    }

    #[test]
    fn scope_for_refuses_patterns_that_would_smuggle_entries() {
        for pattern in [
            "Vehicle.Speed actuate",
            "",
            "Vehicle:Speed",
            "Vehicle.\tSpeed",
        ] {
            let error = scope_for(&[pattern.to_string()], &[], &[]).unwrap_err();
            assert!(
                error
                    .to_string()
                    .ends_with("a pattern must be one word, without whitespace or \":\""),
                "{error}"
            );
        }
        let error = scope_for(&[], &[], &["Vehicle..Speed".into()]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid scope \"provide:Vehicle..Speed\""),
            "{error}"
        );
    }

    #[test]
    fn verify_any_accepts_a_token_of_any_trusted_key() {
        let operator = TokenIssuer::generate();
        let runtime = TokenIssuer::generate();
        let verifiers = [operator.verifier(), runtime.verifier()];
        let hour = Duration::from_secs(3600);
        for issuer in [&operator, &runtime] {
            let token = issuer.issue("app", "provide:Vehicle.Speed", hour).unwrap();
            let permissions = verify_any(&verifiers, &token).unwrap();
            assert!(permissions.allows(Access::Provide, "Vehicle.Speed"));
            assert!(!permissions.allows(Access::Read, "Vehicle.Cabin"));
        }
    }

    #[test]
    fn a_token_is_refused_before_its_nbf() {
        // `nbf` used to be ignored: a token valid only from tomorrow worked today.
        let issuer = TokenIssuer::generate();
        let verifier = issuer.verifier();
        let hour = Duration::from_secs(3600);
        let later = std::time::SystemTime::now() + hour;
        let early = issuer.issue_at("app", "read", later, hour).unwrap();
        assert!(matches!(
            verifier.verify(&early),
            Err(AuthError::NotYetValid)
        ));
        assert!(matches!(
            verify_any([&verifier], &early),
            Err(AuthError::NotYetValid)
        ));
        let now = issuer.issue("app", "read", hour).unwrap();
        assert!(verifier.verify(&now).is_ok());
    }

    #[test]
    fn an_oversized_token_is_refused_unparsed() {
        let verifier = TokenIssuer::generate().verifier();
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert!(matches!(verifier.verify(&huge), Err(AuthError::TooLong)));
        assert!(matches!(
            verify_any([&verifier], &huge),
            Err(AuthError::TooLong)
        ));
    }

    #[test]
    fn verify_any_reports_the_most_specific_error() {
        let operator = TokenIssuer::generate();
        let runtime = TokenIssuer::generate();
        let hour = Duration::from_secs(3600);
        let forward = [operator.verifier(), runtime.verifier()];
        let backward = [runtime.verifier(), operator.verifier()];
        let an_hour_ago = std::time::SystemTime::now() - hour;
        let expired = runtime
            .issue_at("app", "read", an_hour_ago, Duration::from_secs(60))
            .unwrap();
        let stranger = TokenIssuer::generate().issue("app", "read", hour).unwrap();
        for verifiers in [&forward, &backward] {
            assert!(matches!(
                verify_any(verifiers, &expired),
                Err(AuthError::Expired)
            ));
            assert!(matches!(
                verify_any(verifiers, &stranger),
                Err(AuthError::BadSignature)
            ));
        }
        let hmac = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({"aud": AUDIENCE, "exp": u64::MAX / 2, "scope": "read"}),
            &jsonwebtoken::EncodingKey::from_secret(b"shared secret"),
        )
        .unwrap();
        assert_eq!(
            verify_any(&forward, &hmac).unwrap_err().to_string(),
            "invalid auth token: algorithm HS256 does not match any configured key (expected one of [EdDSA])"
        );
        assert_eq!(
            verify_any(&forward[..1], &hmac).unwrap_err().to_string(),
            operator.verifier().verify(&hmac).unwrap_err().to_string()
        );
        assert!(matches!(
            verify_any(&forward, "garbage"),
            Err(AuthError::Invalid(_))
        ));
        assert!(matches!(
            verify_any([], &stranger),
            Err(AuthError::NoTrustedKey)
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
