//! Compaction and vacuum never change a scan: random logs with random
//! compactions (segment closes, base rebuilds after late events, delta merges)
//! and vacuums between commits, compared with DESIGN §1's oracle for every
//! snapshot that is still retained.

use std::sync::atomic::{AtomicUsize, Ordering};

use bazof_testkit::history::{arb_maintenance, check_history};
use bazof_testkit::{arb_evolving_log, arb_log, TIME_UNIT};
use proptest::prelude::*;

static TABLES: AtomicUsize = AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn compaction_and_vacuum_keep_every_answer(
        log in arb_log(7, 10),
        maintenance in proptest::collection::vec(arb_maintenance(), 1..8),
        queries in proptest::collection::vec((proptest::option::of((-1i64..14).prop_map(|t| t * TIME_UNIT)), 0usize..100), 1..6),
    ) {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
            .block_on(check_history(
                &format!("memory://compaction/t{}", TABLES.fetch_add(1, Ordering::Relaxed)),
                &log,
                &maintenance,
                &queries,
            ));
    }

    /// SPEC §2.1 and §8: columns added mid-history and an Int widened to Float stay
    /// exact through compaction, vacuum and time travel to every retained snapshot.
    #[test]
    fn compaction_keeps_evolved_schemas_exact(
        log in arb_evolving_log(7, 10),
        maintenance in proptest::collection::vec(arb_maintenance(), 1..8),
        queries in proptest::collection::vec((proptest::option::of((-1i64..14).prop_map(|t| t * TIME_UNIT)), 0usize..100), 1..6),
    ) {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
            .block_on(check_history(
                &format!("memory://compaction-evolved/t{}", TABLES.fetch_add(1, Ordering::Relaxed)),
                &log,
                &maintenance,
                &queries,
            ));
    }
}
