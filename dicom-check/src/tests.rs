//! Unit tests of the checks: what dicom-rs would misread is refused,
//! what it reads well passes.

use super::*;

fn element(out: &mut Vec<u8>, tag: (u16, u16), vr: &[u8; 2], value: &[u8]) {
    out.extend_from_slice(&tag.0.to_le_bytes());
    out.extend_from_slice(&tag.1.to_le_bytes());
    out.extend_from_slice(vr);
    if has_long_length(*vr) {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(value);
}

fn header(out: &mut Vec<u8>, tag: (u16, u16), length: u32) {
    out.extend_from_slice(&tag.0.to_le_bytes());
    out.extend_from_slice(&tag.1.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
}

/// A data set with a defined-length sequence holding one defined-length
/// item, then an undefined-length sequence with an undefined-length item.
fn nested() -> Vec<u8> {
    let mut item = Vec::new();
    element(&mut item, (0x0008, 0x0100), b"SH", b"T-D1100 ");
    let mut seq = Vec::new();
    header(&mut seq, ITEM, item.len() as u32);
    seq.extend_from_slice(&item);
    let mut out = Vec::new();
    element(&mut out, (0x0008, 0x0060), b"CS", b"CT");
    element(&mut out, (0x0008, 0x2218), b"SQ", &seq);
    out.extend_from_slice(&[0x08, 0x00, 0x32, 0x10, b'S', b'Q', 0, 0]);
    out.extend_from_slice(&UNDEFINED.to_le_bytes());
    header(&mut out, ITEM, UNDEFINED);
    element(&mut out, (0x0008, 0x0104), b"LO", b"chest ");
    header(&mut out, ITEM_DELIMITER, 0);
    header(&mut out, SEQUENCE_DELIMITER, 0);
    element(&mut out, (0x0010, 0x0010), b"PN", b"DOE^JOHN");
    out
}

#[test]
fn well_formed_nesting_passes() {
    check_lengths(&nested(), Encoding::ExplicitLe).unwrap();
    check_lengths(&[], Encoding::ExplicitLe).unwrap();
}

#[test]
fn a_value_longer_than_the_data_set_is_refused() {
    let mut data = nested();
    // (0010,0010) PN declares 8 bytes; make it a UT claiming ~4 GB.
    let mut bad = Vec::new();
    bad.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, b'U', b'T', 0, 0]);
    bad.extend_from_slice(&0xF000_0000u32.to_le_bytes());
    bad.extend_from_slice(b"DOE^JOHN");
    data.extend_from_slice(&bad);
    let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Overrun {
                tag: (0x0010, 0x0010),
                length: 0xF000_0000,
                available: 8,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_unknown_vr_has_a_long_length_as_dicom_rs_reads_it() {
    // "QI" is no VR: read as UN, its "length" is the next 4 bytes after
    // 2 reserved ones — here "1.2." = 0x2E322E31, as in the fuzzer's
    // input.
    let mut data = Vec::new();
    data.extend_from_slice(&[0x08, 0x00, 0x18, 0x00, b'Q', b'I', 0x0C, 0x00]);
    data.extend_from_slice(b"1.2.3.4.5.6\0");
    let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Overrun {
                length: 0x2E32_2E31,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_value_inside_an_item_must_fit_the_item() {
    // The item declares 10 bytes: its element's header and 2 bytes of
    // value; the element declares 8.
    let mut item = Vec::new();
    element(&mut item, (0x0008, 0x0100), b"SH", b"T-D1100 ");
    let mut seq = Vec::new();
    header(&mut seq, ITEM, 10);
    seq.extend_from_slice(&item);
    let mut data = Vec::new();
    element(&mut data, (0x0008, 0x2218), b"SQ", &seq);
    let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Overrun {
                container: "item",
                length: 8,
                available: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn delimiters_out_of_step_with_lengths_are_refused() {
    // An item delimiter inside a defined-length item.
    let mut item = Vec::new();
    header(&mut item, ITEM_DELIMITER, 0);
    element(&mut item, (0x0008, 0x0100), b"SH", b"T-D1100 ");
    let mut seq = Vec::new();
    header(&mut seq, ITEM, item.len() as u32);
    seq.extend_from_slice(&item);
    let mut data = Vec::new();
    element(&mut data, (0x0008, 0x2218), b"SQ", &seq);
    assert!(matches!(
        check_lengths(&data, Encoding::ExplicitLe),
        Err(Error::Structure { .. })
    ));
    // An element header that starts inside an item and ends past it.
    let mut seq = Vec::new();
    header(&mut seq, ITEM, 4);
    element(&mut seq, (0x0008, 0x0100), b"SH", b"");
    let mut data = Vec::new();
    element(&mut data, (0x0008, 0x2218), b"SQ", &seq);
    let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
    assert!(matches!(err, Error::Structure { .. }), "{err}");
}

#[test]
fn binary_values_hold_whole_numbers() {
    // UL of 3 bytes: dicom-rs would read none of them, count 3 as read,
    // and read the next header out of step (the fuzzer's input).
    let next = |data: &mut Vec<u8>| header(data, (0x0010, 0x0010), 0);
    let mut data = Vec::new();
    header(&mut data, (0x0000, 0x0000), 3);
    data.extend_from_slice(&[0, 0, 0]);
    next(&mut data);
    let err = check_lengths(&data, Encoding::ImplicitLe).unwrap_err();
    assert!(
        err.to_string()
            .contains("VR UL has length 3, not a multiple of 4"),
        "{err}"
    );
    // Group FFFE in implicit VR: (FFFE,0000) is a group length, UL.
    let mut data = Vec::new();
    header(&mut data, (0xFFFE, 0x0000), 2);
    data.extend_from_slice(&[0xFF, 0xFF]);
    next(&mut data);
    assert!(check_lengths(&data, Encoding::ImplicitLe).is_err());
    let mut data = Vec::new();
    element(&mut data, (0x0028, 0x0010), b"US", &[1, 0, 2]);
    element(&mut data, (0x0028, 0x0011), b"US", &[1, 0]);
    assert!(check_lengths(&data, Encoding::ExplicitLe).is_err());
    let mut data = Vec::new();
    element(&mut data, (0x0028, 0x0010), b"US", &[1, 0, 2, 0]);
    check_lengths(&data, Encoding::ExplicitLe).unwrap();
    // Odd-length Pixel Data (OW in implicit VR) last in the data set is
    // read as far as it goes; followed by another element it is not.
    let mut data = Vec::new();
    header(&mut data, (0x0010, 0x0010), 4);
    data.extend_from_slice(b"DOE ");
    header(&mut data, PIXEL_DATA, 5);
    data.extend_from_slice(&[1, 2, 3, 4, 5]);
    check_lengths(&data, Encoding::ImplicitLe).unwrap();
    header(&mut data, (0xFFFC, 0xFFFC), 0);
    assert!(check_lengths(&data, Encoding::ImplicitLe).is_err());
}

#[test]
fn implicit_vr_sequences_come_from_the_dictionary() {
    // (0008,2218) Anatomic Region Sequence, implicit VR, defined length,
    // whose item holds an element declaring 2^31 bytes.
    let mut item = Vec::new();
    header(&mut item, (0x0008, 0x0100), 0x8000_0000);
    let mut seq = Vec::new();
    header(&mut seq, ITEM, item.len() as u32);
    seq.extend_from_slice(&item);
    let mut data = Vec::new();
    header(&mut data, (0x0008, 0x2218), seq.len() as u32);
    data.extend_from_slice(&seq);
    let err = check_lengths(&data, Encoding::ImplicitLe).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Overrun {
                tag: (0x0008, 0x0100),
                ..
            }
        ),
        "{err}"
    );
    // The same bytes as an opaque (non-sequence) value are fine.
    let mut opaque = Vec::new();
    header(&mut opaque, (0x0009, 0x1010), seq.len() as u32);
    opaque.extend_from_slice(&seq);
    check_lengths(&opaque, Encoding::ImplicitLe).unwrap();
}

#[test]
fn fragments_must_fit_and_have_a_length() {
    let mut data = Vec::new();
    data.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
    data.extend_from_slice(&UNDEFINED.to_le_bytes());
    header(&mut data, ITEM, 0);
    header(&mut data, ITEM, 4);
    data.extend_from_slice(&[1, 2, 3, 4]);
    header(&mut data, SEQUENCE_DELIMITER, 0);
    check_lengths(&data, Encoding::ExplicitLe).unwrap();
    let mut big = data.clone();
    big[24..28].copy_from_slice(&0x4000_0000u32.to_le_bytes());
    assert!(matches!(
        check_lengths(&big, Encoding::ExplicitLe),
        Err(Error::Overrun { .. })
    ));
    let mut odd_table = data.clone();
    odd_table[16..20].copy_from_slice(&2u32.to_le_bytes());
    odd_table.splice(20..20, [0, 0]);
    let err = check_lengths(&odd_table, Encoding::ExplicitLe).unwrap_err();
    assert!(
        err.to_string().contains("Basic Offset Table of 2 bytes"),
        "{err}"
    );
    let mut undefined = data;
    undefined[24..28].copy_from_slice(&UNDEFINED.to_le_bytes());
    assert!(matches!(
        check_lengths(&undefined, Encoding::ExplicitLe),
        Err(Error::Structure { .. })
    ));
}

#[test]
fn pixel_data_as_an_explicit_sq_is_a_sequence_of_items() {
    // As dicom-rs reads it: items of undefined length are allowed, and
    // their elements are checked.
    let mut data = vec![0xE0, 0x7F, 0x10, 0x00, b'S', b'Q', 0, 0];
    data.extend_from_slice(&UNDEFINED.to_le_bytes());
    header(&mut data, ITEM, UNDEFINED);
    element(&mut data, (0x0008, 0x0100), b"SH", b"T-D1100 ");
    header(&mut data, ITEM_DELIMITER, 0);
    header(&mut data, SEQUENCE_DELIMITER, 0);
    check_lengths(&data, Encoding::ExplicitLe).unwrap();
}

#[test]
fn us_or_ss_tags_are_whole_16_bit_numbers_whatever_vr_is_declared() {
    // After a signed Pixel Representation dicom-rs reads (0028,0120)
    // Pixel Padding Value as SS even when declared OB: 3 bytes would
    // put it out of step, and the next "header" would declare 3.75 GiB.
    let mut data = Vec::new();
    element(&mut data, (0x0028, 0x0103), b"US", &[1, 0]);
    element(&mut data, (0x0028, 0x0120), b"OB", &[0x43, 0x43, 0x43]);
    data.extend_from_slice(&[0x09, 0x00, 0x10, 0x4F, b'D', b'A', 0, 0]);
    data.extend_from_slice(&[0x08, 0x00, 0xF0, 0x00, b'U', b'N', 0, 0, 0, 0, 0, 0]);
    let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
    assert!(err.to_string().contains("not a multiple of 2"), "{err}");
    // Nor may such a tag be a defined-length sequence.
    let mut data = Vec::new();
    element(&mut data, (0x0028, 0x0120), b"SQ", &[]);
    let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
    assert!(err.to_string().contains("not a sequence"), "{err}");
}

#[test]
fn empty_encapsulated_pixel_data_may_not_end_an_item() {
    let mut data = vec![0x08, 0x00, 0x18, 0x22, b'S', b'Q', 0, 0];
    data.extend_from_slice(&UNDEFINED.to_le_bytes());
    header(&mut data, ITEM, 20);
    data.extend_from_slice(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0]);
    data.extend_from_slice(&UNDEFINED.to_le_bytes());
    header(&mut data, SEQUENCE_DELIMITER, 0);
    // To dicom-rs, still inside the item, this is a UN of 0xF0000000.
    header(&mut data, SEQUENCE_DELIMITER, 0xF000_0000);
    let err = check_lengths(&data, Encoding::ExplicitLe).unwrap_err();
    assert!(
        err.to_string().contains("without items ends an item"),
        "{err}"
    );
}

#[test]
fn every_deflated_syntax_is_inflated_here() {
    assert!(is_deflated(DEFLATED_EXPLICIT_VR_LE));
    assert!(is_deflated("1.2.840.10008.1.2.4.95"));
    assert!(!is_deflated(EXPLICIT_VR_LE));
    assert!(!is_deflated("1.2.840.10008.1.2.4.50"));
    // A JPIP Referenced Deflate data set that is no deflate stream is
    // refused by the inflater, not read as explicit VR.
    let jpip = TransferSyntaxRegistry
        .get("1.2.840.10008.1.2.4.95")
        .unwrap();
    let mut data = Vec::new();
    element(&mut data, (0x0010, 0x0010), b"PN", b"DOE^JOHN");
    assert!(matches!(read_dataset(&data, jpip), Err(Error::Deflate(_))));
}

#[test]
fn file_meta_lengths_are_checked_too() {
    let mut part10 = vec![0u8; 128];
    part10.extend_from_slice(b"DICM");
    part10.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
    part10.extend_from_slice(&12u32.to_le_bytes());
    part10.extend_from_slice(&[0x02, 0x00, 0x02, 0x00, b'U', b'N', 0, 0]);
    part10.extend_from_slice(&0xF000_0000u32.to_le_bytes());
    let err = read_part10(&part10).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Overrun {
                tag: (0x0002, 0x0002),
                ..
            }
        ),
        "{err}"
    );
    // Without the group length: refused, not guessed.
    let mut no_length = vec![0u8; 128];
    no_length.extend_from_slice(b"DICM");
    no_length.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I', 2, 0, b'1', 0]);
    assert!(matches!(
        read_part10(&no_length),
        Err(Error::Structure { .. })
    ));
}

#[test]
fn nesting_is_bounded() {
    let mut data = Vec::new();
    for _ in 0..=MAX_DEPTH {
        data.extend_from_slice(&[0x08, 0x00, 0x18, 0x22, b'S', b'Q', 0, 0]);
        data.extend_from_slice(&UNDEFINED.to_le_bytes());
        header(&mut data, ITEM, UNDEFINED);
    }
    assert!(matches!(
        check_lengths(&data, Encoding::ExplicitLe),
        Err(Error::TooDeep { .. })
    ));
    // One level less is accepted (the data simply ends early).
    let per_level = 20;
    check_lengths(&data[..per_level * MAX_DEPTH], Encoding::ExplicitLe).unwrap();
}

#[test]
fn big_endian_lengths_are_read_big_endian() {
    let mut data = vec![0x00, 0x10, 0x00, 0x10, b'P', b'N', 0x00, 0x08];
    data.extend_from_slice(b"DOE^JOHN");
    check_lengths(&data, Encoding::ExplicitBe).unwrap();
    data[6..8].copy_from_slice(&[0x08, 0x00]);
    assert!(check_lengths(&data, Encoding::ExplicitBe).is_err());
}

#[test]
fn deflated_data_sets_inflate_within_the_limit() {
    use std::io::Write;
    let deflate = |data: &[u8]| {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let data = nested();
    assert_eq!(inflate(&deflate(&data)).unwrap(), data);
    // A bomb: 300 MiB of zeros compresses to about 300 KB.
    let bomb = deflate(&vec![0u8; MAX_INFLATED + (44 << 20)]);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    assert!(matches!(inflate(&bomb), Err(Error::Deflate(_))));
    assert!(matches!(
        inflate(b"not deflate at all"),
        Err(Error::Deflate(_))
    ));
}

#[test]
fn truncations_at_every_length_never_panic() {
    let data = nested();
    for n in 0..data.len() {
        let _ = check_lengths(&data[..n], Encoding::ExplicitLe);
        let _ = check_lengths(&data[..n], Encoding::ImplicitLe);
        let _ = check_lengths(&data[..n], Encoding::ExplicitBe);
    }
}
