//! SPEC §6.3: pruning by the key predicate: row groups by their statistics, pages by
//! the column index.

use parquet::arrow::arrow_reader::{ArrowReaderMetadata, RowSelection, RowSelector};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;

use crate::predicate::KeyPredicate;
use crate::snapshot::KeyValue;

/// Whether row group `rg` may hold keys matching `p`, from its Parquet statistics.
pub(crate) fn row_group_may_match(
    meta: &ArrowReaderMetadata,
    rg: usize,
    key_col: usize,
    p: &KeyPredicate,
) -> bool {
    let rg_meta = meta.metadata().row_group(rg);
    if rg_meta.num_columns() <= key_col {
        return true;
    }
    let range = match rg_meta.column(key_col).statistics() {
        Some(Statistics::ByteArray(s)) => match (s.min_opt(), s.max_opt()) {
            (Some(lo), Some(hi)) => match (lo.as_utf8(), hi.as_utf8()) {
                (Ok(lo), Ok(hi)) => {
                    Some((KeyValue::String(lo.into()), KeyValue::String(hi.into())))
                }
                _ => None,
            },
            _ => None,
        },
        Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
            (Some(lo), Some(hi)) => Some((KeyValue::Int(*lo), KeyValue::Int(*hi))),
            _ => None,
        },
        _ => None,
    };
    match range {
        Some((lo, hi)) => p.may_match_range(&lo, &hi),
        None => true,
    }
}

/// The key range of page `page` of a column index (None: unknown, the page may match).
pub(crate) fn page_key_range(
    index: &ColumnIndexMetaData,
    page: usize,
) -> Option<(KeyValue, KeyValue)> {
    match index {
        ColumnIndexMetaData::BYTE_ARRAY(ix) => {
            let lo = std::str::from_utf8(ix.min_value(page)?).ok()?;
            let hi = std::str::from_utf8(ix.max_value(page)?).ok()?;
            Some((KeyValue::String(lo.into()), KeyValue::String(hi.into())))
        }
        ColumnIndexMetaData::INT64(ix) => Some((
            KeyValue::Int(*ix.min_value(page)?),
            KeyValue::Int(*ix.max_value(page)?),
        )),
        _ => None,
    }
}

/// SPEC §6.3, pages: the rows of the chosen row groups whose key-column pages may hold
/// keys matching `p`, from the page index. `None` when the file has no page index or
/// nothing would be skipped.
pub(crate) fn page_selection(
    meta: &ArrowReaderMetadata,
    row_groups: &[usize],
    key_col: usize,
    p: &KeyPredicate,
) -> Option<RowSelection> {
    let md = meta.metadata();
    md.page_index()?;
    let mut selectors: Vec<RowSelector> = Vec::new();
    let mut skipped_any = false;
    for &rg in row_groups {
        let rows = usize::try_from(md.row_group(rg).num_rows()).ok()?;
        let pages = md.page_index_for_row_group(rg);
        let (Some(index), Some(offsets)) =
            (pages.column_index(key_col), pages.offset_index(key_col))
        else {
            selectors.push(RowSelector::select(rows));
            continue;
        };
        let locations = offsets.page_locations();
        let mut covered = 0;
        for (page, loc) in locations.iter().enumerate() {
            let first = usize::try_from(loc.first_row_index).ok()?;
            if first != covered {
                return None; // pages must tile the row group; do not guess otherwise
            }
            let end = match locations.get(page + 1) {
                Some(next) => usize::try_from(next.first_row_index).ok()?,
                None => rows,
            };
            let keep = match page_key_range(index, page) {
                Some((lo, hi)) => p.may_match_range(&lo, &hi),
                None => true,
            };
            skipped_any |= !keep;
            let n = end.checked_sub(first)?;
            covered = end;
            selectors.push(if keep {
                RowSelector::select(n)
            } else {
                RowSelector::skip(n)
            });
        }
        if covered != rows {
            return None;
        }
    }
    skipped_any.then(|| RowSelection::from(selectors))
}
