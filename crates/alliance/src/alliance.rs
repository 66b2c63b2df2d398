//! The alliance file: tenants, their keys and their private branches.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tomoe_auth::TokenVerifier;
use tomoe_broker::PrivateBranch;
use tomoe_types::Tenant;
use tomoe_vss::CatalogBuilder;

use crate::AllianceError;

/// The alliance file's name in its directory.
pub const ALLIANCE_FILE: &str = "alliance.toml";

/// The branch under which every tenant's private branch lies.
pub const PRIVATE_ROOT: &str = "Vehicle.Private";

/// The demo alliance's directory: `$TOMOE_ALLIANCE`, else `./alliance` when it
/// exists, else the repository's `alliance/`.
pub fn default_alliance_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TOMOE_ALLIANCE") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("alliance");
    if local.join(ALLIANCE_FILE).is_file() {
        return local;
    }
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../alliance");
    std::fs::canonicalize(&shipped).unwrap_or(shipped)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllianceFile {
    #[serde(default)]
    tenant: Vec<TenantFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    name: Tenant,
    display_name: String,
    #[serde(default)]
    private_branch: Option<String>,
    #[serde(default)]
    overlay: Option<PathBuf>,
    #[serde(default)]
    token_keys: Vec<PathBuf>,
    #[serde(default)]
    delegation_keys: Vec<PathBuf>,
}

/// One tenant as the alliance file declares it; paths are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    /// The tenant.
    pub name: Tenant,
    /// Its name for people, such as `Nissan`.
    pub display_name: String,
    /// Its private VSS branch, under [`PRIVATE_ROOT`], if it has one.
    pub private_branch: Option<String>,
    /// The `.vspec` overlay that fills the private branch.
    pub overlay: Option<PathBuf>,
    /// Public keys (PEM) of its JWT issuer.
    pub token_keys: Vec<PathBuf>,
    /// Public keys (PEM) trusted to sign its apps in the image repository.
    pub delegation_keys: Vec<PathBuf>,
}

/// The tenants of one alliance.
#[derive(Debug, Clone)]
pub struct Alliance {
    file: PathBuf,
    tenants: Vec<TenantSpec>,
}

