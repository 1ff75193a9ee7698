//! A loopback HTTP forwarder in front of the local AWS endpoint that injects faults:
//! added latency, throttling answers, 500s, rejected requests, dropped connections, requests
//! held without an answer, and a "cut" switch that drops every connection. The fault
//! config can be changed while requests flow; counters say what was injected.
//!
//! Point a client's `AWS_ENDPOINT_URL` at [`FaultProxy::endpoint`]. The proxy runs on its
//! own thread and runtime, so a test may block on a child process while it serves; dropping
//! it stops it. Draws come from a seeded generator: the same seed and the same request
//! order give the same faults.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the proxy does to requests. Rates are probabilities in 0..=1, drawn once per
/// matching request in this order: throttle, server error, reject, reset, timeout (their
/// sum is capped at 1); whatever is left is forwarded.
#[derive(Clone, Debug, Default)]
pub struct FaultConfig {
    /// Added to every request (faulted or not) before it is answered or forwarded.
    pub latency: Duration,
    /// Answered with the protocol's throttling error (EC2 `RequestLimitExceeded`, query
    /// `Throttling`, JSON `ThrottlingException`, S3 503 `SlowDown`): retried by the SDK.
    pub throttle_rate: f64,
    /// Answered 500 `InternalError`: retried by the SDK.
    pub server_error_rate: f64,
    /// Answered 400 with a validation error the SDK does not retry (EC2
    /// `InvalidParameterValue`, query `ValidationError`, JSON `ValidationException`).
    pub reject_rate: f64,
    /// The connection is dropped without an answer.
    pub reset_rate: f64,
    /// The request is held open without an answer until the client gives up, the network
    /// is cut, or the proxy stops.
    pub timeout_rate: f64,
    /// Faults apply only to these operations (empty: to every request). An operation is
    /// the `X-Amz-Target` action (`CreateTable`), the query `Action` (`CreateVpc`), or for
    /// REST services `METHOD /path`, matched by prefix (`POST /2015-03-31/functions`).
    pub operations: Vec<String>,
    /// Seed of the generator the rates draw from.
    pub seed: u64,
    /// Corrects answers of the local endpoint (moto 5.2.5) that the SDK cannot parse, so
    /// that whole stacks can run against it: S3 GetBucketVersioning comes back under a
    /// `GetBucketVersioningResponse` root instead of `VersioningConfiguration`. Only ever
    /// the test endpoint's wire format is touched, never what it says.
    pub fix_moto_answers: bool,
}

/// A kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    Reject,
    Reset,
    Timeout,
}

/// Counters since the proxy started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests received (including those then faulted or dropped by the cut).
    pub requests: u64,
    /// Requests forwarded to the endpoint.
    pub forwarded: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub rejected: u64,
    pub resets: u64,
    pub timeouts: u64,
    /// Connections and requests dropped because the network was cut (answers from the
    /// endpoint that arrived during a cut included).
    pub cut: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    forwarded: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
    rejected: AtomicU64,
    resets: AtomicU64,
    timeouts: AtomicU64,
    cut: AtomicU64,
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn fault(&self, f: Fault) {
        Self::bump(match f {
            Fault::Throttle => &self.throttled,
            Fault::ServerError => &self.server_errors,
            Fault::Reject => &self.rejected,
            Fault::Reset => &self.resets,
            Fault::Timeout => &self.timeouts,
        });
    }

    fn snapshot(&self) -> FaultStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FaultStats {
            requests: g(&self.requests),
            forwarded: g(&self.forwarded),
            throttled: g(&self.throttled),
            server_errors: g(&self.server_errors),
            rejected: g(&self.rejected),
            resets: g(&self.resets),
            timeouts: g(&self.timeouts),
            cut: g(&self.cut),
        }
    }
}

