//! HL7 v2 messages in ER7 (the pipe-and-hat encoding): parsing what the
//! RIS sends and writing the acknowledgements (HL7 v2.5.1 chapter 2).
//!
//! Segments end with CR (LF and CRLF are accepted too); the field,
//! component, repetition, escape and subcomponent separators are the ones
//! MSH-1 and MSH-2 declare. Fields are numbered as the standard numbers
//! them: in MSH, field 1 is the field separator itself.

use std::fmt::Write as _;

/// A parsed message.
#[derive(Debug, Clone)]
pub struct Message {
    segments: Vec<Segment>,
    separators: Separators,
}

/// One segment: its name and its fields, numbered from 1.
#[derive(Debug, Clone)]
pub struct Segment {
    /// `MSH`, `PID`, …
    pub name: String,
    fields: Vec<String>,
}

/// The delimiters of a message (MSH-1, MSH-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separators {
    field: char,
    component: char,
    repetition: char,
    escape: char,
    subcomponent: char,
}

impl Default for Separators {
    fn default() -> Self {
        Separators {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
        }
    }
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Decode a message's bytes: as MSH-18 says (ISO 8859-1 when it says
/// `8859/1`), UTF-8 otherwise (what `UNICODE UTF-8` and every ASCII message
/// are).
pub fn decode(bytes: &[u8]) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]);
    let latin1 = head
        .split(['\r', '\n'])
        .next()
        .map(|msh| msh.split('|').nth(17).unwrap_or("").starts_with("8859/1"))
        .unwrap_or(false);
    if latin1 {
        bytes.iter().map(|&b| b as char).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

impl Message {
    /// Parse a message's text.
    pub fn parse(text: &str) -> Result<Message, ParseError> {
        let text = text.trim_start_matches(['\r', '\n', ' ']);
        if !text.starts_with("MSH") || text.len() < 8 {
            return Err(ParseError(
                "the message does not begin with an MSH segment".into(),
            ));
        }
        let mut chars = text[3..].chars();
        let field = chars.next().unwrap_or('|');
        let encoding: Vec<char> = chars.take_while(|c| *c != field).collect();
        if field.is_alphanumeric() || encoding.len() < 3 {
            return Err(ParseError(
                "MSH-1 and MSH-2 do not declare the separators".into(),
            ));
        }
        let separators = Separators {
            field,
            component: encoding[0],
            repetition: encoding[1],
            escape: encoding[2],
            subcomponent: encoding.get(3).copied().unwrap_or('&'),
        };
        let mut segments = Vec::new();
        for line in text.split(['\r', '\n']).filter(|l| !l.trim().is_empty()) {
            let mut parts: Vec<String> = line.split(field).map(str::to_owned).collect();
            let name = parts.remove(0);
            if name.len() != 3 || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ParseError(format!(
                    "{:?} is not a segment",
                    name.chars().take(16).collect::<String>()
                )));
            }
            let mut fields = vec![String::new()];
            if name == "MSH" {
                // MSH-1 is the separator, MSH-2 the encoding characters.
                fields.push(field.to_string());
            }
            fields.extend(parts);
            segments.push(Segment { name, fields });
        }
        Ok(Message {
            segments,
            separators,
        })
    }

    /// The first segment named `name`.
    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    /// Every segment named `name`.
    pub fn segments<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Segment> + 'a {
        self.segments.iter().filter(move |s| s.name == name)
    }

    /// The message cut into groups, each from a segment named `start` up
    /// to the next one (the ORDER groups of ORM and OMI, from each ORC).
    /// Segments before the first `start` belong to none.
    pub fn groups(&self, start: &str) -> Vec<&[Segment]> {
        let mut out = Vec::new();
        let mut from = None;
        for (n, s) in self.segments.iter().enumerate() {
            if s.name == start {
                if let Some(f) = from {
                    out.push(&self.segments[f..n]);
                }
                from = Some(n);
            }
        }
        if let Some(f) = from {
            out.push(&self.segments[f..]);
        }
        out
    }

    /// Component `component` (1-based) of the first repetition of field
    /// `field` of the first segment `name`, unescaped; empty when absent.
    pub fn get(&self, name: &str, field: usize, component: usize) -> String {
        self.segment(name)
            .map(|s| self.component(s, field, component))
            .unwrap_or_default()
    }

    /// A whole field (every component, first repetition), raw.
    pub fn field<'a>(&'a self, segment: &'a Segment, field: usize) -> &'a str {
        let raw = segment.fields.get(field).map(String::as_str).unwrap_or("");
        if segment.name == "MSH" && field <= 2 {
            return raw;
        }
        raw.split(self.separators.repetition).next().unwrap_or("")
    }

    /// Component `component` (1-based) of field `field` of `segment`,
    /// first subcomponent, unescaped.
    pub fn component(&self, segment: &Segment, field: usize, component: usize) -> String {
        let f = self.field(segment, field);
        let c = f
            .split(self.separators.component)
            .nth(component.saturating_sub(1))
            .unwrap_or("");
        let c = c.split(self.separators.subcomponent).next().unwrap_or("");
        self.unescape(c)
    }

    /// The subcomponents of component `component` of field `field`,
    /// unescaped (a CNN name in OBR-34: ID&family&given…).
    pub fn subcomponents(&self, segment: &Segment, field: usize, component: usize) -> Vec<String> {
        self.field(segment, field)
            .split(self.separators.component)
            .nth(component.saturating_sub(1))
            .unwrap_or("")
            .split(self.separators.subcomponent)
            .map(|c| self.unescape(c))
            .collect()
    }

    /// The components of field `field` of `segment`, unescaped.
    pub fn components(&self, segment: &Segment, field: usize) -> Vec<String> {
        self.field(segment, field)
            .split(self.separators.component)
            .map(|c| self.unescape(c.split(self.separators.subcomponent).next().unwrap_or("")))
            .collect()
    }

    /// MSH-9: (message code, trigger event), e.g. ("ORM", "O01").
    pub fn message_type(&self) -> (String, String) {
        (self.get("MSH", 9, 1), self.get("MSH", 9, 2))
    }

    /// MSH-10.
    pub fn control_id(&self) -> String {
        self.get("MSH", 10, 1)
    }

    fn unescape(&self, v: &str) -> String {
        let e = self.separators.escape;
        if !v.contains(e) {
            return v.trim().to_owned();
        }
        let mut out = String::with_capacity(v.len());
        let mut rest = v;
        while let Some(at) = rest.find(e) {
            out.push_str(&rest[..at]);
            let after = &rest[at + e.len_utf8()..];
            let Some(end) = after.find(e) else {
                // A lone escape character: kept as it is.
                out.push_str(&rest[at..]);
                rest = "";
                break;
            };
            match &after[..end] {
                "F" => out.push(self.separators.field),
                "S" => out.push(self.separators.component),
                "T" => out.push(self.separators.subcomponent),
                "R" => out.push(self.separators.repetition),
                "E" => out.push(e),
                s if s.starts_with('X') => {
                    let bytes: Vec<u8> = (1..s.len())
                        .step_by(2)
                        .filter_map(|k| u8::from_str_radix(s.get(k..k + 2)?, 16).ok())
                        .collect();
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
                _ => {} // formatting (\.br\, \H\ …): dropped
            }
            rest = &after[end + e.len_utf8()..];
        }
        out.push_str(rest);
        out.trim().to_owned()
    }
}

