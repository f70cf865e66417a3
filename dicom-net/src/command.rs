//! DIMSE command sets (PS3.7 §9.3, §E): typed, encoded and decoded by hand.
//!
//! A command set is group 0000 in implicit VR little endian, always (PS3.7
//! §6.3.1), whatever the presentation context's transfer syntax. Decoding
//! reads every element of the group, keeps the ones DIMSE-C uses and skips
//! the rest; a command without a Command Field or Message ID is an error.

use dicom_core::Tag;
use dicom_dictionary_std::tags;

use crate::error::{Error, Result};
use crate::status::Status;

/// (0000,0100) Command Field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandField {
    /// C-STORE-RQ.
    CStoreRq,
    /// C-STORE-RSP.
    CStoreRsp,
    /// C-GET-RQ.
    CGetRq,
    /// C-GET-RSP.
    CGetRsp,
    /// C-FIND-RQ.
    CFindRq,
    /// C-FIND-RSP.
    CFindRsp,
    /// C-MOVE-RQ.
    CMoveRq,
    /// C-MOVE-RSP.
    CMoveRsp,
    /// C-ECHO-RQ.
    CEchoRq,
    /// C-ECHO-RSP.
    CEchoRsp,
    /// C-CANCEL-RQ.
    CCancelRq,
    /// N-EVENT-REPORT-RQ.
    NEventReportRq,
    /// N-EVENT-REPORT-RSP.
    NEventReportRsp,
    /// N-SET-RQ.
    NSetRq,
    /// N-SET-RSP.
    NSetRsp,
    /// N-ACTION-RQ.
    NActionRq,
    /// N-ACTION-RSP.
    NActionRsp,
    /// N-CREATE-RQ.
    NCreateRq,
    /// N-CREATE-RSP.
    NCreateRsp,
    /// N-GET-RQ.
    NGetRq,
    /// N-GET-RSP.
    NGetRsp,
    /// N-DELETE-RQ.
    NDeleteRq,
    /// N-DELETE-RSP.
    NDeleteRsp,
    /// Anything else: answered as unrecognized.
    Other(u16),
}

impl CommandField {
    /// The code on the wire.
    pub fn code(self) -> u16 {
        match self {
            CommandField::CStoreRq => 0x0001,
            CommandField::CStoreRsp => 0x8001,
            CommandField::CGetRq => 0x0010,
            CommandField::CGetRsp => 0x8010,
            CommandField::CFindRq => 0x0020,
            CommandField::CFindRsp => 0x8020,
            CommandField::CMoveRq => 0x0021,
            CommandField::CMoveRsp => 0x8021,
            CommandField::CEchoRq => 0x0030,
            CommandField::CEchoRsp => 0x8030,
            CommandField::CCancelRq => 0x0FFF,
            CommandField::NEventReportRq => 0x0100,
            CommandField::NEventReportRsp => 0x8100,
            CommandField::NSetRq => 0x0120,
            CommandField::NSetRsp => 0x8120,
            CommandField::NActionRq => 0x0130,
            CommandField::NActionRsp => 0x8130,
            CommandField::NCreateRq => 0x0140,
            CommandField::NCreateRsp => 0x8140,
            CommandField::NGetRq => 0x0110,
            CommandField::NGetRsp => 0x8110,
            CommandField::NDeleteRq => 0x0150,
            CommandField::NDeleteRsp => 0x8150,
            CommandField::Other(c) => c,
        }
    }

