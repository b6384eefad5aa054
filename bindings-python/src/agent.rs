//! `rumor.Agent`: a `rumor_agent::Agent` on the tokio runtime of `pyo3-async-runtimes` (threads
//! the extension owns), with coroutines bridged to asyncio by `pyo3_async_runtimes::tokio`
//! and blocking calls that release the GIL while they wait. The agent does the work; this file
//! converts arguments and results.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyType;
use rumor_agent::{AgentConfig, AgentEvent, Handle, KeyOp};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::convert;
use crate::errors;
use crate::types::{self, Member};

fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Coroutines not yet finished, and when the last one finished: `drain` waits for both to
/// settle, so that no runtime thread is handing a result to asyncio while the interpreter
/// shuts down (a thread calling into a finalizing interpreter crashes it: PyO3's
/// pyo3-async-runtimes#40).
static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);
static LAST_DONE: Mutex<Option<std::time::Instant>> = Mutex::new(None);

struct InFlight;

impl InFlight {
    fn new() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut last) = LAST_DONE.lock() {
            *last = Some(std::time::Instant::now());
        }
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `fut` as an asyncio awaitable (pyo3-async-runtimes), counted in [`IN_FLIGHT`].
pub(crate) fn bridge<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: std::future::Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let guard = InFlight::new();
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let _guard = guard;
        fut.await
    })
}

