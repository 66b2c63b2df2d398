//! Looking up motor efficiency at an operating point.

use crate::params::{EfficiencyMap, EfficiencyPoint};

/// An efficiency table arranged as a grid, ready for bilinear interpolation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grid {
    speeds_rpm: Vec<f64>,
    torques_nm: Vec<f64>,
    /// `values[speed_index][torque_index]`.
    values: Vec<Vec<f64>>,
}

impl Grid {
    /// Arranges points into a grid; `None` unless they form a full grid without
    /// duplicates.
    pub(crate) fn from_points(points: &[EfficiencyPoint]) -> Option<Grid> {
        let mut speeds: Vec<f64> = points.iter().map(|p| p.speed_rpm).collect();
        let mut torques: Vec<f64> = points.iter().map(|p| p.torque_nm).collect();
        for axis in [&mut speeds, &mut torques] {
            axis.sort_by(f64::total_cmp);
            axis.dedup();
        }
        if speeds.len() * torques.len() != points.len() {
            return None;
        }
        let mut values = vec![vec![f64::NAN; torques.len()]; speeds.len()];
        for point in points {
            let i = speeds
                .binary_search_by(|s| s.total_cmp(&point.speed_rpm))
                .ok()?;
            let j = torques
                .binary_search_by(|t| t.total_cmp(&point.torque_nm))
                .ok()?;
            if !values[i][j].is_nan() {
                return None;
            }
            values[i][j] = point.efficiency;
        }
        Some(Grid {
            speeds_rpm: speeds,
            torques_nm: torques,
            values,
        })
    }

    fn at(&self, speed_rpm: f64, torque_nm: f64) -> f64 {
        let (i0, i1, fs) = bracket(&self.speeds_rpm, speed_rpm);
        let (j0, j1, ft) = bracket(&self.torques_nm, torque_nm);
        let low = self.values[i0][j0] + ft * (self.values[i0][j1] - self.values[i0][j0]);
        let high = self.values[i1][j0] + ft * (self.values[i1][j1] - self.values[i1][j0]);
        low + fs * (high - low)
    }
}

/// Indices around `x` in a sorted axis and the fraction between them, clamped.
fn bracket(axis: &[f64], x: f64) -> (usize, usize, f64) {
    let last = axis.len() - 1;
    if last == 0 || x.is_nan() || x <= axis[0] {
        return (0, 0, 0.0);
    }
    if x >= axis[last] {
        return (last, last, 0.0);
    }
    let upper = axis.partition_point(|&a| a <= x);
    let lower = upper - 1;
    (
        lower,
        upper,
        (x - axis[lower]) / (axis[upper] - axis[lower]),
    )
}

/// Motor-and-inverter efficiency lookup built from an [`EfficiencyMap`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Efficiency {
    Constant(f64),
    Grid(Grid),
}

impl Efficiency {
    /// Builds the lookup; `None` for a table that is not a full grid (which
    /// validation refuses first).
    pub(crate) fn new(map: &EfficiencyMap) -> Option<Efficiency> {
        match map {
            EfficiencyMap::Constant(value) => Some(Efficiency::Constant(*value)),
            EfficiencyMap::Table(points) => Grid::from_points(points).map(Efficiency::Grid),
        }
    }

    /// Efficiency at a motor speed and torque (signs ignored), never below 1 %.
    pub(crate) fn at(&self, speed_rpm: f64, torque_nm: f64) -> f64 {
        let value = match self {
            Efficiency::Constant(value) => *value,
            Efficiency::Grid(grid) => grid.at(speed_rpm.abs(), torque_nm.abs()),
        };
        value.clamp(0.01, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(speed_rpm: f64, torque_nm: f64, efficiency: f64) -> EfficiencyPoint {
        EfficiencyPoint {
            speed_rpm,
            torque_nm,
            efficiency,
        }
    }

    #[test]
    fn table_is_interpolated_bilinearly_and_clamped_outside() {
        let map = EfficiencyMap::Table(vec![
            point(0.0, 0.0, 0.70),
            point(0.0, 200.0, 0.80),
            point(4000.0, 0.0, 0.90),
            point(4000.0, 200.0, 0.94),
        ]);
        let lookup = Efficiency::new(&map).unwrap();
        assert!((lookup.at(0.0, 0.0) - 0.70).abs() < 1e-12);
        assert!((lookup.at(2000.0, 0.0) - 0.80).abs() < 1e-12);
        assert!((lookup.at(2000.0, 100.0) - 0.835).abs() < 1e-12);
        assert!((lookup.at(-2000.0, -100.0) - 0.835).abs() < 1e-12);
        assert!((lookup.at(9000.0, 500.0) - 0.94).abs() < 1e-12);
    }

    #[test]
    fn incomplete_or_duplicate_grids_are_refused() {
        let missing = [
            point(0.0, 0.0, 0.8),
            point(1.0, 1.0, 0.8),
            point(0.0, 1.0, 0.8),
        ];
        assert!(Grid::from_points(&missing).is_none());
        let duplicate = [point(0.0, 0.0, 0.8), point(0.0, 0.0, 0.9)];
        assert!(Grid::from_points(&duplicate).is_none());
        assert!(Grid::from_points(&[point(10.0, 5.0, 0.9)]).is_some());
    }

    #[test]
    fn constant_efficiency_ignores_the_operating_point() {
        let lookup = Efficiency::new(&EfficiencyMap::Constant(0.9)).unwrap();
        assert_eq!(lookup.at(0.0, 0.0), 0.9);
        assert_eq!(lookup.at(12_000.0, -300.0), 0.9);
    }
}
