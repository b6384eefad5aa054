//! The agent's HTTP interface (axum on hyper): observation for operators and monitoring, and
//! the control endpoints the `rumor` client commands use, split in two surfaces.
//!
//! **Reads** — served on the HTTP listener (`--http`):
//!
//! | route | |
//! |---|---|
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 once joined (or with no seeds) under a name the cluster accepts, else 503 |
//! | `GET /metrics` | Prometheus text 0.0.4, or OpenMetrics when asked ([`metrics`]) |
//! | `GET /v1/members` | `{"self": NAME, "members": [...]}`; `?status=`, `?name=`, `?tag=K=V` filter |
//! | `GET /v1/info` | this node's configuration summary and counters |
//! | `GET /v1/events` | server-sent events, one JSON [`AgentEvent`](rumor_agent::AgentEvent) each |
//! | `GET /v1/relay` | WebSocket: hello, snapshot, then events, stats and bye ([`relay`]) |
//! | `GET /ui/` | the browser visualizer ([`crate::ui`]): built in, or the directory given by `--ui-dir` |
//!
//! **Writes** — served on the admin listener only, which also serves every read:
//!
//! | route | |
//! |---|---|
//! | `POST /v1/events` | `{"name", "payload"}`: send a user event |
//! | `PUT /v1/meta` | `{KEY: VALUE}`: replace this node's metadata |
//! | `PATCH /v1/meta` | `{"set": {KEY: VALUE}, "delete": [KEY]}`: change some keys |
//! | `GET /v1/keys` | the keyring, primary first (secret, so not a read) |
//! | `POST /v1/keys` | `{"op": "install"\|"use"\|"remove", "key": BASE64}` |
//! | `POST /v1/join` | `{"addrs": [HOST:PORT]}`: join members on a running agent |
//! | `POST /v1/force-leave` | `{"name": NAME}`: mark a failed member left everywhere |
//! | `POST /v1/leave` | leave gracefully; the agent then stops |
//!
//! Where the admin listener is ([`Surfaces`]): `--admin` if given; otherwise, when the HTTP
//! listener is bound to loopback, that listener serves both (only local processes reach it);
//! when it is bound to any other address it serves reads only and the admin listener is on
//! `127.0.0.1:7948`. On a read-only listener every write answers 403 and changes nothing.
//!
//! Both listeners are served by [`serve`] with the same limits ([`HttpLimits`]): a header read
//! timeout that also closes idle keep-alive connections, a request body timeout and size
//! limit, and a cap on open connections (new ones wait in the kernel's backlog at the cap).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use rumor_agent::{AgentEvent, Error, Handle, KeyOp, MemberInfo, keys};

use crate::metrics;
use crate::relay::{self, Relay};

/// Limits of one HTTP listener, against clients that hold connections open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections open at once; more wait in the kernel's backlog until one closes.
    pub max_connections: usize,
    /// Time to send a request's headers, and the longest a keep-alive connection may sit idle
    /// between requests.
    pub header_timeout: Duration,
    /// Time to send a request's body.
    pub body_timeout: Duration,
    /// Largest request body accepted (a larger `Content-Length` is refused with 413 at once).
    pub max_body: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 256,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            max_body: 64 * 1024,
        }
    }
}

/// What the HTTP server needs beyond the agent's [`Handle`].
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// The cluster label (the relay's `hello` names it).
    pub label: String,
    /// A directory served at `/ui/` (`--ui-dir`).
    pub ui_dir: Option<PathBuf>,
    /// The configuration summary `GET /v1/info` starts from.
    pub info: serde_json::Map<String, serde_json::Value>,
    /// Where `PATCH`/`PUT /v1/meta` write the metadata back (the `--config` file), or why
    /// they do not.
    pub meta_file: MetaFile,
}

