//! SQL from the query model, for both databases: the one place it is
//! generated.

use std::fmt::Write as _;

use super::attributes::{Attribute, Kind};
use super::level::QueryLevel;
use super::{is_date, Bind, Matcher, Query};
use crate::backend::Backend;
use crate::record::normalize_person_name;

impl Query {
    /// The SQL and its parameters: `SELECT <columns> FROM <level joins>
    /// WHERE <filters> ORDER BY id LIMIT/OFFSET`.
    fn sql(&self, select: &str, backend: Backend) -> (String, Vec<Bind>) {
        let mut sql = format!("SELECT {select} FROM {}", self.level.tables());
        let mut binds: Vec<Bind> = Vec::new();
        let mut conditions: Vec<String> = Vec::new();
        let param = |binds: &mut Vec<Bind>, b: Bind| {
            binds.push(b);
            format!("${}", binds.len())
        };
        for f in &self.filters {
            let a = f.attribute;
            if !self.level.includes(a.level) {
                continue;
            }
            let (column, normalize) = match a.kind {
                Kind::PersonName(norm) if self.case_insensitive_names => (norm, true),
                _ => (a.column, false),
            };
            let value_of = |v: &str| {
                if normalize {
                    normalize_person_name(v)
                } else {
                    v.to_owned()
                }
            };
            let condition = match (&f.matcher, a.kind) {
                (Matcher::List(values), Kind::Modalities) => {
                    let ps: Vec<String> = values
                        .iter()
                        .map(|v| param(&mut binds, Bind::Text(v.clone())))
                        .collect();
                    format!(
                        "EXISTS (SELECT 1 FROM series ms WHERE ms.study_ref = st.id AND ms.modality IN ({}))",
                        ps.join(", ")
                    )
                }
                (Matcher::Single(v), Kind::Modalities) => {
                    let p = param(&mut binds, Bind::Text(v.clone()));
                    format!("EXISTS (SELECT 1 FROM series ms WHERE ms.study_ref = st.id AND ms.modality = {p})")
                }
                (Matcher::Single(v), Kind::Integer) => {
                    let n = v.parse::<i64>().unwrap_or(0);
                    format!("{column} = {}", param(&mut binds, Bind::Int(n)))
                }
                (Matcher::Single(v), _) => {
                    format!("{column} = {}", param(&mut binds, Bind::Text(value_of(v))))
                }
                (Matcher::List(values), _) => {
                    let ps: Vec<String> = values
                        .iter()
                        .map(|v| param(&mut binds, Bind::Text(value_of(v))))
                        .collect();
                    format!("{column} IN ({})", ps.join(", "))
                }
                (Matcher::Wildcard(pattern), _) => {
                    let like = like_pattern(&value_of(pattern));
                    format!(
                        "{column} LIKE {} ESCAPE '\\'",
                        param(&mut binds, Bind::Text(like))
                    )
                }
                (Matcher::Range(lo, hi), _) => {
                    let mut parts = Vec::new();
                    // An empty stored value never falls in a range.
                    parts.push(format!("{column} <> ''"));
                    if let Some(lo) = lo {
                        parts.push(format!(
                            "{column} >= {}",
                            param(&mut binds, Bind::Text(lo.clone()))
                        ));
                    }
                    if let Some(hi) = hi.as_ref().filter(|h| is_date(h)) {
                        // A whole date against stored YYYYMMDD: a plain
                        // comparison, so the index bounds the range on both
                        // sides (same-length digit strings order alike in
                        // every collation).
                        parts.push(format!(
                            "{column} <= {}",
                            param(&mut binds, Bind::Text(hi.clone()))
                        ));
                    } else if let Some(hi) = hi {
                        // A time (or partial) bound includes the whole of that
                        // hour/minute: compare on the bound's length.
                        let len = hi.len();
                        parts.push(format!(
                            "substr({column}, 1, {len}) <= {}",
                            param(&mut binds, Bind::Text(hi.clone()))
                        ));
                    }
                    parts.join(" AND ")
                }
            };
            conditions.push(condition);
        }
        if let Some(t) = &self.tenant {
            let alias = self.level.tenant_alias();
            let p = param(&mut binds, Bind::Text(t.as_str().to_owned()));
            conditions.push(format!("{alias}.tenant_id = {p}"));
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        let _ = write!(sql, " ORDER BY {}", self.level.id_column());
        match self.limit {
            Some(l) => {
                let _ = write!(sql, " LIMIT {l} OFFSET {}", self.offset);
            }
            None if self.offset > 0 => {
                let _ = match backend {
                    Backend::Sqlite => write!(sql, " LIMIT -1 OFFSET {}", self.offset),
                    Backend::Postgres => write!(sql, " OFFSET {}", self.offset),
                };
            }
            None => {}
        }
        (sql, binds)
    }

    /// The SQL selecting the level's attributes (the value columns of this
    /// level and the ones above, in [`Query::returned`] order), then the
    /// tenant.
    pub fn select_sql(&self, backend: Backend) -> (String, Vec<Bind>) {
        let mut columns: Vec<String> = self
            .returned()
            .iter()
            .map(|a| value_column(a, backend))
            .collect();
        // Last: the tenant of each result.
        columns.push(format!("{}.tenant_id", self.level.tenant_alias()));
        self.sql(&columns.join(", "), backend)
    }

    /// The SQL selecting the worklist items this query selects: their
    /// DICOM JSON, tenant, id and status.
    pub fn worklist_sql(&self, backend: Backend) -> (String, Vec<Bind>) {
        self.sql("w.dicom_json, w.tenant_id, w.id, w.status", backend)
    }

    /// The SQL selecting the instances this query selects (retrieve).
    pub fn instances_sql(&self, instance_columns: &str, backend: Backend) -> (String, Vec<Bind>) {
        let mut q = self.clone();
        q.level = QueryLevel::Instance;
        q.limit = None;
        q.offset = 0;
        q.sql(instance_columns, backend)
    }
}

fn value_column(a: &Attribute, backend: Backend) -> String {
    match a.kind {
        Kind::Modalities => match backend {
            Backend::Sqlite => {
                "(SELECT group_concat(m, '\\') FROM (SELECT DISTINCT modality AS m FROM series \
                 WHERE study_ref = st.id AND modality <> '' ORDER BY modality))"
                    .to_owned()
            }
            Backend::Postgres => {
                "(SELECT string_agg(DISTINCT modality, '\\' ORDER BY modality) FROM series \
                 WHERE study_ref = st.id AND modality <> '')"
                    .to_owned()
            }
        },
        Kind::Integer | Kind::Derived => format!("CAST({} AS TEXT)", a.column),
        _ => a.column.to_owned(),
    }
}

/// `*` → `%`, `?` → `_`, with SQL's own wildcards escaped.
pub(super) fn like_pattern(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    for c in v.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}
