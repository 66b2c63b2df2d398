//! The vehicle modes: the shared [`tomoe_types::VehicleMode`], checked against the
//! Tomoe overlay here because this crate publishes them.

#[cfg(test)]
mod tests {
    use tomoe_types::VehicleMode;

    #[test]
    fn modes_match_the_tomoe_overlay() {
        let catalog = tomoe_vss::default_catalog().unwrap();
        let leaf = catalog.leaf(crate::MODE_PATH).unwrap();
        let allowed: Vec<String> = leaf.allowed.iter().map(|v| v.to_string()).collect();
        let ours: Vec<String> = VehicleMode::ALL.iter().map(|m| m.to_string()).collect();
        assert_eq!(allowed, ours);
    }
}
