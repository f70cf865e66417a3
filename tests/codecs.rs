//! Frames of every compressed transfer syntax the archive keeps, decoded
//! by the server (WADO-RS frames asked uncompressed, and rendered), against
//! a reference decode: DCMTK's `dcmdjpls` for JPEG-LS (lossless,
//! near-lossless, colour), `dcmdjpeg` for JPEG, `dcmdrle` for RLE,
//! Pillow's OpenJPEG for JPEG 2000, and OpenJPH (Debian's openjph-tools)
//! for HTJ2K, whose samples it makes from uncompressed pydicom samples
//! (pydicom ships none). On SQLite and PostgreSQL.

mod common;

use common::{dcmtk, filmless, http, pixel_data, pydicom_samples, ScratchPg, ServerProcess};
use dicom_dictionary_std::tags;

/// (sample, reference decoder, largest difference allowed per sample
/// value).
const SAMPLES: &[(&str, &str, u16)] = &[
    ("MR_small_jp2klossless.dcm", "pillow", 0),
    ("JPEG2000.dcm", "pillow", 1),
    ("MR_small_jpeg_ls_lossless.dcm", "dcmdjpls", 0),
    ("JPEGLSNearLossless_16.dcm", "dcmdjpls", 0),
    ("JPEGLSNearLossless_08.dcm", "dcmdjpls", 0),
    ("SC_rgb_jls_lossy_line.dcm", "dcmdjpls", 0),
    ("SC_rgb_jpeg_dcmtk.dcm", "dcmdjpeg", 2),
    ("SC_rgb_rle_2frame.dcm", "dcmdrle", 0),
];

/// HTJ2K samples made by OpenJPH from uncompressed pydicom samples:
/// (source, lossy, largest difference allowed from OpenJPH's own decode).
/// Lossless is High-Throughput JPEG 2000 Lossless Only (…4.201) of a
/// signed 16-bit CT; lossy is High-Throughput JPEG 2000 (…4.203) of an
/// RGB image (9/7 wavelet, irreversible colour transform).
const HTJ2K: &[(&str, bool, u16)] = &[
    ("CT_small.dcm", false, 0),
    ("examples_rgb_color.dcm", true, 1),
];

fn text(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
        .unwrap_or_default()
}

fn decodes_as_the_reference(database_url: Option<&str>) {
    let samples = pydicom_samples();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("in");
    std::fs::create_dir_all(&files).unwrap();
    // Some samples carry no study or series: they get UIDs of their own.
    for (n, (f, _, _)) in SAMPLES.iter().enumerate() {
        let mut obj = dicom_object::open_file(samples.join(f)).unwrap();
        for (tag, level) in [
            (tags::STUDY_INSTANCE_UID, 1),
            (tags::SERIES_INSTANCE_UID, 2),
        ] {
            if text(&obj, tag).is_empty() {
                obj.put(dicom_core::DataElement::new(
                    tag,
                    dicom_core::VR::UI,
                    dicom_core::PrimitiveValue::from(format!(
                        "1.2.826.0.1.3680043.10.543.77.{n}.{level}"
                    )),
                ));
            }
        }
        obj.write_to_file(files.join(f)).unwrap();
    }
    // The HTJ2K samples and their reference decodes.
    let mut cases: Vec<(String, &str, u16)> = SAMPLES
        .iter()
        .map(|(f, d, t)| ((*f).to_owned(), *d, *t))
        .collect();
    for (source, lossy, tolerance) in HTJ2K {
        let file = format!("htj2k_{source}");
        let mut c = common::python();
        c.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/htj2k_sample.py"))
            .arg(samples.join(source))
            .arg(files.join(&file))
            .arg(dir.path().join(format!("{file}.ref")));
        if *lossy {
            c.arg("--lossy");
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "htj2k_sample.py {source}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cases.push((file, "openjph", *tolerance));
    }
    let mut args: Vec<String> = Vec::new();
    if let Some(u) = database_url {
        args.extend(["--database-url".to_owned(), u.to_owned()]);
    }
    let out = filmless()
        .args(["import", "--data-dir"])
        .arg(dir.path())
        .args(&args)
        .arg(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = ServerProcess::start(dir.path(), &arg_refs, &[]);
    let accept =
        "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1";
    for (file, decoder, tolerance) in &cases {
        let file = file.as_str();
        let reference = dir.path().join(format!("{file}.ref"));
        let want = if *decoder == "openjph" {
            std::fs::read(&reference).unwrap()
        } else if *decoder == "pillow" {
            let out = common::python()
                .arg(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/peers/j2k_reference.py"),
                )
                .arg(samples.join(file))
                .arg(&reference)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{file}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::read(&reference).unwrap()
        } else {
            let out = dcmtk(decoder)
                .arg(samples.join(file))
                .arg(&reference)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{decoder} {file}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            pixel_data(&std::fs::read(&reference).unwrap()).concat()
        };
        let obj = dicom_object::open_file(files.join(file)).unwrap();
        let frames: usize = text(&obj, tags::NUMBER_OF_FRAMES).parse().unwrap_or(1);
        let inst = format!(
            "/dicom-web/studies/{}/series/{}/instances/{}",
            text(&obj, tags::STUDY_INSTANCE_UID),
            text(&obj, tags::SERIES_INSTANCE_UID),
            text(&obj, tags::SOP_INSTANCE_UID)
        );
        let mut got: Vec<u8> = Vec::new();
        for n in 1..=frames {
            let (status, _, body) = http(
                &server.http,
                "GET",
                &format!("{inst}/frames/{n}"),
                &[("Accept", accept)],
                b"",
            );
            assert_eq!(status, 200, "{file}: {}", String::from_utf8_lossy(&body));
            let frame = common::multipart_parts(&body);
            assert_eq!(frame.len(), 1, "{file} frame {n}");
            got.extend_from_slice(&frame[0]);
        }
        let frame_len = want.len() / frames;
        assert!(
            got.len() >= frame_len * frames,
            "{file}: {} bytes of {}",
            got.len(),
            want.len()
        );
        let got = &got[..want.len()];
        let bits: usize = text(&obj, tags::BITS_ALLOCATED).parse().unwrap_or(8);
        let worst = if bits == 16 {
            got.chunks_exact(2)
                .zip(want.chunks_exact(2))
                .map(|(a, b)| {
                    u16::from_le_bytes([a[0], a[1]]).abs_diff(u16::from_le_bytes([b[0], b[1]]))
                })
                .max()
                .unwrap_or(0)
        } else {
            got.iter()
                .zip(&want)
                .map(|(a, b)| u16::from(a.abs_diff(*b)))
                .max()
                .unwrap_or(0)
        };
        assert!(
            worst <= *tolerance,
            "{file}: decoded differs from {decoder} by {worst}"
        );
        let (status, headers, jpeg) =
            http(&server.http, "GET", &format!("{inst}/rendered"), &[], b"");
        assert_eq!(status, 200, "{file} renders");
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == "image/jpeg")
                && jpeg.starts_with(&[0xFF, 0xD8]),
            "{file}: {headers:?}"
        );
    }
}

#[test]
fn frames_decode_as_the_reference_sqlite() {
    decodes_as_the_reference(None);
}

#[test]
fn frames_decode_as_the_reference_postgres() {
    let db = ScratchPg::new();
    decodes_as_the_reference(Some(&db.url));
}
