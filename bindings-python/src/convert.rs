//! Python arguments to Rumor values: keys, keyrings, addresses, metadata and the protocol
//! configuration. Refusals name the field, as `rumor agent` does; the values themselves are
//! checked by the core and the agent (`Config::validate`, `AgentConfig::check`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use rumor_agent::rumor_core::{Config, KEY_LEN, Key, Keyring, Lifeguard, meta};

use crate::errors;

/// A key from base64 text or 32 raw bytes: the outer error is a `TypeError` for any other
/// type, the inner one says why a str or bytes is not a key.
pub(crate) fn key_typed(value: &Bound<'_, PyAny>) -> PyResult<Result<Key, String>> {
    if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_cow()?;
        return Ok(Key::from_base64(&text).map_err(|e| format!("a key {e}")));
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        let raw: Result<[u8; KEY_LEN], _> = bytes.as_bytes().try_into();
        return Ok(raw
            .map(Key::from_bytes)
            .map_err(|_| format!("a key is {KEY_LEN} bytes, not {}", bytes.as_bytes().len())));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "a key is base64 text (str) or {KEY_LEN} bytes, not {}",
        type_name(value)
    )))
}

/// A key argument of a keyring operation; a malformed one is a `KeyringError`.
pub(crate) fn key_arg(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Key> {
    key_typed(value)?.map_err(|e| errors::keyring(py, e))
}

/// The keyring of a configuration (`rumor_agent::keys::keyring`: the first key is the
/// primary; none means plaintext); a malformed key is a `ConfigError` for `keyring`.
pub(crate) fn keyring(py: Python<'_>, keys: &[Bound<'_, PyAny>]) -> PyResult<Keyring> {
    let keys = keys
        .iter()
        .enumerate()
        .map(|(i, value)| key_typed(value)?.map_err(|e| errors::config_field(py, "keyring", format_args!("[{i}]"), &e)))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(rumor_agent::keys::keyring(keys))
}

/// `ip:port` for `field`.
pub(crate) fn addr(py: Python<'_>, field: &str, text: &str) -> PyResult<SocketAddr> {
    text.parse().map_err(|_| errors::config_field(py, field, text, "is not an address of the form IP:PORT"))
}

/// A protocol configuration from a preset name, a label, a keyring and the Lifeguard switch.
pub(crate) fn protocol(
    py: Python<'_>,
    preset: &str,
    label: &str,
    keys: &[Bound<'_, PyAny>],
    lifeguard: bool,
) -> PyResult<Config> {
    let mut config = rumor_agent::config::preset(preset).map_err(|e| errors::config(py, &e))?;
    config.label = label.to_owned();
    config.keyring = keyring(py, keys)?;
    if !lifeguard {
        config.lifeguard = Lifeguard::OFF;
    }
    Ok(config)
}

/// Metadata encoded as every runtime does (`rumor_core::meta`), within `max_len`.
pub(crate) fn meta_bytes(py: Python<'_>, map: &BTreeMap<String, String>, max_len: usize) -> PyResult<Vec<u8>> {
    meta::encode(map, max_len).map_err(|e| errors::meta(py, e))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}
