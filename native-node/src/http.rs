//! The agent's HTTP interface (axum): observability for operators and monitoring, and the
//! control endpoints the `rumor` client commands use. Bind it to loopback or a private network:
//! it changes the keyring and can make the node leave.
//!
//! | route | |
//! |---|---|
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 once joined (or with no seeds) under a name the cluster accepts, else 503 |
//! | `GET /metrics` | OpenMetrics text |
//! | `GET /v1/members` | `{"self": NAME, "members": [...]}` |
//! | `GET /v1/events` | server-sent events, one JSON [`AgentEvent`](rumor_agent::AgentEvent) each |
//! | `POST /v1/events` | `{"name", "payload"}`: send a user event |
//! | `PUT /v1/meta` | `{KEY: VALUE}`: replace this node's metadata |
//! | `GET /v1/keys` | the keyring, primary first |
//! | `POST /v1/keys` | `{"op": "install"\|"use"\|"remove", "key": BASE64}` |
//! | `POST /v1/leave` | leave gracefully; the agent then stops |
//! | `GET /v1/relay` | WebSocket: hello, snapshot, then events, stats and bye ([`relay`]) |
//! | `GET /ui/` | the browser visualizer ([`crate::ui`]): built in, or the directory given by `--ui-dir` |

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;

use rumor_agent::{Error, Handle, KeyOp, MemberInfo, keys};

use crate::metrics;
use crate::relay::{self, Relay};

/// What the HTTP server needs beyond the agent's [`Handle`].
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// The cluster label (the relay's `hello` names it).
    pub label: String,
    /// A directory served at `/ui/` (`--ui-dir`).
    pub ui_dir: Option<PathBuf>,
}

/// The router for an agent, and the relay it serves (to wait for its connections to close).
pub fn router(handle: Handle, options: &HttpOptions) -> (Router, Relay) {
    let relay = Relay::new(handle.clone(), &options.label);
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/v1/members", get(members))
        .route("/v1/events", get(events).post(send_event))
        .route("/v1/meta", axum::routing::put(set_meta))
        .route("/v1/keys", get(list_keys).post(change_keys))
        .route("/v1/leave", axum::routing::post(leave))
        .route("/v1/relay", get(relay::upgrade).with_state(relay.clone()))
        .with_state(handle)
        .merge(crate::ui::router(options.ui_dir.as_deref(), crate::ui::Site::Agent));
    (router, relay)
}

/// Serves until the agent stops, then lets relay connections say `bye`.
pub async fn serve(listener: tokio::net::TcpListener, handle: Handle, options: HttpOptions) {
    let stopped = handle.clone();
    let (app, relay) = router(handle, &options);
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(async move { stopped.stopped().await }).await {
        tracing::error!("HTTP server: {e}");
    }
    relay.drain().await;
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

async fn readyz(State(h): State<Handle>) -> Response {
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

async fn metrics_text(State(h): State<Handle>) -> Result<Response, ApiError> {
    let m = h.metrics().await?;
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], metrics::render(h.name(), &m)).into_response())
}

/// Body of `GET /v1/members`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct MembersBody {
    /// This node's name.
    #[serde(rename = "self")]
    pub self_name: String,
    /// Every member, this node included.
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

async fn members(State(h): State<Handle>) -> Result<Json<MembersBody>, ApiError> {
    let members = h.members().await?.into_iter().map(MemberJson::from).collect();
    Ok(Json(MembersBody { self_name: h.name().to_string(), members }))
}

async fn events(State(h): State<Handle>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = BroadcastStream::new(h.subscribe()).filter_map(|e| {
        // A lagging subscriber skips what it missed rather than ending the stream.
        let e = e.ok()?;
        let kind = serde_json::to_value(&e).ok()?.get("type")?.as_str()?.to_string();
        SseEvent::default().event(kind).json_data(&e).ok().map(Ok)
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
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

async fn send_event(State(h): State<Handle>, Json(e): Json<SendEvent>) -> Result<StatusCode, ApiError> {
    h.send_event(&e.name, e.payload.as_bytes()).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn set_meta(State(h): State<Handle>, Json(m): Json<BTreeMap<String, String>>) -> Result<StatusCode, ApiError> {
    h.set_meta(m).await?;
    Ok(StatusCode::NO_CONTENT)
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

async fn list_keys(State(h): State<Handle>) -> Result<Json<KeysBody>, ApiError> {
    Ok(Json(KeysBody { keys: h.keys(KeyOp::List).await? }))
}

async fn change_keys(State(h): State<Handle>, Json(c): Json<KeyChange>) -> Result<Json<KeysBody>, ApiError> {
    let key = keys::decode(&c.key).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("key {e}")))?;
    let op = match c.op.as_str() {
        "install" => KeyOp::Install(key),
        "use" => KeyOp::Use(key),
        "remove" => KeyOp::Remove(key),
        other => {
            return Err(ApiError(StatusCode::BAD_REQUEST, format!("op `{other}` is not install, use or remove")));
        }
    };
    Ok(Json(KeysBody { keys: h.keys(op).await? }))
}

async fn leave(State(h): State<Handle>) -> Result<Json<serde_json::Value>, ApiError> {
    let acknowledged = h.leave().await?;
    Ok(Json(serde_json::json!({ "acknowledged": acknowledged })))
}
