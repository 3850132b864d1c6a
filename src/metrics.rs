//! Metrics: what the request path and the write path count, and its Prometheus text exposition
//! (`GET /server/metrics`, SPEC §9).
//!
//! Recording is atomics only: the handle of each label set (method, route template, status) is
//! resolved once, on its first use, and kept in a slot, so no request takes a lock. Labels come
//! from fixed sets (route templates, never raw paths), so the number of series is bounded. The
//! text is built by the `prometheus` crate at scrape time; gauges of state (maintenance, memory)
//! are set then. This module knows nothing of HTTP or the database.

use prometheus::core::{Collector, Metric};
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The label of requests to a path that is no route.
const UNMATCHED: &str = "unmatched";

/// The request methods counted apart; anything else is `other`.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "other"];
/// The statuses the server answers with; another one is counted too, through a slower path.
const STATUSES: [u16; 12] = [200, 204, 400, 401, 403, 404, 405, 413, 415, 500, 503, 505];

/// How a write ended, for `directus_writes_total`.
#[derive(Debug, Clone, Copy)]
pub enum WriteOutcome {
    /// Committed (durable).
    Committed,
    /// Its own work failed (a 4xx, or a bug) and was undone alone.
    Undone,
    /// Rolled back by the maintenance gate.
    Gate,
    /// No group or no database lock in time (the 503 busy, or maintenance's).
    Busy,
    /// Its group's commit failed.
    CommitFailed,
}

impl WriteOutcome {
    const ALL: [WriteOutcome; 5] = [
        WriteOutcome::Committed,
        WriteOutcome::Undone,
        WriteOutcome::Gate,
        WriteOutcome::Busy,
        WriteOutcome::CommitFailed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            WriteOutcome::Committed => "committed",
            WriteOutcome::Undone => "undone",
            WriteOutcome::Gate => "rolled_back_by_gate",
            WriteOutcome::Busy => "busy",
            WriteOutcome::CommitFailed => "commit_failed",
        }
    }
}

/// The upper bounds of the write-group-size histogram.
pub const GROUP_BUCKETS: [f64; 7] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// The process's metrics. Request counts are kept only when `serving` (the `--metrics` flag);
/// the write path's are always kept (a few atomics per write, next to an fsync).
pub struct Metrics {
    serving: bool,
    registry: Registry,
    requests: IntCounterVec,
    /// The route labels: `UNMATCHED`, then each route's template written as Directus writes
    /// them (`/items/:collection`), in the order of the route list given to `new`.
    labels: Vec<String>,
    /// One slot per (route, method, status): the counter's handle once resolved.
    slots: Vec<OnceLock<IntCounter>>,
    durations: Vec<Histogram>,
    /// Mirrors the server's one count of maintenance 503s at each scrape (`render`).
    declined: IntCounter,
    rendering: std::sync::Mutex<()>,
    maintenance_on: IntGauge,
    maintenance_mode: IntGaugeVec,
    /// `directus_writes_total` by `WriteOutcome`, resolved once.
    writes: Vec<IntCounter>,
    write_seconds: Histogram,
    group_sizes: Histogram,
    resident: IntGauge,
}

