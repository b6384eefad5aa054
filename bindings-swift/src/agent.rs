//! `Agent`: a `rumor_agent::Agent` on a tokio runtime this crate owns (its own threads), with
//! async methods Swift awaits. Each call runs as a task on that runtime and is aborted when
//! Swift drops the call (a cancelled `Task`), so a cancelled wait leaks nothing.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use rumor_agent::{AgentConfig, AgentEvent, Handle, KeyOp};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::types::{self, FfiError, Member, MembershipEvent};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rumor")
            .enable_all()
            .build()
            .expect("the rumor runtime starts (threads and a timer)")
    })
}

/// A task on the runtime, aborted if the caller stops waiting for it.
struct Aborting<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `f` on the runtime and waits for it from whatever executor polls this (Swift's).
async fn on_runtime<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Result<T, FfiError> {
    let mut task = Aborting(runtime().spawn(f));
    (&mut task.0).await.map_err(|e| FfiError::Other { message: format!("rumor task failed: {e}") })
}

/// An agent's settings; `AgentOptions::new` gives the defaults of `rumor agent`.
#[derive(uniffi::Record, Clone, Debug)]
pub struct AgentOptions {
    /// Unique member name (1 to 64 bytes).
    pub name: String,
    /// UDP address to bind (`0.0.0.0:7946`; port 0 picks a free port).
    pub bind: String,
    /// Seeds, `host:port`.
    #[uniffi(default = [])]
    pub join: Vec<String>,
    /// The address others reach this agent at, if not the bound one.
    #[uniffi(default = None)]
    pub advertise: Option<String>,
    /// Base64 keys; the first seals packets. Empty: plaintext.
    #[uniffi(default = [])]
    pub keyring: Vec<String>,
    /// Cluster label (must match the cluster's).
    #[uniffi(default = "")]
    pub label: String,
    /// This member's metadata.
    #[uniffi(default)]
    pub meta: HashMap<String, String>,
    /// Timing preset: `lan`, `wan` or `local`.
    #[uniffi(default = "lan")]
    pub preset: String,
    /// Lifeguard on (default) or plain SWIM.
    #[uniffi(default = true)]
    pub lifeguard: bool,
}

impl AgentOptions {
    /// The checked agent configuration: refusals name the field.
    fn config(&self) -> Result<AgentConfig, FfiError> {
        let bind: SocketAddr = self
            .bind
            .parse()
            .map_err(|_| types::config_error("bind", &self.bind, "is not an address of the form IP:PORT"))?;
        let protocol = types::protocol(&self.preset, &self.label, &self.keyring, self.lifeguard)?;
        let mut config = AgentConfig::new(self.name.clone(), bind, protocol);
        config.join = self.join.clone();
        config.advertise = match &self.advertise {
            Some(a) => Some(
                a.parse().map_err(|_| types::config_error("advertise", a, "is not an address of the form IP:PORT"))?,
            ),
            None => None,
        };
        config.meta = self.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        config.check().map_err(|e| FfiError::from(&e))?;
        Ok(config)
    }
}

/// A running agent.
#[derive(uniffi::Object)]
pub struct Agent {
    handle: Handle,
    agent: Mutex<Option<rumor_agent::Agent>>,
}

/// The events of one agent from the moment `Agent::subscribe` made this, in order.
#[derive(uniffi::Object)]
pub struct EventSubscription {
    rx: Arc<tokio::sync::Mutex<broadcast::Receiver<AgentEvent>>>,
    handle: Handle,
}

#[uniffi::export]
impl EventSubscription {
    /// The next event; `None` once the agent has stopped (after the events it published before
    /// stopping). Events a slow reader missed (more than 256 behind) are skipped.
    pub async fn next(&self) -> Option<MembershipEvent> {
        let (rx, handle) = (self.rx.clone(), self.handle.clone());
        on_runtime(async move {
            let mut rx = rx.lock().await;
            loop {
                let received = tokio::select! {
                    biased;
                    r = rx.recv() => r,
                    () = handle.stopped() => rx.try_recv().map_err(|_| RecvError::Closed),
                };
                match received {
                    Ok(event) => return Some(MembershipEvent::from(event)),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                }
            }
        })
        .await
        .ok()
        .flatten()
    }
}

impl Agent {
    fn live(&self) -> Result<Handle, FfiError> {
        if self.handle.is_stopped() { Err(FfiError::Closed) } else { Ok(self.handle.clone()) }
    }

    /// Stops the agent (leaving first if asked) and waits until its socket is closed.
    async fn stop(&self, leave: bool) -> Result<u32, FfiError> {
        let agent = self.agent.lock().ok().and_then(|mut a| a.take());
        let handle = self.handle.clone();
        on_runtime(async move {
            let acks = if leave { handle.leave().await } else { Ok(0) };
            handle.shutdown().await;
            if let Some(agent) = agent {
                agent.wait().await;
            }
            match acks {
                Err(rumor_agent::Error::Stopped) => Ok(0),
                other => other.map_err(FfiError::from),
            }
        })
        .await?
    }
}

#[uniffi::export]
impl Agent {
    /// Starts an agent: binds its socket and joins `options.join` in the background.
    #[uniffi::constructor]
    pub async fn start(options: AgentOptions) -> Result<Arc<Agent>, FfiError> {
        let config = options.config()?;
        let agent = on_runtime(rumor_agent::Agent::start(config)).await??;
        Ok(Arc::new(Agent { handle: agent.handle(), agent: Mutex::new(Some(agent)) }))
    }

    /// This agent's member name.
    pub fn name(&self) -> String {
        self.handle.name().to_owned()
    }

    /// The address other members reach it at.
    pub fn addr(&self) -> String {
        self.handle.advertised_addr().to_string()
    }

    /// The UDP address actually bound.
    pub fn local_addr(&self) -> String {
        self.handle.local_addr().to_string()
    }

    /// Started and not yet stopped.
    pub fn is_running(&self) -> bool {
        !self.handle.is_stopped()
    }

    /// Every member it knows, itself included, sorted by name.
    pub async fn members(&self) -> Result<Vec<Member>, FfiError> {
        let handle = self.live()?;
        let members = on_runtime(async move { handle.members().await }).await??;
        Ok(members.into_iter().map(Member::from).collect())
    }

    /// A subscription to its events from now on (each subscription sees every event).
    pub fn subscribe(&self) -> Arc<EventSubscription> {
        Arc::new(EventSubscription {
            rx: Arc::new(tokio::sync::Mutex::new(self.handle.subscribe())),
            handle: self.handle.clone(),
        })
    }

    /// Replaces this agent's metadata; gossiped to every member.
    pub async fn set_meta(&self, meta: HashMap<String, String>) -> Result<(), FfiError> {
        let handle = self.live()?;
        let meta: BTreeMap<String, String> = meta.into_iter().collect();
        on_runtime(async move { handle.set_meta(meta).await }).await?.map_err(FfiError::from)
    }

    /// Sends a user event to every member.
    pub async fn broadcast(&self, name: String, payload: Vec<u8>) -> Result<(), FfiError> {
        let handle = self.live()?;
        on_runtime(async move { handle.send_event(&name, &payload).await }).await?.map_err(FfiError::from)
    }

    /// The core's counters, the member counts (`members_alive`, …), `health_score` and
    /// `gossip_queue`.
    pub async fn stats(&self) -> Result<HashMap<String, u64>, FfiError> {
        let handle = self.live()?;
        let m = on_runtime(async move { handle.metrics().await }).await??;
        Ok(m.by_name().into_iter().collect())
    }

    /// The keyring in base64, primary first.
    pub async fn keys(&self) -> Result<Vec<String>, FfiError> {
        self.key_op(KeyOp::List).await
    }

    /// Adds a key (accepted on receipt, not used to send); returns the keyring.
    pub async fn install_key(&self, key: String) -> Result<Vec<String>, FfiError> {
        self.key_op(KeyOp::Install(types::key_arg(&key)?)).await
    }

    /// Makes an installed key the one packets are sealed with; returns the keyring.
    pub async fn use_key(&self, key: String) -> Result<Vec<String>, FfiError> {
        self.key_op(KeyOp::Use(types::key_arg(&key)?)).await
    }

    /// Removes a key that is not the primary; returns the keyring.
    pub async fn remove_key(&self, key: String) -> Result<Vec<String>, FfiError> {
        self.key_op(KeyOp::Remove(types::key_arg(&key)?)).await
    }

    /// Leaves gracefully and stops; returns how many members acknowledged.
    pub async fn leave(&self) -> Result<u32, FfiError> {
        self.live()?;
        self.stop(true).await
    }

    /// Stops at once without leaving (others detect it as failed). Idempotent.
    pub async fn close(&self) {
        let _ = self.stop(false).await;
    }
}

impl Agent {
    async fn key_op(&self, op: KeyOp) -> Result<Vec<String>, FfiError> {
        let handle = self.live()?;
        on_runtime(async move { handle.keys(op).await }).await?.map_err(FfiError::from)
    }
}

impl Drop for Agent {
    /// The last reference gone: stop the agent (without leaving) so its socket closes.
    fn drop(&mut self) {
        if let Some(agent) = self.agent.lock().ok().and_then(|mut a| a.take()) {
            let handle = self.handle.clone();
            runtime().spawn(async move {
                handle.shutdown().await;
                agent.wait().await;
            });
        }
    }
}