/// Called at interpreter exit (`atexit`, python/rumor/__init__.py): waits, with the GIL
/// released, until no coroutine is in flight and none finished in the last 50 ms (the time
/// its result takes to reach asyncio), at most 2 s.
#[pyfunction]
pub(crate) fn _drain(py: Python<'_>) {
    py.detach(|| {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            let recent =
                LAST_DONE.lock().ok().and_then(|l| *l).is_some_and(|t| t.elapsed() < Duration::from_millis(50));
            if IN_FLIGHT.load(Ordering::SeqCst) == 0 && !recent {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

/// The running agent: its handle for commands, and the agent itself to wait for its end.
struct Running {
    handle: Handle,
    agent: rumor_agent::Agent,
}

/// A Rumor agent (see the stub, `rumor/_rumor.pyi`, for the Python-facing documentation).
#[pyclass(module = "rumor", frozen)]
pub(crate) struct Agent {
    config: AgentConfig,
    running: Mutex<Option<Running>>,
    /// Set once started: the handle outlives the agent (commands then fail with `AgentClosed`).
    handle: Mutex<Option<Handle>>,
}

impl Agent {
    fn handle(&self, py: Python<'_>) -> PyResult<Handle> {
        let handle = self.handle.lock().map_err(|_| errors::closed(py))?.clone();
        match handle {
            Some(h) if !h.is_stopped() => Ok(h),
            _ => Err(errors::closed(py)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_checked(
        py: Python<'_>,
        name: String,
        bind: &str,
        join: Vec<String>,
        advertise: Option<&str>,
        keyring: Vec<Bound<'_, PyAny>>,
        label: &str,
        meta: Option<BTreeMap<String, String>>,
        preset: &str,
        lifeguard: bool,
        plaintext: (bool, bool),
    ) -> PyResult<Agent> {
        let bind = convert::addr(py, "bind", bind)?;
        let mut protocol = convert::protocol(py, preset, label, &keyring, lifeguard)?;
        // Turning encryption on in a running cluster (docs/agent.md); checked with the rest.
        (protocol.accept_plaintext, protocol.send_plaintext) = plaintext;
        let mut config = AgentConfig::new(name, bind, protocol);
        config.join = join;
        config.advertise = advertise.map(|a| convert::addr(py, "advertise", a)).transpose()?;
        config.meta = meta.unwrap_or_default();
        config.check().map_err(|e| errors::config(py, &e))?;
        Ok(Agent { config, running: Mutex::new(None), handle: Mutex::new(None) })
    }

    /// Starts the agent (once); a second start is refused.
    async fn start_agent(config: AgentConfig) -> Result<Running, rumor_agent::Error> {
        let agent = rumor_agent::Agent::start(config).await?;
        Ok(Running { handle: agent.handle(), agent })
    }

    fn started(&self, py: Python<'_>, running: Running) -> PyResult<()> {
        *self.handle.lock().map_err(|_| errors::closed(py))? = Some(running.handle.clone());
        *self.running.lock().map_err(|_| errors::closed(py))? = Some(running);
        Ok(())
    }

    fn ensure_not_started(&self, py: Python<'_>) -> PyResult<()> {
        if self.handle.lock().map_err(|_| errors::closed(py))?.is_some() {
            return Err(errors::node(py, "this agent was already started; create a new Agent"));
        }
        Ok(())
    }

    /// Takes the running agent (for stopping it), if it is still there.
    fn take(&self) -> Option<Running> {
        self.running.lock().ok().and_then(|mut r| r.take())
    }
}

/// Stops an agent: leaves gracefully first if asked, then waits until it has stopped and its
/// socket is closed.
async fn stop(running: Running, leave: bool) -> Result<u32, rumor_agent::Error> {
    let acks = if leave { running.handle.leave().await } else { Ok(0) };
    running.handle.shutdown().await;
    running.agent.wait().await;
    match acks {
        Err(rumor_agent::Error::Stopped) => Ok(0),
        other => other,
    }
}

#[pymethods]
impl Agent {
    #[new]
    #[pyo3(signature = (name, bind = "0.0.0.0:7946", *, join = Vec::new(), advertise = None, keyring = Vec::new(),
                        label = "", meta = None, preset = "lan", lifeguard = true, accept_plaintext = false,
                        send_plaintext = false),
           text_signature = "(name, bind='0.0.0.0:7946', *, join=(), advertise=None, keyring=(), label='', meta=None, preset='lan', lifeguard=True, accept_plaintext=False, send_plaintext=False)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: String,
        bind: &str,
        join: Vec<String>,
        advertise: Option<&str>,
        keyring: Vec<Bound<'_, PyAny>>,
        label: &str,
        meta: Option<BTreeMap<String, String>>,
        preset: &str,
        lifeguard: bool,
        accept_plaintext: bool,
        send_plaintext: bool,
    ) -> PyResult<Agent> {
        let plaintext = (accept_plaintext, send_plaintext);
        Agent::new_checked(py, name, bind, join, advertise, keyring, label, meta, preset, lifeguard, plaintext)
    }

    /// Starts an agent and returns it running (blocking; the GIL is released meanwhile).
    #[classmethod]
    #[pyo3(signature = (name, bind = "0.0.0.0:7946", *, join = Vec::new(), advertise = None, keyring = Vec::new(),
                        label = "", meta = None, preset = "lan", lifeguard = true, accept_plaintext = false,
                        send_plaintext = false),
           text_signature = "($cls, name, bind='0.0.0.0:7946', *, join=(), advertise=None, keyring=(), label='', meta=None, preset='lan', lifeguard=True, accept_plaintext=False, send_plaintext=False)")]
    #[allow(clippy::too_many_arguments)]
    fn start(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: String,
        bind: &str,
        join: Vec<String>,
        advertise: Option<&str>,
        keyring: Vec<Bound<'_, PyAny>>,
        label: &str,
        meta: Option<BTreeMap<String, String>>,
        preset: &str,
        lifeguard: bool,
        accept_plaintext: bool,
        send_plaintext: bool,
    ) -> PyResult<Agent> {
        let plaintext = (accept_plaintext, send_plaintext);
        let agent =
            Agent::new_checked(py, name, bind, join, advertise, keyring, label, meta, preset, lifeguard, plaintext)?;
        let config = agent.config.clone();
        let running = py.detach(|| runtime().block_on(Agent::start_agent(config))).map_err(|e| errors::agent(py, e))?;
        agent.started(py, running)?;
        Ok(agent)
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        let py = slf.py();
        let this = slf.get();
        if this.handle.lock().map_err(|_| errors::closed(py))?.is_none() {
            let config = this.config.clone();
            let running =
                py.detach(|| runtime().block_on(Agent::start_agent(config))).map_err(|e| errors::agent(py, e))?;
            this.started(py, running)?;
        }
        Ok(slf)
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        if let Some(running) = self.take() {
            py.detach(|| runtime().block_on(stop(running, true))).map_err(|e| errors::agent(py, e))?;
        }
        Ok(())
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        slf.get().ensure_not_started(py)?;
        let config = slf.get().config.clone();
        let this = slf.clone().unbind();
        bridge(py, async move {
            let running = Agent::start_agent(config).await;
            Python::attach(|py| {
                let running = running.map_err(|e| errors::agent(py, e))?;
                this.get().started(py, running)?;
                Ok(this)
            })
        })
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(&self, py: Python<'py>, _exc: &Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        let running = self.take();
        bridge(py, async move {
            if let Some(running) = running {
                let result = stop(running, true).await;
                Python::attach(|py| result.map_err(|e| errors::agent(py, e)))?;
            }
            Ok(())
        })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.config.name
    }

    #[getter]
    fn addr(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.handle(py)?.advertised_addr().to_string())
    }

    #[getter]
    fn local_addr(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.handle(py)?.local_addr().to_string())
    }

    #[getter]
    fn running(&self, py: Python<'_>) -> bool {
        self.handle(py).is_ok()
    }

    #[getter]
    fn max_event_len(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.handle(py)?.max_event_len())
    }

    fn members(&self, py: Python<'_>) -> PyResult<Vec<Member>> {
        let handle = self.handle(py)?;
        let members = py.detach(|| runtime().block_on(handle.members())).map_err(|e| errors::agent(py, e))?;
        Ok(members.into_iter().map(Member::from).collect())
    }

    #[pyo3(signature = (timeout = None))]
    fn events(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<EventStream> {
        let handle = self.handle(py)?;
        let timeout = match timeout {
            Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t)),
            Some(t) => {
                return Err(errors::value(format_args!("timeout must be a non-negative number of seconds, not {t}")));
            }
            None => None,
        };
        Ok(EventStream {
            rx: Arc::new(tokio::sync::Mutex::new(handle.subscribe())),
            handle,
            timeout,
            missed: Arc::new(AtomicU64::new(0)),
        })
    }

    fn stats(&self, py: Python<'_>) -> PyResult<BTreeMap<String, u64>> {
        let handle = self.handle(py)?;
        let m = py.detach(|| runtime().block_on(handle.metrics())).map_err(|e| errors::agent(py, e))?;
        Ok(m.by_name())
    }

    fn keys(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.key_op(py, KeyOp::List)
    }

    fn install_key(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        self.key_op(py, KeyOp::Install(convert::key_arg(py, key)?))
    }

    fn use_key(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        self.key_op(py, KeyOp::Use(convert::key_arg(py, key)?))
    }

    fn remove_key(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        self.key_op(py, KeyOp::Remove(convert::key_arg(py, key)?))
    }

    fn set_meta<'py>(&self, py: Python<'py>, meta: BTreeMap<String, String>) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle(py)?;
        bridge(py, async move {
            let result = handle.set_meta(meta).await;
            Python::attach(|py| result.map_err(|e| errors::agent(py, e)))
        })
    }

    #[pyo3(signature = (name, payload = Vec::new()), text_signature = "($self, name, payload=b'')")]
    fn broadcast<'py>(&self, py: Python<'py>, name: String, payload: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle(py)?;
        bridge(py, async move {
            let result = handle.send_event(&name, &payload).await;
            Python::attach(|py| result.map_err(|e| errors::agent(py, e)))
        })
    }

    fn leave<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.handle(py)?;
        let running = self.take().ok_or_else(|| errors::closed(py))?;
        bridge(py, async move {
            let result = stop(running, true).await;
            Python::attach(|py| result.map_err(|e| errors::agent(py, e)))
        })
    }

    fn set_meta_sync(&self, py: Python<'_>, meta: BTreeMap<String, String>) -> PyResult<()> {
        let handle = self.handle(py)?;
        py.detach(|| runtime().block_on(handle.set_meta(meta))).map_err(|e| errors::agent(py, e))
    }

    #[pyo3(signature = (name, payload = Vec::new()), text_signature = "($self, name, payload=b'')")]
    fn broadcast_sync(&self, py: Python<'_>, name: String, payload: Vec<u8>) -> PyResult<()> {
        let handle = self.handle(py)?;
        py.detach(|| runtime().block_on(handle.send_event(&name, &payload))).map_err(|e| errors::agent(py, e))
    }

    fn leave_sync(&self, py: Python<'_>) -> PyResult<u32> {
        self.handle(py)?;
        let running = self.take().ok_or_else(|| errors::closed(py))?;
        py.detach(|| runtime().block_on(stop(running, true))).map_err(|e| errors::agent(py, e))
    }

    /// Stops at once without leaving; waits until the socket is closed. Idempotent.
    fn close(&self, py: Python<'_>) {
        if let Some(running) = self.take() {
            let _ = py.detach(|| runtime().block_on(stop(running, false)));
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.handle(py) {
            Ok(h) => format!("<Agent name='{}' addr='{}' running>", self.config.name, h.advertised_addr()),
            Err(_) => format!("<Agent name='{}' bind='{}' not running>", self.config.name, self.config.bind),
        }
    }
}

