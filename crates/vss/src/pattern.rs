//! Path patterns: `Vehicle.Speed`, `Vehicle.Cabin`, `Vehicle.*.IsOpen`, `Vehicle.Cabin.**`.

use std::fmt;

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
        let segments = text
            .split('.')
            .map(|segment| match segment {
                "" => Err(error("it has an empty segment")),
                "*" => Ok(Segment::AnyOne),
                "**" => Ok(Segment::AnyMany),
                s if s.contains('*') => Err(error("a wildcard must be a whole segment")),
                s => Ok(Segment::Literal(s.to_owned())),
            })
            .collect::<Result<Vec<_>, _>>()?;
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
    pub fn selects(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('.').collect();
        (1..=parts.len()).any(|n| Self::matches_segments(&self.segments, &parts[..n]))
    }

    /// Whether the pattern matches `path` exactly (no implicit subtree).
    pub fn matches_exactly(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('.').collect();
        Self::matches_segments(&self.segments, &parts)
    }

    fn matches_segments(pattern: &[Segment], parts: &[&str]) -> bool {
        match pattern.split_first() {
            None => parts.is_empty(),
            Some((Segment::AnyMany, rest)) => {
                (0..=parts.len()).any(|skip| Self::matches_segments(rest, &parts[skip..]))
            }
            Some((segment, rest)) => match parts.split_first() {
                None => false,
                Some((part, remaining)) => {
                    let head_matches = match segment {
                        Segment::Literal(literal) => literal == part,
                        _ => true,
                    };
                    head_matches && Self::matches_segments(rest, remaining)
                }
            },
        }
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
    fn malformed_patterns_are_refused() {
        assert!(PathPattern::parse("").is_err());
        assert!(PathPattern::parse("Vehicle..Speed").is_err());
        let error = PathPattern::parse("Vehicle.Sp*").unwrap_err().to_string();
        assert!(error.contains("whole segment"), "{error}");
    }
}
