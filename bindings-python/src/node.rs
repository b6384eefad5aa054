//! `rumor.Node`: the sans-IO `rumor_core::Node` for Python callers with their own loop and
//! transport. Time is float seconds on the caller's clock (the core's `Instant` counts
//! milliseconds from an arbitrary origin); events and members convert as the agent's do.

use std::collections::BTreeMap;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rumor_agent::rumor_core::{self, Identity, Instant, user_event};
use rumor_agent::{AgentConfig, AgentEvent, MemberInfo};

use crate::convert;
use crate::errors;
use crate::types::{self, Member};

/// Seconds as the core's instant. Negative, NaN or huge times are refused.
fn instant(now: f64) -> PyResult<Instant> {
    if !(0.0..1e12).contains(&now) {
        return Err(errors::value(format_args!("now must be a non-negative number of seconds, not {now}")));
    }
    Ok(Instant::from_millis_f64(now * 1000.0))
}

/// A datagram to send.
#[pyclass(module = "rumor", frozen, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Transmit {
    destination: String,
    data: Vec<u8>,
}

#[pymethods]
impl Transmit {
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str) {
        ("destination", "data")
    }

    #[getter]
    fn destination(&self) -> &str {
        &self.destination
    }

    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.data)
    }

    fn __repr__(&self) -> String {
        format!("Transmit(destination='{}', data=<{} bytes>)", self.destination, self.data.len())
    }
}

/// The protocol core (see the stub, `rumor/_rumor.pyi`).
#[pyclass(module = "rumor")]
pub(crate) struct Node {
    inner: rumor_core::Node,
    /// Where `poll_transmit` writes a datagram (one MTU).
    buf: Vec<u8>,
}

#[pymethods]
impl Node {
    #[new]
    #[pyo3(signature = (name, addr, now, *, keyring = Vec::new(), label = "", meta = None, preset = "lan",
                        lifeguard = true, seed = None),
           text_signature = "(name, addr, now, *, keyring=(), label='', meta=None, preset='lan', lifeguard=True, seed=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: String,
        addr: &str,
        now: f64,
        keyring: Vec<Bound<'_, PyAny>>,
        label: &str,
        meta: Option<BTreeMap<String, String>>,
        preset: &str,
        lifeguard: bool,
        seed: Option<Vec<u8>>,
    ) -> PyResult<Node> {
        let config = convert::protocol(py, preset, label, &keyring, lifeguard)?;
        let addr = convert::addr(py, "addr", addr)?;
        let meta = meta.unwrap_or_default();
        // The agent's checks, so a bad name, label or metadata is the same `ConfigError` here.
        let mut checked = AgentConfig::new(name, addr, config);
        checked.meta = meta;
        checked.check().map_err(|e| errors::config(py, &e))?;
        let AgentConfig { name, protocol: config, meta, .. } = checked;
        let meta = convert::meta_bytes(py, &meta, config.max_meta_len)?;
        let seed: [u8; 32] = match seed {
            Some(seed) => {
                let len = seed.len();
                seed.try_into().map_err(|_| errors::value(format_args!("seed must be 32 bytes, not {len}")))?
            }
            None => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| errors::node(py, format_args!("no random seed: {e}")))?;
                seed
            }
        };
        let buf = vec![0; config.mtu];
        let inner = rumor_core::Node::new(config, Identity { name, addr, meta }, seed, instant(now)?)
            .map_err(|e| errors::node(py, e))?;
        Ok(Node { inner, buf })
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    #[getter]
    fn addr(&self) -> String {
        self.inner.addr().to_string()
    }

    #[getter]
    fn is_joined(&self) -> bool {
        self.inner.is_joined()
    }

    fn join(&mut self, py: Python<'_>, seeds: Vec<String>, now: f64) -> PyResult<()> {
        let seeds = seeds.iter().map(|s| convert::addr(py, "seeds", s)).collect::<PyResult<Vec<_>>>()?;
        self.inner.join(&seeds, instant(now)?).map_err(|e| errors::node(py, e))
    }

    /// Handles one datagram from `source`; invalid datagrams are dropped and counted.
    fn handle_datagram(&mut self, py: Python<'_>, now: f64, source: &str, data: &[u8]) -> PyResult<()> {
        let source = convert::addr(py, "source", source)?;
        self.inner.handle_datagram(instant(now)?, source, data);
        Ok(())
    }

    fn handle_timeout(&mut self, now: f64) -> PyResult<()> {
        self.inner.handle_timeout(instant(now)?);
        Ok(())
    }

    fn poll_transmit(&mut self, now: f64) -> PyResult<Option<Transmit>> {
        let now = instant(now)?;
        Ok(self.inner.poll_transmit(now, &mut self.buf).map(|t| Transmit {
            destination: t.destination.to_string(),
            data: self.buf.get(..t.size).unwrap_or_default().to_vec(),
        }))
    }

    fn poll_event(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.inner.poll_event().map(|e| types::event(py, AgentEvent::from(e))).transpose()
    }

    fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(|t| t.as_millis_f64() / 1000.0)
    }

    fn set_meta(&mut self, py: Python<'_>, meta: BTreeMap<String, String>, now: f64) -> PyResult<()> {
        let meta = convert::meta_bytes(py, &meta, self.inner.config().max_meta_len)?;
        self.inner.set_meta(&meta, instant(now)?).map_err(|e| errors::node(py, e))
    }

    /// Broadcasts a named user event (`rumor_core::user_event`).
    fn broadcast(&mut self, py: Python<'_>, name: &str, payload: &[u8], now: f64) -> PyResult<()> {
        let payload = user_event::encode(name, payload).map_err(|e| errors::node(py, e))?;
        self.inner.broadcast(&payload, instant(now)?).map_err(|e| errors::node(py, e))
    }

    fn leave(&mut self, py: Python<'_>, now: f64) -> PyResult<()> {
        self.inner.leave(instant(now)?).map_err(|e| errors::node(py, e))
    }

    fn members(&self) -> Vec<Member> {
        self.inner.members().map(|m| Member::from(MemberInfo::from(&m.to_member()))).collect()
    }

    fn stats(&self) -> BTreeMap<String, u64> {
        rumor_agent::stats_by_name(self.inner.stats())
    }

    fn keys(&self) -> Vec<String> {
        self.inner.keyring().keys().map(|k| k.to_base64()).collect()
    }

    fn install_key(&mut self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = convert::key_arg(py, key)?;
        self.inner.install_key(key).map_err(|e| errors::keyring(py, e))
    }

    fn use_key(&mut self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = convert::key_arg(py, key)?;
        self.inner.use_key(&key).map_err(|e| errors::keyring(py, e))
    }

    fn remove_key(&mut self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = convert::key_arg(py, key)?;
        self.inner.remove_key(&key).map_err(|e| errors::keyring(py, e))
    }

    fn __repr__(&self) -> String {
        format!("Node(name='{}', addr='{}')", self.inner.name(), self.inner.addr())
    }
}