/// splitmix64: small, seedable, good enough to draw fault rates.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Shared {
    upstream: String,
    config: Mutex<FaultConfig>,
    rng: Mutex<Rng>,
    cut: std::sync::atomic::AtomicBool,
    counters: Counters,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Shared {
    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// The fault for a request to `operation`, if one is drawn.
    fn draw(&self, operation: &Operation) -> (Duration, Option<Fault>) {
        let config = self
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if !config.operations.is_empty() && !config.operations.iter().any(|o| operation.matches(o))
        {
            return (config.latency, None);
        }
        let r = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_f64();
        let mut edge = 0.0;
        for (rate, fault) in [
            (config.throttle_rate, Fault::Throttle),
            (config.server_error_rate, Fault::ServerError),
            (config.reject_rate, Fault::Reject),
            (config.reset_rate, Fault::Reset),
            (config.timeout_rate, Fault::Timeout),
        ] {
            edge += rate.clamp(0.0, 1.0);
            if r < edge {
                return (config.latency, Some(fault));
            }
        }
        (config.latency, None)
    }
}

/// A running fault-injecting proxy. Dropping it stops it and closes its connections.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts a proxy to `upstream` (e.g. `http://127.0.0.1:5000`) from an async context; the
/// proxy still runs on its own thread (see [`FaultProxy::start`]).
pub async fn start(upstream: &str, config: FaultConfig) -> FaultProxy {
    FaultProxy::start(upstream, config)
}

impl FaultProxy {
    /// Binds 127.0.0.1 on a free port and starts forwarding to `upstream`.
    pub fn start(upstream: &str, config: FaultConfig) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("proxy address");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("proxy runtime");
        let client = {
            let _guard = rt.enter();
            Client::builder(TokioExecutor::new()).build_http()
        };
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            rng: Mutex::new(Rng(config.seed)),
            config: Mutex::new(config),
            cut: Default::default(),
            counters: Counters::default(),
            client,
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept_loop(listener, serving) => {}
                    }
                });
                // Connection tasks (held requests included) end with the runtime.
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("proxy thread");
        FaultProxy {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Replaces the fault config. The generator is reseeded only if the seed changed.
    pub fn set(&self, config: FaultConfig) {
        let mut current = self.shared.config.lock().unwrap_or_else(|e| e.into_inner());
        if current.seed != config.seed {
            *self.shared.rng.lock().unwrap_or_else(|e| e.into_inner()) = Rng(config.seed);
        }
        *current = config;
    }

    /// Changes the fault config in place.
    pub fn update(&self, f: impl FnOnce(&mut FaultConfig)) {
        let mut config = self.config();
        f(&mut config);
        self.set(config);
    }

    pub fn config(&self) -> FaultConfig {
        self.shared
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Cuts the network (every connection and request is dropped, answers in flight are
    /// lost) or restores it.
    pub fn set_cut(&self, cut: bool) {
        self.shared.cut.store(cut, Ordering::SeqCst);
    }

    pub fn stats(&self) -> FaultStats {
        self.shared.counters.snapshot()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if shared.is_cut() {
            Counters::bump(&shared.counters.cut);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
            // An error here is a connection the proxy dropped on purpose, or the client's.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Why the proxy dropped a connection (an error from the service makes hyper close it
/// without answering).
#[derive(Debug)]
struct Dropped(&'static str);

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    Counters::bump(&shared.counters.requests);
    if shared.is_cut() {
        Counters::bump(&shared.counters.cut);
        return Err(Dropped("network cut"));
    }
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Dropped("request body unreadable")),
    };
    let operation = Operation::of(&parts, &body);
    let (latency, fault) = shared.draw(&operation);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = fault {
        shared.counters.fault(fault);
        let protocol = Protocol::of(&parts, &body);
        return match fault {
            Fault::Reset => Err(Dropped("injected reset")),
            Fault::Timeout => {
                while !shared.is_cut() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(Dropped("held request released by a cut"))
            }
            Fault::Throttle | Fault::ServerError | Fault::Reject => {
                Ok(error_response(protocol, fault))
            }
        };
    }
    let answer = forward(&shared, parts, body).await;
    if shared.is_cut() {
        // The endpoint acted on the request, but its answer is lost on the way back.
        Counters::bump(&shared.counters.cut);
        return Err(Dropped("answer lost to a network cut"));
    }
    Counters::bump(&shared.counters.forwarded);
    Ok(answer)
}

async fn forward(
    shared: &Shared,
    mut parts: hyper::http::request::Parts,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let versioning_get = parts.method == hyper::Method::GET
        && parts.uri.query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "versioning" || p == "versioning=")
        });
    let fix = versioning_get
        && shared
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fix_moto_answers;
    parts.uri = match format!("{}{path}", shared.upstream).parse() {
        Ok(u) => u,
        Err(_) => return plain(StatusCode::BAD_GATEWAY, "bad upstream URI"),
    };
    for h in [
        "connection",
        "transfer-encoding",
        "keep-alive",
        "proxy-connection",
    ] {
        parts.headers.remove(h);
    }
    let upstream = match shared
        .client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("upstream: {e}")),
    };
    let (mut parts, body) = upstream.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("upstream body: {e}")),
    };
    for h in ["connection", "transfer-encoding", "keep-alive"] {
        parts.headers.remove(h);
    }
    let body = if fix {
        parts.headers.remove("content-length");
        Bytes::from(
            String::from_utf8_lossy(&body)
                .replace("GetBucketVersioningResponse", "VersioningConfiguration"),
        )
    } else {
        body
    };
    Response::from_parts(parts, Full::new(body))
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = status;
    r
}

