//! Bad input on the DICOM port: each gets an A-ABORT, an A-ASSOCIATE-RJ or a
//! failure status, and the listener keeps serving everyone else.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::ServerProcess;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_net::scu::{ScuAssociation, ScuOptions};
use dicom_net::Status;
use dicom_object::InMemDicomObject;
use dicom_ul::pdu::{PDataValue, PDataValueType};
use dicom_ul::{ClientAssociationOptions, Pdu};

fn options(port: u16) -> ScuOptions {
    ScuOptions {
        calling_ae: "BADPEER".into(),
        called_ae: "FILMLESS".into(),
        addr: ([127, 0, 0, 1], port).into(),
        max_pdu_length: 16_384,
        timeout: Duration::from_secs(20),
    }
}

async fn still_serving(port: u16) {
    let r = dicom_net::scu::echo(&options(port))
        .await
        .expect("the listener still answers C-ECHO");
    assert_eq!(r.status, Status::SUCCESS);
}

/// Send raw bytes; what comes back before the server closes (or 10 s).
fn raw(port: u16, bytes: &[u8], close_write: bool) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    if close_write {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// An A-ASSOCIATE-RQ for Verification, built by the upper layer's writer.
fn associate_rq() -> Vec<u8> {
    use dicom_ul::pdu::{AssociationRQ, PresentationContextProposed, UserVariableItem};
    let mut out = Vec::new();
    dicom_ul::write_pdu(
        &mut out,
        &Pdu::AssociationRQ(AssociationRQ {
            protocol_version: 1,
            calling_ae_title: "BADPEER".into(),
            called_ae_title: "FILMLESS".into(),
            application_context_name: "1.2.840.10008.3.1.1.1".into(),
            presentation_contexts: vec![PresentationContextProposed {
                id: 1,
                abstract_syntax: uids::VERIFICATION.into(),
                transfer_syntaxes: vec![uids::IMPLICIT_VR_LITTLE_ENDIAN.into()],
            }],
            user_variables: vec![UserVariableItem::MaxLength(16_384)],
        }),
    )
    .unwrap();
    out
}

#[test]
fn malformed_pdus_are_aborted_and_the_listener_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        data.path(),
        &[],
        &[("FILMLESS_DICOM__ARTIM_TIMEOUT_SECS", "2")],
    );
    let port = server.dicom_port;
    let rt = tokio::runtime::Runtime::new().unwrap();

    // A truncated PDU: a header announcing 100 bytes, then 10, then EOF.
    let mut truncated = vec![0x01, 0x00, 0x00, 0x00, 0x00, 0x64];
    truncated.extend_from_slice(&[0u8; 10]);
    raw(port, &truncated, true);
    rt.block_on(still_serving(port));

    // A PDU claiming 0xFFFFFFFF bytes: refused without reading them.
    let started = Instant::now();
    let reply = raw(
        port,
        &[0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 0, 0],
        false,
    );
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the server did not wait for 4 GB"
    );
    assert!(
        reply.is_empty() || reply[0] == 0x07 || reply[0] == 0x03,
        "{reply:?}"
    );
    rt.block_on(still_serving(port));

    // An unknown PDU type.
    let reply = raw(
        port,
        &[0x99, 0x00, 0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4],
        false,
    );
    assert!(reply.is_empty() || reply[0] == 0x07, "answered {reply:?}");
    rt.block_on(still_serving(port));

    // Connect and say nothing: closed after the ARTIM timeout.
    let started = Instant::now();
    let reply = raw(port, &[], false);
    assert!(reply.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "ARTIM closed the silent connection"
    );
    rt.block_on(still_serving(port));

    // A valid association, then a P-DATA with a command that has no
    // Command Field: A-ABORT.
    let mut rq = associate_rq();
    let mut command = Vec::new();
    // (0000,0110) Message ID = 1, and nothing else.
    command.extend_from_slice(&[0x00, 0x00, 0x10, 0x01, 2, 0, 0, 0, 1, 0]);
    dicom_ul::write_pdu(
        &mut rq,
        &Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: 1,
                value_type: PDataValueType::Command,
                is_last: true,
                data: command,
            }],
        },
    )
    .unwrap();
    let reply = raw(port, &rq, false);
    assert_eq!(reply.first(), Some(&0x02), "A-ASSOCIATE-AC first");
    let ac_len = u32::from_be_bytes(reply[2..6].try_into().unwrap()) as usize;
    assert_eq!(
        reply.get(6 + ac_len),
        Some(&0x07),
        "then A-ABORT: {reply:?}"
    );
    rt.block_on(still_serving(port));
    assert!(server.logged("aborting association"));

    // Data before any command: A-ABORT.
    rt.block_on(async {
        let mut assoc = ClientAssociationOptions::new()
            .calling_ae_title("BADPEER")
            .called_ae_title("FILMLESS")
            .with_abstract_syntax(uids::VERIFICATION)
            .establish_async(("127.0.0.1", port))
            .await
            .unwrap();
        assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: 1,
                    value_type: PDataValueType::Data,
                    is_last: true,
                    data: vec![0; 16],
                }],
            })
            .await
            .unwrap();
        match assoc.receive().await {
            Ok(Pdu::AbortRQ { .. }) | Err(_) => {}
            Ok(other) => panic!("expected A-ABORT, got {other:?}"),
        }
        still_serving(port).await;
    });

    // 500 presentation contexts (IDs wrap past 255, repeat, are even):
    // answered, and only valid ones can be accepted.
    let mut many = Vec::new();
    dicom_ul::write_pdu(
        &mut many,
        &Pdu::AssociationRQ(dicom_ul::pdu::AssociationRQ {
            protocol_version: 1,
            calling_ae_title: "BADPEER".into(),
            called_ae_title: "FILMLESS".into(),
            application_context_name: "1.2.840.10008.3.1.1.1".into(),
            presentation_contexts: (0..500u32)
                .map(|i| dicom_ul::pdu::PresentationContextProposed {
                    id: (i % 256) as u8,
                    abstract_syntax: uids::CT_IMAGE_STORAGE.into(),
                    transfer_syntaxes: vec![uids::IMPLICIT_VR_LITTLE_ENDIAN.into()],
                })
                .collect(),
            user_variables: vec![dicom_ul::pdu::UserVariableItem::MaxLength(16_384)],
        }),
    )
    .unwrap();
    let reply = raw(port, &many, false);
    assert!(
        matches!(reply.first(), Some(0x02 | 0x03 | 0x07)),
        "A-ASSOCIATE-AC, -RJ or A-ABORT, got {:?}",
        reply.first()
    );
    rt.block_on(still_serving(port));

    // A called AE title that is not ours: A-ASSOCIATE-RJ, reason "called
    // AE title not recognized" (7), and the log names both titles.
    let mut wrong = associate_rq();
    let called = b"FILMLESS        ";
    let at = wrong
        .windows(called.len())
        .position(|w| w == called)
        .unwrap();
    wrong[at..at + 16].copy_from_slice(b"NOTOURS         ");
    let reply = raw(port, &wrong, false);
    assert_eq!(reply.first(), Some(&0x03), "A-ASSOCIATE-RJ: {reply:?}");
    assert_eq!(reply[9], 7, "reason: called AE title not recognized");
    assert!(server.logged("NOTOURS"));
    rt.block_on(still_serving(port));
}

