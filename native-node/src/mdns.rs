//! `--mdns`: announce this node on the local network and join the nodes of the same label that
//! are announced there (mdns-sd). Discovery only finds peers; everything after is the protocol.

use std::net::SocketAddr;

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};

use rumor_agent::Handle;

/// The DNS-SD service type Rumor agents announce.
pub(crate) const SERVICE_TYPE: &str = "_rumor._udp.local.";

/// A running announcement and browse.
pub(crate) struct Discovery {
    daemon: ServiceDaemon,
    fullname: String,
    task: tokio::task::JoinHandle<()>,
}

impl Discovery {
    /// Announces `handle`'s node and starts joining what is found.
    pub(crate) fn start(handle: Handle, label: &str) -> Result<Discovery, mdns_sd::Error> {
        let daemon = ServiceDaemon::new()?;
        let addr = handle.advertised_addr();
        let host = format!("{}.local.", sanitize(handle.name()));
        let props = [("label", label), ("name", handle.name())];
        let info = ServiceInfo::new(SERVICE_TYPE, handle.name(), &host, addr.ip(), addr.port(), &props[..])?;
        let fullname = info.get_fullname().to_string();
        daemon.register(info)?;
        let events = daemon.browse(SERVICE_TYPE)?;
        let label = label.to_string();
        let own = fullname.clone();
        let task = tokio::spawn(async move {
            while let Ok(event) = events.recv_async().await {
                let ServiceEvent::ServiceResolved(found) = event else { continue };
                if found.get_fullname() == own || found.txt_properties.get_property_val_str("label") != Some(&label) {
                    continue;
                }
                let port = found.get_port();
                let addrs: Vec<SocketAddr> = found
                    .get_addresses()
                    .iter()
                    .map(|ip| SocketAddr::new(ip.to_ip_addr(), port))
                    .filter(|a| a.is_ipv4() == addr.is_ipv4())
                    .collect();
                tracing::debug!(peer = %found.get_fullname(), ?addrs, "mDNS found a peer");
                if !addrs.is_empty() && handle.discovered(addrs).await.is_err() {
                    break;
                }
            }
        });
        Ok(Discovery { daemon, fullname, task })
    }

    /// Withdraws the announcement and stops browsing.
    pub(crate) fn stop(self) {
        self.task.abort();
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }
}

/// A host-name label: letters, digits and hyphens.
fn sanitize(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    if s.is_empty() { "rumor".into() } else { s }
}
