//! The one query model: C-FIND identifiers and QIDO-RS query strings both
//! parse into a [`Query`], and SQL is generated from it here and nowhere
//! else.
//!
//! Matching follows PS3.4 C.2.2.2: single value, list of UIDs, universal
//! (empty value: return only), wildcards `*` and `?`, and ranges on DA, TM
//! and DT (`A-B`, `-B`, `A-`). Person names match case-insensitively when
//! asked (an upper-cased copy is indexed). A query at a level may filter on
//! attributes of that level and of the levels above it; results carry the
//! values of all of them, plus the derived counts and ModalitiesInStudy.

mod attributes;
mod level;
mod sql;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::error::{Error, Result};
use crate::tenant::TenantId;

use attributes::Kind;
pub use attributes::{attribute, attribute_at, Attribute, ATTRIBUTES, WORKLIST_ATTRIBUTES};
pub use level::QueryLevel;

/// How one attribute is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Exact value.
    Single(String),
    /// Any of these values (UID list matching).
    List(Vec<String>),
    /// `*` and `?` wildcards.
    Wildcard(String),
    /// Inclusive range; either end may be open.
    Range(Option<String>, Option<String>),
}

/// One condition.
#[derive(Debug, Clone)]
pub struct Filter {
    /// On what.
    pub attribute: &'static Attribute,
    /// How.
    pub matcher: Matcher,
}

/// A query against the index.
#[derive(Debug, Clone)]
pub struct Query {
    /// The level of the results.
    pub level: QueryLevel,
    /// All must hold.
    pub filters: Vec<Filter>,
    /// Person names match case-insensitively.
    pub case_insensitive_names: bool,
    /// At most this many results.
    pub limit: Option<u64>,
    /// Skip this many first.
    pub offset: u64,
    /// Only this tenant's rows; `None` searches every tenant (the
    /// platform). Set by the server from who asks, never from the query.
    pub tenant: Option<TenantId>,
}

impl Query {
    /// An empty query at `level`.
    pub fn new(level: QueryLevel) -> Self {
        Query {
            level,
            filters: Vec::new(),
            case_insensitive_names: true,
            limit: None,
            offset: 0,
            tenant: None,
        }
    }

