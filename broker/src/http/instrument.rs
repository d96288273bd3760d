//! Request metrics: one count and one latency sample per answered request, labelled by route
//! template, method and status.
//!
//! The route comes from the response's [`RouteLabel`] extension when the logical handler set
//! one (the pipeline resolved `database/creds/:role`), else from axum's matched path for the
//! fixed endpoints (`sys/health`), else `unmatched`. Labels are static strings or interned
//! `Arc<str>`s, so recording costs no string building on the common path.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{SharedString, counter, histogram};

use crate::metrics::route::{self, RouteLabel};
use crate::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};

const API_PREFIX: &str = "/v1/";

pub(super) async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = match response.extensions().get::<RouteLabel>() {
        Some(RouteLabel(label)) => label.clone(),
        None => matched.map_or(SharedString::const_str(route::UNMATCHED), |path| {
            route::label("", path.as_str().trim_start_matches(API_PREFIX))
        }),
    };
    counter!(
        HTTP_REQUESTS,
        "route" => route.clone(),
        "method" => method,
        "status" => status_label(response.status()),
    )
    .increment(1);
    histogram!(HTTP_REQUEST_DURATION, "route" => route, "method" => method)
        .record(started.elapsed());
    response
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

/// The statuses Lessor answers with as static labels; others (rare) allocate.
fn status_label(status: StatusCode) -> SharedString {
    let code = match status.as_u16() {
        200 => "200",
        204 => "204",
        307 => "307",
        400 => "400",
        403 => "403",
        404 => "404",
        405 => "405",
        412 => "412",
        413 => "413",
        429 => "429",
        500 => "500",
        501 => "501",
        502 => "502",
        503 => "503",
        _ => return SharedString::from(status.as_str().to_owned()),
    };
    SharedString::const_str(code)
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
}
