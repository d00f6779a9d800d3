//! Flash storage through `sequential-storage` (power-fail safe, wear-levelled):
//! a map for the configuration and the next sequence number, and a queue for the offline
//! buffer (one JSON reading per item, oldest first, removed only after the broker's PUBACK).

use sequential_storage::cache::{Cache, Uncached};

type NoCache<K> = Cache<Uncached, Uncached, Uncached, K>;
use sequential_storage::map::{MapConfig, MapStorage};
use sequential_storage::queue::{QueueConfig, QueueStorage};

use crate::board::{Flash, CONFIG_RANGE, QUEUE_RANGE};
use crate::config::{Config, KEY_CA, KEY_CONFIG, KEY_SEED, KEY_SEQ};

use crate::config::JSON_MAX as CONFIG_JSON;
const MAP_BUF: usize = CONFIG_JSON + 64;

pub struct Store {
    map: MapStorage<u8, Flash, NoCache<u8>>,
    queue: QueueStorage<Flash, NoCache<()>>,
    /// Readings in the offline queue.
    pub queued: u32,
    /// Readings dropped because the queue was full (oldest first).
    pub dropped: u32,
}

impl Store {
    pub async fn new(map_flash: Flash, queue_flash: Flash) -> Store {
        let mut s = Store {
            map: MapStorage::new(
                map_flash,
                MapConfig::new(CONFIG_RANGE),
                Cache::new_uncached(),
            ),
            queue: QueueStorage::new(
                queue_flash,
                QueueConfig::new(QUEUE_RANGE),
                Cache::new_uncached(),
            ),
            queued: 0,
            dropped: 0,
        };
        let mut buf = [0u8; 256];
        if let Ok(mut it) = s.queue.iter().await {
            while let Ok(Some(_)) = it.next(&mut buf).await {
                s.queued += 1;
            }
        }
        s
    }

    pub async fn config(&mut self) -> Option<Config> {
        let mut buf = [0u8; MAP_BUF];
        let bytes: &[u8] = self.map.fetch_item(&mut buf, &KEY_CONFIG).await.ok()??;
        serde_json_core::from_slice(bytes).ok().map(|(c, _)| c)
    }

    pub async fn save_config(&mut self, c: &Config) -> bool {
        let mut json = [0u8; CONFIG_JSON];
        let Ok(n) = serde_json_core::to_slice(c, &mut json) else {
            return false;
        };
        let mut buf = [0u8; MAP_BUF];
        self.map
            .store_item(&mut buf, &KEY_CONFIG, &&json[..n])
            .await
            .is_ok()
    }

    // The map's buffer must hold its largest item (the configuration): the map reads items
    // while searching and moves them when a page fills, whatever key is asked for.
    pub async fn seq(&mut self) -> u32 {
        let mut buf = [0u8; MAP_BUF];
        match self.map.fetch_item::<u32>(&mut buf, &KEY_SEQ).await {
            Ok(v) => v.unwrap_or(0),
            Err(e) => {
                crate::log!("flash: cannot read seq ({:?}); starting at 0", e);
                0
            }
        }
    }

    pub async fn save_seq(&mut self, next: u32) {
        let mut buf = [0u8; MAP_BUF];
        if let Err(e) = self.map.store_item(&mut buf, &KEY_SEQ, &next).await {
            crate::log!("flash: cannot save seq ({:?})", e);
        }
    }

    /// A stored byte item (the CA, the seed) copied into `out`; its length.
    async fn bytes(&mut self, key: u8, out: &mut [u8]) -> Option<usize> {
        let mut buf = [0u8; MAP_BUF];
        let v: &[u8] = self.map.fetch_item(&mut buf, &key).await.ok()??;
        let dst = out.get_mut(..v.len())?;
        dst.copy_from_slice(v);
        Some(v.len())
    }

    async fn save_bytes(&mut self, key: u8, v: &[u8]) -> bool {
        let mut buf = [0u8; MAP_BUF];
        self.map.store_item(&mut buf, &key, &v).await.is_ok()
    }

    pub async fn ca(&mut self, out: &mut [u8]) -> Option<usize> {
        self.bytes(KEY_CA, out).await
    }

    pub async fn save_ca(&mut self, der: &[u8]) -> bool {
        self.save_bytes(KEY_CA, der).await
    }

    pub async fn seed(&mut self) -> Option<[u8; 32]> {
        let mut s = [0u8; 32];
        (self.bytes(KEY_SEED, &mut s).await == Some(32)).then_some(s)
    }

    pub async fn save_seed(&mut self, seed: &[u8; 32]) -> bool {
        self.save_bytes(KEY_SEED, seed).await
    }

    /// Keep a reading for later; when the queue is full the oldest goes (counted).
    pub async fn push(&mut self, json: &[u8]) {
        loop {
            match self.queue.push(json, false).await {
                Ok(()) => {
                    self.queued += 1;
                    return;
                }
                Err(sequential_storage::Error::FullStorage) => {
                    let mut buf = [0u8; 256];
                    if !matches!(self.queue.pop(&mut buf).await, Ok(Some(_))) {
                        return;
                    }
                    self.queued = self.queued.saturating_sub(1);
                    self.dropped += 1;
                }
                Err(_) => return,
            }
        }
    }

    /// Up to `max` of the oldest readings as a JSON array in `out`; returns (bytes, count).
    pub async fn peek_batch(&mut self, max: usize, out: &mut [u8]) -> (usize, usize) {
        let mut buf = [0u8; 256];
        let Ok(mut it) = self.queue.iter().await else {
            return (0, 0);
        };
        let (mut at, mut k) = (1usize, 0usize);
        while k < max {
            let Ok(Some(entry)) = it.next(&mut buf).await else {
                break;
            };
            let item: &[u8] = &entry[..];
            if at + item.len() + 2 > out.len() {
                break;
            }
            out[at..at + item.len()].copy_from_slice(item);
            at += item.len();
            out[at] = b',';
            at += 1;
            k += 1;
        }
        if k == 0 {
            return (0, 0);
        }
        out[0] = b'[';
        out[at - 1] = b']';
        (at, k)
    }

    /// Remove the `n` oldest (after the broker acknowledged them).
    pub async fn pop(&mut self, n: usize) {
        let mut buf = [0u8; 256];
        for _ in 0..n {
            if matches!(self.queue.pop(&mut buf).await, Ok(Some(_))) {
                self.queued = self.queued.saturating_sub(1);
            }
        }
    }
}