/// Where metadata changes are persisted.
#[derive(Clone, Debug, Default)]
pub enum MetaFile {
    /// Not persisted: the agent has no configuration file.
    #[default]
    None,
    /// Written to this TOML file's `[meta]` table.
    Toml(PathBuf),
    /// Not persisted, for this reason (`--meta` given on the command line overrides the file).
    Overridden(String),
}

/// State shared by the handlers.
#[derive(Clone)]
struct App {
    handle: Handle,
    info: Arc<serde_json::Map<String, serde_json::Value>>,
    meta_file: Arc<MetaFile>,
    /// Serialises read-modify-write changes of the metadata.
    meta_lock: Arc<tokio::sync::Mutex<()>>,
    started: Instant,
}

/// The two routers of an agent and the relay they serve (to wait for its connections).
pub struct Routers {
    /// Reads only; writes answer 403.
    pub reads: Router,
    /// Reads and writes.
    pub admin: Router,
    /// The relay behind `GET /v1/relay`.
    pub relay: Relay,
}

/// The read-only and the admin router for an agent.
pub fn routers(handle: Handle, options: &HttpOptions) -> Routers {
    let relay = Relay::new(handle.clone(), &options.label);
    let app = App {
        handle,
        info: Arc::new(options.info.clone()),
        meta_file: Arc::new(options.meta_file.clone()),
        meta_lock: Arc::new(tokio::sync::Mutex::new(())),
        started: Instant::now(),
    };
    let base = || {
        Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_text))
            .route("/v1/members", get(members))
            .route("/v1/info", get(info))
            .route("/v1/relay", get(relay::upgrade).with_state(relay.clone()))
    };
    let reads = base()
        .route("/v1/events", get(events).post(admin_only))
        .route("/v1/meta", any(admin_only))
        .route("/v1/keys", any(admin_only))
        .route("/v1/join", any(admin_only))
        .route("/v1/force-leave", any(admin_only))
        .route("/v1/leave", any(admin_only))
        .with_state(app.clone())
        .merge(crate::ui::router(options.ui_dir.as_deref(), crate::ui::Site::Agent));
    let admin = base()
        .route("/v1/events", get(events).post(send_event))
        .route("/v1/meta", axum::routing::put(set_meta).patch(patch_meta))
        .route("/v1/keys", get(list_keys).post(change_keys))
        .route("/v1/join", post(join))
        .route("/v1/force-leave", post(force_leave))
        .route("/v1/leave", post(leave))
        .with_state(app)
        .merge(crate::ui::router(options.ui_dir.as_deref(), crate::ui::Site::Agent));
    Routers { reads, admin, relay }
}

/// Serves `app` on `listener` with `limits` until `shutdown` resolves, then lets the requests
/// in flight finish (for at most two seconds).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let app = app
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limits.max_body))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_timeout));
    let max = effective_max_connections(limits.max_connections);
    let slots = Arc::new(Semaphore::new(max));
    // Tells every connection to finish its request in flight and close.
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // At the cap, stop accepting: new connections wait in the backlog until a slot frees,
        // which the header timeout bounds for connections that send nothing.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little rather than spin.
                    tracing::warn!("HTTP accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut conn = http1.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let result = tokio::select! {
                r = &mut conn => r,
                () = async { let _ = closed.wait_for(|c| *c).await; } => {
                    std::pin::Pin::new(&mut conn).graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!("HTTP connection: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(2), slots.acquire_many(all)).await;
}

/// The connection cap, lowered to fit the file-descriptor limit: each listener may use at
/// most half of what the process has left beyond 64 descriptors for everything else, so that
/// idle connections cannot exhaust the descriptors (and `accept` never fails for want of one).
fn effective_max_connections(configured: usize) -> usize {
    let fds = crate::metrics::Process::read(Instant::now()).max_fds;
    let fit = fds.map_or(usize::MAX, |n| usize::try_from(n.saturating_sub(64) / 2).unwrap_or(usize::MAX));
    let max = configured.min(fit).max(4);
    if max < configured {
        tracing::warn!(
            configured,
            max,
            fd_limit = fds,
            "HTTP connection cap lowered to fit the file-descriptor limit (raise it with ulimit -n or LimitNOFILE)"
        );
    }
    max
}

/// An error body: `{"error": "..."}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e {
            Error::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(status, e.to_string())
    }
}

