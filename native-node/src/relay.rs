//! `GET /v1/relay`: the cluster as this agent sees it, live, over a WebSocket — for the browser
//! visualizer and any other watcher. Read-only: what a client sends is read (to notice pongs and
//! closes) and otherwise dropped, so a page cannot change the cluster through it.
//!
//! A connection gets a `hello`, a `snapshot` of the members, then every [`AgentEvent`] as
//! `GET /v1/events` writes it, a `stats` message every second, and a `bye` when the agent
//! stops. `docs/relay.md` specifies the messages. Memory per connection is bounded: the events
//! wait in the agent's broadcast buffer (shared by all subscribers, 256 events), each connection
//! holds at most one message on its way out, and a client that falls behind gets a fresh
//! snapshot instead of a growing queue. A client that does not take a message within
//! [`SEND_TIMEOUT`] or answers no ping within [`IDLE_TIMEOUT`] is disconnected.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio::time::{Instant, MissedTickBehavior};

use rumor_agent::{AgentEvent, Handle, MemberInfo, NodeMetrics};

/// The relay protocol's version, sent in `hello`. Additive changes (new message types, new
/// fields) keep it; clients ignore what they do not know.
pub const RELAY_VERSION: u32 = 1;
/// Relay connections one agent serves at once; more are answered 503.
pub const MAX_CONNECTIONS: usize = 64;
/// How often a `stats` message is sent.
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// How long one message may take to be accepted by the client before it is disconnected.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the relay pings the client.
pub const PING_INTERVAL: Duration = Duration::from_secs(15);
/// How long a client may stay silent (no pong, no frame) before it is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// Largest message or frame accepted from a client; it has nothing to say beyond pongs and
/// closes, so anything larger ends the connection.
const MAX_INBOUND: usize = 4096;
/// How long a stopping server waits for its relay connections to send `bye`.
const BYE_GRACE: Duration = Duration::from_secs(1);

/// The relay's share of the router state: the cluster label for `hello` and the connection cap.
#[derive(Clone)]
pub struct Relay {
    handle: Handle,
    label: Arc<str>,
    slots: Arc<Semaphore>,
}

impl Relay {
    /// The relay of the agent behind `handle`, in the cluster labelled `label`.
    pub fn new(handle: Handle, label: &str) -> Self {
        Relay { handle, label: label.into(), slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)) }
    }

    /// Waits (at most a second) until every relay connection has said `bye` and closed, so that
    /// a stopping process does not cut them off first.
    pub async fn drain(&self) {
        let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(BYE_GRACE, self.slots.acquire_many(all)).await;
    }
}

