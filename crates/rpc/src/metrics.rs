//! The service's counters and their Prometheus text exposition (format 0.0.4), written by hand: a few counters,
//! one histogram family and gauges do not need a metrics stack.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::server::METHODS;

/// The method label of calls to methods the service does not have (their names are the caller's: not labels).
pub(crate) const OTHER_METHOD: &str = "other";

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Why the HTTP layer refused a request before any method ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rejection {
    /// No API key, or an unknown one (HTTP 401).
    Unauthorized,
    /// The key's rate limit (HTTP 429).
    RateLimited,
}

impl Rejection {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::RateLimited => "rate_limited",
        }
    }
}

#[derive(Debug, Default)]
struct MethodStats {
    /// Calls by outcome: `None` for a result, else the error code.
    outcomes: BTreeMap<Option<i32>, u64>,
    /// Calls per bucket (not cumulative), the last one for `+Inf`.
    buckets: [u64; BUCKETS.len() + 1],
    seconds: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Counters {
    methods: BTreeMap<&'static str, MethodStats>,
    errors: BTreeMap<i32, u64>,
    rejected: BTreeMap<Rejection, u64>,
    http: BTreeMap<u16, u64>,
}

/// What the service counts ([`Metrics::render`] writes it out).
#[derive(Debug)]
pub(crate) struct Metrics {
    counters: Mutex<Counters>,
    started: SystemTime,
}

/// What `/metrics` shows besides the counters.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub chain_id: u64,
    pub backend: &'static str,
    /// Sessions and bytes stored, `None` when the store could not be read.
    pub stored: Option<(u64, u64)>,
    pub max_stored_sessions: u64,
    pub max_stored_bytes: u64,
}

/// The label of `method`: itself when served, else [`OTHER_METHOD`].
pub(crate) fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or(OTHER_METHOD)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut counters = Counters::default();
        for method in METHODS.iter().copied().chain([OTHER_METHOD]) {
            counters.methods.insert(method, MethodStats::default());
        }
        Self {
            counters: Mutex::new(counters),
            started: SystemTime::now(),
        }
    }
}

impl Metrics {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic while counting leaves counts, not a broken invariant: keep going.
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One JSON-RPC call of `method` answered in `elapsed`, with `error` (its code) or a result.
    pub(crate) fn call(&self, method: &str, error: Option<i32>, elapsed: Duration) {
        let label = method_label(method);
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        let mut counters = self.counters();
        let stats = counters.methods.entry(label).or_default();
        *stats.outcomes.entry(error).or_default() += 1;
        stats.buckets[bucket] += 1;
        stats.seconds += seconds;
        stats.count += 1;
        if let Some(code) = error {
            *counters.errors.entry(code).or_default() += 1;
        }
    }

    /// An error answered before any method ran (a parse error, a refused key, a body too large …).
    pub(crate) fn error(&self, code: i32) {
        *self.counters().errors.entry(code).or_default() += 1;
    }

    /// A request refused by the HTTP layer.
    pub(crate) fn rejected(&self, why: Rejection) {
        *self.counters().rejected.entry(why).or_default() += 1;
    }

    /// One HTTP response of `status` to a JSON-RPC request (not `/health` nor `/metrics`).
    pub(crate) fn http(&self, status: u16) {
        *self.counters().http.entry(status).or_default() += 1;
    }