/// Any write on the read-only listener.
async fn admin_only() -> ApiError {
    ApiError(
        StatusCode::FORBIDDEN,
        "this listener serves reads only; writes go to the agent's admin listener (rumor agent --admin, \
         client commands --admin)"
            .into(),
    )
}

async fn readyz(State(app): State<App>) -> Response {
    let h = &app.handle;
    if h.is_stopped() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopped\n").into_response()
    } else if h.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else if let Some(holder) = h.name_refused() {
        let why = format!("name refused: {holder} holds the name {} until it fails or leaves\n", h.name());
        (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "joining: no seed has answered yet\n").into_response()
    }
}

async fn metrics_text(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    let m = app.handle.metrics().await?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = metrics::Format::negotiate(accept);
    let process = metrics::Process::read(app.started);
    let text = metrics::render(app.handle.name(), &m, &process, format);
    Ok(([(header::CONTENT_TYPE, format.content_type())], text).into_response())
}

/// Body of `GET /v1/members`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct MembersBody {
    /// This node's name.
    #[serde(rename = "self")]
    pub self_name: String,
    /// Every member, this node included (those that pass the filters).
    pub members: Vec<MemberJson>,
}

/// One member in `GET /v1/members` (owned, for clients).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct MemberJson {
    /// Name.
    pub name: String,
    /// Gossip address.
    pub addr: String,
    /// `alive`, `suspect`, `failed` or `left`.
    pub state: String,
    /// Incarnation.
    pub incarnation: u32,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
}

impl From<MemberInfo> for MemberJson {
    fn from(m: MemberInfo) -> Self {
        MemberJson {
            name: m.name,
            addr: m.addr.to_string(),
            state: m.state.as_str().to_string(),
            incarnation: m.incarnation,
            meta: m.meta,
        }
    }
}

/// The filters of `GET /v1/members` (and `rumor members`), as Serf has them: each is a regular
/// expression matched against the whole value; a member must pass all of them.
#[derive(Debug, Default)]
pub struct MemberFilter {
    status: Option<regex::Regex>,
    name: Option<regex::Regex>,
    tags: Vec<(String, regex::Regex)>,
}

impl MemberFilter {
    /// Parses the query pairs `status`, `name` and `tag` (`KEY=REGEX`, repeatable). The error
    /// names the parameter and says what is wrong.
    pub fn parse(pairs: &[(String, String)]) -> Result<MemberFilter, String> {
        let anchored = |param: &str, re: &str| {
            regex::Regex::new(&format!("^(?:{re})$"))
                .map_err(|e| format!("`{param}={re}` is not a valid regular expression: {e}"))
        };
        let mut f = MemberFilter::default();
        for (k, v) in pairs {
            match k.as_str() {
                "status" => f.status = Some(anchored("status", v)?),
                "name" => f.name = Some(anchored("name", v)?),
                "tag" => {
                    let (key, re) = v
                        .split_once('=')
                        .ok_or_else(|| format!("`tag={v}` is not KEY=REGEX (for example role=db.*)"))?;
                    f.tags.push((key.to_owned(), anchored("tag", re)?));
                }
                other => return Err(format!("unknown filter `{other}` (use status, name or tag)")),
            }
        }
        Ok(f)
    }

    /// Whether `m` passes every filter. A `tag` filter needs the key to be present.
    pub fn matches(&self, m: &MemberJson) -> bool {
        self.status.as_ref().is_none_or(|r| r.is_match(&m.state))
            && self.name.as_ref().is_none_or(|r| r.is_match(&m.name))
            && self.tags.iter().all(|(k, r)| m.meta.get(k).is_some_and(|v| r.is_match(v)))
    }
}

