//! Progress of the long transfers an agent makes: a worker fetching a toolchain from its
//! peers, a submitter packaging its compiler. A first fetch of gcc moves tens of MiB, and on a
//! slow link or a busy machine it takes long enough that a user should see it move.
//!
//! Each transfer is in [`Transfers`] while its [`TransferGuard`] lives; `meshcc peers` and the
//! web monitor list them, and a task logs a line a second for each until it ends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use meshcc_wire::control::TransferProgress;
use tracing::info;

/// How often a transfer under way is logged.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// What kind of transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// A worker fetching a toolchain's chunks from peers.
    Fetch,
    /// A submitter packaging its compiler into the store.
    Package,
}

impl TransferKind {
    fn name(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Package => "package",
        }
    }
}

/// One transfer under way. Totals may be set after it starts (packaging learns them once it
/// has listed the compiler's files).
#[derive(Debug)]
pub struct Transfer {
    kind: TransferKind,
    what: String,
    started: Instant,
    total_bytes: AtomicU64,
    total_items: AtomicU64,
    done_bytes: AtomicU64,
    done_items: AtomicU64,
}

impl Transfer {
    /// Sets the totals.
    pub fn set_total(&self, bytes: u64, items: u64) {
        self.total_bytes.store(bytes, Ordering::Relaxed);
        self.total_items.store(items, Ordering::Relaxed);
    }

    /// Sets how much is done.
    pub fn set_done(&self, bytes: u64, items: u64) {
        self.done_bytes.store(bytes, Ordering::Relaxed);
        self.done_items.store(items, Ordering::Relaxed);
    }

    /// Counts `bytes` more, in one more item.
    pub fn advance(&self, bytes: u64) {
        self.done_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.done_items.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot for reports.
    pub fn snapshot(&self) -> TransferProgress {
        TransferProgress {
            kind: self.kind.name().to_owned(),
            what: self.what.clone(),
            done_bytes: self.done_bytes.load(Ordering::Relaxed),
            total_bytes: self.total_bytes.load(Ordering::Relaxed),
            done_items: self.done_items.load(Ordering::Relaxed),
            total_items: self.total_items.load(Ordering::Relaxed),
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        }
    }
}

/// The transfers under way in one agent.
#[derive(Debug, Default)]
pub struct Transfers {
    next: AtomicU64,
    live: Mutex<BTreeMap<u64, Arc<Transfer>>>,
}

impl Transfers {
    /// Starts tracking a transfer, and logging it every second while it lasts. Call from
    /// within the agent's runtime.
    pub fn begin(self: &Arc<Self>, kind: TransferKind, what: impl Into<String>) -> TransferGuard {
        let transfer = Arc::new(Transfer {
            kind,
            what: what.into(),
            started: Instant::now(),
            total_bytes: AtomicU64::new(0),
            total_items: AtomicU64::new(0),
            done_bytes: AtomicU64::new(0),
            done_items: AtomicU64::new(0),
        });
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.live.lock().unwrap().insert(key, transfer.clone());
        tokio::spawn(log_while_alive(Arc::downgrade(&transfer)));
        TransferGuard {
            transfers: self.clone(),
            key,
            transfer,
        }
    }

    /// Every transfer under way, oldest first.
    pub fn snapshot(&self) -> Vec<TransferProgress> {
        self.live
            .lock()
            .unwrap()
            .values()
            .map(|t| t.snapshot())
            .collect()
    }
}

/// A transfer's registration: it is listed until this is dropped.
#[derive(Debug)]
pub struct TransferGuard {
    transfers: Arc<Transfers>,
    key: u64,
    transfer: Arc<Transfer>,
}

impl std::ops::Deref for TransferGuard {
    type Target = Transfer;
    fn deref(&self) -> &Transfer {
        &self.transfer
    }
}

impl Drop for TransferGuard {
    fn drop(&mut self) {
        self.transfers.live.lock().unwrap().remove(&self.key);
    }
}

/// Logs the transfer every [`LOG_EVERY`] until its last owner lets it go.
async fn log_while_alive(transfer: Weak<Transfer>) {
    let mut tick = tokio::time::interval(LOG_EVERY);
    tick.tick().await; // the first tick is immediate; a transfer done within a second is not logged
    loop {
        tick.tick().await;
        let Some(t) = transfer.upgrade() else { return };
        info!("progress: {}", crate::report::transfer_line(&t.snapshot()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_transfer_is_listed_while_its_guard_lives() {
        let transfers = Arc::new(Transfers::default());
        let guard = transfers.begin(TransferKind::Fetch, "toolchain 3f2a");
        guard.set_total(3 << 20, 3);
        guard.advance(1 << 20);
        let listed = transfers.snapshot();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].kind, "fetch");
        assert_eq!((listed[0].done_bytes, listed[0].total_items), (1 << 20, 3));
        drop(guard);
        assert!(transfers.snapshot().is_empty());
    }
}
