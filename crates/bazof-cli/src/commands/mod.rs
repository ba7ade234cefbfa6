//! One module per command.

pub mod bitemporal;
pub mod check;
pub mod gen;
pub mod import;
pub mod info;
pub mod maintain;
pub mod scan;