/// Acknowledgment codes (HL7 table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Application Accept: applied.
    Accept,
    /// Application Error: understood, not applied.
    Error,
    /// Application Reject: not understood or not allowed.
    Reject,
}

impl AckCode {
    /// MSA-1.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::Accept => "AA",
            AckCode::Error => "AE",
            AckCode::Reject => "AR",
        }
    }
}

/// What went wrong, for an ERR segment (HL7 table 0357).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// The code: 100 segment sequence error, 101 required field missing,
    /// 102 data type error, 200 unsupported message type, 201 unsupported
    /// event code, 204 unknown key identifier, 207 application internal
    /// error.
    pub code: u16,
    /// Where: segment and field (`PID`, 3).
    pub location: Option<(&'static str, usize)>,
    /// In words.
    pub text: String,
    /// Whether the service audited it already (a refusal of its own).
    pub audited: bool,
}

impl AckError {
    /// An error with code and words.
    pub fn new(
        code: u16,
        location: Option<(&'static str, usize)>,
        text: impl Into<String>,
    ) -> Self {
        AckError {
            code,
            location,
            text: text.into(),
            audited: false,
        }
    }

    fn code_text(&self) -> &'static str {
        match self.code {
            100 => "Segment sequence error",
            101 => "Required field missing",
            102 => "Data type error",
            200 => "Unsupported message type",
            201 => "Unsupported event code",
            203 => "Unsupported version id",
            204 => "Unknown key identifier",
            207 => "Application internal error",
            _ => "Application error",
        }
    }
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\E\\"),
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The ACK for a message (`None`: it did not even parse): MSH, MSA
/// echoing its control ID, and an ERR segment when there is an error.
pub fn ack(
    to: Option<&Message>,
    code: AckCode,
    error: Option<&AckError>,
    now: &str,
    control_id: &str,
) -> String {
    let get = |s: &str, f: usize, c: usize| to.map(|m| m.get(s, f, c)).unwrap_or_default();
    let (_, trigger) = to.map(Message::message_type).unwrap_or_default();
    let version = Some(get("MSH", 12, 1))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "2.5.1".to_owned());
    let charset = get("MSH", 18, 1);
    let mut out = String::new();
    let _ = write!(
        out,
        "MSH|^~\\&|FILMLESS|FILMLESS|{}|{}|{now}||ACK^{}^ACK|{control_id}|P|{}",
        escape(&get("MSH", 3, 1)),
        escape(&get("MSH", 4, 1)),
        escape(&trigger),
        escape(&version),
    );
    if !charset.is_empty() {
        let _ = write!(out, "||||||{}", escape(&charset));
    }
    out.push('\r');
    let _ = write!(
        out,
        "MSA|{}|{}",
        code.as_str(),
        escape(&to.map(Message::control_id).unwrap_or_default())
    );
    if let Some(e) = error {
        let _ = write!(out, "|{}", escape(&e.text));
    }
    out.push('\r');
    if let Some(e) = error {
        let location = e
            .location
            .map(|(s, f)| format!("{s}^1^{f}"))
            .unwrap_or_default();
        let _ = write!(
            out,
            "ERR||{location}|{}^{}^HL70357|E||||{}\r",
            e.code,
            e.code_text(),
            escape(&e.text)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORM: &str = "MSH|^~\\&|RIS|BVHD|FILMLESS|FILMLESS|20261202103000||ORM^O01|MSG001|P|2.5.1|||||VN|UNICODE UTF-8\r\
PID|1||P123^^^BVHD^MR||NGUYỄN^VĂN AN||19800101|M\r\
ORC|NW|ORD1|F1\r\
OBR|1|ORD1|F1|CT001^CT SO NAO^L||||||||||||||ACC1|RP1|SPS1|CT1|||CT\r";

    #[test]
    fn fields_and_components_are_numbered_as_the_standard_numbers_them() {
        let m = Message::parse(ORM).unwrap();
        assert_eq!(m.message_type(), ("ORM".into(), "O01".into()));
        assert_eq!(m.control_id(), "MSG001");
        assert_eq!(m.get("MSH", 3, 1), "RIS");
        assert_eq!(m.get("MSH", 18, 1), "UNICODE UTF-8");
        assert_eq!(m.get("PID", 3, 1), "P123");
        assert_eq!(m.get("PID", 3, 4), "BVHD");
        assert_eq!(m.get("PID", 5, 1), "NGUYỄN");
        assert_eq!(m.get("PID", 5, 2), "VĂN AN");
        assert_eq!(m.get("OBR", 18, 1), "ACC1");
        assert_eq!(m.get("OBR", 21, 1), "CT1");
        assert_eq!(m.get("OBR", 24, 1), "CT");
        assert_eq!(m.get("OBR", 4, 2), "CT SO NAO");
        assert_eq!(m.get("ZZZ", 1, 1), "");
    }

    #[test]
    fn escapes_are_undone_and_done() {
        let m = Message::parse("MSH|^~\\&|A|B\rNTE|1||a\\F\\b\\S\\c\\E\\d\\X4869\\").unwrap();
        assert_eq!(m.get("NTE", 3, 1), "a|b^c\\dHi");
        let a = ack(
            Some(&m),
            AckCode::Error,
            Some(&AckError::new(101, Some(("PID", 3)), "no ID | here")),
            "20261202",
            "ACK1",
        );
        assert!(
            a.contains("ERR||PID^1^3|101^Required field missing^HL70357|E||||no ID \\F\\ here\r"),
            "{a}"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "",
            "hello",
            "MSH",
            "MSHx",
            "MSH|^~\\&|\rP|x",
            "\u{0}\u{1}MSH|",
        ] {
            assert!(Message::parse(bad).is_err(), "{bad:?}");
        }
        let a = ack(None, AckCode::Reject, None, "20261202", "1");
        assert!(a.starts_with("MSH|^~\\&|FILMLESS|FILMLESS|||20261202||ACK^^ACK|1|P|2.5.1\r"));
        assert!(a.contains("MSA|AR|\r"));
    }

    #[test]
    fn latin1_messages_are_decoded_as_msh_18_says() {
        let mut bytes = b"MSH|^~\\&|A|B|C|D|1||ADT^A08|1|P|2.5|||||VN|8859/1\rPID|||1||M".to_vec();
        bytes.push(0xDC); // Ü in ISO 8859-1
        assert!(decode(&bytes).ends_with("MÜ"));
        assert!(decode("MSH|^~\\&|\rPID|||1||NGUYỄN".as_bytes()).ends_with("NGUYỄN"));
    }
}
