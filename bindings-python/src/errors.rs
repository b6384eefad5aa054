//! Errors as Python exceptions: each `rumor_agent::Error` variant and each core refusal maps to
//! one class of `rumor._errors` (plain Python, so `ConfigError` can be a `ValueError` too and
//! carry `field`). Nothing here decides anything; it names what the core or agent refused.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use rumor_agent::{ConfigError, Error};
use rumor_core::wire::DecodeError;

/// The class `rumor._errors.<name>`.
fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = MODULE.get_or_try_init(py, || py.import("rumor._errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// An exception of class `name` built from `args`; if even that fails (the package is broken),
/// a `RuntimeError` saying so.
fn raise<'py, A: pyo3::call::PyCallArgs<'py>>(py: Python<'py>, name: &str, args: A) -> PyErr {
    match class(py, name).and_then(|c| c.call1(args)) {
        Ok(value) => PyErr::from_value(value),
        Err(e) => PyRuntimeError::new_err(format!("rumor: cannot raise {name}: {e}")),
    }
}

/// `ConfigError(message, field, value, reason)`.
pub(crate) fn config(py: Python<'_>, e: &ConfigError) -> PyErr {
    raise(py, "ConfigError", (e.to_string(), e.field.clone(), e.value.clone(), e.reason.clone()))
}

/// A refused argument of a configuration (before `AgentConfig::check` could see it).
pub(crate) fn config_field(py: Python<'_>, field: &str, value: impl std::fmt::Display, reason: &str) -> PyErr {
    config(py, &ConfigError::new(field, value, reason))
}

pub(crate) fn keyring(py: Python<'_>, message: impl std::fmt::Display) -> PyErr {
    raise(py, "KeyringError", (message.to_string(),))
}

pub(crate) fn meta(py: Python<'_>, message: impl std::fmt::Display) -> PyErr {
    raise(py, "MetaError", (message.to_string(),))
}

pub(crate) fn node(py: Python<'_>, message: impl std::fmt::Display) -> PyErr {
    raise(py, "NodeError", (message.to_string(),))
}

pub(crate) fn closed(py: Python<'_>) -> PyErr {
    raise(py, "AgentClosed", ("the agent has stopped",))
}

pub(crate) fn decode(py: Python<'_>, e: DecodeError) -> PyErr {
    raise(py, "DecodeError", (e.to_string(), e.kind().0))
}

/// A value of the wrong shape (a key of 31 bytes, an address that is not `ip:port`, …).
pub(crate) fn value(message: impl std::fmt::Display) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(message.to_string())
}

/// The agent's error as its exception.
pub(crate) fn agent(py: Python<'_>, e: Error) -> PyErr {
    match e {
        Error::Config(c) => config(py, &c),
        Error::Node(e) => node(py, e),
        Error::Keyring(e) => keyring(py, e),
        Error::Meta(e) => meta(py, e),
        Error::UserEvent(e) => node(py, e),
        e @ (Error::Bind(..) | Error::Advertise(_)) => raise(py, "BindError", (e.to_string(),)),
        Error::Stopped => closed(py),
        e => raise(py, "RumorError", (e.to_string(),)),
    }
}
