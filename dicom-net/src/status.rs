//! DIMSE status codes (PS3.7 Annex C) and their classes.

use std::fmt;

/// A DIMSE status (0000,0900). The named constants are the codes this
/// server sends or must understand; any other code still carries its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u16);

/// What a status means to the receiver (PS3.7 C.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// 0000.
    Success,
    /// FF00, FF01: more responses follow.
    Pending,
    /// FE00.
    Cancel,
    /// 0001, Bxxx, 0107, 0116.
    Warning,
    /// Everything else.
    Failure,
}

impl Status {
    /// Success (PS3.7 C.1.1).
    pub const SUCCESS: Status = Status(0x0000);
    /// Matches are continuing (C-FIND) / sub-operations are continuing (C-MOVE, C-GET).
    pub const PENDING: Status = Status(0xFF00);
    /// Matches are continuing; some optional keys were not supported.
    pub const PENDING_WARNING: Status = Status(0xFF01);
    /// Terminated by a C-CANCEL.
    pub const CANCEL: Status = Status(0xFE00);
    /// C-STORE: coercion of data elements. C-MOVE/C-GET: sub-operations
    /// complete, one or more failures or warnings.
    pub const WARNING_B000: Status = Status(0xB000);
    /// C-STORE: data set does not match SOP class (stored anyway).
    pub const WARNING_DATA_SET_MISMATCH: Status = Status(0xB007);
    /// Refused: SOP class not supported (PS3.7 C.5.x).
    pub const SOP_CLASS_NOT_SUPPORTED: Status = Status(0x0122);
    /// Refused: not authorized.
    pub const NOT_AUTHORIZED: Status = Status(0x0124);
    /// Processing failure.
    pub const PROCESSING_FAILURE: Status = Status(0x0110);
    /// N-CREATE: duplicate SOP instance.
    pub const DUPLICATE_SOP_INSTANCE: Status = Status(0x0111);
    /// N-SET, N-ACTION: no such SOP instance (also a storage commitment
    /// Failure Reason, PS3.3 C.14.1.1).
    pub const NO_SUCH_SOP_INSTANCE: Status = Status(0x0112);
    /// N-ACTION: no such action type.
    pub const NO_SUCH_ACTION: Status = Status(0x0123);
    /// No such attribute (N-SET of an attribute that may not be set).
    pub const NO_SUCH_ATTRIBUTE: Status = Status(0x0105);
    /// Invalid attribute value.
    pub const INVALID_ATTRIBUTE_VALUE: Status = Status(0x0106);
    /// No such SOP class.
    pub const NO_SUCH_SOP_CLASS: Status = Status(0x0118);
    /// The SOP class is not the presentation context's.
    pub const CLASS_INSTANCE_CONFLICT: Status = Status(0x0119);
    /// Missing attribute (a Type 1 attribute of an N-CREATE).
    pub const MISSING_ATTRIBUTE: Status = Status(0x0120);
    /// Missing attribute value (a Type 1 attribute present but empty).
    pub const MISSING_ATTRIBUTE_VALUE: Status = Status(0x0121);
    /// Duplicate invocation (message ID in use).
    pub const DUPLICATE_INVOCATION: Status = Status(0x0210);
    /// Unrecognized operation (unsupported command field).
    pub const UNRECOGNIZED_OPERATION: Status = Status(0x0211);
    /// Mistyped argument.
    pub const MISTYPED_ARGUMENT: Status = Status(0x0212);
    /// Resource limitation (a request beyond what the SCP takes at once).
    pub const RESOURCE_LIMITATION: Status = Status(0x0213);
    /// Refused: out of resources.
    pub const OUT_OF_RESOURCES: Status = Status(0xA700);
    /// C-MOVE/C-GET: out of resources, unable to calculate number of matches.
    pub const OUT_OF_RESOURCES_MATCHES: Status = Status(0xA701);
    /// C-MOVE/C-GET: out of resources, unable to perform sub-operations.
    pub const OUT_OF_RESOURCES_SUB_OPERATIONS: Status = Status(0xA702);
    /// C-MOVE: move destination unknown.
    pub const MOVE_DESTINATION_UNKNOWN: Status = Status(0xA801);
    /// Data set (C-STORE) or identifier (C-FIND/MOVE/GET) does not match SOP class.
    pub const DOES_NOT_MATCH_SOP_CLASS: Status = Status(0xA900);
    /// C-STORE: cannot understand. C-FIND/MOVE/GET: unable to process.
    pub const CANNOT_UNDERSTAND: Status = Status(0xC000);

    /// The class of this code.
    pub fn class(self) -> StatusClass {
        match self.0 {
            0x0000 => StatusClass::Success,
            0xFF00 | 0xFF01 => StatusClass::Pending,
            0xFE00 => StatusClass::Cancel,
            0x0001 | 0x0107 | 0x0116 | 0xB000..=0xBFFF => StatusClass::Warning,
            _ => StatusClass::Failure,
        }
    }

    /// Whether more responses follow.
    pub fn is_pending(self) -> bool {
        self.class() == StatusClass::Pending
    }

    /// Whether the operation failed.
    pub fn is_failure(self) -> bool {
        self.class() == StatusClass::Failure
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}H ({:?})", self.0, self.class())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_ps3_7_annex_c() {
        assert_eq!(Status::SUCCESS.class(), StatusClass::Success);
        assert!(Status::PENDING.is_pending() && Status::PENDING_WARNING.is_pending());
        assert_eq!(Status::CANCEL.class(), StatusClass::Cancel);
        assert_eq!(Status::WARNING_B000.class(), StatusClass::Warning);
        assert_eq!(
            Status::WARNING_DATA_SET_MISMATCH.class(),
            StatusClass::Warning
        );
        for failure in [
            Status::OUT_OF_RESOURCES,
            Status::MOVE_DESTINATION_UNKNOWN,
            Status::DOES_NOT_MATCH_SOP_CLASS,
            Status::CANNOT_UNDERSTAND,
            Status::SOP_CLASS_NOT_SUPPORTED,
            Status(0xC123),
        ] {
            assert!(failure.is_failure(), "{failure}");
        }
    }
}