impl Alliance {
    /// Reads `path`: an alliance file, or a directory holding [`ALLIANCE_FILE`].
    ///
    /// Refuses a tenant declared twice, a private branch outside
    /// [`PRIVATE_ROOT`] or inside another tenant's, an overlay without a branch or
    /// defining a node outside its tenant's branch, and a missing key file.
    pub fn load(path: &Path) -> Result<Alliance, AllianceError> {
        let file = if path.is_dir() {
            path.join(ALLIANCE_FILE)
        } else {
            path.to_owned()
        };
        let invalid = |problem: String| AllianceError::Invalid {
            path: file.clone(),
            problem,
        };
        let text = tomoe_vss::read_data_file(&file).map_err(invalid)?;
        let parsed: AllianceFile =
            toml::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        let dir = file.parent().unwrap_or(Path::new("."));
        let mut tenants: Vec<TenantSpec> = Vec::new();
        for entry in parsed.tenant {
            let name = entry.name.clone();
            let problem = |what: String| invalid(format!("tenant {name}: {what}"));
            if tenants.iter().any(|known| known.name == name) {
                return Err(problem("declared twice".into()));
            }
            if let Some(branch) = &entry.private_branch {
                let under_root = branch
                    .strip_prefix(PRIVATE_ROOT)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('.'));
                if !under_root {
                    return Err(problem(format!(
                        "private_branch \"{branch}\" must be one branch directly under {PRIVATE_ROOT}, such as {PRIVATE_ROOT}.Honda"
                    )));
                }
                if let Some(other) = tenants.iter().find(|known| {
                    known
                        .private_branch
                        .as_ref()
                        .is_some_and(|theirs| theirs.eq_ignore_ascii_case(branch))
                }) {
                    return Err(problem(format!(
                        "private_branch \"{branch}\" is already tenant {}'s",
                        other.name
                    )));
                }
            }
            let resolve = |path: &PathBuf, what: &str| -> Result<PathBuf, AllianceError> {
                let resolved = dir.join(path);
                if resolved.is_file() {
                    Ok(resolved)
                } else {
                    Err(problem(format!(
                        "{what} {} does not exist",
                        resolved.display()
                    )))
                }
            };
            let overlay = entry
                .overlay
                .as_ref()
                .map(|path| resolve(path, "overlay"))
                .transpose()?;
            if let Some(overlay) = &overlay {
                let Some(branch) = &entry.private_branch else {
                    return Err(problem("an overlay needs a private_branch to fill".into()));
                };
                check_overlay_stays_in(overlay, branch)?;
            }
            let token_keys = entry
                .token_keys
                .iter()
                .map(|path| resolve(path, "token key"))
                .collect::<Result<_, _>>()?;
            let delegation_keys = entry
                .delegation_keys
                .iter()
                .map(|path| resolve(path, "delegation key"))
                .collect::<Result<_, _>>()?;
            tenants.push(TenantSpec {
                name,
                display_name: entry.display_name,
                private_branch: entry.private_branch,
                overlay,
                token_keys,
                delegation_keys,
            });
        }
        Ok(Alliance { file, tenants })
    }

    /// The file it was read from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Every tenant, in file order.
    pub fn tenants(&self) -> &[TenantSpec] {
        &self.tenants
    }

    /// The tenant named `name`, if declared.
    pub fn tenant(&self, name: &Tenant) -> Option<&TenantSpec> {
        self.tenants.iter().find(|tenant| tenant.name == *name)
    }

    /// The tenant whose private branch holds `path`, if any.
    pub fn owner_of(&self, path: &str) -> Option<&Tenant> {
        self.tenants
            .iter()
            .find(|tenant| {
                tenant
                    .private_branch
                    .as_deref()
                    .is_some_and(|branch| PrivateBranch::holds(branch, path))
            })
            .map(|tenant| &tenant.name)
    }

    /// The walls the broker keeps: each tenant's private branch.
    pub fn private_branches(&self) -> Vec<PrivateBranch> {
        self.tenants
            .iter()
            .filter_map(|tenant| {
                tenant.private_branch.as_ref().map(|branch| PrivateBranch {
                    branch: branch.clone(),
                    owner: tenant.name.clone(),
                })
            })
            .collect()
    }

    /// Adds [`PRIVATE_ROOT`] and every tenant's overlay to `builder`.
    pub fn add_overlays(&self, builder: CatalogBuilder) -> Result<CatalogBuilder, AllianceError> {
        let root = format!(
            "{PRIVATE_ROOT}:\n  type: branch\n  description: Branches private to one tenant of the alliance each.\n"
        );
        let mut builder = builder
            .vspec_str(&root, "alliance private root")
            .map_err(|source| AllianceError::Overlay {
                origin: self.file.display().to_string(),
                source,
            })?;
        for tenant in &self.tenants {
            if let Some(overlay) = &tenant.overlay {
                builder = builder
                    .vspec_file(overlay)
                    .map_err(|source| AllianceError::Overlay {
                        origin: format!("tenant {}", tenant.name),
                        source,
                    })?;
            }
        }
        Ok(builder)
    }

    /// A verifier for each tenant's token keys, bound to that tenant: a token it
    /// verifies is the tenant's, and one claiming another tenant is refused.
    pub fn token_verifiers(&self) -> Result<Vec<TokenVerifier>, AllianceError> {
        let mut verifiers = Vec::new();
        for tenant in &self.tenants {
            for key in &tenant.token_keys {
                let verifier = TokenVerifier::from_pem_file(key).map_err(|source| {
                    AllianceError::TokenKey {
                        tenant: tenant.name.clone(),
                        source,
                    }
                })?;
                verifiers.push(verifier.for_tenant(tenant.name.clone()));
            }
        }
        Ok(verifiers)
    }

    /// The tenants' names.
    pub fn names(&self) -> BTreeSet<&Tenant> {
        self.tenants.iter().map(|tenant| &tenant.name).collect()
    }
}