    /// From the code on the wire.
    pub fn from_code(code: u16) -> Self {
        match code {
            0x0001 => CommandField::CStoreRq,
            0x8001 => CommandField::CStoreRsp,
            0x0010 => CommandField::CGetRq,
            0x8010 => CommandField::CGetRsp,
            0x0020 => CommandField::CFindRq,
            0x8020 => CommandField::CFindRsp,
            0x0021 => CommandField::CMoveRq,
            0x8021 => CommandField::CMoveRsp,
            0x0030 => CommandField::CEchoRq,
            0x8030 => CommandField::CEchoRsp,
            0x0FFF => CommandField::CCancelRq,
            0x0100 => CommandField::NEventReportRq,
            0x8100 => CommandField::NEventReportRsp,
            0x0120 => CommandField::NSetRq,
            0x8120 => CommandField::NSetRsp,
            0x0130 => CommandField::NActionRq,
            0x8130 => CommandField::NActionRsp,
            0x0140 => CommandField::NCreateRq,
            0x8140 => CommandField::NCreateRsp,
            0x0110 => CommandField::NGetRq,
            0x8110 => CommandField::NGetRsp,
            0x0150 => CommandField::NDeleteRq,
            0x8150 => CommandField::NDeleteRsp,
            other => CommandField::Other(other),
        }
    }

    /// Whether this is a DIMSE-N response.
    pub fn is_normalized_response(self) -> bool {
        matches!(
            self,
            CommandField::NEventReportRsp
                | CommandField::NSetRsp
                | CommandField::NActionRsp
                | CommandField::NCreateRsp
                | CommandField::NGetRsp
                | CommandField::NDeleteRsp
        )
    }

    /// The response to this request (responses answer themselves).
    pub fn response(self) -> Self {
        match self {
            CommandField::CStoreRq => CommandField::CStoreRsp,
            CommandField::CGetRq => CommandField::CGetRsp,
            CommandField::CFindRq => CommandField::CFindRsp,
            CommandField::CMoveRq => CommandField::CMoveRsp,
            CommandField::CEchoRq => CommandField::CEchoRsp,
            CommandField::NEventReportRq => CommandField::NEventReportRsp,
            CommandField::NSetRq => CommandField::NSetRsp,
            CommandField::NActionRq => CommandField::NActionRsp,
            CommandField::NCreateRq => CommandField::NCreateRsp,
            CommandField::NGetRq => CommandField::NGetRsp,
            CommandField::NDeleteRq => CommandField::NDeleteRsp,
            CommandField::Other(c) => CommandField::Other(c | 0x8000),
            other => other,
        }
    }
}

/// (0000,0700) Priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// 0000H.
    #[default]
    Medium,
    /// 0001H.
    High,
    /// 0002H.
    Low,
}

/// An AT value: tags, little endian.
fn tag_list(tags: &[Tag]) -> Vec<u8> {
    let mut v = Vec::with_capacity(tags.len() * 4);
    for t in tags {
        v.extend_from_slice(&t.group().to_le_bytes());
        v.extend_from_slice(&t.element().to_le_bytes());
    }
    v
}

/// The tags of an AT value.
fn read_tag_list(value: &[u8]) -> Vec<Tag> {
    value
        .chunks_exact(4)
        .map(|t| {
            Tag(
                u16::from_le_bytes([t[0], t[1]]),
                u16::from_le_bytes([t[2], t[3]]),
            )
        })
        .collect()
}

/// (0000,0800) value meaning "no data set follows" (PS3.7 E.1).
const NO_DATA_SET: u16 = 0x0101;

/// Sub-operation counts of C-MOVE and C-GET responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubOperations {
    /// (0000,1020).
    pub remaining: u16,
    /// (0000,1021).
    pub completed: u16,
    /// (0000,1022).
    pub failed: u16,
    /// (0000,1023).
    pub warning: u16,
}

