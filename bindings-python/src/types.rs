//! Members and events as Python objects: immutable classes with `__repr__`, `==` and
//! `__match_args__`, built from the agent's `MemberInfo` and `AgentEvent` (the one conversion
//! of the core's members and events, shared with the sans-IO `Node`: it goes through
//! `AgentEvent::from` too).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;
use rumor_agent::rumor_core::Status;
use rumor_agent::{AgentEvent, MemberInfo};

/// `rumor.State(name)`: the Python enum for a status, by the core's name for it.
fn state<'py>(py: Python<'py>, status: Status) -> PyResult<Bound<'py, PyAny>> {
    static STATE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let class = STATE.get_or_try_init(py, || py.import("rumor._state")?.getattr("State").map(Bound::unbind))?;
    class.bind(py).call1((status.as_str(),))
}

/// A member as one node sees it.
#[pyclass(module = "rumor", frozen, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    name: String,
    addr: SocketAddr,
    status: Status,
    incarnation: u32,
    meta: BTreeMap<String, String>,
}

impl From<MemberInfo> for Member {
    fn from(m: MemberInfo) -> Self {
        Member { name: m.name, addr: m.addr, status: m.state, incarnation: m.incarnation, meta: m.meta }
    }
}

#[pymethods]
impl Member {
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn addr(&self) -> String {
        self.addr.to_string()
    }

    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        state(py, self.status)
    }

    #[getter]
    fn incarnation(&self) -> u32 {
        self.incarnation
    }

    #[getter]
    fn meta(&self) -> BTreeMap<String, String> {
        self.meta.clone()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Member(name={}, addr={}, state={}, incarnation={}, meta={})",
            repr(py, &self.name)?,
            repr(py, &self.addr.to_string())?,
            state(py, self.status)?.repr()?,
            self.incarnation,
            self.meta.clone().into_pyobject(py)?.repr()?
        ))
    }
}

/// Python's `repr` of a string.
fn repr(py: Python<'_>, s: &str) -> PyResult<String> {
    Ok(pyo3::types::PyString::new(py, s).repr()?.to_string())
}

/// One class per member event, each carrying the member as it is after the change.
macro_rules! member_event {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[pyclass(module = "rumor", frozen, eq)]
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            member: Member,
        }

        #[pymethods]
        impl $name {
            #[classattr]
            fn __match_args__() -> (&'static str,) {
                ("member",)
            }

            #[getter]
            fn member(&self) -> Member {
                self.member.clone()
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                Ok(format!("{}({})", stringify!($name), self.member.__repr__(py)?))
            }
        }
    };
}

member_event!(MemberJoined, "A member became alive: new, or back after failing or leaving.");
member_event!(MemberUpdated, "An alive member changed its metadata or address.");
member_event!(MemberSuspect, "A member is suspected of having failed.");
member_event!(MemberAlive, "A suspect member refuted the suspicion.");
member_event!(MemberFailed, "A member was declared failed.");
member_event!(MemberLeft, "A member left gracefully.");

/// A user event from `origin`.
#[pyclass(module = "rumor", frozen, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserEvent {
    origin: String,
    name: String,
    payload: Vec<u8>,
}

#[pymethods]
impl UserEvent {
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str) {
        ("origin", "name", "payload")
    }

    #[getter]
    fn origin(&self) -> &str {
        &self.origin
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.payload)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let payload = PyBytes::new(py, &self.payload).repr()?;
        Ok(format!("UserEvent(origin={}, name={}, payload={payload})", repr(py, &self.origin)?, repr(py, &self.name)?))
    }
}

/// Another address claims a live member's name.
#[pyclass(module = "rumor", frozen, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameConflict {
    name: String,
    known: SocketAddr,
    claimed: SocketAddr,
}

#[pymethods]
impl NameConflict {
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str) {
        ("name", "known", "claimed")
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn known(&self) -> String {
        self.known.to_string()
    }

    #[getter]
    fn claimed(&self) -> String {
        self.claimed.to_string()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("NameConflict(name={}, known='{}', claimed='{}')", repr(py, &self.name)?, self.known, self.claimed))
    }
}

/// This node is part of a cluster.
#[pyclass(module = "rumor", frozen, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Joined {}

#[pymethods]
impl Joined {
    fn __repr__(&self) -> &'static str {
        "Joined()"
    }
}

/// This node's leave finished.
#[pyclass(module = "rumor", frozen, eq)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaveComplete {
    acknowledged: u32,
}

#[pymethods]
impl LeaveComplete {
    #[classattr]
    fn __match_args__() -> (&'static str,) {
        ("acknowledged",)
    }

    #[getter]
    fn acknowledged(&self) -> u32 {
        self.acknowledged
    }

    fn __repr__(&self) -> String {
        format!("LeaveComplete(acknowledged={})", self.acknowledged)
    }
}

/// The Python object for an event.
pub(crate) fn event(py: Python<'_>, event: AgentEvent) -> PyResult<Py<PyAny>> {
    let object = match event {
        AgentEvent::MemberJoined { member } => Py::new(py, MemberJoined { member: member.into() })?.into_any(),
        AgentEvent::MemberUpdated { member } => Py::new(py, MemberUpdated { member: member.into() })?.into_any(),
        AgentEvent::MemberSuspect { member } => Py::new(py, MemberSuspect { member: member.into() })?.into_any(),
        AgentEvent::MemberAlive { member } => Py::new(py, MemberAlive { member: member.into() })?.into_any(),
        AgentEvent::MemberFailed { member } => Py::new(py, MemberFailed { member: member.into() })?.into_any(),
        AgentEvent::MemberLeft { member } => Py::new(py, MemberLeft { member: member.into() })?.into_any(),
        AgentEvent::UserEvent { origin, name, payload } => Py::new(py, UserEvent { origin, name, payload })?.into_any(),
        AgentEvent::NameConflict { name, known, claimed } => {
            Py::new(py, NameConflict { name, known, claimed })?.into_any()
        }
        AgentEvent::Joined => Py::new(py, Joined {})?.into_any(),
        AgentEvent::LeaveComplete { acknowledged } => Py::new(py, LeaveComplete { acknowledged })?.into_any(),
    };
    Ok(object)
}

/// The classes above, for the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Member>()?;
    m.add_class::<MemberJoined>()?;
    m.add_class::<MemberUpdated>()?;
    m.add_class::<MemberSuspect>()?;
    m.add_class::<MemberAlive>()?;
    m.add_class::<MemberFailed>()?;
    m.add_class::<MemberLeft>()?;
    m.add_class::<UserEvent>()?;
    m.add_class::<NameConflict>()?;
    m.add_class::<Joined>()?;
    m.add_class::<LeaveComplete>()?;
    // `Event`, the union of the event classes, for annotations (`rumor.Event`).
    let py = m.py();
    let classes = pyo3::types::PyTuple::new(
        py,
        [
            "MemberJoined",
            "MemberUpdated",
            "MemberSuspect",
            "MemberAlive",
            "MemberFailed",
            "MemberLeft",
            "UserEvent",
            "NameConflict",
            "Joined",
            "LeaveComplete",
        ]
        .iter()
        .map(|name| m.getattr(*name))
        .collect::<PyResult<Vec<_>>>()?,
    )?;
    let union = py.import("typing")?.getattr("Union")?.get_item(classes)?;
    m.add("Event", union)
}