impl Metrics {
    /// Registers every metric. `serving` decides whether requests are counted and the route
    /// answers; `routes` are the API's route templates, parameters in braces (`{name}`), in the
    /// order whose positions `request` is given.
    pub fn new(serving: bool, routes: &[&str]) -> Metrics {
        let labels: Vec<String> = std::iter::once(UNMATCHED.to_string())
            .chain(routes.iter().map(|t| t.replace('{', ":").replace('}', "")))
            .collect();
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("directus_http_requests_total", "HTTP requests answered."),
            &["method", "route", "status"],
        )
        .expect("a fixed, valid metric definition");
        let durations_vec = HistogramVec::new(
            HistogramOpts::new(
                "directus_http_request_duration_seconds",
                "Time from a request's arrival at a worker to its answer.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )
        .expect("a fixed, valid metric definition");
        let durations = labels
            .iter()
            .map(|t| durations_vec.with_label_values(&[t.as_str()]))
            .collect();
        let declined = IntCounter::new(
            "directus_maintenance_declined_total",
            "Requests answered with the maintenance 503 (either mode).",
        )
        .expect("a fixed, valid metric definition");
        let maintenance_on = IntGauge::new(
            "directus_maintenance_on",
            "1 while the maintenance flag is up, else 0.",
        )
        .expect("a fixed, valid metric definition");
        let maintenance_mode = IntGaugeVec::new(
            Opts::new(
                "directus_maintenance_mode",
                "1 for the maintenance mode in force (full or read-only), else 0.",
            ),
            &["mode"],
        )
        .expect("a fixed, valid metric definition");
        let writes = IntCounterVec::new(
            Opts::new("directus_writes_total", "API writes, by how they ended."),
            &["outcome"],
        )
        .expect("a fixed, valid metric definition");
        let write_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "directus_write_transaction_seconds",
                "Time a write transaction held the database's write lock (BEGIN to COMMIT).",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )
        .expect("a fixed, valid metric definition");
        let group_sizes = Histogram::with_opts(
            HistogramOpts::new(
                "directus_write_group_size",
                "Writes per committed group (group commit).",
            )
            .buckets(GROUP_BUCKETS.to_vec()),
        )
        .expect("a fixed, valid metric definition");
        let resident = IntGauge::new(
            "directus_resident_memory_bytes",
            "Resident memory of the server process.",
        )
        .expect("a fixed, valid metric definition");
        let start = Gauge::new(
            "directus_start_time_seconds",
            "When the server started, in seconds since the Unix epoch.",
        )
        .expect("a fixed, valid metric definition");
        start.set(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        for mode in ["full", "read-only"] {
            maintenance_mode.with_label_values(&[mode]);
        }
        let write_counters = WriteOutcome::ALL
            .iter()
            .map(|o| writes.with_label_values(&[o.as_str()]))
            .collect();
        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(requests.clone()),
            Box::new(durations_vec),
            Box::new(declined.clone()),
            Box::new(maintenance_on.clone()),
            Box::new(maintenance_mode.clone()),
            Box::new(writes),
            Box::new(write_seconds.clone()),
            Box::new(group_sizes.clone()),
            Box::new(resident.clone()),
            Box::new(start),
        ];
        for c in collectors {
            registry
                .register(c)
                .expect("each metric has a name of its own");
        }
        let slots = (0..labels.len() * METHODS.len() * STATUSES.len())
            .map(|_| OnceLock::new())
            .collect();
        Metrics {
            serving,
            labels,
            registry,
            requests,
            slots,
            durations,
            declined,
            rendering: std::sync::Mutex::new(()),
            maintenance_on,
            maintenance_mode,
            writes: write_counters,
            write_seconds,
            group_sizes,
            resident,
        }
    }

    /// True when `--metrics` asked for them: the route answers and requests are counted.
    pub fn serving(&self) -> bool {
        self.serving
    }

    /// Counts one answered request (only when serving).
    /// `route` is the route's position in the list given to `new`, `None` for no route.
    pub fn request(&self, method: &str, route: Option<usize>, status: u16, took: Duration) {
        if !self.serving {
            return;
        }
        let label = route.map_or(0, |r| r + 1);
        let m = METHODS[..6]
            .iter()
            .position(|known| *known == method)
            .unwrap_or(METHODS.len() - 1);
        match STATUSES.iter().position(|s| *s == status) {
            Some(s) => {
                let slot = (label * METHODS.len() + m) * STATUSES.len() + s;
                self.slots[slot]
                    .get_or_init(|| {
                        self.requests.with_label_values(&[
                            METHODS[m],
                            self.labels[label].as_str(),
                            &status.to_string(),
                        ])
                    })
                    .inc();
            }
            None => self
                .requests
                .with_label_values(&[METHODS[m], &self.labels[label], &status.to_string()])
                .inc(),
        }
        self.durations[label].observe(took.as_secs_f64());
    }

