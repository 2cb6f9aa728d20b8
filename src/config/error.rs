//! Configuration errors: every problem with file and line, and the one-line summary logged.

use super::*;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The file.
    pub path: String,
    /// The line (of a continued line: its first line), when the issue has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path, line, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Every problem found in a file (parsing goes on after the first one), one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// In file order (cross-checks last).
    pub issues: Vec<ConfigIssue>,
}

impl ConfigError {
    pub(super) fn single(path: &str, line: Option<usize>, message: String) -> ConfigError {
        ConfigError {
            issues: vec![ConfigIssue {
                path: path.to_owned(),
                line,
                message,
            }],
        }
    }

    /// All issues on one line, `; `-separated (for daemon logs).
    pub fn one_line(&self) -> String {
        self.issues
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
