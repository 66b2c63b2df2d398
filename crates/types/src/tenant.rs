//! Tenants: the automakers (and the alliance itself) sharing one platform.

use std::fmt;

/// The longest tenant name, in bytes.
pub const MAX_TENANT_NAME_BYTES: usize = 32;

/// One tenant of the platform: an automaker such as `nissan`, or `alliance` for
/// the common platform. Written in lower case ASCII letters, digits and `-`,
/// starting with a letter; it names the tenant's Uptane delegated role, its JWT
/// tokens' `tenant` claim and its apps' directory (`apps/<tenant>/`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tenant(String);

/// A string that is not a tenant name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant name \"{name}\": {reason}")]
pub struct InvalidTenant {
    /// The name given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Tenant {
    /// The tenant of the common platform, present in every vehicle.
    pub const ALLIANCE: &'static str = "alliance";

    /// Checks `name` and makes it a tenant.
    pub fn new(name: &str) -> Result<Tenant, InvalidTenant> {
        let invalid = |reason| InvalidTenant {
            name: name.chars().take(64).collect(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("it is empty"));
        }
        if name.len() > MAX_TENANT_NAME_BYTES {
            return Err(invalid("it is longer than 32 bytes"));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(invalid("it must start with a lower case letter"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid(
                "only lower case letters, digits and '-' are allowed",
            ));
        }
        Ok(Tenant(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the alliance's own tenant.
    pub fn is_alliance(&self) -> bool {
        self.0 == Tenant::ALLIANCE
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Tenant {
    type Err = InvalidTenant;

    fn from_str(text: &str) -> Result<Tenant, InvalidTenant> {
        Tenant::new(text)
    }
}

impl TryFrom<String> for Tenant {
    type Error = InvalidTenant;

    fn try_from(text: String) -> Result<Tenant, InvalidTenant> {
        Tenant::new(&text)
    }
}

impl From<Tenant> for String {
    fn from(tenant: Tenant) -> String {
        tenant.0
    }
}

impl serde::Serialize for Tenant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Tenant {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Tenant, D::Error> {
        let text = String::deserialize(deserializer)?;
        Tenant::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(Tenant::new("honda").unwrap().as_str(), "honda");
        assert!(Tenant::new("mitsubishi-2").is_ok());
        for (bad, reason) in [
            ("", "empty"),
            ("Honda", "start with a lower case letter"),
            ("1honda", "start with a lower case letter"),
            ("hon da", "only lower case"),
            ("apps/honda", "only lower case"),
        ] {
            let error = Tenant::new(bad).unwrap_err().to_string();
            assert!(error.contains(reason), "{bad}: {error}");
        }
        assert!(Tenant::new(&"a".repeat(33)).is_err());
    }

    #[test]
    fn serde_checks_the_name() {
        let tenant: Tenant = serde_json::from_str("\"nissan\"").unwrap();
        assert_eq!(tenant.to_string(), "nissan");
        let error = serde_json::from_str::<Tenant>("\"Nissan\"").unwrap_err();
        assert!(error.to_string().contains("invalid tenant name"));
    }
}
