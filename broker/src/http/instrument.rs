//! Request metrics: one count and one latency sample per answered request, labelled by route
//! template, method and status.
//!
//! The route comes from the response's [`RouteLabel`] extension when the logical handler set
//! one (the pipeline resolved `database/creds/:role`), else from axum's matched path for the
//! fixed endpoints (`sys/health`), else `unmatched`.
//!
//! Every request records, so the handles of each series are kept ([`SERIES`]): registering
//! through the facade's macros builds a labelled key, clones it and searches the recorder's
//! registry on every call (about 0.4 µs for the pair), where a kept handle records with an
//! atomic add. A series is registered once, on its first request; the recorder never drops
//! one (no idle timeout is set), so a kept handle is always the one `sys/metrics` renders.

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram, SharedString, counter, histogram};

use crate::metrics::route::{self, RouteLabel};
use crate::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};

const API_PREFIX: &str = "/v1/";

/// The request count and latency series of one route, by method and status code.
type RouteSeries = HashMap<(&'static str, u16), (Counter, Histogram)>;

/// Every request series recorded so far, by route label. Bounded as the labels are: route
/// templates, a fixed set of methods and the statuses Lessor answers with.
static SERIES: LazyLock<RwLock<HashMap<SharedString, RouteSeries>>> =
    LazyLock::new(Default::default);

pub(super) async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let route = match response.extensions().get::<RouteLabel>() {
        Some(RouteLabel(label)) => label,
        None => matched.as_ref().map_or(route::UNMATCHED, |path| {
            path.as_str().trim_start_matches(API_PREFIX)
        }),
    };
    observe(route, method, response.status(), elapsed);
    response
}

/// Counts and times one request, registering its series on first use.
fn observe(route: &str, method: &'static str, status: StatusCode, elapsed: Duration) {
    let key = (method, status.as_u16());
    {
        let series = SERIES.read().unwrap_or_else(PoisonError::into_inner);
        if let Some((requests, duration)) = series.get(route).and_then(|series| series.get(&key)) {
            requests.increment(1);
            duration.record(elapsed);
            return;
        }
    }
    let mut series = SERIES.write().unwrap_or_else(PoisonError::into_inner);
    let label = SharedString::from(route.to_owned());
    let (requests, duration) = series
        .entry(label.clone())
        .or_default()
        .entry(key)
        .or_insert_with(|| {
            (
                counter!(
                    HTTP_REQUESTS,
                    "route" => label.clone(),
                    "method" => method,
                    "status" => status_label(status),
                ),
                histogram!(HTTP_REQUEST_DURATION, "route" => label, "method" => method),
            )
        });
    requests.increment(1);
    duration.record(elapsed);
}

/// Methods as static labels; anything unusual collapses into `other` so a client cannot mint
/// series by inventing methods.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ if method.as_str() == "LIST" => "LIST",
        _ => "other",
    }
}

/// Built once per series, so a plain allocation.
fn status_label(status: StatusCode) -> SharedString {
    SharedString::from(status.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"LIST").unwrap()), "LIST");
        assert_eq!(
            method_label(&Method::from_bytes(b"INVENTED").unwrap()),
            "other"
        );
        assert_eq!(&*status_label(StatusCode::FORBIDDEN), "403");
        assert_eq!(&*status_label(StatusCode::IM_A_TEAPOT), "418");
    }

    /// The sample of `name` for the route `instrument-test/:kept`, GET, and `labels`.
    fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
        let prefix = format!("{name}{{route=\"instrument-test/:kept\",method=\"GET\"{labels}}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .and_then(|value| value.parse().ok())
    }

    #[tokio::test]
    async fn kept_handles_record_into_the_rendered_series() {
        crate::metrics::install();
        let route = "instrument-test/:kept";
        for _ in 0..2 {
            observe(route, "GET", StatusCode::OK, Duration::from_millis(2));
        }
        observe(
            route,
            "GET",
            StatusCode::NOT_FOUND,
            Duration::from_millis(2),
        );
        let text = crate::metrics::render();
        let requests =
            |status: &str| sample(&text, HTTP_REQUESTS, &format!(",status=\"{status}\""));
        assert_eq!(requests("200"), Some(2.0), "{text}");
        assert_eq!(requests("404"), Some(1.0), "{text}");
        assert_eq!(
            sample(&text, "lessor_http_request_duration_seconds_count", ""),
            Some(3.0),
            "{text}"
        );
    }
}