/// The operation a request calls, for the operation filter.
#[derive(Debug, PartialEq)]
enum Operation {
    /// From `X-Amz-Target` or a query `Action`.
    Named(String),
    /// A REST call: `METHOD /path`.
    Rest(String),
}

impl Operation {
    fn of(parts: &hyper::http::request::Parts, body: &[u8]) -> Operation {
        if let Some(target) = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
        {
            return Operation::Named(target.rsplit('.').next().unwrap_or(target).to_string());
        }
        if let Some(action) = form_value(parts.uri.query().unwrap_or("").as_bytes(), "Action")
            .or_else(|| form_value(body, "Action"))
        {
            return Operation::Named(action);
        }
        Operation::Rest(format!("{} {}", parts.method, parts.uri.path()))
    }

    fn matches(&self, filter: &str) -> bool {
        match self {
            Operation::Named(n) => n == filter,
            Operation::Rest(r) => r.starts_with(filter),
        }
    }
}

/// A value of an `application/x-www-form-urlencoded` text (keys and the values looked up
/// here, action names, need no decoding).
fn form_value(text: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// The wire protocol of a request, which decides the shape of an error answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Protocol {
    /// EC2's query dialect: `<Response><Errors><Error>`.
    Ec2,
    /// awsQuery (IAM, RDS, ...): `<ErrorResponse><Error>`.
    Query,
    /// awsJson 1.0/1.1 (`X-Amz-Target`): `{"__type": ...}`.
    Json,
    /// S3's REST-XML: `<Error>`.
    S3,
    /// Other REST-XML (Route 53, CloudFront): `<ErrorResponse><Error>`.
    RestXml,
    /// REST-JSON (Lambda, EKS, ...): `x-amzn-ErrorType` and a JSON body.
    RestJson,
}

impl Protocol {
    fn of(parts: &hyper::http::request::Parts, body: &[u8]) -> Protocol {
        let service = signing_service(parts).unwrap_or_default();
        if parts.headers.contains_key("x-amz-target") {
            Protocol::Json
        } else if form_value(parts.uri.query().unwrap_or("").as_bytes(), "Action")
            .or_else(|| form_value(body, "Action"))
            .is_some()
        {
            if service == "ec2" {
                Protocol::Ec2
            } else {
                Protocol::Query
            }
        } else {
            match service.as_str() {
                "s3" => Protocol::S3,
                "route53" | "cloudfront" => Protocol::RestXml,
                _ => Protocol::RestJson,
            }
        }
    }
}

/// The service a request was signed for: `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
fn signing_service(parts: &hyper::http::request::Parts) -> Option<String> {
    let auth = parts.headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    scope.split('/').nth(3).map(str::to_string)
}

