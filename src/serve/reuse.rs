//! Each scenario's set-up, kept from one run to the next: building the resolver, the public
//! roots' verifiers and the TLS configurations, and reading the OS trust store (on a thread of
//! its own), cost more than the runs of a lab scenario themselves. A run rebuilds the set-up
//! only when a declared trust anchor's file changed (or is gone: then the run cannot start and
//! says why, as a fresh `run` would). Scenarios whose declared anchors are the same files with
//! the same contents share one trust store (public roots, OS store, TLS configurations): a
//! hundred scenarios do not hold a hundred copies of the same roots.

/// The trust stores in use, by their declared anchors' paths and contents.
type SharedStores = Vec<((Vec<PathBuf>, Vec<Vec<u8>>), Weak<TrustStore>)>;
static SHARED: Mutex<SharedStores> = Mutex::new(Vec::new());

/// The trust store in use for these anchors, or `built`, now in use for them.
fn shared_store(key: (Vec<PathBuf>, Vec<Vec<u8>>), built: &Arc<TrustStore>) -> Arc<TrustStore> {
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    shared.retain(|(_, store)| store.strong_count() > 0);
    if let Some(store) = shared
        .iter()
        .filter(|(k, _)| *k == key)
        .find_map(|(_, store)| store.upgrade())
    {
        return store;
    }
    shared.push((key, Arc::downgrade(built)));
    built.clone()
}

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use crate::address::ConnectTo;
use crate::probe::{ProbeCtx, TrustStore};
use crate::runner::{self, SetupError};
use crate::scenario::model::Scenario;
use crate::verdict::Expectation;

/// One kept set-up per vantage of a scenario.
#[derive(Debug)]
pub struct Contexts(Vec<Mutex<Option<Kept>>>);

struct Kept {
    /// The declared anchors' files as they were read for this set-up.
    ca_files: Vec<Vec<u8>>,
    ctx: Arc<ProbeCtx>,
    exp: Expectation,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept").finish_non_exhaustive()
    }
}

impl Contexts {
    pub fn new(vantages: usize) -> Contexts {
        Contexts((0..vantages).map(|_| Mutex::default()).collect())
    }

    /// The set-up of vantage `v` (whose scenario is `scenario`): the kept one while its
    /// declared anchors' files read the same, else a new one, kept in its place. A scenario
    /// with `[entra]` gets a new one each run (its run adds the probe app to it). A bind
    /// address is checked afresh each time.
    pub fn get(
        &self,
        v: usize,
        scenario: &Scenario,
        connect_to: &[ConnectTo],
    ) -> Result<runner::Prepared, SetupError> {
        let fresh = || runner::prepare(scenario, connect_to.to_vec());
        let Some(slot) = self.0.get(v) else {
            return fresh();
        };
        if scenario.entra.is_some() {
            return fresh();
        }
        // The bind address must still exist on the machine.
        if let Some(bind) = &scenario.vantage.bind {
            crate::probe::bind::check(&scenario.vantage.name, bind)?;
        }
        let read: Result<Vec<Vec<u8>>, _> = scenario
            .vantage
            .ca_files
            .iter()
            .map(std::fs::read)
            .collect();
        let mut kept = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Ok(ca_files) = read else {
            // A file that cannot be read: the set-up says which and why.
            *kept = None;
            return fresh();
        };
        if let Some(k) = kept.as_ref().filter(|k| k.ca_files == ca_files) {
            return Ok((k.ctx.clone(), k.exp.clone()));
        }
        *kept = None;
        let (mut ctx, exp) = fresh()?;
        if let Some(unshared) = Arc::get_mut(&mut ctx) {
            let key = (scenario.vantage.ca_files.clone(), ca_files.clone());
            unshared.trust = shared_store(key, &unshared.trust);
        }
        *kept = Some(Kept {
            ca_files,
            ctx: ctx.clone(),
            exp: exp.clone(),
        });
        Ok((ctx, exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Overrides;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    fn scenario(ca: &std::path::Path) -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lab.toml");
        let mut s = crate::scenario::load(&path).unwrap();
        s.apply(&Overrides {
            dns: vec!["127.0.0.1:5353".parse().unwrap()],
            ca_files: vec![ca.to_path_buf()],
            ..Overrides::default()
        })
        .unwrap();
        s
    }

    #[tokio::test]
    async fn the_set_up_is_kept_until_a_trust_anchor_file_changes_or_goes() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_pem()).unwrap();
        let s = scenario(&ca);
        let contexts = Contexts::new(1);
        let (first, _) = contexts.get(0, &s, &[]).unwrap();
        let (again, _) = contexts.get(0, &s, &[]).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same file: the same set-up"
        );
        // Another scenario with the same anchors shares the trust store, not the resolver.
        let other = Contexts::new(1);
        let (theirs, _) = other.get(0, &s, &[]).unwrap();
        assert!(!Arc::ptr_eq(&first, &theirs));
        assert!(Arc::ptr_eq(&first.trust, &theirs.trust));

        std::fs::write(&ca, ca_pem()).unwrap();
        let (changed, _) = contexts.get(0, &s, &[]).unwrap();
        assert!(
            !Arc::ptr_eq(&first, &changed),
            "a changed file: a new set-up"
        );
        assert!(!Arc::ptr_eq(&first.trust, &changed.trust));

        std::fs::remove_file(&ca).unwrap();
        let Err(gone) = contexts.get(0, &s, &[]) else {
            panic!("a run whose trust anchor is gone must not start");
        };
        assert!(
            crate::observation::cause_chain(&gone)
                .join(": ")
                .contains("ca.pem"),
            "{gone}"
        );
        // Back again: a set-up is built anew (nothing stale was kept).
        std::fs::write(&ca, ca_pem()).unwrap();
        let (back, _) = contexts.get(0, &s, &[]).unwrap();
        assert!(!Arc::ptr_eq(&changed, &back));
    }
}
