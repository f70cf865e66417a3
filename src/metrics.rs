//! What the server counts for `GET /metrics` (Prometheus text format):
//! associations, what arrived, DIMSE and HTTP requests with their
//! latencies, and, read at each scrape, the index pool, the routing jobs,
//! what is stored and the object store's requests.
//!
//! Labels stay few: AE titles only of configured peers (others are
//! `other`), modalities as the Modality attribute says (capped to short
//! upper-case codes), HTTP routes as their templates.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AeLabels {
    calling_ae: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModalityLabels {
    modality: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DimseLabels {
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    associations_open: Gauge,
    associations: Family<AeLabels, Counter>,
    instances_received: Family<ModalityLabels, Counter>,
    bytes_received: Family<ModalityLabels, Counter>,
    dimse_requests: Family<DimseLabels, Counter>,
    dimse_seconds: Histograms<OperationLabels>,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Histograms<RouteLabels>,
    index_connections: Family<StateLabels, Gauge>,
    jobs: Family<StateLabels, Gauge>,
    stored_instances: Gauge,
    stored_bytes: Gauge,
    index_up: Gauge,
    object_store_requests: Family<OperationLabels, Counter>,
    object_store_errors: Counter,
    /// Scrapes are one at a time (they set the read-at-scrape values).
    scrape: tokio::sync::Mutex<()>,
    /// The object store counts last copied (their counters only grow).
    copied: Mutex<[u64; 4]>,
}

/// The values read at each scrape.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Index connections in use and idle.
    pub pool: (u64, u64),
    /// Jobs by state (`None`: the index did not answer).
    pub jobs: Option<Vec<(String, i64)>>,
    /// Instances and original bytes stored (`None`: the index did not
    /// answer).
    pub stored: Option<(i64, i64)>,
    /// Object store reads, writes, deletes and failed requests since start.
    pub object_store: [u64; 4],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("filmless");
        let m = Metrics {
            registry: Registry::default(),
            associations_open: Gauge::default(),
            associations: Family::default(),
            instances_received: Family::default(),
            bytes_received: Family::default(),
            dimse_requests: Family::default(),
            dimse_seconds: Family::new_with_constructor(latency),
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(latency),
            index_connections: Family::default(),
            jobs: Family::default(),
            stored_instances: Gauge::default(),
            stored_bytes: Gauge::default(),
            index_up: Gauge::default(),
            object_store_requests: Family::default(),
            object_store_errors: Counter::default(),
            scrape: tokio::sync::Mutex::new(()),
            copied: Mutex::new([0; 4]),
        };
        r.register(
            "associations_open",
            "DICOM associations open now",
            m.associations_open.clone(),
        );
        r.register(
            "associations",
            "DICOM associations established, by calling AE title",
            m.associations.clone(),
        );
        r.register(
            "instances_received",
            "Instances stored (C-STORE, STOW-RS, import, print), by modality",
            m.instances_received.clone(),
        );
        r.register(
            "received_bytes",
            "Bytes of the instances stored, by modality",
            m.bytes_received.clone(),
        );
        r.register(
            "dimse_requests",
            "DIMSE operations served, by operation and final status class",
            m.dimse_requests.clone(),
        );
        r.register(
            "dimse_request_duration_seconds",
            "Time from a DIMSE request to its final response, by operation",
            m.dimse_seconds.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to its headers), by method and route",
            m.http_seconds.clone(),
        );
        r.register(
            "index_connections",
            "Index database connections, in use and idle",
            m.index_connections.clone(),
        );
        r.register(
            "jobs",
            "Jobs by state (routing, storage commitment reports, MPPS forwarding)",
            m.jobs.clone(),
        );
        r.register(
            "index_up",
            "Whether the index database answered this scrape",
            m.index_up.clone(),
        );
        r.register(
            "stored_instances",
            "Instances in the archive",
            m.stored_instances.clone(),
        );
        r.register(
            "stored_bytes",
            "Original bytes of the instances in the archive",
            m.stored_bytes.clone(),
        );
        r.register(
            "object_store_requests",
            "Object store requests, by operation",
            m.object_store_requests.clone(),
        );
        r.register(
            "object_store_errors",
            "Object store requests that failed",
            m.object_store_errors.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// An association was established by `calling_ae` (`None`: an AE
    /// title not configured).
    pub fn association_opened(&self, calling_ae: Option<&str>) {
        self.associations_open.inc();
        self.associations
            .get_or_create(&AeLabels {
                calling_ae: calling_ae.unwrap_or("other").to_owned(),
            })
            .inc();
    }

    /// An association ended.
    pub fn association_closed(&self) {
        self.associations_open.dec();
    }

    /// An instance of `modality` and `bytes` was stored.
    pub fn received(&self, modality: &str, bytes: u64) {
        let modality = if !modality.is_empty()
            && modality.len() <= 16
            && modality
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            modality.to_owned()
        } else if modality.is_empty() {
            "none".to_owned()
        } else {
            "other".to_owned()
        };
        let labels = ModalityLabels { modality };
        self.instances_received.get_or_create(&labels).inc();
        self.bytes_received.get_or_create(&labels).inc_by(bytes);
    }

    /// A DIMSE operation (`C-STORE`, …) ended with a status of `class`
    /// (`success`, `warning`, `failure`, `cancel`) after `elapsed`.
    pub fn dimse(&self, operation: &str, class: &str, elapsed: Duration) {
        self.dimse_requests
            .get_or_create(&DimseLabels {
                operation: operation.to_owned(),
                status: class.to_owned(),
            })
            .inc();
        self.dimse_seconds
            .get_or_create(&OperationLabels {
                operation: operation.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// An HTTP request to `route` (its template, or `other`) was answered
    /// with `status` after `elapsed`.
    pub fn http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.http_seconds
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with `snapshot`'s values.
    pub async fn encode(&self, snapshot: Snapshot) -> String {
        let _one = self.scrape.lock().await;
        let (in_use, idle) = snapshot.pool;
        for (state, n) in [("in_use", in_use), ("idle", idle)] {
            self.index_connections
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(n as i64);
        }
        self.index_up.set(i64::from(snapshot.stored.is_some()));
        if let Some(jobs) = &snapshot.jobs {
            for state in ["pending", "running", "done", "failed"] {
                let n = jobs.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
                self.jobs
                    .get_or_create(&StateLabels {
                        state: state.to_owned(),
                    })
                    .set(n);
            }
        }
        if let Some((instances, bytes)) = snapshot.stored {
            self.stored_instances.set(instances);
            self.stored_bytes.set(bytes);
        }
        {
            let mut copied = self.copied.lock().expect("metrics");
            let names = ["read", "write", "delete"];
            for (i, name) in names.iter().enumerate() {
                let delta = snapshot.object_store[i].saturating_sub(copied[i]);
                self.object_store_requests
                    .get_or_create(&OperationLabels {
                        operation: (*name).to_owned(),
                    })
                    .inc_by(delta);
            }
            self.object_store_errors
                .inc_by(snapshot.object_store[3].saturating_sub(copied[3]));
            *copied = snapshot.object_store;
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_show_in_the_text_format() {
        let m = Metrics::new();
        m.association_opened(Some("CT01"));
        m.association_opened(None);
        m.association_closed();
        m.received("CT", 1000);
        m.received("ct; drop", 5);
        m.dimse("C-STORE", "success", Duration::from_millis(3));
        m.http("GET", "/dicom-web/studies", 200, Duration::from_millis(2));
        let text = m
            .encode(Snapshot {
                pool: (1, 2),
                jobs: Some(vec![("failed".into(), 3)]),
                stored: Some((10, 2000)),
                object_store: [5, 4, 1, 2],
            })
            .await;
        for line in [
            "filmless_associations_open 1",
            "filmless_associations_total{calling_ae=\"CT01\"} 1",
            "filmless_associations_total{calling_ae=\"other\"} 1",
            "filmless_instances_received_total{modality=\"CT\"} 1",
            "filmless_received_bytes_total{modality=\"CT\"} 1000",
            "filmless_instances_received_total{modality=\"other\"} 1",
            "filmless_dimse_requests_total{operation=\"C-STORE\",status=\"success\"} 1",
            "filmless_jobs{state=\"failed\"} 3",
            "filmless_jobs{state=\"pending\"} 0",
            "filmless_stored_bytes 2000",
            "filmless_object_store_requests_total{operation=\"read\"} 5",
            "filmless_object_store_errors_total 2",
            "filmless_index_connections{state=\"idle\"} 2",
            "filmless_index_up 1",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
        // Counters grow by what happened since the last scrape.
        let again = m
            .encode(Snapshot {
                object_store: [7, 4, 1, 2],
                ..Snapshot::default()
            })
            .await;
        assert!(again.contains("filmless_object_store_requests_total{operation=\"read\"} 7"));
        // The index down: the last numbers stay, and it says so.
        assert!(again.contains("filmless_index_up 0"));
        assert!(again.contains("filmless_stored_bytes 2000"));
    }
}
