//! Drive cycles: target speed (and road grade) over time.
//!
//! Four standard cycles are embedded, so a program using this crate needs no files:
//!
//! | constructor | cycle | duration | distance |
//! |---|---|---|---|
//! | [`Cycle::udds`] | EPA Urban Dynamometer Driving Schedule (the "city" test) | 1369 s | 12.0 km |
//! | [`Cycle::hwfet`] | EPA Highway Fuel Economy Test | 765 s | 16.5 km |
//! | [`Cycle::us06`] | EPA US06 (aggressive driving) | 600 s | 12.9 km |
//! | [`Cycle::wltc_class3`] | WLTC class 3b (UNECE GTR 15) | 1800 s | 23.3 km |
//!
//! The tables are the 1 Hz CSV files of NREL FASTSim (Apache-2.0, see `NOTICE`), with
//! the columns `cycSecs` (s), `cycMps` (m/s), `cycGrade` (rise over run) and
//! `cycRoadType` (ignored). Between two rows speed and grade are interpolated linearly.

use serde::Serialize;

use crate::SimError;

const UDDS_CSV: &str = include_str!("../../../data/cycles/udds.csv");
const HWFET_CSV: &str = include_str!("../../../data/cycles/hwfet.csv");
const US06_CSV: &str = include_str!("../../../data/cycles/us06.csv");
const WLTC_3B_CSV: &str = include_str!("../../../data/cycles/wltc_3b.csv");

/// One row of a drive cycle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CyclePoint {
    /// Time from the start of the cycle, s.
    pub time_s: f64,
    /// Target vehicle speed, m/s.
    pub speed_mps: f64,
    /// Road grade as rise over run (0.05 is a 5 % climb, negative is downhill).
    pub grade: f64,
}

/// A drive cycle: a table of target speed against time, starting at time 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cycle {
    name: String,
    points: Vec<CyclePoint>,
}

impl Cycle {
    /// The EPA Urban Dynamometer Driving Schedule (FTP-72, the "city" label test).
    pub fn udds() -> Cycle {
        Cycle::embedded(UDDS_CSV, "udds")
    }

    /// The EPA Highway Fuel Economy Test (the "highway" label test).
    pub fn hwfet() -> Cycle {
        Cycle::embedded(HWFET_CSV, "hwfet")
    }

    /// The EPA US06 supplemental cycle (high speed, hard accelerations).
    pub fn us06() -> Cycle {
        Cycle::embedded(US06_CSV, "us06")
    }

    /// The WLTC for class 3b vehicles (the European WLTP test cycle).
    pub fn wltc_class3() -> Cycle {
        Cycle::embedded(WLTC_3B_CSV, "wltc_class3")
    }

    fn embedded(text: &str, name: &str) -> Cycle {
        // The embedded tables are fixed and covered by tests; an empty cycle is the
        // fallback that can only happen if one was replaced by a broken file.
        Cycle::from_csv(text, name).unwrap_or_else(|_| Cycle {
            name: name.to_owned(),
            points: vec![CyclePoint {
                time_s: 0.0,
                speed_mps: 0.0,
                grade: 0.0,
            }],
        })
    }

    /// A constant target speed for `duration_s` seconds on level road.
    ///
    /// The vehicle starts from whatever speed it has, so a simulator at rest first
    /// accelerates as hard as its limits allow. Negative or non-finite arguments
    /// count as 0.
    pub fn constant(speed_mps: f64, duration_s: f64) -> Cycle {
        let speed = if speed_mps.is_finite() {
            speed_mps.max(0.0)
        } else {
            0.0
        };
        let duration = if duration_s.is_finite() {
            duration_s.max(0.0)
        } else {
            0.0
        };
        let start = CyclePoint {
            time_s: 0.0,
            speed_mps: speed,
            grade: 0.0,
        };
        let mut points = vec![start];
        if duration > 0.0 {
            points.push(CyclePoint {
                time_s: duration,
                ..start
            });
        }
        Cycle {
            name: format!("constant {speed} m/s for {duration} s"),
            points,
        }
    }

