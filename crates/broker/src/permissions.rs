//! What a caller may do, independent of how it proved it (JWT, runtime token, local).

use std::time::SystemTime;

use tomoe_types::Tenant;
use tomoe_vss::PathPattern;

use crate::{Access, BrokerError};

/// A VSS branch only one tenant may touch, such as `Vehicle.Private.Honda`.
///
/// The wall stands behind the scopes: no scope entry, however broad, lets a caller
/// of another tenant (or of none) read, actuate or provide a signal under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateBranch {
    /// The branch path; it and every path under it are private.
    pub branch: String,
    /// The tenant it belongs to.
    pub owner: Tenant,
}

impl PrivateBranch {
    /// Whether `path` is this branch or lies under it.
    pub fn covers(&self, path: &str) -> bool {
        PrivateBranch::holds(&self.branch, path)
    }

    /// Whether `path` is `branch` or lies under it (`Vehicle.Private.Honda` holds
    /// `Vehicle.Private.Honda.Cabin`, not `Vehicle.Private.HondaX`).
    pub fn holds(branch: &str, path: &str) -> bool {
        path.strip_prefix(branch)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
}

/// Refuses `path` to `permissions` when it lies in another tenant's private branch.
/// Callers that may do everything (authorization off, the platform's own parts)
/// pass.
pub(crate) fn check_wall(
    branches: &[PrivateBranch],
    permissions: &Permissions,
    path: &str,
) -> Result<(), BrokerError> {
    if permissions.allow_all {
        return Ok(());
    }
    match branches.iter().find(|branch| branch.covers(path)) {
        Some(branch) if permissions.tenant.as_ref() != Some(&branch.owner) => {
            Err(BrokerError::PrivateBranch {
                path: path.to_owned(),
                owner: branch.owner.clone(),
                tenant: permissions.tenant.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// The rights of one caller: path patterns per kind of access, and an expiry.
///
/// The rules follow KUKSA's scopes: any right on a path implies reading it;
/// `provide` allows publishing current values; `actuate` allows setting targets,
/// requesting actuation and claiming actuators as their provider.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    allow_all: bool,
    read: Vec<PathPattern>,
    actuate: Vec<PathPattern>,
    provide: Vec<PathPattern>,
    create: Vec<PathPattern>,
    expires_at: Option<SystemTime>,
    tenant: Option<Tenant>,
}

impl Permissions {
    /// Everything allowed, never expiring: authorization is off.
    pub fn allow_all() -> Permissions {
        Permissions {
            allow_all: true,
            ..Permissions::default()
        }
    }

    /// Nothing allowed; add rights with the `with_*` methods.
    pub fn none() -> Permissions {
        Permissions::default()
    }

    /// Adds read access to the paths `pattern` selects.
    pub fn with_read(mut self, pattern: PathPattern) -> Permissions {
        self.read.push(pattern);
        self
    }

    /// Adds actuate access to the paths `pattern` selects.
    pub fn with_actuate(mut self, pattern: PathPattern) -> Permissions {
        self.actuate.push(pattern);
        self
    }

    /// Adds provide access to the paths `pattern` selects.
    pub fn with_provide(mut self, pattern: PathPattern) -> Permissions {
        self.provide.push(pattern);
        self
    }

    /// Adds create access to the paths `pattern` selects (kept for KUKSA scope compatibility).
    pub fn with_create(mut self, pattern: PathPattern) -> Permissions {
        self.create.push(pattern);
        self
    }

    /// Makes the permissions expire at `when`.
    pub fn expiring_at(mut self, when: SystemTime) -> Permissions {
        self.expires_at = Some(when);
        self
    }

    /// Makes these the permissions of a caller of `tenant`.
    pub fn with_tenant(mut self, tenant: Tenant) -> Permissions {
        self.tenant = Some(tenant);
        self
    }

    /// The tenant of the caller, if its token named one.
    pub fn tenant(&self) -> Option<&Tenant> {
        self.tenant.as_ref()
    }

    /// When these permissions expire, if ever.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Whether these permissions allow everything.
    pub fn is_allow_all(&self) -> bool {
        self.allow_all
    }

    /// Checks `access` to `path`, with a precise error.
    pub fn check(&self, access: Access, path: &str) -> Result<(), BrokerError> {
        if self.allow_all {
            return Ok(());
        }
        if self.expires_at.is_some_and(|at| SystemTime::now() >= at) {
            return Err(BrokerError::PermissionExpired);
        }
        let covers = |patterns: &[PathPattern]| patterns.iter().any(|p| p.selects(path));
        let allowed = match access {
            Access::Read => {
                covers(&self.read)
                    || covers(&self.actuate)
                    || covers(&self.provide)
                    || covers(&self.create)
            }
            Access::Actuate => covers(&self.actuate),
            Access::Provide => covers(&self.provide),
        };
        if allowed {
            Ok(())
        } else {
            Err(BrokerError::PermissionDenied {
                path: path.to_owned(),
                access,
            })
        }
    }

    /// Whether `access` to `path` is allowed (no error detail).
    pub fn allows(&self, access: Access, path: &str) -> bool {
        self.check(access, path).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pattern(text: &str) -> PathPattern {
        PathPattern::parse(text).unwrap()
    }

    #[test]
    fn any_right_implies_read() {
        let permissions = Permissions::none().with_actuate(pattern("Vehicle.Cabin"));
        assert!(permissions.allows(Access::Read, "Vehicle.Cabin.Door.Row1.Left.IsOpen"));
        assert!(permissions.allows(Access::Actuate, "Vehicle.Cabin.Door.Row1.Left.IsOpen"));
        assert!(!permissions.allows(Access::Provide, "Vehicle.Cabin.Door.Row1.Left.IsOpen"));
        assert!(!permissions.allows(Access::Read, "Vehicle.Speed"));
    }

    #[test]
    fn denial_names_path_and_access() {
        let error = Permissions::none()
            .with_read(pattern("Vehicle.Speed"))
            .check(Access::Provide, "Vehicle.Speed")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "permission denied: no provide access to \"Vehicle.Speed\""
        );
    }

    #[test]
    fn a_private_branch_is_walled_whatever_the_scopes() {
        let honda = PrivateBranch {
            branch: "Vehicle.Private.Honda".into(),
            owner: Tenant::new("honda").unwrap(),
        };
        assert!(honda.covers("Vehicle.Private.Honda"));
        assert!(honda.covers("Vehicle.Private.Honda.Cabin.Mode"));
        assert!(!honda.covers("Vehicle.Private.HondaX"));
        assert!(!honda.covers("Vehicle.Speed"));
        let branches = [honda];
        let everything = || Permissions::none().with_read(pattern("Vehicle"));
        let nissan = everything().with_tenant(Tenant::new("nissan").unwrap());
        let error = check_wall(&branches, &nissan, "Vehicle.Private.Honda.Cabin.Mode").unwrap_err();
        assert_eq!(
            error.to_string(),
            "permission denied: \"Vehicle.Private.Honda.Cabin.Mode\" is private to tenant honda \
             and the token's tenant is nissan; no scope grants another tenant's private branch"
        );
        assert!(check_wall(&branches, &nissan, "Vehicle.Speed").is_ok());
        let error = check_wall(&branches, &everything(), "Vehicle.Private.Honda").unwrap_err();
        assert!(
            error.to_string().contains("the token names no tenant"),
            "{error}"
        );
        let honda = everything().with_tenant(Tenant::new("honda").unwrap());
        assert!(check_wall(&branches, &honda, "Vehicle.Private.Honda.Cabin.Mode").is_ok());
        assert!(check_wall(
            &branches,
            &Permissions::allow_all(),
            "Vehicle.Private.Honda"
        )
        .is_ok());
    }

    #[test]
    fn expired_permissions_allow_nothing() {
        let past = SystemTime::now() - Duration::from_secs(5);
        let permissions = Permissions::none()
            .with_read(pattern("Vehicle"))
            .expiring_at(past);
        assert!(matches!(
            permissions.check(Access::Read, "Vehicle.Speed"),
            Err(BrokerError::PermissionExpired)
        ));
    }
}
