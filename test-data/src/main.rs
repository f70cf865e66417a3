//! `filmless-gen`: write a deterministic corpus of Part 10 files.
//!
//! ```text
//! filmless-gen --out DIR --studies 100            # mixed CT/CR/DX/MR/US studies
//! filmless-gen --out DIR --ct-series 500          # one 500-slice 512×512 CT series
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use filmless_test_data::{ct_series, Corpus, Options};

/// Generate realistic, deterministic DICOM studies.
#[derive(Parser)]
#[command(name = "filmless-gen")]
struct Args {
    /// Output directory (created; files go to OUT/STUDY_UID/SERIES_UID/NNNNN.dcm).
    #[arg(long)]
    out: PathBuf,
    /// Seed: the same seed gives the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of mixed studies to write.
    #[arg(long, default_value_t = 0)]
    studies: u64,
    /// Index of the first study (to extend a corpus).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Write one CT series of this many 512×512 slices.
    #[arg(long)]
    ct_series: Option<u32>,
    /// CT slices per study in the mixed corpus.
    #[arg(long, default_value_t = 100)]
    ct_slices: u32,
    /// Small images (CT 64×64, X-ray 128×160) for fast tests.
    #[arg(long)]
    small: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut written = 0u64;
    let mut bytes = 0u64;
    let mut write = |study: &str, series: &str, n: usize, data: &[u8]| -> anyhow::Result<()> {
        let dir = args.out.join(study).join(series);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{:05}.dcm", n + 1));
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
        written += 1;
        bytes += data.len() as u64;
        Ok(())
    };
    if let Some(slices) = args.ct_series {
        let (plan, instances) = ct_series(args.seed, slices);
        for (n, i) in instances.iter().enumerate() {
            write(
                &plan.study_instance_uid,
                &i.series_instance_uid,
                n,
                &i.bytes,
            )?;
        }
    }
    if args.studies > 0 {
        let options = if args.small {
            Options::small(args.ct_slices)
        } else {
            Options {
                ct_slices: args.ct_slices,
                ..Options::default()
            }
        };
        let corpus = Corpus::new(args.seed, options);
        for s in args.first..args.first + args.studies {
            let plan = corpus.study(s);
            for (n, i) in corpus.instances(&plan).enumerate() {
                write(
                    &plan.study_instance_uid,
                    &i.series_instance_uid,
                    n,
                    &i.bytes,
                )?;
            }
        }
    }
    println!(
        "wrote {written} files, {} MB, to {}",
        bytes / 1_000_000,
        args.out.display()
    );
    Ok(())
}
