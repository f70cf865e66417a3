//! Any query string at every QIDO-RS level: a query whose SQL is built
//! for both databases, or a 400 reason; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: filmless_fuzz::Capped = filmless_fuzz::Capped;
use storage::query::{Query, QueryLevel};
use storage::Backend;

fuzz_target!(|data: &[u8]| {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for level in [
        QueryLevel::Study,
        QueryLevel::Series,
        QueryLevel::Instance,
    ] {
        if let Ok(q) = Query::from_qido(level, &params) {
            let _ = q.query.select_sql(Backend::Sqlite);
            let _ = q.query.select_sql(Backend::Postgres);
        }
    }
});