    /// Add a condition from a DICOM value, as a C-FIND identifier or a
    /// QIDO-RS parameter gives it. Empty values match everything (they
    /// ask for the attribute to be returned).
    pub fn add(&mut self, attribute: &'static Attribute, value: &str) -> Result<()> {
        let value = value.trim_matches(['\0', ' ']);
        if value.is_empty() || value == "*" {
            return Ok(());
        }
        let matcher = match attribute.kind {
            Kind::Derived => {
                return Err(Error::invalid(format!(
                "matching on ({:04X},{:04X}) is not supported; leave it empty to have it returned",
                attribute.tag.group(),
                attribute.tag.element()
            )))
            }
            Kind::Uid => {
                let uids = split_list(value);
                for u in &uids {
                    crate::uid::Uid::parse("UID", u)?;
                }
                if uids.len() == 1 {
                    Matcher::Single(uids.into_iter().next().unwrap_or_default())
                } else {
                    Matcher::List(uids)
                }
            }
            Kind::Date | Kind::Time if value.contains('-') => {
                let (lo, hi) = value.split_once('-').unwrap_or((value, ""));
                let check = |v: &str| -> Result<Option<String>> {
                    let v = v.trim();
                    if v.is_empty() {
                        return Ok(None);
                    }
                    let ok = match attribute.kind {
                        Kind::Date => is_date(v),
                        _ => {
                            v.len() >= 2
                                && v.bytes()
                                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b':')
                        }
                    };
                    if !ok {
                        return Err(Error::invalid(format!("bad range bound {v:?}")));
                    }
                    Ok(Some(v.replace(':', "")))
                };
                let (lo, hi) = (check(lo)?, check(hi)?);
                if lo.is_none() && hi.is_none() {
                    return Ok(());
                }
                Matcher::Range(lo, hi)
            }
            Kind::Date => {
                if !is_date(value) {
                    return Err(Error::invalid(format!(
                        "bad date {value:?}: expected YYYYMMDD or a range"
                    )));
                }
                Matcher::Single(value.to_owned())
            }
            Kind::Integer => {
                let n: i64 = value
                    .parse()
                    .map_err(|_| Error::invalid(format!("bad integer {value:?}")))?;
                Matcher::Single(n.to_string())
            }
            Kind::Modalities => Matcher::List(split_list(value)),
            _ if value.contains(['*', '?']) => Matcher::Wildcard(value.to_owned()),
            _ if attribute.kind == Kind::Time && value.contains(':') => {
                Matcher::Single(value.replace(':', ""))
            }
            _ => Matcher::Single(value.to_owned()),
        };
        self.filters.push(Filter { attribute, matcher });
        Ok(())
    }

    /// Parse a C-FIND, C-MOVE or C-GET identifier. Returns the query and the
    /// tags asked for (to return exactly those).
    pub fn from_identifier(identifier: &InMemDicomObject) -> Result<(Self, Vec<Tag>)> {
        let level = identifier
            .get(tags::QUERY_RETRIEVE_LEVEL)
            .and_then(|e| e.to_str().ok())
            .ok_or_else(|| Error::invalid("identifier has no Query/Retrieve Level (0008,0052)"))
            .and_then(|v| QueryLevel::parse(&v))?;
        let mut q = Query::new(level);
        let mut requested = Vec::new();
        for element in identifier.iter() {
            let tag = element.header().tag;
            if tag == tags::QUERY_RETRIEVE_LEVEL
                || tag == tags::SPECIFIC_CHARACTER_SET
                || tag.group() == 0x0002
            {
                continue;
            }
            requested.push(tag);
            // Not kept, or below the query level: returned empty or
            // ignored (PS3.4 C.4.1.1.3.1).
            let Some(a) = attribute_at(level, tag) else {
                continue;
            };
            if element.vr() == VR::SQ {
                continue;
            }
            let value = element.to_str().map(|v| v.into_owned()).unwrap_or_default();
            q.add(a, &value)?;
        }
        Ok((q, requested))
    }

    /// Parse QIDO-RS query parameters (PS3.18 §8.3.4): attributes by keyword
    /// or 8-digit hex tag, `limit`, `offset`, `fuzzymatching`, `includefield`
    /// (returned attributes are always every indexed one at the level, so it
    /// needs no handling). Unknown keys are ignored, as PS3.18 allows.
    pub fn from_qido(level: QueryLevel, params: &[(String, String)]) -> Result<QidoQuery> {
        let mut query = Query::new(level);
        let mut fuzzy = false;
        for (key, value) in params {
            match key.as_str() {
                "limit" => {
                    let n: u64 = value.parse().map_err(|_| {
                        Error::invalid(format!("limit must be a whole number, got {value:?}"))
                    })?;
                    query.limit = Some(n.min(MAX_ROWS));
                }
                "offset" => {
                    let n: u64 = value.parse().map_err(|_| {
                        Error::invalid(format!("offset must be a whole number, got {value:?}"))
                    })?;
                    if n > MAX_ROWS {
                        return Err(Error::invalid(format!(
                            "offset must be at most {MAX_ROWS}, got {n}"
                        )));
                    }
                    query.offset = n;
                }
                "fuzzymatching" => fuzzy = value.eq_ignore_ascii_case("true"),
                "includefield" | "accept" | "charset" => {}
                _ => {
                    let Some(tag) = tag_of(key) else {
                        continue; // unknown key: ignored
                    };
                    let Some(a) = attribute_at(level, tag) else {
                        continue; // not indexed at this level: cannot be matched here
                    };
                    query.add(a, value)?;
                }
            }
        }
        Ok(QidoQuery { query, fuzzy })
    }

    /// The attributes results carry, in column order.
    pub fn returned(&self) -> Vec<&'static Attribute> {
        let all = match self.level {
            QueryLevel::Worklist => WORKLIST_ATTRIBUTES,
            _ => ATTRIBUTES,
        };
        all.iter()
            .filter(|a| self.level.includes(a.level))
            .collect()
    }

    /// Parse a Modality Worklist C-FIND identifier (PS3.4 K.6.1.2): the
    /// matching keys at the top level and in the item of the Scheduled
    /// Procedure Step Sequence. Returns the query and the identifier's
    /// top-level tags (to return exactly those). Without a Scheduled
    /// Procedure Step Status key, items that are completed, discontinued or
    /// cancelled are left out.
    pub fn from_worklist_identifier(identifier: &InMemDicomObject) -> Result<(Self, Vec<Tag>)> {
        let mut q = Query::new(QueryLevel::Worklist);
        let mut requested = Vec::new();
        let step = identifier
            .get(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|items| items.first());
        let nested = step.into_iter().flat_map(|item| item.iter());
        for (top, element) in identifier
            .iter()
            .map(|e| (true, e))
            .chain(nested.map(|e| (false, e)))
        {
            let tag = element.header().tag;
            if tag == tags::SPECIFIC_CHARACTER_SET || tag.group() == 0x0002 {
                continue;
            }
            if top {
                requested.push(tag);
            }
            if element.vr() == VR::SQ {
                continue;
            }
            let Some(a) = attribute_at(QueryLevel::Worklist, tag) else {
                continue;
            };
            let value = element.to_str().map(|v| v.into_owned()).unwrap_or_default();
            q.add(a, &value)?;
        }
        q.default_to_active_items();
        Ok((q, requested))
    }

    /// Parse worklist search parameters (UPS-RS search, `/api/worklist`):
    /// QIDO-style keys at the worklist level, active items only unless a
    /// status is asked for.
    ///
    /// UPS-RS keys become the worklist's: Procedure Step State (0074,1000)
    /// its status (CANCELED: cancelled or discontinued), Scheduled
    /// Procedure Step Start DateTime (0040,4005) its start date (and, for a
    /// range within one day, its start time), and a key inside the
    /// Scheduled Procedure Step Sequence (`00400100.00400001`) the same
    /// key at the top (the model holds one step per item).
    pub fn worklist_from_qido(params: &[(String, String)]) -> Result<Query> {
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(params.len());
        let mut states: Vec<String> = Vec::new();
        for (key, value) in params {
            let inner = ["00400100.", "ScheduledProcedureStepSequence."]
                .iter()
                .find_map(|p| key.strip_prefix(p))
                .unwrap_or(key);
            match inner {
                "ProcedureStepState" | "00741000" => {
                    for v in value.split(['\\', ',']).map(str::trim) {
                        match v.to_ascii_uppercase().as_str() {
                            "" => {}
                            "SCHEDULED" => states.push("SCHEDULED".into()),
                            "IN PROGRESS" => states.push("IN PROGRESS".into()),
                            "COMPLETED" => states.push("COMPLETED".into()),
                            "CANCELED" => {
                                states.extend(["CANCELLED".into(), "DISCONTINUED".into()])
                            }
                            other => {
                                return Err(Error::invalid(format!(
                                    "ProcedureStepState is SCHEDULED, IN PROGRESS, COMPLETED \
                                     or CANCELED, not {other:?}"
                                )))
                            }
                        }
                    }
                }
                "ScheduledProcedureStepStartDateTime" | "00404005" => {
                    let (from, to) = value.split_once('-').unwrap_or((value, value));
                    let part =
                        |v: &str, r: std::ops::Range<usize>| v.get(r).unwrap_or("").to_owned();
                    let (from_date, to_date) = (part(from, 0..8), part(to, 0..8));
                    let date = if from_date == to_date {
                        from_date.clone()
                    } else {
                        format!("{from_date}-{to_date}")
                    };
                    pairs.push(("ScheduledProcedureStepStartDate".into(), date));
                    let (from_time, to_time) = (part(from, 8..14), part(to, 8..14));
                    if value.contains('-')
                        && from_date == to_date
                        && !from_date.is_empty()
                        && !(from_time.is_empty() && to_time.is_empty())
                    {
                        pairs.push((
                            "ScheduledProcedureStepStartTime".into(),
                            format!("{from_time}-{to_time}"),
                        ));
                    }
                }
                _ => pairs.push((inner.to_owned(), value.clone())),
            }
        }
        let mut query = Query::from_qido(QueryLevel::Worklist, &pairs)?.query;
        if !states.is_empty() {
            if let Some(a) =
                attribute_at(QueryLevel::Worklist, tags::SCHEDULED_PROCEDURE_STEP_STATUS)
            {
                query.filters.push(Filter {
                    attribute: a,
                    matcher: Matcher::List(states),
                });
            }
        }
        query.default_to_active_items();
        Ok(query)
    }

    /// Leave out items that are completed, discontinued or cancelled,
    /// unless the query asks for a status itself.
    pub fn default_to_active_items(&mut self) {
        if self.level != QueryLevel::Worklist
            || self
                .filters
                .iter()
                .any(|f| f.attribute.tag == tags::SCHEDULED_PROCEDURE_STEP_STATUS)
        {
            return;
        }
        if let Some(a) = attribute_at(QueryLevel::Worklist, tags::SCHEDULED_PROCEDURE_STEP_STATUS) {
            self.filters.push(Filter {
                attribute: a,
                matcher: Matcher::List(ACTIVE_STATUSES.iter().map(|s| s.to_string()).collect()),
            });
        }
    }
}

