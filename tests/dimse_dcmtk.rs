//! DIMSE interoperability with DCMTK (Debian's package), the way Orthanc's
//! own integration suite drives it: echoscu, storescu, findscu, movescu into
//! storescp, getscu — against the real server on loopback.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{
    dcmtk, free_port, pixel_data, pydicom_samples, storescp, storescp_with, write_files,
    ServerProcess,
};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

const AE: &str = "FILMLESS";

fn run(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().expect("run DCMTK tool");
    assert!(
        out.status.success(),
        "{:?} failed:\n{}{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// findscu with `keys`; the responses as data sets.
fn findscu(port: u16, model: &str, keys: &[&str]) -> Vec<DefaultDicomObject> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = dcmtk("findscu");
    cmd.args(["-aet", "FINDSCU", "-aec", AE, model, "-X", "-od"])
        .arg(dir.path());
    for k in keys {
        cmd.args(["-k", k]);
    }
    cmd.args(["127.0.0.1", &port.to_string()]);
    run(&mut cmd);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| dicom_object::open_file(f).unwrap())
        .collect()
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
        .unwrap_or_default()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    v.sort();
    v
}

/// SOP Instance UID → file.
fn by_instance(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_in(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            let obj = dicom_object::open_file(&f).unwrap();
            (text(&obj, tags::SOP_INSTANCE_UID), bytes)
        })
        .collect()
}

/// pydicom samples and the storescu option that proposes their syntax.
const SAMPLES: &[(&str, &str)] = &[
    ("CT_small.dcm", "-xe"),
    ("MR_small_implicit.dcm", "-xi"),
    ("MR_small_bigendian.dcm", "-xb"),
    ("JPEG2000.dcm", "-xw"),
    ("MR_small_jp2klossless.dcm", "-xv"),
    ("SC_rgb_rle_2frame.dcm", "-xr"),
    ("JPEG-lossy.dcm", "-xx"),
    ("SC_rgb_jpeg_dcmtk.dcm", "-xy"),
    ("image_dfl.dcm", "-xd"),
];

