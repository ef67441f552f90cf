//! Blobs between agents: serving what we hold or offer, and fetching what a job needs from
//! several peers at once.
//!
//! A fetch spreads batches of hashes over every source that may hold them, one request in
//! flight per source. A source that fails or sends a blob that does not verify loses its batch
//! to the others; a hash every source lacks fails the fetch. Nothing reaches the store
//! unverified.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use meshcc_wire::ids::BlobHash;
use meshcc_wire::job::{Blob, BlobRequest, BlobResponse, BLOB_PROTOCOL, MAX_BLOB_RESPONSE};
use meshcc_wire::{read_msg_async, write_msg_async};
use serde_bytes::ByteBuf;
use tracing::{debug, warn};

use super::shared::Shared;

/// The blob protocol.
pub const BLOB: StreamProtocol = StreamProtocol::new(BLOB_PROTOCOL);
/// Hashes asked for in one request.
const BATCH: usize = 8;
/// Longest wait for one answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many hashes are served per request.
const MAX_HASHES: usize = 4096;

/// Answers blob requests until the listener closes.
pub async fn serve(mut incoming: IncomingStreams, shared: Arc<Shared>) {
    while let Some((peer, mut stream)) = incoming.next().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let request: BlobRequest = match read_msg_async(&mut stream).await {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    warn!(%peer, "bad blob request: {e}");
                    return;
                }
            };
            if request.hashes.len() > MAX_HASHES {
                warn!(%peer, count = request.hashes.len(), "blob request for too many hashes; refused");
                return;
            }
            let shared2 = shared.clone();
            let Ok(response) =
                tokio::task::spawn_blocking(move || collect(&shared2, &request.hashes)).await
            else {
                return;
            };
            let sent: usize = response.blobs.iter().map(|b| b.zstd.len()).sum();
            shared
                .stats
                .bytes_sent
                .fetch_add(sent as u64, Ordering::Relaxed);
            if let Err(e) = write_msg_async(&mut stream, &response).await {
                debug!(%peer, "blob response not delivered: {e}");
            }
        });
    }
}

/// What we can send of `hashes`, within the response budget.
fn collect(shared: &Shared, hashes: &[BlobHash]) -> BlobResponse {
    let mut budget = MAX_BLOB_RESPONSE;
    let mut response = BlobResponse {
        blobs: Vec::new(),
        missing: Vec::new(),
    };
    for hash in hashes {
        let data = shared.store.get(hash).ok().or_else(|| {
            // An input of one of our clients' jobs: read it now, and send it only if it still
            // is what the job was told (the file may have been edited since).
            let path = shared.offered(hash)?;
            std::fs::read(path)
                .ok()
                .filter(|d| BlobHash::of(d) == *hash)
        });
        let Some(data) = data else {
            debug!(hash = %hash.short(), offered = ?shared.offered(hash), "blob asked for but not held");
            response.missing.push(*hash);
            continue;
        };
        if data.len() > budget && !response.blobs.is_empty() {
            break; // the rest next time
        }
        budget = budget.saturating_sub(data.len());
        let zstd = zstd::bulk::compress(&data, 1).expect("compressing into memory cannot fail");
        response.blobs.push(Blob {
            hash: *hash,
            zstd: ByteBuf::from(zstd),
        });
    }
    response
}

/// Why blobs could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No source holds these.
    #[error("no peer could supply {count} blob(s), e.g. {example}")]
    Unavailable {
        /// How many.
        count: usize,
        /// One of them.
        example: BlobHash,
    },
}

struct Plan {
    queue: VecDeque<BlobHash>,
    /// Sources that said they lack a hash.
    lacking: HashMap<BlobHash, HashSet<PeerId>>,
    failed: HashSet<BlobHash>,
}

/// Fetches every blob of `hashes` that the store lacks, from `sources`.
pub async fn fetch(
    control: &Control,
    shared: &Arc<Shared>,
    sources: &[PeerId],
    hashes: &[BlobHash],
) -> Result<(), FetchError> {
    let want: Vec<BlobHash> = hashes
        .iter()
        .filter(|h| !shared.store.has(h))
        .copied()
        .collect();
    if want.is_empty() {
        return Ok(());
    }
    let plan = Arc::new(Mutex::new(Plan {
        queue: want.iter().copied().collect(),
        lacking: HashMap::new(),
        failed: HashSet::new(),
    }));
    let mut workers: FuturesUnordered<_> = sources
        .iter()
        .map(|peer| {
            source_loop(
                control.clone(),
                shared.clone(),
                *peer,
                sources.len(),
                plan.clone(),
            )
        })
        .collect();
    while workers.next().await.is_some() {}
    let missing: Vec<BlobHash> = want.into_iter().filter(|h| !shared.store.has(h)).collect();
    match missing.first() {
        None => Ok(()),
        Some(example) => Err(FetchError::Unavailable {
            count: missing.len(),
            example: *example,
        }),
    }
}

