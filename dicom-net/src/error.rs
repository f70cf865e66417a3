//! The dicom-net error type.

/// Errors of the DIMSE layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The upper layer failed (bad PDU, closed socket, timeout…).
    #[error("upper layer: {0}")]
    UpperLayer(#[from] dicom_ul::association::Error),

    /// A command set could not be decoded, or lacks a required field.
    #[error("malformed command set: {0}")]
    MalformedCommand(&'static str),

    /// The peer broke the DIMSE protocol (data before a command, a second
    /// command mid-message, a PDV on an unknown presentation context…).
    #[error("protocol violation: {0}")]
    Protocol(String),

    /// The peer aborted the association.
    #[error("association aborted by the peer")]
    Aborted,

    /// The peer released the association while we expected a message.
    #[error("association released by the peer")]
    Released,

    /// The peer did not answer in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),

    /// A data set could not be encoded or decoded.
    #[error("data set: {0}")]
    DataSet(String),

    /// The association was not accepted (A-ASSOCIATE-RJ) or no presentation
    /// context fits.
    #[error("association refused: {0}")]
    Refused(String),

    /// Local I/O failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Result with the dicom-net [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
