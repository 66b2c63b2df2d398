//! TUF delegations on the client: looking a target up through delegated targets
//! roles (TUF 1.0.30 §5.6.7), so that each brand (tenant) signs its own apps with
//! its own key while the offline top-level targets key only signs who may sign
//! which paths.
//!
//! The search is a pre-order depth-first walk from the top-level targets role:
//! a role's own targets first, then its delegations in the order listed, each
//! consulted only for a path its `paths` patterns (or `path_hash_prefixes`)
//! match. A terminating delegation ends the search after its own subtree. The
//! keys and threshold of a delegated role come from the role that delegates to
//! it. Each delegated role's `<role>.json` must be listed in the trusted
//! snapshot with the version fetched (and the length and hashes, if listed), be
//! signed by a threshold of its keys, not be expired, not be older than the one
//! trusted before, and list only paths it is trusted for. At most
//! [`MAX_DELEGATIONS`] roles are visited per lookup; a role visited twice (a
//! cycle) is skipped.
//!
//! Roles are fetched lazily, on the first lookup that reaches them, and kept
//! (as received) with the rest of the trusted metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::client::{fetch_metadata, Fetcher, Limits, TrustedRepository};
use crate::metadata::{
    tally_signatures, DelegatedRole, KeyId, PublicKey, RawSigned, RoleKeys, RoleName, Signed,
    TargetFile, Targets,
};
use crate::OtaError;

/// The most delegated roles one target lookup visits; beyond it the lookup is refused.
pub const MAX_DELEGATIONS: usize = 32;

/// The name of the top-level targets role, as [`crate::ApprovedImage::signed_by`] gives it.
pub const TOP_LEVEL_TARGETS: &str = "targets";

/// Whether `path` matches the shell-style `pattern` as python-tuf matches it:
/// both are split on `/` and must have as many parts, each part matched with
/// `*` (any run of characters), `?` (one character) and `[...]` (a set, `[!...]`
/// its complement). So `*` never matches a `/`.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let patterns: Vec<&str> = pattern.split('/').collect();
    let parts: Vec<&str> = path.split('/').collect();
    patterns.len() == parts.len()
        && patterns
            .iter()
            .zip(&parts)
            .all(|(pattern, part)| segment_matches(pattern.as_bytes(), part.as_bytes()))
}

fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matching with backtracking to the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_matches(&pattern[p..], text[t]) {
                        if matched {
                            p += next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                byte if byte == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((star_p, star_t)) => {
                p = star_p + 1;
                t = star_t + 1;
                star = Some((star_p, star_t + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&byte| byte == b'*')
}

/// Matches `byte` against the class at the start of `pattern` (`[...]`): whether
/// it matched and the class's length, or `None` if the class is not closed.
fn class_matches(pattern: &[u8], byte: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = pattern.get(i) == Some(&b'!');
    if negated {
        i += 1;
    }
    let start = i;
    let mut matched = false;
    while i < pattern.len() {
        if pattern[i] == b']' && i > start {
            return Some((matched != negated, i + 1));
        }
        if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            matched |= pattern[i] <= byte && byte <= pattern[i + 2];
            i += 3;
        } else {
            matched |= pattern[i] == byte;
            i += 1;
        }
    }
    None
}

/// Whether delegated `role` is trusted for `path`: one of its `paths` patterns
/// matches it, or the hex SHA-256 of the path starts with one of its
/// `path_hash_prefixes`.
pub fn role_is_trusted_for(role: &DelegatedRole, path: &str) -> bool {
    let by_pattern = role
        .paths
        .iter()
        .flatten()
        .any(|pattern| path_matches(pattern, path));
    let by_hash = role.path_hash_prefixes.as_ref().is_some_and(|prefixes| {
        let digest = hex::encode(Sha256::digest(path.as_bytes()));
        prefixes
            .iter()
            .any(|prefix| digest.starts_with(&prefix.to_ascii_lowercase()))
    });
    by_pattern || by_hash
}

/// Whether `name` can be a delegated role: a plain file name that is not a
/// top-level role's, nor a root version's (`2.root`).
pub fn valid_role_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.to_ascii_lowercase().ends_with(".root")
        && name.len() <= 128
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
        && ![
            RoleName::Root,
            RoleName::Targets,
            RoleName::Snapshot,
            RoleName::Timestamp,
        ]
        .iter()
        .any(|role| role.as_str().eq_ignore_ascii_case(name))
}

/// A delegated role to visit, with the keys its delegating role gives it.
struct Visit {
    role: DelegatedRole,
    keys: BTreeMap<KeyId, PublicKey>,
}

/// The delegations of `targets` that are trusted for `path`, in the order to
/// visit them, and whether a terminating one ends the search after them.
fn children(targets: &Targets, path: &str) -> (Vec<Visit>, bool) {
    let mut visits = Vec::new();
    let Some(delegations) = &targets.delegations else {
        return (visits, false);
    };
    for role in &delegations.roles {
        if role_is_trusted_for(role, path) {
            visits.push(Visit {
                role: role.clone(),
                keys: delegations.keys.clone(),
            });
            if role.terminating {
                return (visits, true);
            }
        }
    }
    (visits, false)
}

impl TrustedRepository {
    /// Looks `path` up as TUF 1.0.30 §5.6.7 does: in the top-level targets, then
    /// through the delegated roles trusted for it (pre-order, depth first, in the
    /// order listed, stopping after a terminating delegation's subtree), fetching
    /// each delegated role's metadata through `fetcher` the first time it is
    /// needed. Returns the target and the name of the role that signed it
    /// (`targets` for the top level), or `None` if no role trusted for the path
    /// lists it.
    ///
    /// A top-level target wins over a delegated one for the same path (pre-order).
    /// Refuses a delegated role missing from the snapshot, at another version or
    /// length or hash than it lists, older than the one trusted before, signed by
    /// fewer of its keys than its threshold (or with threshold 0), expired, or
    /// listing a path it is not trusted for; and a lookup that would visit more
    /// than [`MAX_DELEGATIONS`] roles. Needs a successful
    /// [`update`](TrustedRepository::update) first.
    pub fn resolve_target(
        &mut self,
        path: &str,
        fetcher: &dyn Fetcher,
        limits: &Limits,
        now: SystemTime,
    ) -> Result<Option<(TargetFile, String)>, OtaError> {
        let Some(top) = self.targets() else {
            return Err(OtaError::InvalidMetadata {
                path: RoleName::Targets.file_name(),
                reason: format!("no trusted {} targets yet: update first", self.name()),
            });
        };
        if let Some(file) = top.targets.get(path) {
            return Ok(Some((file.clone(), TOP_LEVEL_TARGETS.to_string())));
        }
        let (mut stack, _) = children(top, path);
        stack.reverse();
        let mut visited = BTreeSet::new();
        while let Some(visit) = stack.pop() {
            if !visited.insert(visit.role.name.clone()) {
                continue;
            }
            if visited.len() > MAX_DELEGATIONS {
                return Err(self.delegation_error(
                    &visit.role.name,
                    format!(
                        "would be role number {} visited looking up \"{path}\": at most {MAX_DELEGATIONS} are",
                        visited.len()
                    ),
                ));
            }
            let targets = self.delegated_role(&visit, fetcher, limits, now)?;
            if let Some(file) = targets.targets.get(path) {
                return Ok(Some((file.clone(), visit.role.name)));
            }
            let (mut next, terminating) = children(&targets, path);
            if terminating {
                stack.clear();
            }
            next.reverse();
            stack.extend(next);
        }
        Ok(None)
    }

    fn delegation_error(&self, role: &str, reason: String) -> OtaError {
        OtaError::Delegation {
            repository: self.name().to_string(),
            role: role.to_string(),
            reason,
        }
    }

    /// The verified metadata of the delegated role of `visit`: the trusted copy if
    /// the snapshot still lists its version, else fetched; verified each time.
    fn delegated_role(
        &mut self,
        visit: &Visit,
        fetcher: &dyn Fetcher,
        limits: &Limits,
        now: SystemTime,
    ) -> Result<Targets, OtaError> {
        let role = &visit.role;
        let name = role.name.as_str();
        if !valid_role_name(name) {
            return Err(self.delegation_error(
                name,
                "is not a valid role name (letters, digits, '-', '_' and '.'; not a top-level role)"
                    .into(),
            ));
        }
        if role.threshold == 0 {
            return Err(self.delegation_error(
                name,
                "has threshold 0: a role needs at least one signature".into(),
            ));
        }
        if role.paths.is_some() == role.path_hash_prefixes.is_some() {
            return Err(self.delegation_error(
                name,
                "must have exactly one of \"paths\" and \"path_hash_prefixes\"".into(),
            ));
        }
        let file = format!("{name}.json");
        let label = format!("role \"{name}\"");
        let listed = self
            .snapshot()
            .and_then(|snapshot| snapshot.meta.get(&file))
            .cloned()
            .ok_or_else(|| self.delegation_error(name, "is missing from snapshot".into()))?;
        let trusted = self.delegated_bytes(name).map(<[u8]>::to_vec);
        let trusted_version = match &trusted {
            Some(bytes) => Some(
                RawSigned::parse(&file, bytes)?
                    .metadata::<Targets>(&file)?
                    .signed
                    .version,
            ),
            None => None,
        };
        let bytes = match (trusted, trusted_version) {
            (Some(bytes), Some(version)) if version == listed.version => bytes,
            _ => {
                let limit = listed.length.unwrap_or(limits.max_targets_bytes);
                fetch_metadata(self.name(), fetcher, &file, limit, true)?.ok_or_else(|| {
                    OtaError::MissingMetadata {
                        repository: self.name().to_string(),
                        path: file.clone(),
                    }
                })?
            }
        };
        let raw = RawSigned::parse(&file, &bytes)?;
        let targets: Signed<Targets> = raw.metadata(&file)?;
        let version = targets.signed.version;
        if let Some(trusted) = trusted_version {
            self.check_not_older(&label, version, trusted)?;
        }
        self.check_listed(&label, version, &bytes, &listed, "snapshot")?;
        let keys = RoleKeys {
            keyids: role.keyids.clone(),
            threshold: role.threshold,
        };
        let tally = tally_signatures(&raw.signed, &raw.signatures, &visit.keys, &keys)?;
        if tally.valid < role.threshold as usize {
            return Err(OtaError::ThresholdNotMet {
                repository: self.name().to_string(),
                role: label,
                valid: tally.valid,
                threshold: role.threshold,
                by: String::new(),
                rejected: tally.rejected_text(),
            });
        }
        if targets.signed.expires.is_expired(now) {
            return Err(OtaError::RoleExpired {
                repository: self.name().to_string(),
                role: name.to_string(),
                expires: targets.signed.expires,
            });
        }
        if let Some(outside) = targets
            .signed
            .targets
            .keys()
            .find(|path| !role_is_trusted_for(role, path))
        {
            return Err(self.delegation_error(name, format!("is not trusted for \"{outside}\"")));
        }
        self.keep_delegated(name, bytes);
        Ok(targets.signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_per_path_part() {
        assert!(path_matches("apps/honda/*", "apps/honda/x"));
        assert!(!path_matches("apps/honda/*", "apps/honda/x/y"));
        assert!(!path_matches("apps/honda/*", "apps/nissan/x"));
        assert!(path_matches("apps/*/x", "apps/honda/x"));
        assert!(path_matches("*.bin", "a.bin"));
        assert!(!path_matches("*.bin", "dir/a.bin"));
        assert!(path_matches("a?c", "abc"));
        assert!(path_matches("[ab]x", "bx"));
        assert!(!path_matches("[!ab]x", "bx"));
        assert!(path_matches("v[0-9]", "v7"));
        assert!(path_matches("*", "anything"));
        assert!(path_matches("a*b*c", "axxbyyc"));
        assert!(!path_matches("a*b*c", "axxbyy"));
        assert!(path_matches("", ""));
    }

    #[test]
    fn role_names_are_plain_file_names() {
        assert!(valid_role_name("honda"));
        assert!(valid_role_name("brand-1.apps"));
        for name in [
            "", "../x", "a/b", ".hidden", "targets", "Root", "a b", "2.root",
        ] {
            assert!(!valid_role_name(name), "{name}");
        }
    }

    #[test]
    fn hash_prefixes_select_paths() {
        let digest = hex::encode(Sha256::digest(b"apps/x"));
        let role = DelegatedRole {
            name: "bin".into(),
            keyids: Vec::new(),
            threshold: 1,
            terminating: false,
            paths: None,
            path_hash_prefixes: Some(vec![digest[..4].to_ascii_uppercase()]),
        };
        assert!(role_is_trusted_for(&role, "apps/x"));
        let role = DelegatedRole {
            path_hash_prefixes: Some(vec![format!(
                "{:x}",
                0xf ^ u8::from_str_radix(&digest[..1], 16).unwrap()
            )]),
            ..role
        };
        assert!(!role_is_trusted_for(&role, "apps/x"));
    }
}
