//! Issuing scoped tokens with a key of our own (the app runtime's).

use std::fs;
use std::io::{ErrorKind as IoErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use tomoe_types::Tenant;

use crate::{parse_scope, AuthError, TokenVerifier, AUDIENCE};

/// The `iss` claim of the tokens a [`TokenIssuer`] signs.
pub const ISSUER: &str = "tomoe-runtime";

/// The file [`TokenIssuer::load_or_create`] keeps the private key in (PKCS#8 PEM).
pub const SIGNING_KEY_FILE: &str = "runtime-signing.key";

/// The file [`TokenIssuer::load_or_create`] keeps the public key in (SPKI PEM), for
/// brokers in other processes that must trust the issued tokens.
pub const PUBLIC_KEY_FILE: &str = "runtime-signing.pub";

/// How far before its issue time a token becomes valid (its `nbf`): a wall clock
/// stepped back by up to this much (an NTP correction) leaves freshly issued
/// tokens valid, where an `nbf` equal to `iat` would refuse them until the clock
/// caught up again.
pub const NOT_BEFORE_SLACK: Duration = Duration::from_secs(5 * 60);

/// Signs KUKSA-compatible JWTs (EdDSA, Ed25519) that the broker's
/// [`TokenVerifier`] accepts: claims `sub`, `iss` (`tomoe-runtime`), `aud`
/// (`["kuksa.val"]`), `iat`, `exp`, `scope` and, for an app of a tenant, `tenant`.
pub struct TokenIssuer {
    encoding_key: EncodingKey,
    public_key_pem: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("public_key_pem", &self.public_key_pem)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct IssuedClaims<'a> {
    sub: &'a str,
    iss: &'static str,
    aud: [&'static str; 1],
    iat: u64,
    nbf: u64,
    exp: u64,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
}

impl TokenIssuer {
    /// An issuer with a new random key, kept in memory only: its tokens stop
    /// verifying when it is dropped.
    pub fn generate() -> TokenIssuer {
        TokenIssuer::from_signing_key(&SigningKey::generate(&mut rand_core::OsRng))
    }

    /// Loads the key pair kept in `dir`, or creates one there.
    ///
    /// The private key is `runtime-signing.key` (PKCS#8 PEM, created with mode 0600
    /// on Unix; an Ed25519 key made by `openssl genpkey -algorithm ed25519` works
    /// too), the public key `runtime-signing.pub` (SPKI PEM), rewritten from the
    /// private key whenever it is missing or differs. `dir` is created if needed. A
    /// key file that cannot be read or parsed is an error naming the file, and is
    /// never replaced: tokens signed with it would stop verifying.
    pub fn load_or_create(dir: &Path) -> Result<TokenIssuer, AuthError> {
        let key_path = dir.join(SIGNING_KEY_FILE);
        let signing_key = match fs::read(&key_path) {
            Ok(bytes) => parse_signing_key(&key_path, &bytes)?,
            Err(error) if error.kind() == IoErrorKind::NotFound => {
                create_signing_key(dir, &key_path)?
            }
            Err(source) => {
                return Err(AuthError::KeyFile {
                    action: "read signing key file",
                    path: key_path,
                    source,
                })
            }
        };
        let issuer = TokenIssuer::from_signing_key(&signing_key);
        let public_path = dir.join(PUBLIC_KEY_FILE);
        let stored = fs::read(&public_path).ok();
        if stored.as_deref() != Some(issuer.public_key_pem.as_bytes()) {
            write_public_key(dir, &public_path, &issuer.public_key_pem)?;
        }
        Ok(issuer)
    }

    fn from_signing_key(signing_key: &SigningKey) -> TokenIssuer {
        let der = signing_key
            .to_pkcs8_der()
            .expect("an Ed25519 key encodes as PKCS#8");
        let public_key_pem = signing_key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 public key encodes as SPKI PEM");
        TokenIssuer {
            encoding_key: EncodingKey::from_ed_der(der.as_bytes()),
            public_key_pem,
        }
    }

    /// Issues a token for `subject` granting `scope` (KUKSA scope syntax, checked
    /// with [`parse_scope`]), valid for `lifetime` from now (whole seconds).
    pub fn issue(
        &self,
        subject: &str,
        scope: &str,
        lifetime: Duration,
    ) -> Result<String, AuthError> {
        self.issue_at(subject, scope, SystemTime::now(), lifetime)
    }

    /// Issues a token of `tenant` (its `tenant` claim) for `subject` granting `scope`,
    /// valid for `lifetime` from now: the token of an app that tenant signed.
    pub fn issue_for(
        &self,
        tenant: &Tenant,
        subject: &str,
        scope: &str,
        lifetime: Duration,
    ) -> Result<String, AuthError> {
        self.sign(subject, scope, Some(tenant), SystemTime::now(), lifetime)
    }

    /// Issues a token as if at `issued_at`: it expires at `issued_at + lifetime`.
    /// For tests of expiry and for callers with a clock of their own.
    pub fn issue_at(
        &self,
        subject: &str,
        scope: &str,
        issued_at: SystemTime,
        lifetime: Duration,
    ) -> Result<String, AuthError> {
        self.sign(subject, scope, None, issued_at, lifetime)
    }

    fn sign(
        &self,
        subject: &str,
        scope: &str,
        tenant: Option<&Tenant>,
        issued_at: SystemTime,
        lifetime: Duration,
    ) -> Result<String, AuthError> {
        parse_scope(scope)?;
        let expires_at = issued_at
            .checked_add(lifetime)
            .ok_or_else(|| AuthError::Issue(format!("lifetime {lifetime:?} is too long")))?;
        let seconds = |at: SystemTime| {
            at.duration_since(UNIX_EPOCH)
                .map(|since| since.as_secs())
                .unwrap_or(0)
        };
        let claims = IssuedClaims {
            sub: subject,
            iss: ISSUER,
            aud: [AUDIENCE],
            iat: seconds(issued_at),
            nbf: seconds(issued_at).saturating_sub(NOT_BEFORE_SLACK.as_secs()),
            exp: seconds(expires_at),
            scope,
            tenant: tenant.map(Tenant::as_str),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.encoding_key)
            .map_err(|error| AuthError::Issue(error.to_string()))
    }

    /// The public key, SPKI PEM: what a broker needs to trust the issued tokens.
    pub fn public_key_pem(&self) -> String {
        self.public_key_pem.clone()
    }

    /// A verifier that accepts the tokens this issuer signs.
    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::from_pem(self.public_key_pem.as_bytes(), "of the token issuer")
            .expect("an Ed25519 public key in SPKI PEM is a valid verifier key")
    }
}

fn parse_signing_key(path: &Path, bytes: &[u8]) -> Result<SigningKey, AuthError> {
    let corrupt = |reason: String| AuthError::CorruptKey {
        path: path.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| corrupt("not a PEM text file".into()))?;
    SigningKey::from_pkcs8_pem(text)
        .map_err(|error| corrupt(format!("not a PKCS#8 Ed25519 private key ({error})")))
}

/// Creates the key file without ever replacing one: the key is written to a
/// temporary file, which is then linked to its final name only if that is free.
fn create_signing_key(dir: &Path, key_path: &Path) -> Result<SigningKey, AuthError> {
    let io_error = |action, path: &Path| {
        let path = path.to_owned();
        move |source| AuthError::KeyFile {
            action,
            path,
            source,
        }
    };
    fs::create_dir_all(dir).map_err(io_error("create key directory", dir))?;
    let signing_key = SigningKey::generate(&mut rand_core::OsRng);
    let pem = signing_key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("an Ed25519 key encodes as PKCS#8 PEM");
    let temporary = temporary_path(dir, SIGNING_KEY_FILE);
    write_new_file(&temporary, pem.as_bytes(), true)
        .map_err(io_error("create signing key file", &temporary))?;
    let linked = fs::hard_link(&temporary, key_path);
    let result = match linked {
        Ok(()) => Ok(signing_key),
        // Another process created the key first: use that one.
        Err(error) if error.kind() == IoErrorKind::AlreadyExists => fs::read(key_path)
            .map_err(io_error("read signing key file", key_path))
            .and_then(|bytes| parse_signing_key(key_path, &bytes)),
        // A file system without hard links.
        Err(_) => fs::rename(&temporary, key_path)
            .map(|()| signing_key)
            .map_err(io_error("create signing key file", key_path)),
    };
    let _ = fs::remove_file(&temporary);
    result
}

fn write_public_key(dir: &Path, path: &Path, pem: &str) -> Result<(), AuthError> {
    let temporary = temporary_path(dir, PUBLIC_KEY_FILE);
    let result = write_new_file(&temporary, pem.as_bytes(), false)
        .and_then(|()| fs::rename(&temporary, path));
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(|source| AuthError::KeyFile {
        action: "write public key file",
        path: path.to_owned(),
        source,
    })
}

fn temporary_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `contents` to a new file at `path` (a stale one is removed first), only
/// readable by its owner when `private`, and syncs it to disk.
fn write_new_file(path: &Path, contents: &[u8], private: bool) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != IoErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope_for;
    use tomoe_broker::Access;

    const HOUR: Duration = Duration::from_secs(3600);

    fn tenant(name: &str) -> Tenant {
        Tenant::new(name).unwrap()
    }

    #[test]
    fn a_tenant_key_vouches_for_its_own_tenant_only() {
        let nissan = TokenIssuer::generate();
        let bound = nissan.verifier().for_tenant(tenant("nissan"));
        // No claim: the key's tenant.
        let token = nissan.issue("tool", "read", HOUR).unwrap();
        let grant = bound.verify_grant(&token).unwrap();
        assert_eq!(grant.permissions.tenant(), Some(&tenant("nissan")));
        // Its own tenant claimed: fine.
        let token = nissan
            .issue_for(&tenant("nissan"), "tool", "read", HOUR)
            .unwrap();
        assert_eq!(
            bound.verify_grant(&token).unwrap().permissions.tenant(),
            Some(&tenant("nissan"))
        );
        // Another tenant claimed with nissan's key: refused, naming both.
        let token = nissan
            .issue_for(&tenant("honda"), "tool", "read", HOUR)
            .unwrap();
        let error = bound.verify_grant(&token).unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid auth token: signed with tenant nissan's key but claims tenant honda"
        );
        // The platform's own key vouches for the tenant it names.
        let platform = TokenIssuer::generate();
        let token = platform
            .issue_for(&tenant("honda"), "app", "read", HOUR)
            .unwrap();
        let grant = platform.verifier().verify_grant(&token).unwrap();
        assert_eq!(grant.permissions.tenant(), Some(&tenant("honda")));
        let token = platform.issue("app", "read", HOUR).unwrap();
        assert_eq!(
            platform
                .verifier()
                .verify_grant(&token)
                .unwrap()
                .permissions
                .tenant(),
            None
        );
    }

    // A token issued, then the clock stepped back a minute (an NTP correction):
    // with nbf = iat it was refused until the clock caught up.
    #[test]
    fn a_token_survives_a_small_step_back_of_the_clock() {
        let issuer = TokenIssuer::generate();
        let in_a_minute = SystemTime::now() + Duration::from_secs(60);
        let token = issuer
            .issue_at("app", "read:Vehicle.Speed", in_a_minute, HOUR)
            .unwrap();
        issuer.verifier().verify(&token).unwrap();
        let in_an_hour = SystemTime::now() + HOUR;
        let token = issuer
            .issue_at("app", "read:Vehicle.Speed", in_an_hour, HOUR)
            .unwrap();
        assert!(
            issuer.verifier().verify(&token).is_err(),
            "nbf still counts"
        );
    }

    #[test]
    fn issued_tokens_verify_with_exactly_their_scope() {
        let issuer = TokenIssuer::generate();
        let scope = scope_for(
            &["Vehicle.Speed".into()],
            &["Vehicle.Cabin.Door.*.*.IsOpen".into()],
            &["Vehicle.Tomoe.RangeEstimate".into()],
        )
        .unwrap();
        let token = issuer.issue("range-estimator", &scope, HOUR).unwrap();
        let permissions = issuer.verifier().verify(&token).unwrap();
        let check = |access, path| permissions.allows(access, path);
        assert!(check(Access::Read, "Vehicle.Speed"));
        assert!(!check(Access::Provide, "Vehicle.Speed"));
        assert!(!check(Access::Actuate, "Vehicle.Speed"));
        assert!(check(
            Access::Actuate,
            "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"
        ));
        assert!(check(
            Access::Read,
            "Vehicle.Cabin.Door.Row1.DriverSide.IsOpen"
        ));
        assert!(!check(
            Access::Actuate,
            "Vehicle.Cabin.Door.Row1.DriverSide.IsLocked"
        ));
        assert!(check(Access::Provide, "Vehicle.Tomoe.RangeEstimate"));
        assert!(!check(
            Access::Read,
            "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
        ));
        assert!(!permissions.is_allow_all());
        let expires = permissions.expires_at().unwrap();
        let remaining = expires.duration_since(SystemTime::now()).unwrap();
        assert!(remaining > HOUR - Duration::from_secs(5) && remaining <= HOUR);
    }

    #[test]
    fn claims_are_the_kuksa_ones() {
        let issuer = TokenIssuer::generate();
        let token = issuer.issue("app", "read:Vehicle.Speed", HOUR).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        let key =
            jsonwebtoken::DecodingKey::from_ed_pem(issuer.public_key_pem().as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], "app");
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["aud"], serde_json::json!(["kuksa.val"]));
        assert_eq!(claims["scope"], "read:Vehicle.Speed");
        let iat = claims["iat"].as_u64().unwrap();
        assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let issuer = TokenIssuer::generate();
        let token = issuer.issue("app", "read:Vehicle.Speed", HOUR).unwrap();
        // Swap the payload for one that grants everything, keeping the signature.
        let forged_payload = issuer
            .issue("app", "read actuate provide", HOUR)
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert!(matches!(
            issuer.verifier().verify(&forged),
            Err(AuthError::BadSignature)
        ));
        // A token of another issuer is refused too.
        let other = TokenIssuer::generate()
            .issue("app", "read:Vehicle.Speed", HOUR)
            .unwrap();
        assert!(matches!(
            issuer.verifier().verify(&other),
            Err(AuthError::BadSignature)
        ));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let issuer = TokenIssuer::generate();
        let an_hour_ago = SystemTime::now() - HOUR;
        let token = issuer
            .issue_at("app", "read", an_hour_ago, Duration::from_secs(60))
            .unwrap();
        assert!(matches!(
            issuer.verifier().verify(&token),
            Err(AuthError::Expired)
        ));
    }

    #[test]
    fn bad_scopes_are_not_issued() {
        let issuer = TokenIssuer::generate();
        let error = issuer
            .issue("app", "write:Vehicle.Speed", HOUR)
            .unwrap_err();
        assert!(matches!(error, AuthError::InvalidScope { .. }), "{error}");
    }

    #[test]
    fn key_is_persisted_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let first = TokenIssuer::load_or_create(&keys).unwrap();
        let token = first.issue("app", "read", HOUR).unwrap();
        let public = fs::read_to_string(keys.join(PUBLIC_KEY_FILE)).unwrap();
        assert_eq!(public, first.public_key_pem());
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        let private = fs::read_to_string(keys.join(SIGNING_KEY_FILE)).unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(keys.join(SIGNING_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(&keys).unwrap().count(), 2);

        // A lost public key file is written again from the private key.
        fs::remove_file(keys.join(PUBLIC_KEY_FILE)).unwrap();
        let second = TokenIssuer::load_or_create(&keys).unwrap();
        assert_eq!(second.public_key_pem(), first.public_key_pem());
        assert_eq!(
            fs::read_to_string(keys.join(PUBLIC_KEY_FILE)).unwrap(),
            public
        );
        // Tokens of the first instance verify with the reloaded key.
        assert!(second.verifier().verify(&token).is_ok());
        // The public key file is what a broker in another process trusts.
        let verifier = TokenVerifier::from_pem_file(&keys.join(PUBLIC_KEY_FILE)).unwrap();
        assert!(verifier.verify(&token).is_ok());
    }

    #[test]
    fn corrupt_key_file_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join(SIGNING_KEY_FILE);
        for garbage in [
            &b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n"[..],
            &[0xff, 0xfe, 0x00][..],
            &b""[..],
        ] {
            fs::write(&key_path, garbage).unwrap();
            let error = TokenIssuer::load_or_create(dir.path()).unwrap_err();
            assert!(matches!(error, AuthError::CorruptKey { .. }), "{error}");
            let message = error.to_string();
            assert!(
                message.starts_with(&format!(
                    "signing key file {} is corrupt",
                    key_path.display()
                )),
                "{message}"
            );
            assert_eq!(fs::read(&key_path).unwrap(), garbage);
        }
        assert!(!dir.path().join(PUBLIC_KEY_FILE).exists());
    }

    #[test]
    fn an_unreadable_key_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the key file should be.
        fs::create_dir(dir.path().join(SIGNING_KEY_FILE)).unwrap();
        let error = TokenIssuer::load_or_create(dir.path()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot read signing key file"),
            "{error}"
        );
    }
}
