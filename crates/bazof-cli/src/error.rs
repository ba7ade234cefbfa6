//! The CLI's error: one line for the user, exit code 1.

use std::fmt;

/// A user-facing error; its message is printed as `error: <message>`.
#[derive(Debug)]
pub struct CliError(pub String);

/// Result type of the CLI.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<bazof::Error> for CliError {
    fn from(e: bazof::Error) -> Self {
        CliError(e.to_string())
    }
}

impl From<arrow::error::ArrowError> for CliError {
    fn from(e: arrow::error::ArrowError) -> Self {
        CliError(format!("arrow: {e}"))
    }
}

impl From<parquet::errors::ParquetError> for CliError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        CliError(format!("parquet: {e}"))
    }
}

/// Builds a [`CliError`] from a format string.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { $crate::error::CliError(format!($($arg)*)) };
}