/// The statuses of worklist items a modality still works on.
pub const ACTIVE_STATUSES: [&str; 2] = ["SCHEDULED", "IN PROGRESS"];

/// A DA value: YYYYMMDD with a real month and day.
fn is_date(v: &str) -> bool {
    if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let month: u32 = v[4..6].parse().unwrap_or(0);
    let day: u32 = v[6..8].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// Larger `limit`s mean "all" and are cut to this; larger `offset`s are
/// refused (SQL integers are signed 64-bit).
const MAX_ROWS: u64 = 1 << 53;

/// A parsed QIDO-RS request.
#[derive(Debug, Clone)]
pub struct QidoQuery {
    /// The query.
    pub query: Query,
    /// `fuzzymatching=true` was asked (answered with a Warning).
    pub fuzzy: bool,
}

/// A tag from a keyword (`PatientName`) or 8 hex digits (`00100010`).
pub fn tag_of(key: &str) -> Option<Tag> {
    use dicom_core::dictionary::DataDictionary;
    if key.len() == 8 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let n = u32::from_str_radix(key, 16).ok()?;
        return Some(Tag((n >> 16) as u16, (n & 0xFFFF) as u16));
    }
    dicom_dictionary_std::StandardDataDictionary
        .by_name(key)
        .map(|e| e.tag.inner())
}