#[test]
fn store_find_move_get_round_trip_with_dcmtk() {
    let data = tempfile::tempdir().unwrap();
    let dest_port = free_port();
    let storescp_peer = format!("STORESCP@127.0.0.1:{dest_port}");
    let server = ServerProcess::start(
        data.path(),
        &[
            "--peer",
            &storescp_peer,
            "--peer",
            "FINDSCU@127.0.0.1:1",
            "--peer",
            "MOVESCU@127.0.0.1:1",
            "--peer",
            "GETSCU@127.0.0.1:1",
        ],
        &[],
    );
    let port = server.dicom_port.to_string();

    // C-ECHO.
    run(dcmtk("echoscu").args(["-aec", AE, "127.0.0.1", &port]));

    // C-STORE: a 500-slice 512×512 CT series…
    let files = tempfile::tempdir().unwrap();
    let (ct, slices) = filmless_test_data::ct_series(21, 500);
    write_files(files.path(), &slices);
    run(dcmtk("storescu")
        .args(["-aec", AE, "+sd", "+r", "127.0.0.1", &port])
        .arg(files.path()));
    // …and the pydicom samples in many transfer syntaxes, each proposed as stored.
    let samples = pydicom_samples();
    for (file, option) in SAMPLES {
        run(dcmtk("storescu")
            .args(["-aec", AE, "-R", option, "127.0.0.1", &port])
            .arg(samples.join(file)));
    }

    // C-FIND, Study Root, STUDY level: the CT study by wildcard name, any case.
    let family = ct.patient.name.split('^').next().unwrap().to_lowercase();
    let found = findscu(
        server.dicom_port,
        "-S",
        &[
            "QueryRetrieveLevel=STUDY",
            &format!("PatientName={family}*"),
            "StudyInstanceUID",
            "ModalitiesInStudy",
            "NumberOfStudyRelatedInstances",
            "StudyDate",
        ],
    );
    assert_eq!(found.len(), 1, "one CT study for that name");
    assert_eq!(
        text(&found[0], tags::STUDY_INSTANCE_UID),
        ct.study_instance_uid
    );
    assert_eq!(text(&found[0], tags::MODALITIES_IN_STUDY), "CT");
    assert_eq!(
        text(&found[0], tags::NUMBER_OF_STUDY_RELATED_INSTANCES),
        "500"
    );
    assert_eq!(text(&found[0], tags::QUERY_RETRIEVE_LEVEL), "STUDY");
    assert_eq!(text(&found[0], tags::RETRIEVE_AE_TITLE), AE);
    // Exactly the requested keys come back (plus the three always sent).
    assert!(found[0].element(tags::ACCESSION_NUMBER).is_err());

    // Date range matching: the CT's date, closed and open ranges.
    let date = &ct.study_date;
    for range in [
        format!("{date}-{date}"),
        format!("-{date}"),
        format!("{date}-"),
    ] {
        let r = findscu(
            server.dicom_port,
            "-S",
            &[
                "QueryRetrieveLevel=STUDY",
                &format!("StudyDate={range}"),
                "StudyInstanceUID",
            ],
        );
        assert!(
            r.iter()
                .any(|o| text(o, tags::STUDY_INSTANCE_UID) == ct.study_instance_uid),
            "{range}"
        );
    }
    let none = findscu(
        server.dicom_port,
        "-S",
        &["QueryRetrieveLevel=STUDY", "StudyDate=19000101-19000102"],
    );
    assert!(none.is_empty());

    // UID list matching at STUDY level.
    let ct_small_study = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
    let listed = findscu(
        server.dicom_port,
        "-S",
        &[
            "QueryRetrieveLevel=STUDY",
            &format!(
                "StudyInstanceUID={}\\{ct_small_study}",
                ct.study_instance_uid
            ),
        ],
    );
    assert_eq!(listed.len(), 2);

    // Patient Root, PATIENT level, then SERIES and IMAGE levels.
    let patients = findscu(
        server.dicom_port,
        "-P",
        &[
            "QueryRetrieveLevel=PATIENT",
            &format!("PatientID={}", ct.patient.id),
            "PatientName",
        ],
    );
    assert_eq!(patients.len(), 1);
    assert_eq!(text(&patients[0], tags::PATIENT_NAME), ct.patient.name);
    let series = findscu(
        server.dicom_port,
        "-S",
        &[
            "QueryRetrieveLevel=SERIES",
            &format!("StudyInstanceUID={}", ct.study_instance_uid),
            "SeriesInstanceUID",
            "Modality",
            "NumberOfSeriesRelatedInstances",
        ],
    );
    assert_eq!(series.len(), 1);
    assert_eq!(
        text(&series[0], tags::NUMBER_OF_SERIES_RELATED_INSTANCES),
        "500"
    );
    let images = findscu(
        server.dicom_port,
        "-P",
        &[
            "QueryRetrieveLevel=IMAGE",
            &format!("PatientID={}", ct.patient.id),
            &format!("StudyInstanceUID={}", ct.study_instance_uid),
            &format!("SeriesInstanceUID={}", ct.series[0].0),
            "InstanceNumber=7",
            "SOPInstanceUID",
        ],
    );
    assert_eq!(images.len(), 1);
    assert_eq!(
        text(&images[0], tags::SOP_INSTANCE_UID),
        slices[6].sop_instance_uid
    );

    // C-MOVE the CT series into storescp: every instance, identical pixel data.
    let moved = tempfile::tempdir().unwrap();
    {
        let _peer = storescp("STORESCP", dest_port, moved.path());
        run(dcmtk("movescu").args([
            "-aet",
            "MOVESCU",
            "-aec",
            AE,
            "-aem",
            "STORESCP",
            "-S",
            "-k",
            "QueryRetrieveLevel=SERIES",
            "-k",
            &format!("StudyInstanceUID={}", ct.study_instance_uid),
            "-k",
            &format!("SeriesInstanceUID={}", ct.series[0].0),
            "127.0.0.1",
            &port,
        ]));
        // A second study on a second association to the same destination.
        run(dcmtk("movescu").args([
            "-aet",
            "MOVESCU",
            "-aec",
            AE,
            "-aem",
            "STORESCP",
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            &format!("StudyInstanceUID={ct_small_study}"),
            "127.0.0.1",
            &port,
        ]));
    }
    let received = by_instance(moved.path());
    assert_eq!(received.len(), 501);
    for s in &slices {
        let got = received
            .get(&s.sop_instance_uid)
            .unwrap_or_else(|| panic!("{} not moved", s.sop_instance_uid));
        assert!(
            pixel_data(got) == pixel_data(&s.bytes),
            "{} pixel data differs",
            s.sop_instance_uid
        );
    }

    // C-GET the CT series back on the same association.
    let got_dir = tempfile::tempdir().unwrap();
    run(dcmtk("getscu")
        .args([
            "-aet",
            "GETSCU",
            "-aec",
            AE,
            "-S",
            "-k",
            "QueryRetrieveLevel=SERIES",
            "-k",
            &format!("StudyInstanceUID={}", ct.study_instance_uid),
            "-k",
            &format!("SeriesInstanceUID={}", ct.series[0].0),
            "-od",
        ])
        .arg(got_dir.path())
        .args(["127.0.0.1", &port]));
    let got = by_instance(got_dir.path());
    assert_eq!(got.len(), 500);
    for s in slices.iter().step_by(50) {
        assert!(pixel_data(&got[&s.sop_instance_uid]) == pixel_data(&s.bytes));
    }

    // Every pydicom sample moved out with its pixel data intact.
    let all_samples = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    {
        let _peer = storescp("STORESCP", dest_port, all_samples.path());
        for (file, _) in SAMPLES {
            let original = std::fs::read(samples.join(file)).unwrap();
            let obj = dicom_object::open_file(samples.join(file)).unwrap();
            let sop = text(&obj, tags::SOP_INSTANCE_UID);
            // pydicom ships MR_small in several syntaxes under one SOP
            // Instance UID: the first stored is kept (keep-first policy).
            if !seen.insert(sop.clone()) {
                continue;
            }
            run(dcmtk("movescu").args([
                "-aet",
                "MOVESCU",
                "-aec",
                AE,
                "-aem",
                "STORESCP",
                "-P",
                "-k",
                "QueryRetrieveLevel=IMAGE",
                "-k",
                &format!("PatientID={}", text(&obj, tags::PATIENT_ID)),
                "-k",
                &format!("StudyInstanceUID={}", text(&obj, tags::STUDY_INSTANCE_UID)),
                "-k",
                &format!(
                    "SeriesInstanceUID={}",
                    text(&obj, tags::SERIES_INSTANCE_UID)
                ),
                "-k",
                &format!("SOPInstanceUID={sop}"),
                "127.0.0.1",
                &port,
            ]));
            let arrived = by_instance(all_samples.path());
            let Some(bytes) = arrived.get(&sop) else {
                panic!("{file} not moved");
            };
            if file != &"image_dfl.dcm" {
                assert!(
                    pixel_data(bytes) == pixel_data(&original),
                    "{file}: pixel data differs"
                );
            }
        }
    }
    assert!(server.logged("retrieve done"));
}