    /// Builds a cycle from points. Times must start at 0 and increase strictly,
    /// speeds must be finite and not negative, grades finite.
    pub fn from_points(name: &str, points: Vec<CyclePoint>) -> Result<Cycle, SimError> {
        if points.is_empty() {
            return Err(SimError::cycle(name, 0, "no points"));
        }
        for (index, point) in points.iter().enumerate() {
            check_point(
                name,
                index + 1,
                point,
                index.checked_sub(1).map(|i| &points[i]),
            )?;
        }
        if points[0].time_s != 0.0 {
            return Err(SimError::cycle(
                name,
                1,
                "the first point must be at time 0",
            ));
        }
        Ok(Cycle {
            name: name.to_owned(),
            points,
        })
    }

    /// Reads a cycle from CSV text with a header row.
    ///
    /// The columns are found by name: `cycSecs` (s) and `cycMps` (m/s) are required,
    /// `cycGrade` (rise over run) is optional and defaults to 0, other columns are
    /// ignored. Blank lines and a UTF-8 byte-order mark are tolerated.
    pub fn from_csv(text: &str, name: &str) -> Result<Cycle, SimError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(index, line)| (index + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty());
        let Some((header_line, header)) = lines.next() else {
            return Err(SimError::cycle(name, 0, "empty table"));
        };
        let columns: Vec<&str> = header.split(',').map(str::trim).collect();
        let column = |wanted: &str| columns.iter().position(|c| *c == wanted);
        let time_column = column("cycSecs")
            .ok_or_else(|| SimError::cycle(name, header_line, "no cycSecs column"))?;
        let speed_column = column("cycMps")
            .ok_or_else(|| SimError::cycle(name, header_line, "no cycMps column"))?;
        let grade_column = column("cycGrade");

        let mut points: Vec<CyclePoint> = Vec::new();
        for (line_number, line) in lines {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let field = |index: usize, label: &str| -> Result<f64, SimError> {
                let raw = fields.get(index).ok_or_else(|| {
                    SimError::cycle(name, line_number, format!("missing {label}"))
                })?;
                raw.parse::<f64>().map_err(|_| {
                    SimError::cycle(
                        name,
                        line_number,
                        format!("{label} \"{raw}\" is not a number"),
                    )
                })
            };
            let point = CyclePoint {
                time_s: field(time_column, "cycSecs")?,
                speed_mps: field(speed_column, "cycMps")?,
                grade: match grade_column {
                    Some(index) => field(index, "cycGrade")?,
                    None => 0.0,
                },
            };
            check_point(name, line_number, &point, points.last())?;
            points.push(point);
        }
        let Some(first) = points.first() else {
            return Err(SimError::cycle(name, 0, "no data rows"));
        };
        if first.time_s != 0.0 {
            return Err(SimError::cycle(name, 0, "the first row must be at time 0"));
        }
        Ok(Cycle {
            name: name.to_owned(),
            points,
        })
    }

    /// The cycle's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table rows.
    pub fn points(&self) -> &[CyclePoint] {
        &self.points
    }

    /// Time of the last row, s.
    pub fn duration_s(&self) -> f64 {
        self.points.last().map_or(0.0, |p| p.time_s)
    }

    /// Target speed at time `t_s`, linearly interpolated; before the start and after
    /// the end the first and last speeds hold.
    pub fn speed_at(&self, t_s: f64) -> f64 {
        self.interpolate(t_s, |p| p.speed_mps)
    }

    /// Road grade at time `t_s`, linearly interpolated like [`Cycle::speed_at`].
    pub fn grade_at(&self, t_s: f64) -> f64 {
        self.interpolate(t_s, |p| p.grade)
    }

    /// Distance covered when the speed profile is followed exactly, m.
    pub fn distance_m(&self) -> f64 {
        self.points
            .windows(2)
            .map(|w| 0.5 * (w[0].speed_mps + w[1].speed_mps) * (w[1].time_s - w[0].time_s))
            .sum()
    }

    /// Highest target speed, m/s.
    pub fn max_speed_mps(&self) -> f64 {
        self.points.iter().map(|p| p.speed_mps).fold(0.0, f64::max)
    }

    fn interpolate(&self, t_s: f64, value: impl Fn(&CyclePoint) -> f64) -> f64 {
        let points = &self.points;
        let Some(first) = points.first() else {
            return 0.0;
        };
        if t_s.is_nan() || t_s <= first.time_s {
            return value(first);
        }
        // Index of the first point after t_s.
        let after = points.partition_point(|p| p.time_s <= t_s);
        if after >= points.len() {
            return value(&points[points.len() - 1]);
        }
        let (a, b) = (&points[after - 1], &points[after]);
        let fraction = (t_s - a.time_s) / (b.time_s - a.time_s);
        value(a) + fraction * (value(b) - value(a))
    }
}