/// (0040,A730) Content Sequence, explicit VR little endian, of defined
/// length, whose one item holds (0040,A160) Text Value declaring 2 GB with
/// 2 bytes present.
fn oversized_in_a_sequence() -> Vec<u8> {
    let mut text = vec![0x40, 0x00, 0x60, 0xA1, b'U', b'T', 0, 0];
    text.extend_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
    text.extend_from_slice(b"x ");
    let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
    item.extend_from_slice(&(text.len() as u32).to_le_bytes());
    item.extend_from_slice(&text);
    let mut seq = vec![0x40, 0x00, 0x30, 0xA7, b'S', b'Q', 0, 0];
    seq.extend_from_slice(&(item.len() as u32).to_le_bytes());
    seq.extend_from_slice(&item);
    seq
}

#[test]
fn identifiers_declaring_more_than_they_hold_are_refused() {
    let data = tempfile::tempdir().unwrap();
    // A known peer: unknown ones may store but not query.
    let server = ServerProcess::start(data.path(), &["--peer", "BADPEER@127.0.0.1:1"], &[]);
    let port = server.dicom_port;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let find = uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND.to_owned();
        let proposals = vec![(find, vec![uids::EXPLICIT_VR_LITTLE_ENDIAN.to_owned()])];
        let mut assoc = ScuAssociation::connect(&options(port), &proposals)
            .await
            .unwrap();
        let ctx = assoc.accepted().into_iter().next().unwrap();
        let mut q = InMemDicomObject::new_empty();
        q.put(DataElement::new(
            tags::QUERY_RETRIEVE_LEVEL,
            VR::CS,
            PrimitiveValue::from("STUDY"),
        ));
        let mut identifier =
            dicom_net::dataset::encode(&q, uids::EXPLICIT_VR_LITTLE_ENDIAN).unwrap();
        identifier.extend_from_slice(&oversized_in_a_sequence());
        let (matches, r) = assoc.find(&ctx, &identifier).await.unwrap();
        assert!(matches.is_empty());
        assert_eq!(r.status, Status::DOES_NOT_MATCH_SOP_CLASS, "{r:?}");
        let comment = r.comment.as_deref().unwrap_or("");
        assert!(comment.starts_with("identifier does not parse"), "{r:?}");
        assert!(comment.contains("(0040,A160)"), "{r:?}");
        // The same association still answers a good query.
        let good = dicom_net::dataset::encode(&q, uids::EXPLICIT_VR_LITTLE_ENDIAN).unwrap();
        let (_, r) = assoc.find(&ctx, &good).await.unwrap();
        assert_eq!(r.status, Status::SUCCESS, "{r:?}");
        assoc.release().await.unwrap();
        still_serving(port).await;
    });
}

