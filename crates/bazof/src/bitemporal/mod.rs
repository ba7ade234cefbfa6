//! SPEC §10: the two bitemporal reads built on scans. [`history`] gives every key's
//! versions with their valid-time intervals (for point-in-time joins); [`diff`] gives
//! the keys whose resolved row differs between two (as_of, snapshot) points.
//!
//! Both are streaming merges over key-ordered inputs: memory is a few batches, as in
//! a scan, and key predicates prune files, row groups and pages as in a scan.

pub mod diff;
pub mod history;
mod rows;
