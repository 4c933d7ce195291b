//! Nonces for AES-GCM without a system call per value.
//!
//! A `getrandom(2)` call costs about 400 ns here, half of what sealing a short value costs. So
//! nonces come from a per-thread generator: AES-256 in counter mode under a key drawn from the
//! OS, producing 16-byte blocks of which 12 become a nonce. AES-CTR under a secret random key is
//! indistinguishable from random, so the nonces are as good as the OS's; the generator draws a
//! fresh key from the OS every `RESEED_AFTER` nonces.
//!
//! Fork safety: PostgreSQL forks every backend from the postmaster, and a child must never
//! reuse its parent's generator state (two processes would then produce the same nonces).
//! A `pthread_atfork` child handler bumps a process-wide generation counter; a generator that
//! sees a new generation reseeds from the OS before producing anything.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes256;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use zeroize::Zeroize;

use crate::envelope::NONCE_LEN;

/// Fresh key from the OS after this many nonces.
const RESEED_AFTER: u64 = 1 << 20;
/// Blocks computed at once (AES pipelines several blocks).
const BATCH: usize = 8;

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

struct Generator {
    cipher: Aes256,
    counter: u128,
    generation: u64,
    used: u64,
    buffer: [[u8; 16]; BATCH],
    next: usize,
}

impl Generator {
    fn seeded() -> Generator {
        let mut key = [0u8; 32];
        crate::cipher::os_random(&mut key);
        let cipher = Aes256::new_from_slice(&key).expect("32-byte key");
        key.zeroize();
        let mut counter = [0u8; 16];
        crate::cipher::os_random(&mut counter);
        Generator {
            cipher,
            counter: u128::from_le_bytes(counter),
            generation: FORK_GENERATION.load(Ordering::SeqCst),
            used: 0,
            buffer: [[0; 16]; BATCH],
            next: BATCH,
        }
    }

    fn refill(&mut self) {
        let mut blocks = [aes::Block::default(); BATCH];
        for block in blocks.iter_mut() {
            self.counter = self.counter.wrapping_add(1);
            block.copy_from_slice(&self.counter.to_le_bytes());
        }
        self.cipher.encrypt_blocks(&mut blocks);
        for (out, block) in self.buffer.iter_mut().zip(blocks.iter_mut()) {
            out.copy_from_slice(block);
            block.zeroize();
        }
        self.next = 0;
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        self.buffer.zeroize();
    }
}

thread_local! {
    static GENERATOR: RefCell<Option<Generator>> = const { RefCell::new(None) };
}

/// Fills `nonce` with a fresh random nonce.
pub fn fill(nonce: &mut [u8; NONCE_LEN]) {
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only touches an atomic; it runs in the child after
        // fork(), where async-signal-safety is all that is required.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        assert_eq!(rc, 0, "pthread_atfork failed");
    });
    GENERATOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let stale = match slot.as_ref() {
            None => true,
            Some(g) => {
                g.generation != FORK_GENERATION.load(Ordering::SeqCst) || g.used >= RESEED_AFTER
            }
        };
        if stale {
            *slot = Some(Generator::seeded());
        }
        let g = slot.as_mut().expect("seeded above");
        if g.next == BATCH {
            g.refill();
        }
        nonce.copy_from_slice(&g.buffer[g.next][..NONCE_LEN]);
        g.buffer[g.next].zeroize();
        g.next += 1;
        g.used += 1;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn nonces_do_not_repeat() {
        let mut seen = HashSet::new();
        for _ in 0..200_000 {
            let mut n = [0u8; NONCE_LEN];
            fill(&mut n);
            assert!(seen.insert(n), "a nonce repeated");
        }
    }

    #[test]
    fn a_forked_child_does_not_repeat_its_parents_nonces() {
        // Prime the parent's generator, then fork: the child must reseed.
        let mut n = [0u8; NONCE_LEN];
        fill(&mut n);
        let mut fds = [0i32; 2];
        // SAFETY: plain pipe + fork in a test; the child writes and exits at once.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            assert!(pid >= 0);
            if pid == 0 {
                let mut child = [0u8; NONCE_LEN * 4];
                for chunk in child.chunks_mut(NONCE_LEN) {
                    let mut n = [0u8; NONCE_LEN];
                    fill(&mut n);
                    chunk.copy_from_slice(&n);
                }
                libc::write(fds[1], child.as_ptr().cast(), child.len());
                libc::_exit(0);
            }
            let mut parent = [0u8; NONCE_LEN * 4];
            for chunk in parent.chunks_mut(NONCE_LEN) {
                let mut n = [0u8; NONCE_LEN];
                fill(&mut n);
                chunk.copy_from_slice(&n);
            }
            let mut child = [0u8; NONCE_LEN * 4];
            let mut got = 0;
            while got < child.len() {
                let r = libc::read(fds[0], child[got..].as_mut_ptr().cast(), child.len() - got);
                assert!(r > 0);
                got += r as usize;
            }
            libc::waitpid(pid, std::ptr::null_mut(), 0);
            let parents: HashSet<_> = parent.chunks(NONCE_LEN).collect();
            assert!(
                child.chunks(NONCE_LEN).all(|c| !parents.contains(c)),
                "child repeated parent nonces"
            );
        }
    }
}
