//! `rumor._rumor`, the native module of the Python package `rumor` (bindings-python/python/):
//! `Agent` (the embeddable `rumor-agent` runtime, asyncio or blocking), `Node` (the sans-IO
//! `rumor-core` node), members and events as Python classes, and the wire codecs. It converts
//! and maps errors; every protocol decision and every encoding is the core's or the agent's.
//! The Python-facing documentation is the stub, `python/rumor/_rumor.pyi`.

mod agent;
mod convert;
mod errors;
mod node;
mod types;
mod wire;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use rumor_agent::rumor_core::{Config, Status};

#[pymodule]
fn _rumor(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let py = m.py();
    m.add("PRESETS", PyTuple::new(py, Config::PRESETS)?)?;
    m.add("STATUS_NAMES", PyTuple::new(py, Status::ALL.iter().map(|s| s.as_str()))?)?;
    types::register(m)?;
    m.add_class::<agent::Agent>()?;
    m.add_class::<agent::EventStream>()?;
    m.add_class::<node::Node>()?;
    m.add_class::<node::Transmit>()?;
    m.add_function(wrap_pyfunction!(wire::decode_body, m)?)?;
    m.add_function(wrap_pyfunction!(wire::encode_body, m)?)?;
    m.add_function(wrap_pyfunction!(wire::decode_frame, m)?)?;
    m.add_function(wrap_pyfunction!(wire::encode_frame, m)?)?;
    m.add_function(wrap_pyfunction!(wire::encode_meta, m)?)?;
    m.add_function(wrap_pyfunction!(wire::decode_meta, m)?)?;
    m.add_function(wrap_pyfunction!(wire::encode_user_event, m)?)?;
    m.add_function(wrap_pyfunction!(wire::decode_user_event, m)?)?;
    m.add_function(wrap_pyfunction!(wire::generate_key, m)?)?;
    m.add_function(wrap_pyfunction!(agent::_drain, m)?)?;
    Ok(())
}