impl Agent {
    fn key_op(&self, py: Python<'_>, op: KeyOp) -> PyResult<Vec<String>> {
        let handle = self.handle(py)?;
        py.detach(|| runtime().block_on(handle.keys(op))).map_err(|e| errors::agent(py, e))
    }
}

impl Drop for Agent {
    /// Garbage collection of a running agent stops it (without leaving) on the runtime, so its
    /// socket is closed shortly after even if nobody called `close()`.
    fn drop(&mut self) {
        if let Some(running) = self.take() {
            runtime().spawn(async move {
                let _ = stop(running, false).await;
            });
        }
    }
}

/// The events of one agent from the moment it was made.
#[pyclass(module = "rumor", frozen)]
pub(crate) struct EventStream {
    rx: Arc<tokio::sync::Mutex<broadcast::Receiver<AgentEvent>>>,
    handle: Handle,
    timeout: Option<Duration>,
    missed: Arc<AtomicU64>,
}

/// The next event, or `None` once the agent has stopped (events published before it stopped
/// are still delivered).
async fn next(
    rx: Arc<tokio::sync::Mutex<broadcast::Receiver<AgentEvent>>>,
    handle: Handle,
    missed: Arc<AtomicU64>,
) -> Option<AgentEvent> {
    let mut rx = rx.lock().await;
    loop {
        let received = tokio::select! {
            biased;
            r = rx.recv() => r,
            () = handle.stopped() => match rx.try_recv() {
                Ok(e) => Ok(e),
                Err(broadcast::error::TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(_) => Err(RecvError::Closed),
            },
        };
        match received {
            Ok(event) => return Some(event),
            Err(RecvError::Lagged(n)) => {
                missed.fetch_add(n, Ordering::Relaxed);
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

#[pymethods]
impl EventStream {
    #[getter]
    fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }

    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (rx, handle, missed) = (self.rx.clone(), self.handle.clone(), self.missed.clone());
        bridge(py, async move {
            let event = next(rx, handle, missed).await;
            Python::attach(|py| match event {
                Some(event) => types::event(py, event),
                None => Err(PyStopAsyncIteration::new_err("the agent has stopped")),
            })
        })
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next event, waiting at most the stream's timeout with the GIL released; Ctrl-C
    /// (any pending signal) interrupts the wait within a tenth of a second.
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        const SLICE: Duration = Duration::from_millis(100);
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let event = loop {
            let (rx, handle, missed) = (self.rx.clone(), self.handle.clone(), self.missed.clone());
            let until =
                deadline.map_or(tokio::time::Instant::now() + SLICE, |d| d.min(tokio::time::Instant::now() + SLICE));
            // Ok(None): the agent stopped; Err: this slice ended without an event.
            let got = py.detach(|| {
                // The timer is made inside the runtime (a tokio timer needs its reactor).
                runtime().block_on(async move { tokio::time::timeout_at(until, next(rx, handle, missed)).await })
            });
            match got {
                Ok(event) => break event,
                Err(_) if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) => break None,
                Err(_) => py.check_signals()?,
            }
        };
        match event {
            Some(event) => types::event(py, event),
            None => Err(PyStopIteration::new_err(())),
        }
    }
}