    /// Counts a write by how it ended.
    pub fn write(&self, outcome: WriteOutcome, count: usize) {
        self.writes[outcome as usize].inc_by(count as u64);
    }

    /// Records one committed group: its size and how long it held the write lock.
    pub fn group(&self, size: usize, held: Duration) {
        self.group_sizes.observe(size as f64);
        self.write_seconds.observe(held.as_secs_f64());
    }

    /// The committed groups per bucket of `GROUP_BUCKETS` (not cumulative).
    pub fn group_sizes(&self) -> Vec<u64> {
        let metric = self.group_sizes.metric();
        let mut below = 0;
        metric
            .get_histogram()
            .get_bucket()
            .iter()
            .map(|b| {
                let n = b.cumulative_count() - below;
                below = b.cumulative_count();
                n
            })
            .collect()
    }

    /// The exposition, with the state gauges set from `maintenance` (`None`: off, else
    /// whether the mode is read-only).
    pub fn render(&self, maintenance: Option<bool>, declined: u64) -> Vec<u8> {
        {
            // The count is the observer's; scrapes may run at once, and a counter only adds.
            let _one = self.rendering.lock().unwrap_or_else(|e| e.into_inner());
            let shown = self.declined.get();
            self.declined.inc_by(declined.saturating_sub(shown));
        }
        self.maintenance_on.set(i64::from(maintenance.is_some()));
        for (mode, read_only) in [("full", false), ("read-only", true)] {
            self.maintenance_mode
                .with_label_values(&[mode])
                .set(i64::from(maintenance == Some(read_only)));
        }
        self.resident.set(resident_bytes().unwrap_or(0));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding into memory does not fail");
        out
    }
}

/// The exposition's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process's resident memory, from `/proc/self/status` (`VmRSS`, in kB).
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two routes, as the API would give them.
    const ROUTES: [&str; 2] = ["/server/ping", "/items/{collection}/{id}"];

    fn text(m: &Metrics, maintenance: Option<bool>) -> String {
        String::from_utf8(m.render(maintenance, 0)).unwrap()
    }

    #[test]
    fn requests_are_counted_by_method_template_and_status() {
        let m = Metrics::new(true, &ROUTES);
        for _ in 0..3 {
            m.request("GET", Some(1), 200, Duration::from_millis(2));
        }
        m.request("BREW", None, 404, Duration::from_millis(1));
        m.request("GET", Some(1), 418, Duration::from_millis(1));
        let t = text(&m, None);
        assert!(t.contains(
            r#"directus_http_requests_total{method="GET",route="/items/:collection/:id",status="200"} 3"#
        ), "{t}");
        assert!(t.contains(
            r#"directus_http_requests_total{method="other",route="unmatched",status="404"} 1"#
        ));
        assert!(t.contains(r#"status="418"} 1"#));
        assert!(t.contains(
            r#"directus_http_request_duration_seconds_count{route="/items/:collection/:id"} 4"#
        ));
    }

    #[test]
    fn nothing_is_counted_unless_serving() {
        let m = Metrics::new(false, &ROUTES);
        m.request("GET", Some(0), 200, Duration::from_millis(1));
        assert!(!text(&m, None).contains("directus_http_requests_total{"));
    }

    #[test]
    fn state_gauges_follow_the_flag_and_groups_fall_in_buckets() {
        let m = Metrics::new(true, &ROUTES);
        assert!(text(&m, Some(true)).contains("directus_maintenance_on 1"));
        assert!(text(&m, Some(true)).contains(r#"directus_maintenance_mode{mode="read-only"} 1"#));
        let off = text(&m, None);
        assert!(off.contains("directus_maintenance_on 0"));
        assert!(off.contains(r#"directus_maintenance_mode{mode="full"} 0"#));
        for size in [1, 3, 3, 64] {
            m.group(size, Duration::from_millis(1));
        }
        assert_eq!(m.group_sizes(), [1, 0, 2, 0, 0, 0, 1]);
        m.write(WriteOutcome::Committed, 7);
        assert!(text(&m, None).contains(r#"directus_writes_total{outcome="committed"} 7"#));
    }
}
