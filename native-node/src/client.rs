//! The client commands (`rumor members`, `keys`, `leave`, `monitor`, `event`): thin HTTP calls to
//! a running agent's control interface.

use std::fmt::Write as _;

use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;

use crate::http::{KeyChange, KeysBody, MembersBody, SendEvent};

/// A client of one agent's HTTP address.
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for the agent serving HTTP at `addr` (`IP:PORT` or `HOST:PORT`).
    pub fn new(addr: &str) -> Client {
        let base =
            if addr.starts_with("http://") { addr.trim_end_matches('/').to_string() } else { format!("http://{addr}") };
        Client { base, http: reqwest::Client::new() }
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, String> {
        let resp = req.send().await.map_err(|e| format!("cannot reach the agent at {}: {e}", self.base))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| format!("reading the agent's answer: {e}"))?;
        if !status.is_success() {
            let msg = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or(body);
            return Err(format!("the agent refused ({status}): {}", msg.trim()));
        }
        serde_json::from_str(&body).map_err(|e| format!("unexpected answer from the agent: {e}"))
    }

    /// `GET /v1/members`.
    pub async fn members(&self) -> Result<MembersBody, String> {
        self.send(self.http.get(format!("{}/v1/members", self.base))).await
    }

    /// `GET /v1/keys`.
    pub async fn keys(&self) -> Result<Vec<String>, String> {
        Ok(self.send::<KeysBody>(self.http.get(format!("{}/v1/keys", self.base))).await?.keys)
    }

    /// `POST /v1/keys`.
    pub async fn change_key(&self, op: &str, key: &str) -> Result<Vec<String>, String> {
        let body = KeyChange { op: op.into(), key: key.into() };
        Ok(self.send::<KeysBody>(self.http.post(format!("{}/v1/keys", self.base)).json(&body)).await?.keys)
    }

    /// `POST /v1/leave`; returns the number of acknowledgements.
    pub async fn leave(&self) -> Result<u64, String> {
        let v: serde_json::Value = self.send(self.http.post(format!("{}/v1/leave", self.base))).await?;
        Ok(v.get("acknowledged").and_then(serde_json::Value::as_u64).unwrap_or(0))
    }

    /// `POST /v1/events`.
    pub async fn event(&self, name: &str, payload: &str) -> Result<(), String> {
        let body = SendEvent { name: name.into(), payload: payload.into() };
        let req = self.http.post(format!("{}/v1/events", self.base)).json(&body);
        let resp = req.send().await.map_err(|e| format!("cannot reach the agent at {}: {e}", self.base))?;
        if resp.status().is_success() {
            return Ok(());
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(format!("the agent refused ({status}): {}", text.trim()))
    }

    /// Streams `GET /v1/events`, calling `each` with every event's JSON text, until the agent
    /// stops.
    pub async fn monitor(&self, mut each: impl FnMut(&str)) -> Result<(), String> {
        let resp = self
            .http
            .get(format!("{}/v1/events", self.base))
            .send()
            .await
            .map_err(|e| format!("cannot reach the agent at {}: {e}", self.base))?;
        if !resp.status().is_success() {
            return Err(format!("the agent refused ({})", resp.status()));
        }
        let mut stream = resp.bytes_stream();
        let mut pending = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("event stream: {e}"))?;
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(i) = pending.find('\n') {
                let line: String = pending.drain(..=i).collect();
                if let Some(data) = line.trim_end().strip_prefix("data:") {
                    each(data.trim());
                }
            }
        }
        Ok(())
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