/// One DIMSE-C command set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    /// (0000,0100).
    pub field: Option<CommandField>,
    /// (0000,0110) Message ID (requests).
    pub message_id: Option<u16>,
    /// (0000,0120) Message ID Being Responded To (responses).
    pub responding_to: Option<u16>,
    /// (0000,0002) Affected SOP Class UID.
    pub affected_sop_class_uid: Option<String>,
    /// (0000,1000) Affected SOP Instance UID.
    pub affected_sop_instance_uid: Option<String>,
    /// (0000,0003) Requested SOP Class UID (N-SET, N-ACTION).
    pub requested_sop_class_uid: Option<String>,
    /// (0000,1001) Requested SOP Instance UID (N-SET, N-ACTION).
    pub requested_sop_instance_uid: Option<String>,
    /// (0000,1002) Event Type ID (N-EVENT-REPORT).
    pub event_type_id: Option<u16>,
    /// (0000,1008) Action Type ID (N-ACTION).
    pub action_type_id: Option<u16>,
    /// (0000,1005) Attribute Identifier List (N-GET): the attributes asked
    /// for (empty: all).
    pub attribute_identifiers: Vec<Tag>,
    /// (0000,0700) Priority.
    pub priority: Option<Priority>,
    /// (0000,0800) whether a data set follows.
    pub has_data_set: bool,
    /// (0000,0900) Status (responses).
    pub status: Option<Status>,
    /// (0000,0902) Error Comment.
    pub error_comment: Option<String>,
    /// (0000,0901) Offending Element.
    pub offending_elements: Vec<Tag>,
    /// (0000,0903) Error ID.
    pub error_id: Option<u16>,
    /// (0000,0600) Move Destination.
    pub move_destination: Option<String>,
    /// (0000,1030) Move Originator Application Entity Title.
    pub move_originator_ae_title: Option<String>,
    /// (0000,1031) Move Originator Message ID.
    pub move_originator_message_id: Option<u16>,
    /// (0000,1020..1023) sub-operation counts.
    pub sub_operations: Option<SubOperations>,
}

impl Command {
    /// The command field, or an error naming what is missing.
    pub fn field(&self) -> Result<CommandField> {
        self.field
            .ok_or(Error::MalformedCommand("no Command Field (0000,0100)"))
    }

    /// A request.
    pub fn request(
        field: CommandField,
        message_id: u16,
        sop_class_uid: &str,
        has_data_set: bool,
    ) -> Self {
        Command {
            field: Some(field),
            message_id: Some(message_id),
            affected_sop_class_uid: Some(sop_class_uid.to_owned()),
            priority: matches!(
                field,
                CommandField::CStoreRq
                    | CommandField::CFindRq
                    | CommandField::CMoveRq
                    | CommandField::CGetRq
            )
            .then_some(Priority::Medium),
            has_data_set,
            ..Command::default()
        }
    }

    /// The response to this request with `status`. An N-service response
    /// names the instance it is about (PS3.7 §10.3): the requested or
    /// affected one.
    pub fn response(&self, status: Status, has_data_set: bool) -> Self {
        let field = self.field.map(CommandField::response);
        let normalized = field.is_some_and(CommandField::is_normalized_response);
        Command {
            field,
            responding_to: self.message_id,
            affected_sop_class_uid: self
                .affected_sop_class_uid
                .clone()
                .or_else(|| self.requested_sop_class_uid.clone()),
            affected_sop_instance_uid: match field {
                Some(CommandField::CStoreRsp) => self.affected_sop_instance_uid.clone(),
                _ if normalized => self
                    .affected_sop_instance_uid
                    .clone()
                    .or_else(|| self.requested_sop_instance_uid.clone()),
                _ => None,
            },
            action_type_id: match field {
                Some(CommandField::NActionRsp) => self.action_type_id,
                _ => None,
            },
            event_type_id: match field {
                Some(CommandField::NEventReportRsp) => self.event_type_id,
                _ => None,
            },
            has_data_set,
            status: Some(status),
            ..Command::default()
        }
    }