async fn members(
    State(app): State<App>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<MembersBody>, ApiError> {
    let filter = MemberFilter::parse(&query).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let members = app.handle.members().await?.into_iter().map(MemberJson::from).filter(|m| filter.matches(m)).collect();
    Ok(Json(MembersBody { self_name: app.handle.name().to_string(), members }))
}

async fn info(State(app): State<App>) -> Result<Json<serde_json::Value>, ApiError> {
    let h = &app.handle;
    let m = h.metrics().await?;
    let mut out = (*app.info).clone();
    let mut put = |k: &str, v: serde_json::Value| {
        out.insert(k.to_owned(), v);
    };
    put("name", h.name().into());
    put("version", env!("CARGO_PKG_VERSION").into());
    put("advertise", h.advertised_addr().to_string().into());
    put("bind", h.local_addr().to_string().into());
    put("incarnation", m.incarnation.into());
    put("ready", h.is_ready().into());
    put("uptime_seconds", app.started.elapsed().as_secs().into());
    put("max_event_bytes", h.max_event_len().into());
    put("members", serde_json::to_value(m.members).unwrap_or_default());
    put("health_score", m.health_score.into());
    put("gossip_queue", m.gossip_queue.into());
    put("stats", serde_json::to_value(m.stats).unwrap_or_default());
    Ok(Json(serde_json::Value::Object(out)))
}

/// `GET /v1/events`: every event from now on; the stream ends once the agent stops, after
/// the events it published last (a graceful leave's `leave-complete` included), so clients see
/// a clean end rather than a cut connection.
async fn events(State(app): State<App>) -> Sse<impl Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let h = app.handle;
    let rx = h.subscribe();
    let stream = futures_util::stream::unfold((rx, h, false), |(mut rx, h, mut stopping)| async move {
        loop {
            let e = if stopping {
                match rx.try_recv() {
                    Ok(e) => e,
                    Err(TryRecvError::Lagged(_)) => continue,
                    Err(_) => return None,
                }
            } else {
                tokio::select! {
                    biased;
                    e = rx.recv() => match e {
                        Ok(e) => e,
                        // A lagging subscriber skips what it missed rather than ending.
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    },
                    () = h.stopped() => {
                        stopping = true;
                        continue;
                    }
                }
            };
            if let Some(sse) = sse_event(&e) {
                return Some((Ok(sse), (rx, h, stopping)));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn sse_event(e: &AgentEvent) -> Option<SseEvent> {
    let kind = serde_json::to_value(e).ok()?.get("type")?.as_str()?.to_string();
    SseEvent::default().event(kind).json_data(e).ok()
}

/// Body of `POST /v1/events`.
#[derive(Serialize, Deserialize, Debug)]
pub struct SendEvent {
    /// Event name.
    pub name: String,
    /// Payload (UTF-8).
    #[serde(default)]
    pub payload: String,
}

/// Answer of `POST /v1/events`.
#[derive(Serialize, Deserialize, Debug)]
pub struct EventSent {
    /// Bytes the event takes in a packet: name, a NUL byte, payload.
    pub size: usize,
    /// The most an event may take.
    pub max: usize,
}

async fn send_event(
    State(app): State<App>,
    Json(e): Json<SendEvent>,
) -> Result<(StatusCode, Json<EventSent>), ApiError> {
    let h = &app.handle;
    let (size, max) = (e.name.len() + 1 + e.payload.len(), h.max_event_len());
    if size > max {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the event takes {size} bytes (name, a NUL byte and the payload) but at most {max} fit in one \
                 packet with this agent's mtu; send a shorter payload (a key or URL to the data)"
            ),
        ));
    }
    h.send_event(&e.name, e.payload.as_bytes()).await?;
    Ok((StatusCode::ACCEPTED, Json(EventSent { size, max })))
}

/// Answer of `PUT`/`PATCH /v1/meta`.
#[derive(Serialize, Deserialize, Debug)]
pub struct MetaChanged {
    /// The metadata now.
    pub meta: BTreeMap<String, String>,
    /// The file it was written to, if any.
    pub persisted: Option<String>,
    /// Why it was not written to a file (when `persisted` is null).
    pub not_persisted: Option<String>,
}

/// Body of `PATCH /v1/meta`.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct MetaPatch {
    /// Keys to set.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Keys to delete.
    #[serde(default)]
    pub delete: Vec<String>,
}

async fn set_meta(
    State(app): State<App>,
    Json(m): Json<BTreeMap<String, String>>,
) -> Result<Json<MetaChanged>, ApiError> {
    let _guard = app.meta_lock.lock().await;
    apply_meta(&app, m).await
}

async fn patch_meta(State(app): State<App>, Json(p): Json<MetaPatch>) -> Result<Json<MetaChanged>, ApiError> {
    if let Some(k) = p.set.keys().find(|k| k.is_empty()) {
        return Err(ApiError(StatusCode::BAD_REQUEST, format!("metadata key `{k}` is empty")));
    }
    let _guard = app.meta_lock.lock().await;
    let h = &app.handle;
    let mut meta = h.members().await?.into_iter().find(|m| m.name == h.name()).map(|m| m.meta).unwrap_or_default();
    for k in &p.delete {
        meta.remove(k);
    }
    meta.extend(p.set);
    apply_meta(&app, meta).await
}

async fn apply_meta(app: &App, meta: BTreeMap<String, String>) -> Result<Json<MetaChanged>, ApiError> {
    app.handle.set_meta(meta.clone()).await?;
    let (persisted, not_persisted) = match &*app.meta_file {
        MetaFile::None => (None, Some("the agent has no configuration file (--config)".to_owned())),
        MetaFile::Overridden(why) => (None, Some(why.clone())),
        MetaFile::Toml(path) => match crate::config::write_meta(path, &meta) {
            Ok(()) => (Some(path.display().to_string()), None),
            Err(e) => {
                return Err(ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("metadata changed, but {} could not be rewritten: {e}", path.display()),
                ));
            }
        },
    };
    Ok(Json(MetaChanged { meta, persisted, not_persisted }))
}

