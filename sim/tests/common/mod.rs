//! What the simulator's test files share: a cluster joined through its first node, and waiting
//! for it to converge.
#![allow(dead_code)] // each test file uses its own part of it

use core::time::Duration;

use rumor_core::Config;
use rumor_sim::Cluster;

pub(crate) const SEC: Duration = Duration::from_secs(1);

/// `n` nodes named n0..n{n-1}; all join through n0.
pub(crate) fn cluster(seed: u64, n: usize, config: Config) -> (Cluster, Vec<usize>) {
    let mut c = Cluster::new(seed);
    let ids: Vec<usize> = (0..n).map(|i| c.add_node(&format!("n{i}"), config.clone())).collect();
    for &i in &ids[1..] {
        c.join(i, &[ids[0]]);
    }
    (c, ids)
}

/// Runs until every node sees every other alive and all views agree; how long that took.
pub(crate) fn converge(c: &mut Cluster, ids: &[usize], limit: Duration) -> Duration {
    let start = c.now();
    let at = c.run_until_true(limit, SEC / 10, |c| c.all_alive(ids) && c.converged(ids));
    at.unwrap_or_else(|| panic!("no convergence within {limit:?}")) - start
}
