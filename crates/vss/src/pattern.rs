//! Path patterns: `Vehicle.Speed`, `Vehicle.Cabin`, `Vehicle.*.IsOpen`, `Vehicle.Cabin.**`.

use std::fmt;

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// The most segments a pattern may have (repeated `**` count once).
pub const MAX_PATTERN_SEGMENTS: usize = 64;

/// A pattern over dot-separated VSS paths.
///
/// - A plain segment matches itself.
/// - `*` matches exactly one segment.
/// - `**` matches any number of segments, none included.
///
/// A leaf is selected when the pattern matches its whole path or the path of one of
/// its branches, so `Vehicle.Cabin` selects every leaf below `Vehicle.Cabin`, the
/// same as `Vehicle.Cabin.**`. The same rules are used for subscriptions, metadata
/// queries and the path part of authorization scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    AnyOne,
    AnyMany,
}

/// Why a path pattern could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path pattern \"{pattern}\": {reason}")]
pub struct PatternError {
    pattern: String,
    reason: &'static str,
}

impl PathPattern {
    /// Parses a pattern; empty segments (`Vehicle..Speed`) and partial wildcards
    /// (`Vehicle.Sp*`) are refused.
    pub fn parse(text: &str) -> Result<PathPattern, PatternError> {
        let error = |reason| PatternError {
            pattern: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(error("the pattern is empty"));
        }
        if text.len() > MAX_PATTERN_BYTES {
            return Err(error("it is longer than 1024 bytes"));
        }
        let mut segments: Vec<Segment> = Vec::new();
        for segment in text.split('.') {
            let segment = match segment {
                "" => return Err(error("it has an empty segment")),
                "*" => Segment::AnyOne,
                // `**.**` means what `**` means.
                "**" if segments.last() == Some(&Segment::AnyMany) => continue,
                "**" => Segment::AnyMany,
                s if s.contains('*') => return Err(error("a wildcard must be a whole segment")),
                s => Segment::Literal(s.to_owned()),
            };
            if segments.len() == MAX_PATTERN_SEGMENTS {
                return Err(error("it has more than 64 segments"));
            }
            segments.push(segment);
        }
        Ok(PathPattern {
            text: text.to_owned(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern contains a wildcard.
    pub fn has_wildcard(&self) -> bool {
        self.segments
            .iter()
            .any(|s| !matches!(s, Segment::Literal(_)))
    }

    /// Whether the pattern selects the leaf at `path` (the whole path, or one of its branches).
    ///
    /// Linear in the path: one pass over its segments, each step costing one
    /// machine word per 128 pattern segments.
    pub fn selects(&self, path: &str) -> bool {
        let mut states = self.start();
        for part in path.split('.') {
            states = self.step(states, part);
            if states & self.accept() != 0 {
                return true;
            }
            if states == 0 {
                return false;
            }
        }
        false
    }

    /// Whether the pattern matches `path` exactly (no implicit subtree).
    pub fn matches_exactly(&self, path: &str) -> bool {
        let mut states = self.start();
        for part in path.split('.') {
            states = self.step(states, part);
            if states == 0 {
                return false;
            }
        }
        states & self.accept() != 0
    }

    // Matching runs the pattern as a nondeterministic automaton whose states are
    // the positions 0..=len in the pattern, kept as bits of a `u128` (hence
    // `MAX_PATTERN_SEGMENTS`): no backtracking, so no input can make it slow.

    fn accept(&self) -> u128 {
        1 << self.segments.len()
    }

    fn start(&self) -> u128 {
        self.close(1)
    }

    /// Adds the positions reachable through `**` matching no segment.
    fn close(&self, mut states: u128) -> u128 {
        for (index, segment) in self.segments.iter().enumerate() {
            if *segment == Segment::AnyMany && states & (1 << index) != 0 {
                states |= 1 << (index + 1);
            }
        }
        states
    }

    /// The positions after consuming one path segment.
    fn step(&self, states: u128, part: &str) -> u128 {
        let mut next = 0;
        for (index, segment) in self.segments.iter().enumerate() {
            if states & (1 << index) == 0 {
                continue;
            }
            match segment {
                Segment::AnyMany => next |= (1 << index) | (1 << (index + 1)),
                Segment::AnyOne => next |= 1 << (index + 1),
                Segment::Literal(literal) if literal == part => next |= 1 << (index + 1),
                Segment::Literal(_) => {}
            }
        }
        self.close(next)
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, path: &str, expected: bool) {
        let parsed = PathPattern::parse(pattern).unwrap();
        assert_eq!(parsed.selects(path), expected, "{pattern} vs {path}");
    }

    #[test]
    fn literal_patterns_select_leaf_and_subtree() {
        check("Vehicle.Speed", "Vehicle.Speed", true);
        check("Vehicle.Speed", "Vehicle.SpeedX", false);
        check("Vehicle.Cabin", "Vehicle.Cabin.Door.Row1.Left.IsOpen", true);
        check("Vehicle.Cabin", "Vehicle.Body.Trunk", false);
    }

    #[test]
    fn single_star_matches_one_segment() {
        check("Vehicle.*.IsOpen", "Vehicle.Trunk.IsOpen", true);
        check("Vehicle.*.IsOpen", "Vehicle.Body.Trunk.IsOpen", false);
        check("Vehicle.*", "Vehicle.Body.Trunk.IsOpen", true);
    }

    #[test]
    fn double_star_matches_any_depth() {
        check(
            "Vehicle.Cabin.**",
            "Vehicle.Cabin.Door.Row1.Left.IsOpen",
            true,
        );
        check(
            "Vehicle.**.IsOpen",
            "Vehicle.Cabin.Door.Row1.Left.IsOpen",
            true,
        );
        check(
            "Vehicle.**.IsOpen",
            "Vehicle.Cabin.Door.Row1.Left.IsLocked",
            false,
        );
        check("**", "Vehicle.Speed", true);
    }

    #[test]
    fn many_double_stars_do_not_backtrack() {
        // 40 `**` segments made the old backtracking matcher run for minutes on a
        // path that does not match; the automaton answers in one pass.
        let pattern = format!("{}Nowhere", "**.*.".repeat(20));
        let parsed = PathPattern::parse(&pattern).unwrap();
        let path = vec!["Segment"; 60].join(".");
        assert!(!parsed.selects(&path));
        assert!(!parsed.matches_exactly(&path));
        let ends = format!("{path}.Nowhere");
        assert!(parsed.selects(&ends));
        check(
            "**.".repeat(40).trim_end_matches('.'),
            "Vehicle.Speed",
            true,
        );
    }

    #[test]
    fn star_combinations_agree_with_the_definition() {
        check("**.Speed", "Speed", true);
        check("Vehicle.**.**.Speed", "Vehicle.Speed", true);
        check("Vehicle.*.**.Speed", "Vehicle.Speed", false);
        check("Vehicle.*.**.Speed", "Vehicle.A.B.Speed", true);
        check("*", "Vehicle", true);
        check("Vehicle.Cabin.*", "Vehicle.Cabin", false);
        let exact = PathPattern::parse("Vehicle.**").unwrap();
        assert!(exact.matches_exactly("Vehicle"));
        assert!(exact.matches_exactly("Vehicle.A.B"));
        assert!(!exact.matches_exactly("Other.A"));
    }

    #[test]
    fn oversized_patterns_are_refused() {
        let long = vec!["A"; 65].join(".");
        let error = PathPattern::parse(&long).unwrap_err().to_string();
        assert!(error.contains("more than 64 segments"), "{error}");
        let wide = "A".repeat(1025);
        let error = PathPattern::parse(&wide).unwrap_err().to_string();
        assert!(error.contains("longer than 1024 bytes"), "{error}");
        // Repeated `**` collapse, so they do not count against the limit.
        assert!(PathPattern::parse(&vec!["**"; 200].join(".")).is_ok());
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert!(PathPattern::parse("").is_err());
        assert!(PathPattern::parse("Vehicle..Speed").is_err());
        let error = PathPattern::parse("Vehicle.Sp*").unwrap_err().to_string();
        assert!(error.contains("whole segment"), "{error}");
    }
}