#[test]
fn data_sets_that_cannot_be_stored_get_failure_statuses() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[], &[]);
    let port = server.dicom_port;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut odd_sent = Vec::new();
    rt.block_on(async {
        let ct = uids::CT_IMAGE_STORAGE.to_owned();
        let proposals = vec![(ct.clone(), vec![uids::EXPLICIT_VR_LITTLE_ENDIAN.to_owned()])];
        let mut assoc = ScuAssociation::connect(&options(port), &proposals)
            .await
            .unwrap();
        let ctx = assoc.accepted().into_iter().next().unwrap();

        // A data set without Study/Series/SOP Instance UIDs.
        let mut obj = InMemDicomObject::new_empty();
        obj.put(DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(ct.as_str()),
        ));
        obj.put(DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("NO^UIDS"),
        ));
        let bytes = dicom_net::dataset::encode(&obj, uids::EXPLICIT_VR_LITTLE_ENDIAN).unwrap();
        let r = assoc.store(&ctx, "1.2.3.4", &bytes, None).await.unwrap();
        assert_eq!(r.status, Status::DOES_NOT_MATCH_SOP_CLASS, "{r:?}");
        assert!(r.comment.as_deref().unwrap_or("").contains("UID"), "{r:?}");

        // A UID with letters (path traversal attempt).
        obj.put(DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("../../etc/passwd"),
        ));
        obj.put(DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3"),
        ));
        obj.put(DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3.4"),
        ));
        let bytes = dicom_net::dataset::encode(&obj, uids::EXPLICIT_VR_LITTLE_ENDIAN).unwrap();
        let r = assoc.store(&ctx, "1.2.3.5", &bytes, None).await.unwrap();
        assert_eq!(r.status, Status::DOES_NOT_MATCH_SOP_CLASS, "{r:?}");

        // Bytes that are no data set at all.
        let r = assoc
            .store(&ctx, "1.2.3.6", &[0xFF; 300], None)
            .await
            .unwrap();
        assert!(r.status.is_failure(), "{r:?}");
        assert_eq!(r.status, Status::CANNOT_UNDERSTAND, "{r:?}");

        // An element with an odd value length (PS3.5 7.1.1 requires even):
        // readable, so kept as received, as DCMTK and Orthanc do, rather
        // than lose a modality's image.
        let mut odd = Vec::new();
        let mut element = |group: u16, elem: u16, vr: &[u8; 2], value: &[u8]| {
            odd.extend_from_slice(&group.to_le_bytes());
            odd.extend_from_slice(&elem.to_le_bytes());
            odd.extend_from_slice(vr);
            odd.extend_from_slice(&(value.len() as u16).to_le_bytes());
            odd.extend_from_slice(value);
        };
        element(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.2\0");
        element(0x0008, 0x0018, b"UI", b"1.2.3.70");
        element(0x0010, 0x0010, b"PN", b"DOE^JON");
        element(0x0020, 0x000D, b"UI", b"1.2.3.10");
        element(0x0020, 0x000E, b"UI", b"1.2.3.11");
        let r = assoc.store(&ctx, "1.2.3.70", &odd, None).await.unwrap();
        odd_sent = odd.clone();
        assert_eq!(r.status, Status::SUCCESS, "{r:?}");

        // A sequence whose item holds a value declaring 2 GB in a data set
        // of a few hundred bytes: refused before any memory is reserved
        // for it (dicom-rs would reserve the 2 GB first).
        let mut bomb = dicom_net::dataset::encode(&obj, uids::EXPLICIT_VR_LITTLE_ENDIAN).unwrap();
        bomb.extend_from_slice(&oversized_in_a_sequence());
        let r = assoc.store(&ctx, "1.2.3.7", &bomb, None).await.unwrap();
        assert!(r.status.is_failure(), "{r:?}");
        assert!(
            r.comment
                .as_deref()
                .unwrap_or("")
                .contains("element (0040,A160)"),
            "{r:?}"
        );

        // The same association still stores a good instance.
        let (_, instances) = filmless_test_data::ct_series_sized(41, 1, (16, 16));
        let good = &instances[0];
        let (start, _) = dicom_net::retrieve::data_set_start(&good.bytes).unwrap();
        let r = assoc
            .store(&ctx, &good.sop_instance_uid, &good.bytes[start..], None)
            .await
            .unwrap();
        assert_eq!(r.status, Status::SUCCESS, "{r:?}");
        assoc.release().await.unwrap();
        still_serving(port).await;
    });
    // Nothing but the good instance and the odd-length one was stored,
    // the latter byte for byte.
    drop(server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let archive = common::open_archive(data.path()).await;
        assert_eq!(
            archive
                .index()
                .counts(storage::TenantScope::All)
                .await
                .unwrap()
                .instances,
            2
        );
        let stored = archive
            .read_instance(&storage::TenantId::IMPLICIT, "1.2.3.70")
            .await
            .unwrap();
        let (start, _) = dicom_net::retrieve::data_set_start(&stored).unwrap();
        assert_eq!(&stored[start..], &odd_sent[..]);
    });
}

