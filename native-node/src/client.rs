//! The client commands (`rumor members`, `info`, `monitor`, `event`, `keys`, `meta`, `join`,
//! `force-leave`, `leave`): thin HTTP calls to a running agent, each with a connect and an
//! answer timeout and errors that say what to check.

use std::fmt::Write as _;

use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;

use std::time::Duration;

use crate::http::{
    EventSent, ForceLeave, JoinAnswer, JoinRequest, KeyChange, KeysBody, MembersBody, MetaChanged, MetaPatch, SendEvent,
};

/// How long a client waits for the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client waits for a whole answer by default (`rumor join` waits up to 5 s inside).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `rumor monitor` waits for the next bytes of the stream: the agent sends a
/// keep-alive comment every 15 s.
const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(45);

/// A client of one agent's HTTP address.
pub struct Client {
    base: String,
    /// The flag that names this address (`--http` or `--admin`), for error messages.
    flag: &'static str,
    http: reqwest::Client,
    /// How long to wait for a whole answer.
    timeout: Duration,
}

/// How `rumor monitor` ended without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorEnd {
    /// The agent left the cluster (the last event was `leave-complete`).
    Left,
    /// The agent stopped without leaving (or the stream ended for another reason).
    Stopped,
}

impl Client {
    /// A client for the agent serving HTTP at `addr` (`IP:PORT` or `HOST:PORT`), which the
    /// flag `flag` gave (named in error messages).
    pub fn new(addr: &str, flag: &'static str) -> Client {
        Client::with_timeout(addr, flag, ANSWER_TIMEOUT)
    }

    /// [`Client::new`] waiting at most `timeout` for each answer.
    pub fn with_timeout(addr: &str, flag: &'static str, timeout: Duration) -> Client {
        let base =
            if addr.starts_with("http://") { addr.trim_end_matches('/').to_string() } else { format!("http://{addr}") };
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(STREAM_READ_TIMEOUT)
            // The agent is addressed directly; an HTTP proxy from the environment would only
            // hide it.
            .no_proxy()
            .build()
            .unwrap_or_default();
        Client { base, flag, http, timeout }
    }

    fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// What went wrong with a request, in a sentence that says what to check.
    fn explain(&self, e: &reqwest::Error) -> String {
        let addr = self.addr();
        let io_kind = {
            let mut source = std::error::Error::source(e);
            let mut kind = None;
            while let Some(s) = source {
                if let Some(io) = s.downcast_ref::<std::io::Error>() {
                    kind = Some(io.kind());
                }
                source = s.source();
            }
            kind
        };
        if io_kind == Some(std::io::ErrorKind::ConnectionRefused) {
            format!("connection refused at {addr}: is an agent running with {} {addr}?", self.flag)
        } else if e.is_connect() && e.is_timeout() {
            format!(
                "no answer from {addr} within {} s while connecting: is the address right and the port open?",
                CONNECT_TIMEOUT.as_secs()
            )
        } else if e.is_timeout() {
            format!(
                "the agent at {addr} did not answer within {} s; it may be overloaded or stuck",
                self.timeout.as_secs_f64()
            )
        } else if e.is_connect() {
            format!("cannot connect to {addr}: {e}")
        } else {
            format!("talking to the agent at {addr}: {e}")
        }
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, String> {
        let resp = req.timeout(self.timeout).send().await.map_err(|e| self.explain(&e))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| self.explain(&e))?;
        if !status.is_success() {
            let msg = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or(body);
            return Err(format!("the agent refused ({status}): {}", msg.trim()));
        }
        let body = if body.is_empty() { "null".to_owned() } else { body };
        serde_json::from_str(&body).map_err(|e| format!("unexpected answer from the agent at {}: {e}", self.addr()))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /v1/members`, with filters (`status`, `name`, `tag` query pairs).
    pub async fn members(&self, filters: &[(&str, &str)]) -> Result<MembersBody, String> {
        self.send(self.http.get(self.url("/v1/members")).query(filters)).await
    }

    /// `GET /v1/info`.
    pub async fn info(&self) -> Result<serde_json::Value, String> {
        self.send(self.http.get(self.url("/v1/info"))).await
    }

    /// `GET /v1/keys`.
    pub async fn keys(&self) -> Result<Vec<String>, String> {
        Ok(self.send::<KeysBody>(self.http.get(self.url("/v1/keys"))).await?.keys)
    }

    /// `POST /v1/keys`.
    pub async fn change_key(&self, op: &str, key: &str) -> Result<Vec<String>, String> {
        let body = KeyChange { op: op.into(), key: key.into() };
        Ok(self.send::<KeysBody>(self.http.post(self.url("/v1/keys")).json(&body)).await?.keys)
    }

    /// `POST /v1/leave`; returns the number of acknowledgements.
    pub async fn leave(&self) -> Result<u64, String> {
        let v: serde_json::Value = self.send(self.http.post(self.url("/v1/leave"))).await?;
        Ok(v.get("acknowledged").and_then(serde_json::Value::as_u64).unwrap_or(0))
    }

    /// `POST /v1/events`.
    pub async fn event(&self, name: &str, payload: &str) -> Result<EventSent, String> {
        let body = SendEvent { name: name.into(), payload: payload.into() };
        self.send(self.http.post(self.url("/v1/events")).json(&body)).await
    }

    /// `POST /v1/join`.
    pub async fn join(&self, addrs: &[String]) -> Result<JoinAnswer, String> {
        self.send(self.http.post(self.url("/v1/join")).json(&JoinRequest { addrs: addrs.to_vec() })).await
    }

    /// `POST /v1/force-leave`.
    pub async fn force_leave(&self, name: &str) -> Result<(), String> {
        let _: serde_json::Value =
            self.send(self.http.post(self.url("/v1/force-leave")).json(&ForceLeave { name: name.into() })).await?;
        Ok(())
    }

    /// `PATCH /v1/meta`.
    pub async fn patch_meta(&self, patch: &MetaPatch) -> Result<MetaChanged, String> {
        self.send(self.http.patch(self.url("/v1/meta")).json(patch)).await
    }

    /// Streams `GET /v1/events`, calling `each` with every event's JSON text, until the agent
    /// stops: then says how it ended. A connection lost mid-stream is an error that says so.
    pub async fn monitor(&self, mut each: impl FnMut(&str)) -> Result<MonitorEnd, String> {
        let resp = self.http.get(self.url("/v1/events")).send().await.map_err(|e| self.explain(&e))?;
        if !resp.status().is_success() {
            return Err(format!("the agent refused ({})", resp.status()));
        }
        let mut stream = resp.bytes_stream();
        let mut pending = String::new();
        let mut last_type = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                if e.is_timeout() {
                    return format!(
                        "no data from the agent at {} for {} s (it sends a keep-alive every 15 s): the agent or \
                         the network is stuck",
                        self.addr(),
                        STREAM_READ_TIMEOUT.as_secs()
                    );
                }
                format!(
                    "lost the connection to the agent at {} (it stopped without ending the stream, or the \
                     network failed): {}",
                    self.addr(),
                    self.explain(&e)
                )
            })?;
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(i) = pending.find('\n') {
                let line: String = pending.drain(..=i).collect();
                let line = line.trim_end();
                if let Some(kind) = line.strip_prefix("event:") {
                    kind.trim().clone_into(&mut last_type);
                } else if let Some(data) = line.strip_prefix("data:") {
                    each(data.trim());
                }
            }
        }
        Ok(if last_type == "leave-complete" { MonitorEnd::Left } else { MonitorEnd::Stopped })
    }
}

/// The members table as text: one line per member, aligned.
pub fn members_table(body: &MembersBody) -> String {
    let rows: Vec<[String; 5]> = body
        .members
        .iter()
        .map(|m| {
            let meta: Vec<String> = m.meta.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let name = if m.name == body.self_name { format!("{} *", m.name) } else { m.name.clone() };
            [name, m.addr.clone(), m.state.clone(), m.incarnation.to_string(), meta.join(",")]
        })
        .collect();
    let header = ["NAME", "ADDRESS", "STATE", "INC", "META"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header.map(String::from)).chain(rows) {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == header.len() {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `GET /v1/info` as text: the configuration, then the counters.
pub fn info_text(info: &serde_json::Value) -> String {
    let mut out = String::new();
    let Some(obj) = info.as_object() else { return format!("{info}\n") };
    for (k, v) in obj {
        match v {
            serde_json::Value::Object(inner) => {
                let _ = writeln!(out, "{k}:");
                for (ik, iv) in inner {
                    let _ = writeln!(out, "  {ik} = {}", plain(iv));
                }
            }
            other => {
                let _ = writeln!(out, "{k} = {}", plain(other));
            }
        }
    }
    out
}

fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        serde_json::Value::Array(a) => a.iter().map(plain).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// One event as a human-readable line.
pub fn describe_event(json: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else { return json.to_string() };
    let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("?");
    let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).unwrap_or("").to_string();
    match kind {
        "user-event" => format!("user-event {} from {}: {}", s("/name"), s("/origin"), s("/payload")),
        "name-conflict" => format!("name-conflict {}: known {} claimed {}", s("/name"), s("/known"), s("/claimed")),
        "leave-complete" => format!("leave-complete acknowledged={}", v.get("acknowledged").unwrap_or(&0.into())),
        "joined" => "joined".into(),
        _ => format!(
            "{kind} {} {} inc={}",
            s("/member/name"),
            s("/member/addr"),
            v.pointer("/member/incarnation").unwrap_or(&0.into())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::MemberJson;

    #[test]
    fn table_and_event_text() {
        let body = MembersBody {
            self_name: "a".into(),
            members: vec![
                MemberJson {
                    name: "a".into(),
                    addr: "127.0.0.1:1".into(),
                    state: "alive".into(),
                    incarnation: 0,
                    meta: [("role".to_string(), "db".to_string())].into(),
                },
                MemberJson {
                    name: "bb".into(),
                    addr: "127.0.0.1:22".into(),
                    state: "failed".into(),
                    incarnation: 3,
                    meta: Default::default(),
                },
            ],
        };
        assert_eq!(
            members_table(&body),
            "NAME  ADDRESS       STATE   INC  META\n\
             a *   127.0.0.1:1   alive   0    role=db\n\
             bb    127.0.0.1:22  failed  3\n"
        );
        let e = r#"{"type":"member-failed","member":{"name":"b","addr":"127.0.0.1:2","state":"failed","incarnation":1,"meta":{}}}"#;
        assert_eq!(describe_event(e), "member-failed b 127.0.0.1:2 inc=1");
        assert_eq!(
            describe_event(r#"{"type":"user-event","origin":"a","name":"deploy","payload":"v2"}"#),
            "user-event deploy from a: v2"
        );
    }
}
