//! Checks of writes: the tenant wall and scopes, and each published entry.

use tomoe_vss::{Catalog, LeafId, Value};

use crate::permissions::{check_wall, PrivateBranch};
use crate::{Access, BrokerError, Permissions, RefusedEntry};

/// Checks the tenant wall, then the scopes.
pub(crate) fn authorize(
    branches: &[PrivateBranch],
    permissions: &Permissions,
    access: Access,
    path: &str,
) -> Result<(), BrokerError> {
    check_wall(branches, permissions, path)?;
    permissions.check(access, path)
}

/// Checks one published entry: the leaf exists, the caller may provide it, and the
/// value fits its metadata.
pub(crate) fn check_publication(
    catalog: &Catalog,
    branches: &[PrivateBranch],
    permissions: &Permissions,
    id: LeafId,
    value: Option<&Value>,
) -> Result<(), BrokerError> {
    let leaf = catalog
        .leaf_by_id(id)
        .ok_or(BrokerError::UnknownId { id: id.0.into() })?;
    authorize(branches, permissions, Access::Provide, &leaf.path)?;
    if let Some(value) = value {
        leaf.check_value(value)?;
    }
    Ok(())
}

/// The entries of a publish batch that `catalog` and `permissions` refuse, each with
/// its reason: the broker's own check, for a front end that feeds a broker elsewhere
/// (which refuses a batch with one bad entry as a whole) and drops such entries first.
/// Tenant walls are the receiving broker's to check.
pub fn refused_publications(
    catalog: &Catalog,
    permissions: &Permissions,
    updates: &[(LeafId, Option<Value>)],
) -> Vec<RefusedEntry> {
    updates
        .iter()
        .enumerate()
        .filter_map(|(index, (id, value))| {
            check_publication(catalog, &[], permissions, *id, value.as_ref())
                .err()
                .map(|reason| refused(catalog, index, *id, reason))
        })
        .collect()
}

/// Entry `index` of a batch, on leaf `id`, refused for `reason`.
pub(crate) fn refused(
    catalog: &Catalog,
    index: usize,
    id: LeafId,
    reason: BrokerError,
) -> RefusedEntry {
    RefusedEntry {
        index,
        leaf: id,
        path: catalog
            .leaf_by_id(id)
            .map(|leaf| leaf.path.clone())
            .unwrap_or_default(),
        reason,
    }
}
