//! Type inference: what the sampled values of a column fit, for every input format (CSV
//! fields, NDJSON values, Parquet column types), and the types a new table gets.

use bazof::{ColumnType, KeyType};

use crate::forms::{boolean_form, canonical_int, date_form, datetime_form, exact_float};

/// Rows per file sampled to infer column types.
pub const SAMPLE_ROWS: usize = 10_000;

/// What sampling found about one column: which types every non-empty value fits.
#[derive(Debug, Clone)]
pub struct ColumnStats {
    nonempty: usize,
    int: bool,
    float: bool,
    boolean: bool,
    date: bool,
    datetime: bool,
}

impl Default for ColumnStats {
    fn default() -> Self {
        Self {
            nonempty: 0,
            int: true,
            float: true,
            boolean: true,
            date: true,
            datetime: true,
        }
    }
}

impl ColumnStats {
    /// Takes one field into account; an empty field (null) fits every type.
    pub fn observe(&mut self, raw: &str) {
        if raw.is_empty() {
            return;
        }
        self.nonempty += 1;
        self.int = self.int && canonical_int(raw).is_some();
        self.float = self.float && exact_float(raw).is_some();
        self.boolean = self.boolean && boolean_form(raw).is_some();
        self.date = self.date && date_form(raw).is_some();
        self.datetime = self.datetime && datetime_form(raw).is_some();
    }

    /// Takes one text value that is a string by type (a JSON string): it can be a Date or
    /// a DateTime (JSON has no such types), never an Int, Float or Boolean.
    pub fn observe_string(&mut self, raw: &str) {
        self.nonempty += 1;
        self.int = false;
        self.float = false;
        self.boolean = false;
        self.date = self.date && date_form(raw).is_some();
        self.datetime = self.datetime && datetime_form(raw).is_some();
    }

    /// Takes a column whose type the file declares (Parquet); an Int also fits a Float.
    pub fn observe_type(&mut self, t: ColumnType) {
        self.nonempty += 1;
        self.int &= t == ColumnType::Int;
        self.float &= matches!(t, ColumnType::Int | ColumnType::Float);
        self.boolean &= t == ColumnType::Boolean;
        self.date &= t == ColumnType::Date;
        self.datetime &= t == ColumnType::DateTime;
    }

    /// The inferred value type: the first of Int, Float, Boolean, Date, DateTime whose form
    /// every value has, else String (also when the column holds no value at all).
    pub fn value_type(&self) -> ColumnType {
        if self.nonempty == 0 {
            ColumnType::String
        } else if self.int {
            ColumnType::Int
        } else if self.float {
            ColumnType::Float
        } else if self.boolean {
            ColumnType::Boolean
        } else if self.date {
            ColumnType::Date
        } else if self.datetime {
            ColumnType::DateTime
        } else {
            ColumnType::String
        }
    }

    /// The inferred key type: Int if every sampled key is an Int written canonically
    /// (so `007`, `+7` and ` 7` keep the key a String, distinct from `7`).
    pub fn key_type(&self) -> KeyType {
        if self.nonempty > 0 && self.int {
            KeyType::Int
        } else {
            KeyType::String
        }
    }

    /// Combines the stats of the same column in two files.
    pub fn merge(&mut self, o: &ColumnStats) {
        self.nonempty += o.nonempty;
        self.int &= o.int;
        self.float &= o.float;
        self.boolean &= o.boolean;
        self.date &= o.date;
        self.datetime &= o.datetime;
    }
}
