//! Every committed input of every fuzz target, replayed: the seeds and the
//! inputs that once crashed a target (turned into regression cases by
//! adding them to `fuzz/corpus/TARGET/`). A panic fails the target's test;
//! an allocation over the cap aborts the test binary, as it does the fuzzer.
//! Coverage-guided fuzzing itself is `scripts/fuzz`.

use std::path::Path;

use fuzz_harness::{Capped, TARGETS};

#[global_allocator]
static ALLOC: Capped = Capped;

/// Run one target over its corpus; returns how many inputs ran.
fn replay(name: &str) -> usize {
    let body = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no fuzz target {name}"));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(name);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    inputs.sort();
    for input in &inputs {
        let data = std::fs::read(input).expect("read a corpus input");
        let run = std::panic::catch_unwind(|| body(&data));
        assert!(run.is_ok(), "{name}: {} panicked", input.display());
    }
    inputs.len()
}

macro_rules! corpus_tests {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                let n = replay(stringify!($target));
                assert!(n > 0, "the corpus of {} is empty", stringify!($target));
            }
        )*

        #[test]
        fn every_target_has_its_corpus_test() {
            let tested = [$(stringify!($target)),*];
            for (name, _) in TARGETS {
                assert!(tested.contains(name), "{name} has no corpus test");
            }
            let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz_targets");
            let mut bins: Vec<String> = std::fs::read_dir(fuzz_dir)
                .expect("fuzz/fuzz_targets")
                .map(|e| e.expect("entry").path().file_stem().unwrap().to_string_lossy().into_owned())
                .collect();
            bins.sort();
            let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
            names.sort();
            assert_eq!(bins, names, "fuzz/fuzz_targets and TARGETS list the same targets");
        }
    };
}

corpus_tests!(
    pdu,
    dimse_command,
    ingest,
    identifier,
    stow_multipart,
    qido_query,
    accept_header
);