#[test]
fn unknown_move_destination_and_unknown_callers_are_refused_plainly() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &["--peer", "MOVESCU@127.0.0.1:1"], &[]);
    let port = server.dicom_port.to_string();
    let out = dcmtk("movescu")
        .args([
            "-aet",
            "MOVESCU",
            "-aec",
            AE,
            "-aem",
            "NOWHERE",
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "StudyInstanceUID=1.2.3",
            "127.0.0.1",
            &port,
        ])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("MoveDestinationUnknown") || all.contains("a801"),
        "{all}"
    );
    assert!(server.logged("C-MOVE to an unknown AE title"));

    // An unknown caller may store and echo, but not query.
    let out = dcmtk("findscu")
        .args([
            "-v",
            "-aet",
            "STRANGER",
            "-aec",
            AE,
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "127.0.0.1",
            &port,
        ])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("0x124"), "{all}");
    assert!(server.logged("may not do this"));

    // Calling another AE title than ours is rejected at association.
    let out = dcmtk("echoscu")
        .args(["-aec", "SOMEONEELSE", "127.0.0.1", &port])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(server.logged("but ours is"));
    run(dcmtk("echoscu").args(["-aec", AE, "127.0.0.1", &port]));
}

#[test]
fn move_decompresses_for_a_destination_that_takes_only_uncompressed() {
    let samples = pydicom_samples();
    let files = tempfile::tempdir().unwrap();
    let decodable = [
        "SC_rgb_jpeg_dcmtk.dcm",
        "SC_rgb_rle_2frame.dcm",
        "JPEG2000.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ];
    for f in decodable {
        std::fs::copy(samples.join(f), files.path().join(f)).unwrap();
    }
    // No decoder exists for video (here a JPEG image declared as MPEG-2).
    let no_decoder = "video.dcm";
    let mut video = dicom_object::open_file(samples.join("SC_rgb_jpeg_dcmtk.dcm")).unwrap();
    video.meta_mut().transfer_syntax = "1.2.840.10008.1.2.4.100".to_owned();
    let video_sop = "1.2.826.0.1.3680043.10.543.1100";
    video.put(dicom_core::DataElement::new(
        tags::SOP_INSTANCE_UID,
        dicom_core::VR::UI,
        dicom_core::PrimitiveValue::from(video_sop),
    ));
    video.meta_mut().media_storage_sop_instance_uid = video_sop.to_owned();
    video.write_to_file(files.path().join(no_decoder)).unwrap();
    let data = tempfile::tempdir().unwrap();
    assert!(common::import(data.path(), &[files.path()])
        .status
        .success());
    let dest_port = free_port();
    let server = ServerProcess::start(
        data.path(),
        &[
            "--peer",
            &format!("STORESCP@127.0.0.1:{dest_port}"),
            "--peer",
            "MOVESCU@127.0.0.1:1",
        ],
        &[],
    );
    let port = server.dicom_port.to_string();
    let received = tempfile::tempdir().unwrap();
    let _peer = storescp_with("STORESCP", dest_port, received.path(), "+x=");
    let move_one = |file: &str| {
        let obj = dicom_object::open_file(files.path().join(file)).unwrap();
        let out = dcmtk("movescu")
            .args([
                "-v",
                "-aet",
                "MOVESCU",
                "-aec",
                AE,
                "-aem",
                "STORESCP",
                "-S",
                "-k",
                "QueryRetrieveLevel=IMAGE",
                "-k",
            ])
            .arg(format!(
                "StudyInstanceUID={}",
                text(&obj, tags::STUDY_INSTANCE_UID)
            ))
            .arg("-k")
            .arg(format!(
                "SeriesInstanceUID={}",
                text(&obj, tags::SERIES_INSTANCE_UID)
            ))
            .arg("-k")
            .arg(format!(
                "SOPInstanceUID={}",
                text(&obj, tags::SOP_INSTANCE_UID)
            ))
            .args(["127.0.0.1", &port])
            .output()
            .unwrap();
        (
            obj,
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    for file in decodable {
        let (original, log) = move_one(file);
        let sop = text(&original, tags::SOP_INSTANCE_UID);
        let arrived = by_instance(received.path());
        let bytes = arrived
            .get(&sop)
            .unwrap_or_else(|| panic!("{file} did not arrive:\n{log}"));
        let obj = dicom_object::from_reader(&bytes[128..]).unwrap();
        assert_eq!(
            obj.meta().transfer_syntax(),
            "1.2.840.10008.1.2.1",
            "{file} arrives uncompressed"
        );
        let rows: usize = text(&original, tags::ROWS).parse().unwrap();
        let cols: usize = text(&original, tags::COLUMNS).parse().unwrap();
        let spp: usize = text(&original, tags::SAMPLES_PER_PIXEL).parse().unwrap();
        let bits: usize = text(&original, tags::BITS_ALLOCATED).parse().unwrap();
        let frames: usize = text(&original, tags::NUMBER_OF_FRAMES).parse().unwrap_or(1);
        let pixels = &pixel_data(bytes)[0];
        assert!(
            pixels.len() >= rows * cols * spp * bits / 8 * frames,
            "{file}: {} bytes",
            pixels.len()
        );
        assert!(pixels.iter().any(|b| *b != 0), "{file}: decoded to nothing");
    }
    let (original, log) = move_one(no_decoder);
    assert!(!by_instance(received.path()).contains_key(&text(&original, tags::SOP_INSTANCE_UID)));
    assert!(
        log.contains("OutOfResourcesSubOperations"),
        "A702: no sub-operation succeeded: {log}"
    );
    assert!(server.logged("no decoder"), "the reason is logged");
}

#[test]
fn echo_and_send_commands_talk_to_dcmtk() {
    let dest_port = free_port();
    let received = tempfile::tempdir().unwrap();
    let _peer = storescp("STORESCP", dest_port, received.path());
    let target = format!("STORESCP@127.0.0.1:{dest_port}");

    let out = common::filmless().args(["echo", &target]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("success"));

    // Files and folders.
    let files = tempfile::tempdir().unwrap();
    let corpus = filmless_test_data::Corpus::new(51, filmless_test_data::Options::small(4));
    let plan = corpus.study(0);
    let instances: Vec<_> = corpus.instances(&plan).collect();
    write_files(files.path(), &instances);
    let samples = pydicom_samples();
    let out = common::filmless()
        .args(["send", &target])
        .arg(files.path())
        .arg(samples.join("JPEG2000.dcm"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("sent 5, failed 0"), "{stdout}");
    let arrived = by_instance(received.path());
    for i in &instances {
        assert!(pixel_data(&arrived[&i.sop_instance_uid]) == pixel_data(&i.bytes));
    }

    // A stored study, from the archive.
    let data = tempfile::tempdir().unwrap();
    let other = corpus.study(1);
    let other_files = tempfile::tempdir().unwrap();
    write_files(
        other_files.path(),
        &corpus.instances(&other).collect::<Vec<_>>(),
    );
    assert!(common::import(data.path(), &[other_files.path()])
        .status
        .success());
    let out = common::filmless()
        .args([
            "send",
            &target,
            "--study",
            &other.study_instance_uid,
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arrived = by_instance(received.path());
    for i in corpus.instances(&other) {
        assert!(arrived.contains_key(&i.sop_instance_uid));
    }

    // Nobody listening: a clear error, non-zero exit.
    let out = common::filmless()
        .args(["echo", &format!("NOBODY@127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("C-ECHO to NOBODY"));
}