/// One relay message. `type` names it; events are written as [`AgentEvent`] writes itself.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Outgoing<'a> {
    /// The first message of every connection.
    Hello { relay: u32, name: &'a str, addr: SocketAddr, label: &'a str, version: &'static str, stats_interval_ms: u64 },
    /// Every member, and the counters; after `hello`, and again after events were missed.
    Snapshot { missed: u64, members: Vec<MemberInfo>, metrics: NodeMetrics },
    /// The counters, every [`STATS_INTERVAL`].
    Stats { ms: u64, metrics: NodeMetrics },
    /// The agent stopped; the connection closes next.
    Bye { reason: &'static str },
}

/// `bye`'s reason after a graceful leave completed.
const LEFT: &str = "left";
/// `bye`'s reason when the agent stopped without leaving.
const SHUTDOWN: &str = "shutdown";
/// How long the relay waits for the client's answer to its close.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// `GET /v1/relay`: upgrades to a WebSocket unless [`MAX_CONNECTIONS`] are open (503).
pub async fn upgrade(State(relay): State<Relay>, ws: WebSocketUpgrade) -> Response {
    let Ok(slot) = relay.slots.clone().try_acquire_owned() else {
        let text = format!("too many relay connections (at most {MAX_CONNECTIONS}); try again later\n");
        return (StatusCode::SERVICE_UNAVAILABLE, text).into_response();
    };
    ws.max_message_size(MAX_INBOUND).max_frame_size(MAX_INBOUND).on_upgrade(move |socket| async move {
        // Subscribe before the snapshot is taken: events that follow it are all delivered, and
        // those that the snapshot already shows are harmless to apply again.
        let events = relay.handle.subscribe();
        let mut conn = Connection { socket, relay, opened: Instant::now() };
        if let Err(why) = conn.run(events).await {
            tracing::debug!("relay connection closed: {why}");
        }
        drop(slot);
    })
}

/// Why a connection ended without a `bye`.
type Closed = String;

struct Connection {
    socket: WebSocket,
    relay: Relay,
    opened: Instant,
}

impl Connection {
    /// Serves the connection: `events` is the agent's event stream, subscribed before the
    /// connection's snapshot is taken.
    async fn run(&mut self, mut events: broadcast::Receiver<AgentEvent>) -> Result<(), Closed> {
        let handle = self.relay.handle.clone();
        let label = self.relay.label.clone();
        let hello = Outgoing::Hello {
            relay: RELAY_VERSION,
            name: handle.name(),
            addr: handle.advertised_addr(),
            label: &label,
            version: env!("CARGO_PKG_VERSION"),
            stats_interval_ms: u64::try_from(STATS_INTERVAL.as_millis()).unwrap_or(u64::MAX),
        };
        self.send(&hello).await?;
        let mut left = false;
        if self.snapshot(0).await? {
            let mut stats = tokio::time::interval_at(Instant::now() + STATS_INTERVAL, STATS_INTERVAL);
            stats.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
            ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut heard = Instant::now();
            loop {
                // Events first, so that everything the agent published before it stopped is
                // sent before `bye`.
                tokio::select! {
                    biased;
                    event = events.recv() => match event {
                        Ok(event) => {
                            left |= matches!(event, AgentEvent::LeaveComplete { .. });
                            self.send(&event).await?;
                        }
                        Err(RecvError::Lagged(missed)) => {
                            if !self.snapshot(missed).await? {
                                break;
                            }
                        }
                        // No sender is left, so nothing more can come.
                        Err(RecvError::Closed) => break,
                    },
                    () = handle.stopped() => break,
                    _ = stats.tick() => {
                        let Ok(metrics) = handle.metrics().await else { break };
                        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
                        self.send(&Outgoing::Stats { ms, metrics }).await?;
                    }
                    _ = ping.tick() => {
                        if heard.elapsed() > IDLE_TIMEOUT {
                            return Err(format!("no answer from the client for {IDLE_TIMEOUT:?}"));
                        }
                        self.send_frame(Message::Ping(Default::default())).await?;
                    }
                    frame = self.socket.recv() => match frame {
                        // Read-only: whatever the client says is only a sign of life.
                        Some(Ok(Message::Close(_))) => {
                            // Reading on sends the close reply tungstenite queued.
                            let _ = tokio::time::timeout(SEND_TIMEOUT, self.socket.recv()).await;
                            return Ok(());
                        }
                        None => return Ok(()),
                        Some(Ok(_)) => heard = Instant::now(),
                        Some(Err(e)) => return Err(format!("reading: {e}")),
                    },
                }
            }
        }
        // The agent stopped: send what it published last, then say why and close.
        loop {
            match events.try_recv() {
                Ok(event) => {
                    left |= matches!(event, AgentEvent::LeaveComplete { .. });
                    self.send(&event).await?;
                }
                Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        let reason = if left { LEFT } else { SHUTDOWN };
        self.send(&Outgoing::Bye { reason }).await?;
        let close = CloseFrame { code: close_code::AWAY, reason: reason.into() };
        self.send_frame(Message::Close(Some(close))).await?;
        // The client's answer completes the closing handshake; its other frames are dropped.
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Some(Ok(frame)) = self.socket.recv().await {
                if matches!(frame, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
        Ok(())
    }

    /// Sends a snapshot; false if the agent has stopped.
    async fn snapshot(&mut self, missed: u64) -> Result<bool, Closed> {
        let handle = &self.relay.handle;
        let (Ok(members), Ok(metrics)) = (handle.members().await, handle.metrics().await) else {
            return Ok(false);
        };
        self.send(&Outgoing::Snapshot { missed, members, metrics }).await?;
        Ok(true)
    }

    async fn send(&mut self, message: &impl Serialize) -> Result<(), Closed> {
        let text = serde_json::to_string(message).map_err(|e| format!("encoding a message: {e}"))?;
        self.send_frame(Message::Text(text.into())).await
    }

    async fn send_frame(&mut self, frame: Message) -> Result<(), Closed> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.send(frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("sending: {e}")),
            Err(_) => Err(format!("the client took no message for {SEND_TIMEOUT:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;
    use rumor_agent::{Agent, AgentConfig};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite;

    /// The next text message as JSON.
    async fn next_json(
        ws: &mut tokio_tungstenite::WebSocketStream<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>,
    ) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message within 10 s");
            match frame.expect("the connection is open").expect("a frame") {
                tungstenite::Message::Text(t) => return serde_json::from_str(&t).expect("JSON"),
                tungstenite::Message::Close(c) => panic!("closed early: {c:?}"),
                _ => {}
            }
        }
    }

    /// A connection whose events were dropped before it read them gets a snapshot saying how
    /// many it missed, then the events still buffered; when the stream ends, `bye`.
    #[tokio::test]
    async fn missed_events_bring_a_fresh_snapshot() {
        let config = AgentConfig::new("lagger", SocketAddr::from(([127, 0, 0, 1], 0)), rumor_core::Config::local());
        let agent = Agent::start(config).await.expect("agent");
        let relay = Relay::new(agent.handle(), "lab");

        // An event stream of 4 that was sent 10 events before the connection read any.
        let (tx, rx) = broadcast::channel(4);
        for acknowledged in 0..10 {
            tx.send(AgentEvent::LeaveComplete { acknowledged }).expect("a receiver");
        }
        drop(tx);
        let rx = Arc::new(std::sync::Mutex::new(Some(rx)));
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move |ws: WebSocketUpgrade| {
                let events = rx.lock().ok().and_then(|mut r| r.take()).expect("one connection");
                async move {
                    ws.on_upgrade(move |socket| async move {
                        let mut conn = Connection { socket, relay, opened: Instant::now() };
                        conn.run(events).await.expect("served");
                    })
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });

        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await.expect("connect");
        let kinds = |v: &Value| v.get("type").and_then(Value::as_str).map(str::to_owned).unwrap_or_default();
        assert_eq!(kinds(&next_json(&mut ws).await), "hello");
        let first = next_json(&mut ws).await;
        assert_eq!((kinds(&first), first.get("missed")), ("snapshot".to_owned(), Some(&json!(0))));
        let again = next_json(&mut ws).await;
        assert_eq!((kinds(&again), again.get("missed")), ("snapshot".to_owned(), Some(&json!(6))), "{again}");
        assert_eq!(again.pointer("/members/0/name"), Some(&json!("lagger")), "{again}");
        for acknowledged in 6..10 {
            assert_eq!(next_json(&mut ws).await, json!({"type": "leave-complete", "acknowledged": acknowledged}));
        }
        // The stream ended: `bye`, and a leave-complete was seen, so the reason is `left`.
        assert_eq!(next_json(&mut ws).await, json!({"type": "bye", "reason": "left"}));
        agent.handle().shutdown().await;
    }

    /// An agent stopped without leaving says `bye` with the reason `shutdown`, then closes with
    /// 1001, before its HTTP server is gone.
    #[tokio::test]
    async fn shutdown_says_bye() {
        let agent = AgentConfig::new("stopper", SocketAddr::from(([127, 0, 0, 1], 0)), rumor_core::Config::local());
        let mut config = crate::ServeConfig::new(agent);
        config.http = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        let server = crate::Server::start(config).await.expect("server");
        let http = server.http_addr().expect("HTTP");
        let handle = server.handle();
        let waiting = tokio::spawn(server.wait());

        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/v1/relay")).await.expect("connect");
        assert_eq!(next_json(&mut ws).await.get("type"), Some(&json!("hello")));
        assert_eq!(next_json(&mut ws).await.get("type"), Some(&json!("snapshot")));
        handle.shutdown().await;
        let bye = loop {
            let v = next_json(&mut ws).await;
            if v.get("type") == Some(&json!("bye")) {
                break v;
            }
        };
        assert_eq!(bye, json!({"type": "bye", "reason": "shutdown"}));
        let close = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("a close");
        match close {
            Some(Ok(tungstenite::Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1001, "{f:?}"),
            other => panic!("expected a close frame after bye, got {other:?}"),
        }
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("the server stops").expect("no panic");
    }

    /// The relay's own messages, as docs/relay.md shows them.
    #[test]
    fn message_shapes() {
        let hello = Outgoing::Hello {
            relay: RELAY_VERSION,
            name: "web-1",
            addr: SocketAddr::from(([127, 0, 0, 1], 7946)),
            label: "prod",
            version: "0.1.0",
            stats_interval_ms: 1000,
        };
        assert_eq!(
            serde_json::to_string(&hello).expect("json"),
            r#"{"type":"hello","relay":1,"name":"web-1","addr":"127.0.0.1:7946","label":"prod","version":"0.1.0","stats_interval_ms":1000}"#
        );
        let stats = serde_json::to_value(Outgoing::Stats { ms: 1002, metrics: NodeMetrics::default() }).expect("json");
        let at = |path: &str| stats.pointer(path).cloned().unwrap_or_default();
        assert_eq!((at("/type"), at("/ms")), (json!("stats"), json!(1002)));
        assert_eq!(at("/metrics/members"), json!({"alive": 0, "suspect": 0, "failed": 0, "left": 0}));
        assert_eq!(
            (at("/metrics/stats/packets_in"), at("/metrics/health_score"), at("/metrics/gossip_queue")),
            (json!(0), json!(0), json!(0))
        );
        let snapshot = serde_json::to_value(Outgoing::Snapshot {
            missed: 3,
            members: Vec::new(),
            metrics: NodeMetrics::default(),
        })
        .expect("json");
        assert_eq!((snapshot.get("type"), snapshot.get("missed")), (Some(&json!("snapshot")), Some(&json!(3))));
        assert_eq!(
            serde_json::to_string(&Outgoing::Bye { reason: LEFT }).expect("json"),
            r#"{"type":"bye","reason":"left"}"#
        );
    }
}