fn error_response(protocol: Protocol, fault: Fault) -> Response<Full<Bytes>> {
    let message = "injected by terrane's fault proxy";
    let (status, code) = match (fault, protocol) {
        (Fault::Throttle, Protocol::S3) => (StatusCode::SERVICE_UNAVAILABLE, "SlowDown"),
        (Fault::Throttle, Protocol::Ec2) => {
            (StatusCode::SERVICE_UNAVAILABLE, "RequestLimitExceeded")
        }
        (Fault::Throttle, Protocol::Json | Protocol::RestJson) => {
            (StatusCode::BAD_REQUEST, "ThrottlingException")
        }
        (Fault::Throttle, _) => (StatusCode::BAD_REQUEST, "Throttling"),
        (Fault::ServerError, Protocol::Json | Protocol::RestJson) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure")
        }
        (Fault::ServerError, _) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        (Fault::Reject, Protocol::Ec2) => (StatusCode::BAD_REQUEST, "InvalidParameterValue"),
        (Fault::Reject, Protocol::Json | Protocol::RestJson) => {
            (StatusCode::BAD_REQUEST, "ValidationException")
        }
        (Fault::Reject, Protocol::S3) => (StatusCode::BAD_REQUEST, "InvalidRequest"),
        (Fault::Reject, _) => (StatusCode::BAD_REQUEST, "ValidationError"),
        (Fault::Reset | Fault::Timeout, _) => unreachable!("answered without a response"),
    };
    let request_id = "00000000-0000-0000-0000-0000fa017000";
    let (content_type, body) = match protocol {
        Protocol::Ec2 => (
            "text/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
            ),
        ),
        Protocol::Query | Protocol::RestXml => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ),
        ),
        Protocol::S3 => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
            ),
        ),
        Protocol::Json | Protocol::RestJson => (
            "application/x-amz-json-1.1",
            format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-type", content_type.parse().expect("header value"));
    h.insert(
        "x-amzn-requestid",
        request_id.parse().expect("header value"),
    );
    if matches!(protocol, Protocol::RestJson | Protocol::Json) {
        h.insert("x-amzn-errortype", code.parse().expect("header value"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(f: impl FnOnce(&mut FaultConfig)) -> FaultConfig {
        let mut c = FaultConfig {
            seed: 7,
            ..FaultConfig::default()
        };
        f(&mut c);
        c
    }

    /// Patience for an answer that should come: moto's first EC2 call in a region builds its
    /// default VPC and can take seconds on a loaded CI machine.
    const ANSWER: Duration = Duration::from_secs(60);
    /// Patience where the proxy should drop or hold the call.
    const NO_ANSWER: Duration = Duration::from_secs(2);

    /// (status, whole answer) of an EC2 query `Action` sent through the proxy, or None when
    /// the connection was dropped or nothing came back within `patience`.
    async fn call_within(
        proxy: &FaultProxy,
        action: &str,
        patience: Duration,
    ) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let port = proxy.port();
        let action = action.to_string();
        tokio::task::spawn_blocking(move || {
            let body = format!("Action={action}&Version=2016-11-15");
            let raw = format!(
                "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.set_read_timeout(Some(patience)).ok()?;
            s.write_all(raw.as_bytes()).ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).ok()?;
            let status = out.split(' ').nth(1)?.parse().ok()?;
            Some((status, out))
        })
        .await
        .unwrap()
    }

    async fn call(proxy: &FaultProxy, action: &str) -> Option<(u16, String)> {
        call_within(proxy, action, ANSWER).await
    }

    async fn call_dropped(proxy: &FaultProxy, action: &str) -> Option<(u16, String)> {
        call_within(proxy, action, NO_ANSWER).await
    }

    #[tokio::test]
    async fn forwards_when_no_fault_is_drawn_and_injects_each_fault_at_rate_one() {
        let moto = crate::Moto::start();
        let proxy = start(&moto.endpoint(), config(|_| {})).await;
        let (status, body) = call(&proxy, "DescribeVpcs").await.expect("an answer");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("vpcSet"), "{body}");

        proxy.update(|c| c.throttle_rate = 1.0);
        let (status, body) = call(&proxy, "DescribeVpcs").await.expect("an answer");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("<Code>RequestLimitExceeded</Code>"), "{body}");

        proxy.update(|c| {
            c.throttle_rate = 0.0;
            c.server_error_rate = 1.0;
        });
        assert_eq!(
            call(&proxy, "DescribeVpcs").await.expect("an answer").0,
            500
        );

        proxy.update(|c| {
            c.server_error_rate = 0.0;
            c.reject_rate = 1.0;
        });
        let (status, body) = call(&proxy, "DescribeVpcs").await.expect("an answer");
        assert_eq!(status, 400);
        assert!(body.contains("InvalidParameterValue"), "{body}");

        proxy.update(|c| {
            c.reject_rate = 0.0;
            c.reset_rate = 1.0;
        });
        assert_eq!(
            call_dropped(&proxy, "DescribeVpcs").await,
            None,
            "dropped without an answer"
        );

        // The filter: only the named operation is faulted.
        proxy.update(|c| c.operations = vec!["CreateVpc".into()]);
        assert_eq!(
            call(&proxy, "DescribeVpcs").await.expect("forwarded").0,
            200
        );
        assert_eq!(call_dropped(&proxy, "CreateVpc").await, None);

        proxy.update(|c| {
            c.reset_rate = 0.0;
            c.timeout_rate = 1.0;
            c.operations.clear();
        });
        let started = std::time::Instant::now();
        assert_eq!(
            call_dropped(&proxy, "DescribeVpcs").await,
            None,
            "held, then given up"
        );
        assert!(started.elapsed() >= Duration::from_secs(2));

        proxy.update(|c| c.timeout_rate = 0.0);
        proxy.set_cut(true);
        assert_eq!(call_dropped(&proxy, "DescribeVpcs").await, None, "cut");
        proxy.set_cut(false);
        assert_eq!(call(&proxy, "DescribeVpcs").await.expect("restored").0, 200);

        let s = proxy.stats();
        assert_eq!(
            (
                s.throttled,
                s.server_errors,
                s.rejected,
                s.resets,
                s.timeouts
            ),
            (1, 1, 1, 2, 1),
            "{s:?}"
        );
        assert_eq!(s.forwarded, 3, "{s:?}");
        assert!(s.cut >= 1, "{s:?}");
        assert_eq!(s.requests, 9, "{s:?}");

        // Dropping the proxy stops it.
        let port = proxy.port();
        drop(proxy);
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "still listening after drop"
        );
    }

    #[test]
    fn rates_are_drawn_deterministically_from_the_seed() {
        let draws = |seed| {
            let mut r = Rng(seed);
            (0..1000).map(|_| r.next_f64()).collect::<Vec<_>>()
        };
        assert_eq!(draws(1), draws(1));
        assert_ne!(draws(1), draws(2));
        let share = draws(3).iter().filter(|x| **x < 0.2).count();
        assert!((150..250).contains(&share), "{share} of 1000 below 0.2");
    }

    #[test]
    fn operations_and_protocols_are_read_from_the_request() {
        let parts = |method: &str, uri: &str, headers: &[(&str, &str)]| {
            let mut b = Request::builder().method(method).uri(uri);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(()).unwrap().into_parts().0
        };
        let auth = |svc: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/{svc}/aws4_request, SignedHeaders=host, Signature=x"
            )
        };
        let p = parts(
            "POST",
            "/",
            &[("x-amz-target", "DynamoDB_20120810.CreateTable")],
        );
        assert_eq!(
            Operation::of(&p, b""),
            Operation::Named("CreateTable".into())
        );
        assert_eq!(Protocol::of(&p, b""), Protocol::Json);
        let p = parts("POST", "/", &[("authorization", &auth("ec2"))]);
        assert_eq!(
            Operation::of(&p, b"Action=CreateVpc&Version=2016-11-15"),
            Operation::Named("CreateVpc".into())
        );
        assert_eq!(Protocol::of(&p, b"Action=CreateVpc"), Protocol::Ec2);
        let p = parts("POST", "/", &[("authorization", &auth("iam"))]);
        assert_eq!(Protocol::of(&p, b"Action=CreateRole"), Protocol::Query);
        let p = parts("PUT", "/bucket/key", &[("authorization", &auth("s3"))]);
        assert_eq!(Protocol::of(&p, b""), Protocol::S3);
        let op = Operation::of(&p, b"");
        assert!(op.matches("PUT /bucket"));
        assert!(!op.matches("GET /bucket"));
        let p = parts(
            "POST",
            "/2015-03-31/functions",
            &[("authorization", &auth("lambda"))],
        );
        assert_eq!(Protocol::of(&p, b"{}"), Protocol::RestJson);
    }
}
