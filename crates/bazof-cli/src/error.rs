//! The CLI's error: one line for the user and the exit code that goes with it.

use std::fmt;

/// Why a command stopped; `main` turns it into one line on stderr and an exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad input, a refused operation or a failed read or write: `error: <message>`, exit 1.
    Failed(String),
    /// Arguments that clap accepted but that do not fit together: `error: <message>`, exit 2.
    Usage(String),
    /// The reader of stdout went away (`bazof info t | head -1`): stop quietly, exit 0.
    BrokenPipe,
}

/// Result type of the CLI.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::BrokenPipe => 0,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Failed(m) | CliError::Usage(m) => f.write_str(m),
            CliError::BrokenPipe => f.write_str("the output pipe was closed"),
        }
    }
}

impl From<bazof::Error> for CliError {
    fn from(e: bazof::Error) -> Self {
        CliError::Failed(e.to_string())
    }
}

impl From<arrow::error::ArrowError> for CliError {
    fn from(e: arrow::error::ArrowError) -> Self {
        CliError::Failed(format!("arrow: {e}"))
    }
}

impl From<parquet::errors::ParquetError> for CliError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        CliError::Failed(format!("parquet: {e}"))
    }
}

/// Writing to stdout or an output file: a closed pipe ends the command quietly.
impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Failed(format!("cannot write output: {e}"))
        }
    }
}

/// Builds a [`CliError::Failed`] from a format string.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { $crate::error::CliError::Failed(format!($($arg)*)) };
}

/// Builds a [`CliError::Usage`] from a format string.
#[macro_export]
macro_rules! usage {
    ($($arg:tt)*) => { $crate::error::CliError::Usage(format!($($arg)*)) };
}
