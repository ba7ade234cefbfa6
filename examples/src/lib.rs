//! Shared data of the runnable examples (the programs are the `[[example]]` targets).

pub mod pit_data;