/// Body of `GET`/`POST /v1/keys` responses.
#[derive(Serialize, Deserialize, Debug)]
pub struct KeysBody {
    /// Keys in base64, the primary first.
    pub keys: Vec<String>,
}

/// Body of `POST /v1/keys`.
#[derive(Serialize, Deserialize, Debug)]
pub struct KeyChange {
    /// `install`, `use` or `remove`.
    pub op: String,
    /// The key, base64.
    pub key: String,
}

async fn list_keys(State(app): State<App>) -> Result<Json<KeysBody>, ApiError> {
    Ok(Json(KeysBody { keys: app.handle.keys(KeyOp::List).await? }))
}

async fn change_keys(State(app): State<App>, Json(c): Json<KeyChange>) -> Result<Json<KeysBody>, ApiError> {
    let key = keys::decode(&c.key).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("key {e}")))?;
    let op = match c.op.as_str() {
        "install" => KeyOp::Install(key),
        "use" => KeyOp::Use(key),
        "remove" => KeyOp::Remove(key),
        other => {
            return Err(ApiError(StatusCode::BAD_REQUEST, format!("op `{other}` is not install, use or remove")));
        }
    };
    Ok(Json(KeysBody { keys: app.handle.keys(op).await? }))
}

/// Body of `POST /v1/join`.
#[derive(Serialize, Deserialize, Debug)]
pub struct JoinRequest {
    /// `HOST:PORT` of members to join.
    pub addrs: Vec<String>,
}

