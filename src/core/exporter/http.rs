//! The exporter's HTTP endpoint (hyper, HTTP/1.1): `GET /metrics` answers the text exposition,
//! anything else 404 (or 405 for another method on `/metrics`). A request's head is bounded
//! (8 KiB, read within 10 s), a connection lives at most a minute, and at most 16 are served
//! at once: a scraper that misbehaves costs a few tasks, never the console's loop.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{ExporterSettings, Figures};

/// hyper's smallest read buffer: a request line and headers must fit in it.
const MAX_REQUEST_HEAD: usize = 8192;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Prometheus keeps its connection between scrapes; it reconnects when this runs out.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
const MAX_CONNECTIONS: usize = 16;
const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exporter cannot listen where it was told to.
#[derive(Debug, thiserror::Error)]
#[error("the exporter cannot listen on {address}: {source}")]
pub struct BindError {
    pub address: SocketAddr,
    pub source: std::io::Error,
}

/// A bound endpoint and what it serves.
pub struct Endpoint {
    listener: TcpListener,
    figures: Arc<Mutex<Figures>>,
}

impl Endpoint {
    pub async fn bind(settings: ExporterSettings) -> Result<Endpoint, BindError> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| BindError {
                address: settings.listen,
                source,
            })?;
        Ok(Endpoint {
            listener,
            figures: Arc::new(Mutex::new(Figures::new(settings.host, settings.checklists))),
        })
    }

    /// Where it listens (the port chosen, when the configured one was 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The figures it serves, for whoever feeds them.
    pub fn figures(&self) -> Arc<Mutex<Figures>> {
        self.figures.clone()
    }

    /// Serves until `stop` is cancelled.
    pub async fn serve(self, stop: CancellationToken) {
        let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                accepted = self.listener.accept() => accepted,
            };
            let Ok((stream, _)) = accepted else {
                // Out of descriptors, or a connection reset before it was taken: the next may do.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            // Over the limit, the connection is closed at once rather than queued.
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                continue;
            };
            let figures = self.figures.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let answer = respond(&request, &figures);
                    async move { Ok::<_, Infallible>(answer) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEAD_TIMEOUT)
                    .max_buf_size(MAX_REQUEST_HEAD)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = tokio::time::timeout(CONNECTION_LIFETIME, connection) => {}
                }
                drop(permit);
            });
        }
    }
}

fn respond(request: &Request<Incoming>, figures: &Mutex<Figures>) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found; the metrics are at /metrics\n",
        );
    }
    match *request.method() {
        Method::GET | Method::HEAD => {
            let text = figures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .render(crate::core::model::now());
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
            response
        }
        _ => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            response
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