    /// The exposition.
    pub(crate) fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let counters = self.counters();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };

        family(
            &mut out,
            "keyscope_rpc_requests_total",
            "counter",
            "JSON-RPC calls answered, by method (\"other\": unknown methods) and outcome (\"ok\" or the error code).",
        );
        for (method, stats) in &counters.methods {
            for (outcome, n) in &stats.outcomes {
                let outcome = outcome.map_or_else(|| "ok".to_owned(), |code| code.to_string());
                let _ = writeln!(
                    out,
                    "keyscope_rpc_requests_total{{method=\"{method}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }

        family(
            &mut out,
            "keyscope_rpc_request_duration_seconds",
            "histogram",
            "Time to answer a JSON-RPC call, by method.",
        );
        for (method, stats) in &counters.methods {
            let mut cumulative = 0;
            for (i, n) in stats.buckets.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "keyscope_rpc_request_duration_seconds_bucket{{method=\"{method}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "keyscope_rpc_request_duration_seconds_sum{{method=\"{method}\"}} {}\n\
                 keyscope_rpc_request_duration_seconds_count{{method=\"{method}\"}} {}",
                stats.seconds, stats.count
            );
        }

        family(
            &mut out,
            "keyscope_rpc_errors_total",
            "counter",
            "JSON-RPC errors answered, by code: those of methods and those answered before any method ran \
             (parse errors, refused API keys, rate limits, bodies too large).",
        );
        for (code, n) in &counters.errors {
            let _ = writeln!(out, "keyscope_rpc_errors_total{{code=\"{code}\"}} {n}");
        }

        family(
            &mut out,
            "keyscope_rpc_rejected_total",
            "counter",
            "Requests refused before any method ran, by reason (unauthorized: HTTP 401, rate_limited: HTTP 429).",
        );
        for why in [Rejection::Unauthorized, Rejection::RateLimited] {
            let n = counters.rejected.get(&why).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "keyscope_rpc_rejected_total{{reason=\"{}\"}} {n}",
                why.label()
            );
        }

        family(
            &mut out,
            "keyscope_rpc_http_responses_total",
            "counter",
            "HTTP responses to JSON-RPC requests (not /health nor /metrics), by status.",
        );
        for (status, n) in &counters.http {
            let _ = writeln!(
                out,
                "keyscope_rpc_http_responses_total{{status=\"{status}\"}} {n}"
            );
        }
        drop(counters);

        if let Some((sessions, bytes)) = snapshot.stored {
            family(
                &mut out,
                "keyscope_store_sessions",
                "gauge",
                "Sessions stored (by all the instances sharing the database).",
            );
            let _ = writeln!(out, "keyscope_store_sessions {sessions}");
            family(
                &mut out,
                "keyscope_store_bytes",
                "gauge",
                "Bytes of the stored sessions (their specs' and origins' JSON).",
            );
            let _ = writeln!(out, "keyscope_store_bytes {bytes}");
        }
        family(
            &mut out,
            "keyscope_store_up",
            "gauge",
            "1 when the store answered this scrape, 0 otherwise.",
        );
        let _ = writeln!(
            out,
            "keyscope_store_up {}",
            u8::from(snapshot.stored.is_some())
        );
        family(
            &mut out,
            "keyscope_store_max_sessions",
            "gauge",
            "--max-stored-sessions.",
        );
        let _ = writeln!(
            out,
            "keyscope_store_max_sessions {}",
            snapshot.max_stored_sessions
        );
        family(
            &mut out,
            "keyscope_store_max_bytes",
            "gauge",
            "--max-stored-bytes.",
        );
        let _ = writeln!(
            out,
            "keyscope_store_max_bytes {}",
            snapshot.max_stored_bytes
        );

        family(
            &mut out,
            "keyscope_rpc_build_info",
            "gauge",
            "Always 1: the version, the node's chain id and the store's backend as labels.",
        );
        let _ = writeln!(
            out,
            "keyscope_rpc_build_info{{version=\"{}\",chain_id=\"{}\",backend=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            snapshot.chain_id,
            snapshot.backend
        );
        family(
            &mut out,
            "keyscope_rpc_start_time_seconds",
            "gauge",
            "When the service started, in seconds since the Unix epoch.",
        );
        let started = self
            .started
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let _ = writeln!(out, "keyscope_rpc_start_time_seconds {started}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            chain_id: 31337,
            backend: "sqlite",
            stored: Some((3, 1200)),
            max_stored_sessions: 10,
            max_stored_bytes: 100_000,
        }
    }

    /// The value of the sample `series` (name and labels as written).
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn exposition_counts_calls_errors_and_latency() {
        let metrics = Metrics::default();
        metrics.call("keyscope_info", None, Duration::from_micros(700));
        metrics.call("keyscope_info", None, Duration::from_millis(30));
        metrics.call(
            "keyscope_createSessions",
            Some(-32602),
            Duration::from_millis(2),
        );
        metrics.call("no_such\"method", Some(-32601), Duration::from_micros(10));
        metrics.error(-32700);
        metrics.rejected(Rejection::Unauthorized);
        metrics.http(401);
        let text = metrics.render(&snapshot());
        let get = |series: &str| sample(&text, series);
        assert_eq!(
            get(r#"keyscope_rpc_requests_total{method="keyscope_info",outcome="ok"}"#),
            Some(2.0)
        );
        assert_eq!(
            get(
                r#"keyscope_rpc_requests_total{method="keyscope_createSessions",outcome="-32602"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            get(r#"keyscope_rpc_requests_total{method="other",outcome="-32601"}"#),
            Some(1.0)
        );
        assert!(!text.contains("no_such"));
        assert_eq!(
            get(r#"keyscope_rpc_errors_total{code="-32700"}"#),
            Some(1.0)
        );
        assert_eq!(
            get(r#"keyscope_rpc_errors_total{code="-32602"}"#),
            Some(1.0)
        );
        assert_eq!(
            get(
                r#"keyscope_rpc_request_duration_seconds_bucket{method="keyscope_info",le="0.001"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            get(
                r#"keyscope_rpc_request_duration_seconds_bucket{method="keyscope_info",le="+Inf"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            get(r#"keyscope_rpc_request_duration_seconds_count{method="keyscope_info"}"#),
            Some(2.0)
        );
        assert_eq!(
            get(r#"keyscope_rpc_rejected_total{reason="unauthorized"}"#),
            Some(1.0)
        );
        assert_eq!(get("keyscope_store_sessions"), Some(3.0));
        assert_eq!(get("keyscope_store_bytes"), Some(1200.0));
        assert!(text.contains(r#"keyscope_rpc_build_info{version=""#));
        // Every sample line is `name{labels} value` or `name value`, every family typed.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap_or_default();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let name = series.split('{').next().unwrap_or_default();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {family} ")), "{line}");
        }
    }
}