/// Refuses an overlay that defines or changes a node outside `branch`.
fn check_overlay_stays_in(overlay: &Path, branch: &str) -> Result<(), AllianceError> {
    let invalid = |problem: String| AllianceError::Invalid {
        path: overlay.to_owned(),
        problem,
    };
    let text = tomoe_vss::read_data_file(overlay).map_err(invalid)?;
    tomoe_vss::check_yaml_nesting(&text).map_err(|error| invalid(error.to_string()))?;
    let nodes: serde_yaml::Mapping = match serde_yaml::from_str(&text) {
        Ok(serde_yaml::Value::Mapping(map)) => map,
        Ok(serde_yaml::Value::Null) => serde_yaml::Mapping::new(),
        Ok(_) => {
            return Err(invalid(
                "a .vspec overlay must be a map of paths to nodes".into(),
            ))
        }
        Err(error) => return Err(invalid(format!("invalid YAML: {error}"))),
    };
    for key in nodes.keys() {
        let path = key.as_str().unwrap_or_default();
        if !PrivateBranch::holds(branch, path) {
            return Err(invalid(format!(
                "node \"{path}\" lies outside the tenant's private branch {branch}: a tenant's overlay only fills its own branch"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn the_demo_alliance_loads_with_its_walls_and_keys() {
        let alliance = Alliance::load(&default_alliance_dir()).unwrap();
        let names: Vec<&str> = alliance.tenants().iter().map(|t| t.name.as_str()).collect();
        for name in ["alliance", "nissan", "honda", "mitsubishi"] {
            assert!(names.contains(&name), "{names:?}");
        }
        assert_eq!(
            alliance
                .owner_of("Vehicle.Private.Honda.Cabin.AmbientTheme")
                .map(Tenant::as_str),
            Some("honda")
        );
        assert_eq!(alliance.owner_of("Vehicle.Speed"), None);
        assert_eq!(
            alliance.token_verifiers().unwrap().len(),
            alliance.tenants().len()
        );
        let catalog = alliance
            .add_overlays(tomoe_vss::default_builder().unwrap())
            .unwrap()
            .build()
            .unwrap();
        assert!(catalog
            .leaf("Vehicle.Private.Honda.Cabin.AmbientTheme")
            .is_some());
        assert!(catalog
            .leaf("Vehicle.Private.Nissan.EPedal.IsEnabled")
            .is_some());
    }

    #[test]
    fn an_overlay_reaching_outside_its_branch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "honda.vspec",
            "Vehicle.Private.Honda:\n  type: branch\n  description: x\nVehicle.Speed:\n  type: sensor\n  datatype: float\n  description: hijacked\n",
        );
        write(
            dir.path(),
            ALLIANCE_FILE,
            "[[tenant]]\nname = \"honda\"\ndisplay_name = \"Honda\"\nprivate_branch = \"Vehicle.Private.Honda\"\noverlay = \"honda.vspec\"\n",
        );
        let error = Alliance::load(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("node \"Vehicle.Speed\" lies outside the tenant's private branch Vehicle.Private.Honda"),
            "{error}"
        );
    }

    #[test]
    fn bad_declarations_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            (
                "[[tenant]]\nname = \"honda\"\ndisplay_name = \"H\"\n[[tenant]]\nname = \"honda\"\ndisplay_name = \"H\"\n",
                "tenant honda: declared twice",
            ),
            (
                "[[tenant]]\nname = \"honda\"\ndisplay_name = \"H\"\nprivate_branch = \"Vehicle.Cabin\"\n",
                "must be one branch directly under Vehicle.Private",
            ),
            (
                "[[tenant]]\nname = \"honda\"\ndisplay_name = \"H\"\nprivate_branch = \"Vehicle.Private.Honda\"\n[[tenant]]\nname = \"acura\"\ndisplay_name = \"A\"\nprivate_branch = \"Vehicle.Private.Honda\"\n",
                "is already tenant honda's",
            ),
            (
                "[[tenant]]\nname = \"Honda\"\ndisplay_name = \"H\"\n",
                "invalid tenant name \"Honda\"",
            ),
            (
                "[[tenant]]\nname = \"honda\"\ndisplay_name = \"H\"\ntoken_keys = [\"nowhere.pub\"]\n",
                "token key",
            ),
        ] {
            write(dir.path(), ALLIANCE_FILE, text);
            let error = Alliance::load(dir.path()).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }
}