    /// Name the attributes a response is about, in the field PS3.7 gives
    /// them: a DIMSE-N response's No Such Attribute (0105H), Attribute
    /// List warning (0107H), Missing Attribute (0120H) and Missing
    /// Attribute Value (0121H) carry Attribute Identifier List (0000,1005)
    /// (C.4.2, C.5; as dcm4che does, and the only one of the two that
    /// pynetdicom's N-SET, N-GET and N-ACTION primitives read); everything
    /// else carries Offending Element (0000,0901).
    pub fn name_attributes(&mut self, tags: Vec<Tag>) {
        let normalized = self.field.is_some_and(CommandField::is_normalized_response);
        let listed = matches!(self.status, Some(Status(0x0105 | 0x0107 | 0x0120 | 0x0121)));
        if normalized && listed {
            self.attribute_identifiers = tags;
        } else {
            self.offending_elements = tags;
        }
    }

    /// Encode as a command set: implicit VR little endian, group length first.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(192);
        let uid = |out: &mut Vec<u8>, tag: Tag, v: &Option<String>| {
            if let Some(v) = v {
                put(out, tag, &padded(v, 0));
            }
        };
        let ae = |out: &mut Vec<u8>, tag: Tag, v: &Option<String>| {
            if let Some(v) = v {
                put(out, tag, &padded(v, b' '));
            }
        };
        let us = |out: &mut Vec<u8>, tag: Tag, v: Option<u16>| {
            if let Some(v) = v {
                put(out, tag, &v.to_le_bytes());
            }
        };
        // Elements in ascending tag order (PS3.5 §7.1).
        uid(
            &mut body,
            tags::AFFECTED_SOP_CLASS_UID,
            &self.affected_sop_class_uid,
        );
        uid(
            &mut body,
            tags::REQUESTED_SOP_CLASS_UID,
            &self.requested_sop_class_uid,
        );
        us(
            &mut body,
            tags::COMMAND_FIELD,
            self.field.map(CommandField::code),
        );
        us(&mut body, tags::MESSAGE_ID, self.message_id);
        us(
            &mut body,
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            self.responding_to,
        );
        ae(&mut body, tags::MOVE_DESTINATION, &self.move_destination);
        us(
            &mut body,
            tags::PRIORITY,
            self.priority.map(|p| match p {
                Priority::Medium => 0,
                Priority::High => 1,
                Priority::Low => 2,
            }),
        );
        us(
            &mut body,
            tags::COMMAND_DATA_SET_TYPE,
            Some(if self.has_data_set {
                0x0000
            } else {
                NO_DATA_SET
            }),
        );
        us(&mut body, tags::STATUS, self.status.map(|s| s.0));
        if !self.offending_elements.is_empty() {
            put(
                &mut body,
                tags::OFFENDING_ELEMENT,
                &tag_list(&self.offending_elements),
            );
        }
        if let Some(c) = &self.error_comment {
            put(
                &mut body,
                tags::ERROR_COMMENT,
                &padded(&clean_comment(c), b' '),
            );
        }
        us(&mut body, tags::ERROR_ID, self.error_id);
        uid(
            &mut body,
            tags::AFFECTED_SOP_INSTANCE_UID,
            &self.affected_sop_instance_uid,
        );
        uid(
            &mut body,
            tags::REQUESTED_SOP_INSTANCE_UID,
            &self.requested_sop_instance_uid,
        );
        us(&mut body, tags::EVENT_TYPE_ID, self.event_type_id);
        if !self.attribute_identifiers.is_empty() {
            put(
                &mut body,
                tags::ATTRIBUTE_IDENTIFIER_LIST,
                &tag_list(&self.attribute_identifiers),
            );
        }
        us(&mut body, tags::ACTION_TYPE_ID, self.action_type_id);
        if let Some(s) = self.sub_operations {
            us(
                &mut body,
                tags::NUMBER_OF_REMAINING_SUBOPERATIONS,
                Some(s.remaining),
            );
            us(
                &mut body,
                tags::NUMBER_OF_COMPLETED_SUBOPERATIONS,
                Some(s.completed),
            );
            us(
                &mut body,
                tags::NUMBER_OF_FAILED_SUBOPERATIONS,
                Some(s.failed),
            );
            us(
                &mut body,
                tags::NUMBER_OF_WARNING_SUBOPERATIONS,
                Some(s.warning),
            );
        }
        ae(
            &mut body,
            tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE,
            &self.move_originator_ae_title,
        );
        us(
            &mut body,
            tags::MOVE_ORIGINATOR_MESSAGE_ID,
            self.move_originator_message_id,
        );