/// A C-STORE whose association is aborted in the middle of its data set,
/// at an element boundary (the part that came is a readable data set with
/// every UID): nothing of it is kept, and the complete instance sent again
/// afterwards is stored as new.
#[test]
fn a_data_set_cut_off_by_an_abort_is_not_kept() {
    use dicom_net::command::{Command, CommandField};
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), &[], &[]);
    let port = server.dicom_port;
    let (_, instances) = filmless_test_data::ct_series_sized(43, 1, (64, 64));
    let one = &instances[0];
    let (start, _) = dicom_net::retrieve::data_set_start(&one.bytes).unwrap();
    let data_set = &one.bytes[start..];
    // Everything before Pixel Data: whole elements, UIDs included.
    let pixel_data_tag = [0xE0, 0x7F, 0x10, 0x00];
    let cut = data_set
        .windows(4)
        .rposition(|w| w == pixel_data_tag)
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut assoc = ClientAssociationOptions::new()
            .calling_ae_title("BADPEER")
            .called_ae_title("FILMLESS")
            .with_presentation_context(
                uids::CT_IMAGE_STORAGE,
                vec![uids::EXPLICIT_VR_LITTLE_ENDIAN],
            )
            .establish_async(("127.0.0.1", port))
            .await
            .unwrap();
        let pc = assoc.presentation_contexts()[0].id;
        let mut command = Command::request(CommandField::CStoreRq, 1, uids::CT_IMAGE_STORAGE, true);
        command.affected_sop_instance_uid = Some(one.sop_instance_uid.clone());
        for (value_type, bytes, is_last) in [
            (PDataValueType::Command, command.encode(), true),
            (PDataValueType::Data, data_set[..cut].to_vec(), false),
        ] {
            assoc
                .send(&Pdu::PData {
                    data: vec![PDataValue {
                        presentation_context_id: pc,
                        value_type,
                        is_last,
                        data: bytes,
                    }],
                })
                .await
                .unwrap();
        }
        assoc.abort().await.unwrap();
        still_serving(port).await;
    });
    // Give the server the moment it takes to see the abort, then send the
    // whole instance: stored as new, not "already there".
    std::thread::sleep(Duration::from_millis(500));
    rt.block_on(async {
        let proposals = vec![(
            uids::CT_IMAGE_STORAGE.to_owned(),
            vec![uids::EXPLICIT_VR_LITTLE_ENDIAN.to_owned()],
        )];
        let mut assoc = ScuAssociation::connect(&options(port), &proposals)
            .await
            .unwrap();
        let ctx = assoc.accepted().into_iter().next().unwrap();
        let r = assoc
            .store(&ctx, &one.sop_instance_uid, data_set, None)
            .await
            .unwrap();
        assert_eq!(r.status, Status::SUCCESS, "{r:?}");
        assoc.release().await.unwrap();
    });
    drop(server);
    rt.block_on(async {
        let archive = common::open_archive(data.path()).await;
        let stored = archive
            .read_instance(&storage::TenantId::IMPLICIT, &one.sop_instance_uid)
            .await
            .unwrap();
        let (start, _) = dicom_net::retrieve::data_set_start(&stored).unwrap();
        assert_eq!(
            &stored[start..],
            data_set,
            "the whole instance, not the cut one"
        );
    });
}
