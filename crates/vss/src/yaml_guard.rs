//! A cheap, linear check of YAML text before a YAML parser sees it: deeply nested
//! documents make parsers slow (quadratic) or exhaust their stack, so text nested
//! deeper than a limit is refused with the line and column where the limit was
//! passed.

/// How deeply a YAML document may nest flow collections (`[`, `{`).
pub const MAX_YAML_FLOW_DEPTH: usize = 32;
/// How far a YAML line may be indented, in columns (block nesting).
pub const MAX_YAML_INDENT: usize = 128;

/// Why YAML text was refused before parsing: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlTooDeep {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What limit was passed.
    pub reason: String,
}

impl std::fmt::Display for YamlTooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {} column {}: {}",
            self.line, self.column, self.reason
        )
    }
}

/// Checks that `text` nests flow collections at most [`MAX_YAML_FLOW_DEPTH`] deep
/// and indents lines at most [`MAX_YAML_INDENT`] columns. Quoted strings and
/// comments are skipped; one pass over the text.
pub fn check_yaml_nesting(text: &str) -> Result<(), YamlTooDeep> {
    let mut depth = 0usize;
    for (index, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > MAX_YAML_INDENT {
            return Err(YamlTooDeep {
                line: index + 1,
                column: indent + 1,
                reason: format!(
                    "indented deeper than the {MAX_YAML_INDENT} columns YAML may use here"
                ),
            });
        }
        let mut quote: Option<char> = None;
        for (column, c) in line.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if column == 0 || line[..column].ends_with(' ') => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_YAML_FLOW_DEPTH {
                        return Err(YamlTooDeep {
                            line: index + 1,
                            column: column + 1,
                            reason: format!(
                                "nested deeper than the {MAX_YAML_FLOW_DEPTH} levels YAML may use here"
                            ),
                        });
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                (None, _) => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_and_block_nesting_are_refused_with_a_position() {
        assert_eq!(
            check_yaml_nesting("a: [1, {b: [2]}]\n# [[[[\nc: '[[[['\n"),
            Ok(())
        );
        let deep = format!("env: {}{}\n", "[".repeat(50_000), "]".repeat(50_000));
        let error = check_yaml_nesting(&deep).unwrap_err();
        assert_eq!((error.line, error.column), (1, 6 + MAX_YAML_FLOW_DEPTH));
        let indented = format!("a:\n{}b: 1\n", " ".repeat(500));
        let error = check_yaml_nesting(&indented).unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.to_string().contains("indented deeper"), "{error}");
    }
}