        let mut out = Vec::with_capacity(12 + body.len());
        put(
            &mut out,
            tags::COMMAND_GROUP_LENGTH,
            &(body.len() as u32).to_le_bytes(),
        );
        out.extend_from_slice(&body);
        out
    }

    /// Decode a command set.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut c = Command::default();
        let mut has_type = false;
        let mut pos = 0;
        let mut subs = SubOperations::default();
        let mut has_subs = false;
        while pos < bytes.len() {
            let h = bytes.get(pos..pos + 8).ok_or(Error::MalformedCommand(
                "command set ends inside an element header",
            ))?;
            let tag = Tag(
                u16::from_le_bytes([h[0], h[1]]),
                u16::from_le_bytes([h[2], h[3]]),
            );
            let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
            if tag.group() != 0x0000 {
                return Err(Error::MalformedCommand(
                    "element outside group 0000 in a command set",
                ));
            }
            let value = bytes
                .get(pos + 8..pos + 8 + len)
                .ok_or(Error::MalformedCommand(
                    "command set element longer than the command set",
                ))?;
            pos += 8 + len;
            let us = || -> Result<u16> {
                value
                    .get(0..2)
                    .map(|v| u16::from_le_bytes([v[0], v[1]]))
                    .ok_or(Error::MalformedCommand("US value shorter than 2 bytes"))
            };
            let text = || {
                String::from_utf8_lossy(value)
                    .trim_matches(['\0', ' '])
                    .to_owned()
            };
            match tag {
                tags::COMMAND_FIELD => c.field = Some(CommandField::from_code(us()?)),
                tags::MESSAGE_ID => c.message_id = Some(us()?),
                tags::MESSAGE_ID_BEING_RESPONDED_TO => c.responding_to = Some(us()?),
                tags::AFFECTED_SOP_CLASS_UID => c.affected_sop_class_uid = Some(text()),
                tags::AFFECTED_SOP_INSTANCE_UID => c.affected_sop_instance_uid = Some(text()),
                tags::REQUESTED_SOP_CLASS_UID => c.requested_sop_class_uid = Some(text()),
                tags::REQUESTED_SOP_INSTANCE_UID => c.requested_sop_instance_uid = Some(text()),
                tags::EVENT_TYPE_ID => c.event_type_id = Some(us()?),
                tags::ACTION_TYPE_ID => c.action_type_id = Some(us()?),
                tags::PRIORITY => {
                    c.priority = Some(match us()? {
                        1 => Priority::High,
                        2 => Priority::Low,
                        _ => Priority::Medium,
                    })
                }
                tags::COMMAND_DATA_SET_TYPE => {
                    has_type = true;
                    c.has_data_set = us()? != NO_DATA_SET;
                }
                tags::STATUS => c.status = Some(Status(us()?)),
                // A peer's words end up in our logs: no control characters
                // (a newline could forge a log line), as we send them.
                tags::ERROR_COMMENT => c.error_comment = Some(clean_comment(&text())),
                tags::ERROR_ID => c.error_id = Some(us()?),
                tags::OFFENDING_ELEMENT => c.offending_elements = read_tag_list(value),
                tags::ATTRIBUTE_IDENTIFIER_LIST => c.attribute_identifiers = read_tag_list(value),
                tags::MOVE_DESTINATION => c.move_destination = Some(text()),
                tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE => {
                    c.move_originator_ae_title = Some(text())
                }
                tags::MOVE_ORIGINATOR_MESSAGE_ID => c.move_originator_message_id = Some(us()?),
                tags::NUMBER_OF_REMAINING_SUBOPERATIONS => {
                    has_subs = true;
                    subs.remaining = us()?;
                }
                tags::NUMBER_OF_COMPLETED_SUBOPERATIONS => {
                    has_subs = true;
                    subs.completed = us()?;
                }
                tags::NUMBER_OF_FAILED_SUBOPERATIONS => {
                    has_subs = true;
                    subs.failed = us()?;
                }
                tags::NUMBER_OF_WARNING_SUBOPERATIONS => {
                    has_subs = true;
                    subs.warning = us()?;
                }
                _ => {}
            }
        }
        if has_subs {
            c.sub_operations = Some(subs);
        }
        if c.field.is_none() {
            return Err(Error::MalformedCommand("no Command Field (0000,0100)"));
        }
        if !has_type {
            return Err(Error::MalformedCommand(
                "no Command Data Set Type (0000,0800)",
            ));
        }
        if c.message_id.is_none() && c.responding_to.is_none() {
            return Err(Error::MalformedCommand("no Message ID (0000,0110)"));
        }
        Ok(c)
    }
}