/// A multi-valued query value: DICOM's `\\` or QIDO-RS's `,`.
fn split_list(value: &str) -> Vec<String> {
    value
        .split(['\\', ','])
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// A query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
}

/// One result: each returned attribute's value (`None` when absent).
#[derive(Debug, Clone)]
pub struct Match {
    /// Values in [`Query::returned`] order.
    pub values: Vec<(&'static Attribute, Option<String>)>,
    /// The tenant it belongs to.
    pub tenant: TenantId,
}

impl Match {
    /// The value of an attribute.
    pub fn get(&self, tag: Tag) -> Option<&str> {
        self.values
            .iter()
            .find(|(a, _)| a.tag == tag)
            .and_then(|(_, v)| v.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::sql::like_pattern;
    use super::*;
    use crate::backend::Backend;
    use dicom_core::{DataElement, PrimitiveValue};

    fn identifier(level: &str, elements: &[(Tag, VR, &str)]) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        o.put(DataElement::new(
            tags::QUERY_RETRIEVE_LEVEL,
            VR::CS,
            PrimitiveValue::from(level),
        ));
        for (t, vr, v) in elements {
            o.put(DataElement::new(*t, *vr, PrimitiveValue::from(*v)));
        }
        o
    }

    #[test]
    fn identifiers_become_sql() {
        let id = identifier(
            "STUDY",
            &[
                (tags::PATIENT_NAME, VR::PN, "nguyen*"),
                (tags::STUDY_DATE, VR::DA, "20240101-20240131"),
                (tags::MODALITIES_IN_STUDY, VR::CS, "CT\\MR"),
                (tags::STUDY_INSTANCE_UID, VR::UI, ""),
                (tags::SERIES_DESCRIPTION, VR::LO, "ignored below the level"),
            ],
        );
        let (q, requested) = Query::from_identifier(&id).unwrap();
        assert_eq!(q.level, QueryLevel::Study);
        assert_eq!(requested.len(), 5);
        assert_eq!(q.filters.len(), 3);
        let (sql, binds) = q.select_sql(Backend::Postgres);
        // Filters come in tag order.
        assert!(sql.contains("st.study_date >= $1"), "{sql}");
        // A whole-date upper bound is a plain comparison, so the date index
        // bounds the scan on both sides.
        assert!(sql.contains("st.study_date <= $2"), "{sql}");
        assert!(sql.contains("ms.modality IN ($3, $4)"), "{sql}");
        assert!(sql.contains("p.patient_name_norm LIKE $5 ESCAPE"), "{sql}");
        assert_eq!(binds[4], Bind::Text("NGUYEN%".into()));
        assert!(!sql.contains("series_description ="), "{sql}");
        assert!(!sql.contains("tenant_id ="), "no tenant: every tenant");
        let mut q = q;
        q.tenant = Some(TenantId::parse("h1").unwrap());
        let (sql, binds) = q.select_sql(Backend::Sqlite);
        assert!(sql.contains("st.tenant_id = $6"), "{sql}");
        assert_eq!(binds[5], Bind::Text("h1".into()));
        let mut p = Query::new(QueryLevel::Patient);
        p.tenant = Some(TenantId::implicit());
        assert!(p
            .select_sql(Backend::Postgres)
            .0
            .contains("p.tenant_id = $1"));
    }

    #[test]
    fn ups_keys_become_the_worklists() {
        let params = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let matcher_of = |q: &Query, tag: Tag| {
            q.filters
                .iter()
                .find(|f| f.attribute.tag == tag)
                .map(|f| f.matcher.clone())
        };
        let q = Query::worklist_from_qido(&params(&[
            ("ProcedureStepState", "CANCELED"),
            (
                "ScheduledProcedureStepStartDateTime",
                "20261203070000-20261203090000",
            ),
            ("00400100.00400001", "CT_STATION"),
        ]))
        .unwrap();
        assert_eq!(
            matcher_of(&q, tags::SCHEDULED_PROCEDURE_STEP_STATUS),
            Some(Matcher::List(vec![
                "CANCELLED".into(),
                "DISCONTINUED".into()
            ]))
        );
        assert_eq!(
            matcher_of(&q, tags::SCHEDULED_PROCEDURE_STEP_START_DATE),
            Some(Matcher::Single("20261203".into()))
        );
        assert_eq!(
            matcher_of(&q, tags::SCHEDULED_PROCEDURE_STEP_START_TIME),
            Some(Matcher::Range(Some("070000".into()), Some("090000".into())))
        );
        assert_eq!(
            matcher_of(&q, tags::SCHEDULED_STATION_AE_TITLE),
            Some(Matcher::Single("CT_STATION".into()))
        );
        // Over several days: the dates only.
        let q =
            Query::worklist_from_qido(&params(&[("00404005", "20261201080000-20261203")])).unwrap();
        assert_eq!(
            matcher_of(&q, tags::SCHEDULED_PROCEDURE_STEP_START_DATE),
            Some(Matcher::Range(
                Some("20261201".into()),
                Some("20261203".into())
            ))
        );
        assert_eq!(
            matcher_of(&q, tags::SCHEDULED_PROCEDURE_STEP_START_TIME),
            None
        );
        // Without a state: the active items only, as a worklist C-FIND.
        assert_eq!(
            matcher_of(&q, tags::SCHEDULED_PROCEDURE_STEP_STATUS),
            Some(Matcher::List(vec![
                "SCHEDULED".into(),
                "IN PROGRESS".into()
            ]))
        );
        assert!(Query::worklist_from_qido(&params(&[("ProcedureStepState", "DONE")])).is_err());
    }

    #[test]
    fn qido_parameters_parse_into_the_same_model() {
        let params: Vec<(String, String)> = [
            ("PatientName", "doe*"),
            ("00080020", "20240101-"),
            ("ModalitiesInStudy", "CT"),
            ("limit", "25"),
            ("offset", "50"),
            ("includefield", "all"),
            ("fuzzymatching", "true"),
            ("SomethingUnknown", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let q = Query::from_qido(QueryLevel::Study, &params).unwrap();
        assert!(q.fuzzy);
        assert_eq!((q.query.limit, q.query.offset), (Some(25), 50));
        assert_eq!(q.query.filters.len(), 3);
        assert_eq!(tag_of("StudyInstanceUID"), Some(tags::STUDY_INSTANCE_UID));
        assert_eq!(tag_of("0020000D"), Some(tags::STUDY_INSTANCE_UID));
        let bad = vec![("limit".to_string(), "-1".to_string())];
        assert!(Query::from_qido(QueryLevel::Study, &bad).is_err());
        let bad = vec![("StudyDate".to_string(), "notadate".to_string())];
        assert!(Query::from_qido(QueryLevel::Study, &bad).is_err());
    }

    #[test]
    fn matchers_follow_ps3_4() {
        let mut q = Query::new(QueryLevel::Instance);
        let a = |t| attribute(t).unwrap();
        q.add(a(tags::SOP_INSTANCE_UID), "1.2.3\\1.2.4").unwrap();
        q.add(a(tags::PATIENT_ID), "A?C_%").unwrap();
        q.add(a(tags::STUDY_TIME), "-1200").unwrap();
        q.add(a(tags::INSTANCE_NUMBER), "7").unwrap();
        q.add(a(tags::ACCESSION_NUMBER), "").unwrap(); // universal
        assert_eq!(
            q.filters[0].matcher,
            Matcher::List(vec!["1.2.3".into(), "1.2.4".into()])
        );
        assert_eq!(q.filters[1].matcher, Matcher::Wildcard("A?C_%".into()));
        assert_eq!(like_pattern("A?C_%"), "A_C\\_\\%");
        assert_eq!(
            q.filters[2].matcher,
            Matcher::Range(None, Some("1200".into()))
        );
        assert_eq!(q.filters.len(), 4);
        // Bad input is an error, not SQL.
        assert!(q
            .add(a(tags::SOP_INSTANCE_UID), "1.2.3'; DROP TABLE instance; --")
            .is_err());
        assert!(q.add(a(tags::STUDY_DATE), "2024-13-45").is_err());
        assert!(q.add(a(tags::STUDY_DATE), "yesterday").is_err());
        assert!(q.add(a(tags::STUDY_DATE), "20241399").is_err());
        assert!(q.add(a(tags::STUDY_DATE), "20240001-").is_err());
        assert!(q.add(a(tags::INSTANCE_NUMBER), "seven").is_err());
        assert!(q
            .add(a(tags::NUMBER_OF_STUDY_RELATED_INSTANCES), "5")
            .is_err());
        assert!(QueryLevel::parse("WORKLIST").is_err());
        assert!(Query::from_identifier(&InMemDicomObject::new_empty()).is_err());
    }
}