/// One source's share of a fetch: takes batches until the queue is empty or the source fails.
async fn source_loop(
    mut control: Control,
    shared: Arc<Shared>,
    peer: PeerId,
    sources: usize,
    plan: Arc<Mutex<Plan>>,
) {
    loop {
        let batch: Vec<BlobHash> = {
            let mut p = plan.lock().unwrap();
            let mut batch = Vec::new();
            let mut skipped = Vec::new();
            while batch.len() < BATCH {
                let Some(h) = p.queue.pop_front() else { break };
                let lacking = p.lacking.get(&h).map_or(0, |s| s.len());
                if p.lacking.get(&h).is_some_and(|s| s.contains(&peer)) {
                    if lacking >= sources {
                        p.failed.insert(h);
                    } else {
                        skipped.push(h);
                    }
                    continue;
                }
                batch.push(h);
            }
            let only_skipped = batch.is_empty() && !skipped.is_empty();
            p.queue.extend(skipped);
            if only_skipped {
                // Others may still get these; this source has nothing more to offer.
                return;
            }
            batch
        };
        if batch.is_empty() {
            return;
        }
        match request_with_retries(&mut control, peer, &batch).await {
            Ok(response) => {
                let sent: Vec<BlobHash> = response.blobs.iter().map(|b| b.hash).collect();
                let got = store_verified(&shared, peer, response.blobs).await;
                let mut p = plan.lock().unwrap();
                // A blob that did not verify counts as one this source lacks, so a peer that
                // keeps sending garbage cannot keep a fetch going forever.
                let bad = sent.iter().filter(|h| !got.contains(h));
                for h in response.missing.iter().chain(bad) {
                    p.lacking.entry(*h).or_default().insert(peer);
                }
                for h in batch.iter().filter(|h| !got.contains(h)) {
                    p.queue.push_back(*h);
                }
            }
            Err(e) => {
                warn!(%peer, "blob fetch failed ({e}); asking other peers");
                let mut p = plan.lock().unwrap();
                for h in &batch {
                    p.lacking.entry(*h).or_default().insert(peer);
                }
                p.queue.extend(batch);
                return;
            }
        }
    }
}

/// [`request`], tried again after a short pause when it fails: libp2p-stream drops an inbound
/// stream when the receiving agent has not yet taken the previous one (its accept queue holds
/// one), which a burst of requests from a busy worker easily causes. A source that fails
/// `TRIES` times in a row is given up.
async fn request_with_retries(
    control: &mut Control,
    peer: PeerId,
    hashes: &[BlobHash],
) -> anyhow::Result<BlobResponse> {
    const TRIES: u32 = 4;
    let mut pause = Duration::from_millis(50);
    let mut tried = 1;
    loop {
        match request(control, peer, hashes).await {
            Ok(response) => return Ok(response),
            Err(e) if tried < TRIES => {
                debug!(%peer, "blob request failed ({e:#}); trying again in {pause:?}");
                tokio::time::sleep(pause).await;
                pause *= 2;
                tried += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn request(
    control: &mut Control,
    peer: PeerId,
    hashes: &[BlobHash],
) -> anyhow::Result<BlobResponse> {
    let exchange = async {
        let mut stream = control.open_stream(peer, BLOB).await?;
        write_msg_async(
            &mut stream,
            &BlobRequest {
                hashes: hashes.to_vec(),
            },
        )
        .await?;
        read_msg_async::<_, BlobResponse>(&mut stream)
            .await?
            .ok_or_else(|| anyhow::anyhow!("peer closed the stream without answering"))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// Decompresses, verifies and stores `blobs`; returns the hashes stored.
async fn store_verified(shared: &Arc<Shared>, peer: PeerId, blobs: Vec<Blob>) -> HashSet<BlobHash> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let mut stored = HashSet::new();
        for blob in blobs {
            shared.stats.bytes_received.fetch_add(blob.zstd.len() as u64, Ordering::Relaxed);
            let mut data = Vec::new();
            let decoded = zstd::stream::read::Decoder::new(&blob.zstd[..])
                .map(|d| d.take(MAX_BLOB_RESPONSE as u64 + 1).read_to_end(&mut data));
            if !matches!(decoded, Ok(Ok(n)) if n <= MAX_BLOB_RESPONSE) {
                warn!(%peer, hash = %blob.hash.short(), "blob does not decompress (or is too large); discarded");
                continue;
            }
            match shared.store.put_verified(blob.hash, &data) {
                Ok(()) => {
                    stored.insert(blob.hash);
                }
                Err(e) => warn!(%peer, "corrupt blob discarded: {e}"),
            }
        }
        stored
    })
    .await
    .unwrap_or_default()
}
