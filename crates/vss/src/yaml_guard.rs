//! Guards before a parser sees a data file: a cheap, linear check of YAML nesting,
//! and reading only regular files of bounded size.
//!
//! YAML: deeply nested
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

/// How large a data file (catalog, overlay, mapping, profile, defaults) may be.
pub const MAX_DATA_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads the data file `path` as UTF-8 text: only a regular file (a device such as
/// `/dev/urandom`, a FIFO or a directory is refused at once) of at most
/// [`MAX_DATA_FILE_BYTES`]. The error says why, for the caller to put after the
/// file's name.
pub fn read_data_file(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if !metadata.is_file() {
        return Err("cannot read the file: it is not a regular file".into());
    }
    if metadata.len() > MAX_DATA_FILE_BYTES {
        return Err(format!(
            "the file is {} bytes, more than the {MAX_DATA_FILE_BYTES} a data file may have",
            metadata.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_DATA_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read the file: {e}"))?;
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let column = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        format!("line {line} column {column}: not valid UTF-8")
    })
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

    #[test]
    fn a_device_is_not_read_as_a_data_file() {
        // A profile whose `defaults` named /dev/urandom never finished loading.
        let error = read_data_file(std::path::Path::new("/dev/urandom")).unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let error = read_data_file(dir.path()).unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
        // Invalid UTF-8 is reported where it is, not as "stream did not contain
        // valid UTF-8".
        let file = dir.path().join("bad.vspec");
        std::fs::write(&file, b"a: 1\nb: \xff\n").unwrap();
        assert_eq!(
            read_data_file(&file).unwrap_err(),
            "line 2 column 4: not valid UTF-8"
        );
    }
}