fn put(out: &mut Vec<u8>, tag: Tag, value: &[u8]) {
    out.extend_from_slice(&tag.group().to_le_bytes());
    out.extend_from_slice(&tag.element().to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

/// A text value padded to even length.
fn padded(v: &str, pad: u8) -> Vec<u8> {
    let mut b = v.as_bytes().to_vec();
    if b.len() % 2 == 1 {
        b.push(pad);
    }
    b
}

/// An Error Comment as it may be sent and logged: LO, at most 64 printable
/// ASCII characters (the default character repertoire; no control
/// characters).
fn clean_comment(c: &str) -> String {
    let c: String = c
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(64)
        .collect();
    c.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `dimse_command` fuzz target: an Error Comment with NUL
    /// and control characters decoded as is, so a peer could put line
    /// breaks into our logs, and it did not survive our own encoding.
    #[test]
    fn error_comments_lose_control_characters() {
        let input = [
            0x00, 0x00, 0x02, 0x09, 0x1a, 0x00, 0x00, 0x00, 0x31, 0x00, 0x11, 0x00, 0x00, 0x34,
            0x2d, 0x2e, 0x31, 0x30, 0x30, 0x30, 0x38, 0x2e, 0x35, 0x2e, 0x31, 0x2e, 0x34, 0x2e,
            0x31, 0x2e, 0x31, 0x2e, 0x32, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00,
            0x01, 0x00, 0x00, 0x00, 0x10, 0x01, 0x02, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
            0x00, 0x07, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x02, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x22, 0x10, 0x0a, 0x00, 0x00, 0x00, 0x31, 0x2e,
            0x32, 0x2e, 0x33, 0x2e, 0x34, 0x2e, 0x35, 0x00,
        ];
        let c = Command::decode(&input).unwrap();
        assert_eq!(c.error_comment.as_deref(), Some("14-.10008.5.1.4.1.1.2"));
        let again = Command::decode(&c.encode()).unwrap();
        assert_eq!(format!("{c:?}"), format!("{again:?}"));
        let mut rsp = Command::request(CommandField::CEchoRq, 1, "1.2", false)
            .response(Status::PROCESSING_FAILURE, false);
        rsp.error_comment = Some("x".into());
        let mut bytes = rsp.encode();
        let at = bytes.len() - 2;
        bytes[at] = b'\n';
        let decoded = Command::decode(&bytes).unwrap();
        assert!(!decoded.error_comment.unwrap().contains('\n'));
    }

    fn samples() -> Vec<Command> {
        let store = Command {
            affected_sop_instance_uid: Some("1.2.3.4.5".into()),
            move_originator_ae_title: Some("RIS".into()),
            move_originator_message_id: Some(7),
            ..Command::request(CommandField::CStoreRq, 3, "1.2.840.10008.5.1.4.1.1.2", true)
        };
        let mut mv = Command::request(
            CommandField::CMoveRq,
            9,
            "1.2.840.10008.5.1.4.1.2.2.2",
            true,
        );
        mv.move_destination = Some("STORESCP".into());
        let mut rsp = mv.response(Status::PENDING, false);
        rsp.sub_operations = Some(SubOperations {
            remaining: 10,
            completed: 3,
            failed: 1,
            warning: 0,
        });
        let mut failure = store.response(Status::DOES_NOT_MATCH_SOP_CLASS, false);
        failure.error_comment = Some("missing SOPInstanceUID".into());
        failure.offending_elements = vec![tags::SOP_INSTANCE_UID];
        vec![
            Command::request(CommandField::CEchoRq, 1, "1.2.840.10008.1.1", false),
            store.clone(),
            store.response(Status::SUCCESS, false),
            mv,
            rsp,
            failure,
            Command {
                field: Some(CommandField::CCancelRq),
                responding_to: Some(9),
                ..Command::default()
            },
        ]
    }

    /// N-services (PS3.7 §10.3): the response names the requested class
    /// and instance as affected ones, and carries the action or event type.
    #[test]
    fn normalized_commands_answer_for_their_instance() {
        let action = Command {
            field: Some(CommandField::NActionRq),
            message_id: Some(4),
            requested_sop_class_uid: Some("1.2.840.10008.1.20.1".into()),
            requested_sop_instance_uid: Some("1.2.840.10008.1.20.1.1".into()),
            action_type_id: Some(1),
            has_data_set: true,
            ..Command::default()
        };
        let again = Command::decode(&action.encode()).unwrap();
        assert_eq!(again, action);
        assert_eq!(again.priority, None, "N-services carry no priority");
        let rsp = action.response(Status::SUCCESS, false);
        assert_eq!(rsp.field, Some(CommandField::NActionRsp));
        assert_eq!(rsp.field.map(CommandField::code), Some(0x8130));
        assert_eq!(
            rsp.affected_sop_class_uid.as_deref(),
            Some("1.2.840.10008.1.20.1")
        );
        assert_eq!(
            rsp.affected_sop_instance_uid.as_deref(),
            Some("1.2.840.10008.1.20.1.1")
        );
        assert_eq!(rsp.action_type_id, Some(1));
        assert_eq!(Command::decode(&rsp.encode()).unwrap(), rsp);
        let report = Command {
            field: Some(CommandField::NEventReportRq),
            message_id: Some(1),
            affected_sop_class_uid: Some("1.2.840.10008.1.20.1".into()),
            affected_sop_instance_uid: Some("1.2.840.10008.1.20.1.1".into()),
            event_type_id: Some(2),
            has_data_set: true,
            ..Command::default()
        };
        let rsp = Command::decode(&report.encode())
            .unwrap()
            .response(Status::SUCCESS, false);
        assert_eq!(
            (rsp.field, rsp.event_type_id, rsp.responding_to),
            (Some(CommandField::NEventReportRsp), Some(2), Some(1))
        );
        // Elements in ascending tag order: (0000,0003) before (0000,0100),
        // (0000,1001) before (0000,1008).
        let bytes = action.encode();
        let mut pos = 0;
        let mut last = 0u32;
        while pos < bytes.len() {
            let tag = u32::from(u16::from_le_bytes([bytes[pos + 2], bytes[pos + 3]]));
            assert!(pos == 0 || tag > last, "tags out of order");
            last = tag;
            pos += 8 + u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        }
        let create = Command::request(CommandField::NCreateRq, 2, "1.2.840.10008.3.1.2.3.3", true);
        assert_eq!(
            create.response(Status::SUCCESS, false).field,
            Some(CommandField::NCreateRsp)
        );
    }

    /// A DIMSE-N refusal for a missing or unknown attribute names it in
    /// Attribute Identifier List (PS3.7 C.5); a C-service failure, and an
    /// N-service one of another kind, in Offending Element.
    #[test]
    fn refusals_name_attributes_where_ps3_7_puts_them() {
        let create = Command {
            field: Some(CommandField::NCreateRq),
            message_id: Some(2),
            affected_sop_class_uid: Some("1.2.840.10008.3.1.2.3.3".into()),
            affected_sop_instance_uid: Some("1.2.3".into()),
            has_data_set: true,
            ..Command::default()
        };
        for status in [
            Status::MISSING_ATTRIBUTE,
            Status::MISSING_ATTRIBUTE_VALUE,
            Status::NO_SUCH_ATTRIBUTE,
        ] {
            let mut rsp = create.response(status, false);
            rsp.name_attributes(vec![tags::PERFORMED_STATION_AE_TITLE]);
            let again = Command::decode(&rsp.encode()).unwrap();
            assert_eq!(
                again.attribute_identifiers,
                vec![tags::PERFORMED_STATION_AE_TITLE],
                "{status}"
            );
            assert!(again.offending_elements.is_empty(), "{status}");
        }
        let mut invalid = create.response(Status::INVALID_ATTRIBUTE_VALUE, false);
        invalid.name_attributes(vec![tags::PERFORMED_STATION_AE_TITLE]);
        assert_eq!(
            invalid.offending_elements,
            vec![tags::PERFORMED_STATION_AE_TITLE]
        );
        let find = Command::request(
            CommandField::CFindRq,
            3,
            "1.2.840.10008.5.1.4.1.2.2.1",
            true,
        );
        let mut failed = find.response(Status(0xA900), false);
        failed.name_attributes(vec![tags::QUERY_RETRIEVE_LEVEL]);
        let again = Command::decode(&failed.encode()).unwrap();
        assert_eq!(again.offending_elements, vec![tags::QUERY_RETRIEVE_LEVEL]);
        assert!(again.attribute_identifiers.is_empty());
    }

    #[test]
    fn commands_round_trip() {
        for c in samples() {
            let bytes = c.encode();
            assert_eq!(bytes.len() % 2, 0);
            // Group length counts everything after itself.
            assert_eq!(
                u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
                bytes.len() - 12
            );
            assert_eq!(Command::decode(&bytes).unwrap(), c);
        }
    }

    #[test]
    fn responses_answer_their_requests() {
        let rq = &samples()[1];
        let rsp = rq.response(Status::SUCCESS, false);
        assert_eq!(rsp.field, Some(CommandField::CStoreRsp));
        assert_eq!(rsp.responding_to, Some(3));
        assert_eq!(rsp.affected_sop_instance_uid.as_deref(), Some("1.2.3.4.5"));
        assert_eq!(rsp.message_id, None);
    }

    #[test]
    fn malformed_commands_are_errors_not_panics() {
        let good = samples()[1].encode();
        // Every truncation, and every single-byte corruption, decodes or errors.
        for n in 0..good.len() {
            let _ = Command::decode(&good[..n]);
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[n] ^= flip;
                let _ = Command::decode(&bad);
            }
        }
        assert!(Command::decode(&good[..good.len() - 1]).is_err());
        // No command field.
        let mut no_field = Vec::new();
        put(&mut no_field, tags::MESSAGE_ID, &1u16.to_le_bytes());
        put(
            &mut no_field,
            tags::COMMAND_DATA_SET_TYPE,
            &NO_DATA_SET.to_le_bytes(),
        );
        assert!(matches!(
            Command::decode(&no_field),
            Err(Error::MalformedCommand(_))
        ));
        // An absurd element length.
        let mut absurd = Vec::new();
        absurd.extend_from_slice(&[0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(Command::decode(&absurd).is_err());
    }
}