fn check_point(
    name: &str,
    line: usize,
    point: &CyclePoint,
    previous: Option<&CyclePoint>,
) -> Result<(), SimError> {
    if !point.time_s.is_finite() || !point.speed_mps.is_finite() || !point.grade.is_finite() {
        return Err(SimError::cycle(name, line, "values must be finite numbers"));
    }
    if point.speed_mps < 0.0 {
        return Err(SimError::cycle(name, line, "speed must not be negative"));
    }
    if let Some(previous) = previous {
        if point.time_s <= previous.time_s {
            return Err(SimError::cycle(
                name,
                line,
                "time must increase from row to row",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_cycles_have_the_published_length_and_distance() {
        // Published figures: UDDS 1369 s / 7.45 mi, HWFET 765 s / 10.26 mi,
        // US06 596 s of driving / 8.01 mi, WLTC class 3b 1800 s / 23.27 km.
        let cases = [
            (Cycle::udds(), 1369.0, 11_990.0),
            (Cycle::hwfet(), 765.0, 16_510.0),
            (Cycle::us06(), 600.0, 12_890.0),
            (Cycle::wltc_class3(), 1800.0, 23_270.0),
        ];
        for (cycle, duration, distance) in cases {
            assert_eq!(cycle.duration_s(), duration, "{}", cycle.name());
            let relative = (cycle.distance_m() - distance).abs() / distance;
            assert!(
                relative < 0.01,
                "{}: {} m instead of about {distance} m",
                cycle.name(),
                cycle.distance_m()
            );
        }
    }

    #[test]
    fn speed_is_interpolated_linearly_and_held_at_the_ends() {
        let cycle = Cycle::from_csv("cycSecs,cycMps\n0,0\n10,10\n20,4\n", "ramp").unwrap();
        assert_eq!(cycle.speed_at(-1.0), 0.0);
        assert_eq!(cycle.speed_at(2.5), 2.5);
        assert_eq!(cycle.speed_at(10.0), 10.0);
        assert_eq!(cycle.speed_at(15.0), 7.0);
        assert_eq!(cycle.speed_at(100.0), 4.0);
        assert_eq!(cycle.grade_at(5.0), 0.0);
        assert_eq!(cycle.distance_m(), 50.0 + 70.0);
    }

    #[test]
    fn grade_column_is_read_and_other_columns_ignored() {
        let text = "\u{feff}cycRoadType,cycMps,cycGrade,cycSecs\n0,0,0.0,0\n\n0,2,0.04,1\n";
        let cycle = Cycle::from_csv(text, "hill").unwrap();
        assert_eq!(cycle.points().len(), 2);
        assert!((cycle.grade_at(0.5) - 0.02).abs() < 1e-12);
        assert_eq!(cycle.speed_at(1.0), 2.0);
    }

    #[test]
    fn constant_cycle_holds_its_speed() {
        let cycle = Cycle::constant(25.0, 100.0);
        assert_eq!(cycle.speed_at(0.0), 25.0);
        assert_eq!(cycle.speed_at(73.2), 25.0);
        assert_eq!(cycle.duration_s(), 100.0);
        assert_eq!(cycle.distance_m(), 2500.0);
    }

    #[test]
    fn broken_tables_are_refused_with_the_line() {
        let check = |text: &str, line: usize, problem: &str| match Cycle::from_csv(text, "bad")
            .unwrap_err()
        {
            SimError::InvalidCycle {
                name,
                line: found_line,
                problem: found,
            } => {
                assert_eq!(name, "bad");
                assert_eq!(found_line, line, "{found}");
                assert!(found.contains(problem), "{found}");
            }
            other => panic!("unexpected error {other}"),
        };
        check("", 0, "empty");
        check("time,speed\n0,0\n", 1, "cycSecs");
        check("cycSecs,cycMps\n0,0\n1,fast\n", 3, "not a number");
        check("cycSecs,cycMps\n0,0\n1,-1\n", 3, "negative");
        check("cycSecs,cycMps\n0,0\n0,1\n", 3, "increase");
        check("cycSecs,cycMps\n1,0\n2,1\n", 0, "time 0");
        check("cycSecs,cycMps\n0\n", 2, "missing cycMps");
        check("cycSecs,cycMps\n", 0, "no data rows");
    }
}