/// Answer of `POST /v1/join`.
#[derive(Serialize, Deserialize, Debug)]
pub struct JoinAnswer {
    /// The addresses contacted.
    pub contacted: Vec<String>,
    /// Those a live member answered from within the wait.
    pub answered: Vec<String>,
    /// Live members now, this node included.
    pub alive: u32,
}

/// How long `POST /v1/join` waits for the addresses to answer.
const JOIN_WAIT: Duration = Duration::from_secs(5);

async fn join(State(app): State<App>, Json(j): Json<JoinRequest>) -> Result<Json<JoinAnswer>, ApiError> {
    if j.addrs.is_empty() {
        return Err(ApiError(StatusCode::BAD_REQUEST, "no address to join".into()));
    }
    let h = &app.handle;
    let contacted = h.join(&j.addrs).await?;
    let deadline = tokio::time::Instant::now() + JOIN_WAIT;
    loop {
        let members = h.members().await?;
        let answered: Vec<String> = contacted
            .iter()
            .filter(|a| members.iter().any(|m| m.addr == **a && m.state == rumor_core::Status::Alive))
            .map(SocketAddr::to_string)
            .collect();
        if answered.len() == contacted.len() || tokio::time::Instant::now() >= deadline {
            let alive = u32::try_from(members.iter().filter(|m| m.state == rumor_core::Status::Alive).count())
                .unwrap_or(u32::MAX);
            let contacted = contacted.iter().map(SocketAddr::to_string).collect();
            return Ok(Json(JoinAnswer { contacted, answered, alive }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Body of `POST /v1/force-leave`.
#[derive(Serialize, Deserialize, Debug)]
pub struct ForceLeave {
    /// The failed member's name.
    pub name: String,
}

async fn force_leave(State(app): State<App>, Json(f): Json<ForceLeave>) -> Result<StatusCode, ApiError> {
    match app.handle.force_leave(&f.name).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(Error::Node(rumor_core::Error::UnknownMember)) => {
            Err(ApiError(StatusCode::NOT_FOUND, format!("no member named `{}` is known to this agent", f.name)))
        }
        Err(Error::Node(rumor_core::Error::NotFailed(s))) => Err(ApiError(
            StatusCode::CONFLICT,
            format!("`{}` is {}; only a failed member can be forced to leave", f.name, s.as_str()),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn leave(State(app): State<App>) -> Result<Json<serde_json::Value>, ApiError> {
    let acknowledged = app.handle.leave().await?;
    Ok(Json(serde_json::json!({ "acknowledged": acknowledged })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, state: &str, meta: &[(&str, &str)]) -> MemberJson {
        MemberJson {
            name: name.into(),
            addr: "127.0.0.1:1".into(),
            state: state.into(),
            incarnation: 0,
            meta: meta.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        }
    }

    #[test]
    fn filters_are_anchored_regexes_and_all_must_pass() {
        let q = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
            MemberFilter::parse(&pairs)
        };
        let db = member("db-1", "alive", &[("role", "db"), ("zone", "eu-1")]);
        let web = member("web-1", "failed", &[("role", "web")]);
        let f = q(&[("tag", "role=db")]).expect("valid");
        assert!(f.matches(&db) && !f.matches(&web));
        let f = q(&[("name", "db")]).expect("valid");
        assert!(!f.matches(&db), "anchored: `db` does not match `db-1`");
        let f = q(&[("name", "(db|web)-.*"), ("status", "alive|suspect")]).expect("valid");
        assert!(f.matches(&db) && !f.matches(&web));
        let f = q(&[("tag", "zone=eu-.*")]).expect("valid");
        assert!(f.matches(&db) && !f.matches(&web), "a missing key fails");
        assert!(q(&[("tag", "role")]).expect_err("no =").contains("KEY=REGEX"));
        assert!(q(&[("name", "(")]).expect_err("bad").contains("`name=(`"));
        assert!(q(&[("colour", "x")]).expect_err("unknown").contains("colour"));
    }
}
