//! The password hashing worker pool: argon2id (with the parameters of
//! `core::passwords`) on a fixed set of worker threads of its own, off the
//! async runtime. Machinery, not domain: the core asks for hashes through
//! [`PasswordHashing`], and this is how the server answers.
//!
//! Each worker owns one argon2 memory block (19 MiB), mapped when work comes
//! and reused for every hash while it keeps coming; after [`IDLE_RELEASE`]
//! without a job the worker gives the block back, so an idle server does not
//! keep a block per core. Jobs come from one bounded queue. So at most one
//! hash per worker runs at any time, whatever happens to the requests that
//! asked for them: a request that goes away leaves its job to finish (or, if
//! it had not started, to be skipped), and never lets another hash start in
//! its place. Memory stays at one block per worker, not one per request.
//!
//! Every `unsafe` of the password path is here: the block's `mmap`, and the
//! workers' scheduling (Linux only).

use crate::server::core::{
    passwords::{normalize, PasswordHashing, M_COST_KIB, OUTPUT_LEN, P_COST, T_COST},
    Error, Result,
};
use argon2::{
    password_hash::{rand_core::OsRng, Output, PasswordHash, PasswordVerifier, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Instant,
};
use tokio::sync::{oneshot, OnceCell};

/// Jobs waiting beyond this make callers wait to queue (back-pressure).
const QUEUE_BOUND: usize = 4096;

fn params() -> Params {
    // These parameters are constants within argon2's limits.
    Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)).expect("valid argon2 parameters")
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

enum Task {
    Hash(oneshot::Sender<Result<String>>),
    Verify(String, oneshot::Sender<Result<bool>>),
}

struct Job {
    password: String,
    task: Task,
    queued_at: Instant,
}

/// Counters of the hashing queue.
#[derive(Default)]
struct Stats {
    /// Hashes running now, and the most that ever ran at once.
    active: AtomicUsize,
    peak: AtomicUsize,
    /// Jobs queued and not started.
    waiting: AtomicUsize,
    /// Workers holding a memory block now.
    blocks: AtomicUsize,
    /// Jobs done, and the microseconds they waited in all.
    done: AtomicU64,
    waited_micros: AtomicU64,
}

/// A snapshot of the hashing queue, for metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueStats {
    pub workers: usize,
    pub running: usize,
    pub waiting: usize,
    pub done: u64,
    pub waited_seconds: f64,
}

/// Hashes and verifies passwords on `workers` threads of its own, off the
/// async runtime, fed by a bounded queue.
#[derive(Clone)]
pub struct Hasher {
    queue: flume::Sender<Job>,
    workers: usize,
    stats: Arc<Stats>,
    dummy: Arc<OnceCell<String>>,
}

impl Hasher {
    pub fn new(workers: usize) -> Self {
        let workers = workers.max(1);
        let (queue, jobs) = flume::bounded::<Job>(QUEUE_BOUND);
        let stats = Arc::new(Stats::default());
        for n in 0..workers {
            let (jobs, stats) = (jobs.clone(), stats.clone());
            // If the thread cannot start, its jobs go to the others; with
            // none at all, every hash answers an error below.
            let _ = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    yield_to_requests();
                    work(&jobs, &stats)
                });
        }
        Hasher {
            queue,
            workers,
            stats,
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// One worker per available core.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Hasher::new(cores)
    }

    async fn submit<T>(
        &self,
        password: &str,
        task: impl FnOnce(oneshot::Sender<Result<T>>) -> Task,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            password: normalize(password),
            task: task(reply),
            queued_at: Instant::now(),
        };
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        if self.queue.send_async(job).await.is_err() {
            self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::Internal("the hashing workers stopped".into()));
        }
        answer
            .await
            .map_err(|_| Error::Internal("a hashing worker stopped".into()))?
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) of the normalized password.
    pub async fn hash(&self, password: &str) -> Result<String> {
        self.submit(password, Task::Hash).await
    }

    /// Whether `password` matches `phc`. A malformed stored hash is an error,
    /// not a mismatch.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool> {
        if phc.is_empty() {
            // An account without a password (made through another identity
            // provider): nothing matches, after the same work as a mismatch.
            let dummy = self.dummy_hash().await?;
            self.submit(password, |reply| Task::Verify(dummy, reply)).await?;
            return Ok(false);
        }
        let phc = phc.to_string();
        self.submit(password, |reply| Task::Verify(phc, reply)).await
    }

    /// Spends the same work as a real verification, for an unknown user, so
    /// that "no such user" and "wrong password" take the same time.
    pub async fn verify_dummy(&self, password: &str) -> Result<()> {
        let dummy = self.dummy_hash().await?;
        self.submit(password, |reply| Task::Verify(dummy, reply))
            .await
            .map(|_| ())
    }

    async fn dummy_hash(&self) -> Result<String> {
        Ok(self
            .dummy
            .get_or_try_init(|| async { self.hash("gatehouse dummy password for timing").await })
            .await?
            .clone())
    }

    pub fn stats(&self) -> QueueStats {
        QueueStats {
            workers: self.workers,
            running: self.stats.active.load(Ordering::Relaxed),
            waiting: self.stats.waiting.load(Ordering::Relaxed),
            done: self.stats.done.load(Ordering::Relaxed),
            waited_seconds: self.stats.waited_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }

    #[cfg(test)]
    /// How many workers hold a memory block now.
    fn blocks_held(&self) -> usize {
        self.stats.blocks.load(Ordering::SeqCst)
    }

    #[cfg(test)]
    /// The most hashes that ever ran at once.
    fn peak(&self) -> usize {
        self.stats.peak.load(Ordering::SeqCst)
    }
}

/// Lowers this (worker) thread's scheduling priority, so that request
/// handling runs first when both want the CPU: during a login flood the
/// hashes queue, not every other request. Nice 19, not `SCHED_IDLE`: on a
/// host kept busy by something else, an idle-class worker would get almost
/// no CPU and logins would time out (the README's "Performance" has the
/// measurements). Linux only, like every scheduler call here.
#[cfg(target_os = "linux")]
fn yield_to_requests() {
    /// The lowest priority; `sched_setattr` below sets it again with the
    /// slice (where that call is refused, `setpriority` has set it).
    const HASH_NICE: i32 = 19;
    // SAFETY: setpriority only changes the calling thread's nice value (on
    // Linux, PRIO_PROCESS with 0 names the calling thread).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, HASH_NICE);
    }
    // The shortest time slice the scheduler allows (Linux 6.12+ EEVDF;
    // older kernels ignore it): a request thread that wakes while a hash
    // runs preempts it at once instead of waiting out the slice the running
    // hash was given.
    let attr = libc::sched_attr {
        size: std::mem::size_of::<libc::sched_attr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_flags: 0,
        sched_nice: HASH_NICE,
        sched_priority: 0,
        sched_runtime: 100_000,
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: sched_setattr reads `attr` (of the size it states) and
    // changes only the calling thread's (pid 0) scheduling.
    unsafe {
        libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const libc::sched_attr, 0);
    }
}

/// Elsewhere the workers keep the default priority.
#[cfg(not(target_os = "linux"))]
fn yield_to_requests() {}

/// How long a worker keeps its memory block without a job.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(2);

/// A worker's argon2 memory block, mapped from the system for it alone and
/// unmapped when dropped: given back the moment the worker lets it go,
/// whatever the allocator does with the memory it frees (it keeps freed
/// pages for a moment, which makes the many small allocations of requests
/// cheaper; see `src/main.rs`).
struct HashMemory {
    blocks: std::ptr::NonNull<Block>,
    count: usize,
}

impl HashMemory {
    /// `count` zeroed blocks; `None` when the system has no memory for them.
    fn map(count: usize) -> Option<HashMemory> {
        let bytes = count.checked_mul(std::mem::size_of::<Block>())?;
        // SAFETY: a new private anonymous mapping, at an address the kernel
        // chooses; nothing else refers to it.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return None;
        }
        // A mapping is page aligned (more than a block's 64 bytes).
        Some(HashMemory {
            blocks: std::ptr::NonNull::new(at.cast::<Block>())?,
            count,
        })
    }

    fn blocks(&mut self) -> &mut [Block] {
        // SAFETY: the mapping holds `count` blocks, zeroed by the kernel (all
        // zeros is a valid block: plain integers), aligned, and borrowed
        // only through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_ptr(), self.count) }
    }
}

impl Drop for HashMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `map` made; no borrow of it
        // outlives `self`.
        unsafe {
            libc::munmap(
                self.blocks.as_ptr().cast(),
                self.count * std::mem::size_of::<Block>(),
            );
        }
    }
}

/// The next job: while the worker holds a block, waits at most
/// [`IDLE_RELEASE`] and then gives the block back before waiting on.
/// `None` when the queue is closed (every `Hasher` is gone).
fn next_job(jobs: &flume::Receiver<Job>, memory: &mut Option<HashMemory>, stats: &Stats) -> Option<Job> {
    if memory.is_some() {
        match jobs.recv_timeout(IDLE_RELEASE) {
            Ok(job) => return Some(job),
            Err(flume::RecvTimeoutError::Disconnected) => return None,
            Err(flume::RecvTimeoutError::Timeout) => {
                *memory = None;
                stats.blocks.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
    jobs.recv().ok()
}

/// A worker: takes jobs until the queue closes.
fn work(jobs: &flume::Receiver<Job>, stats: &Stats) {
    let mut memory: Option<HashMemory> = None;
    loop {
        let Some(job) = next_job(jobs, &mut memory, stats) else {
            return;
        };
        stats.waiting.fetch_sub(1, Ordering::Relaxed);
        let waited = job.queued_at.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        metrics::histogram!("gatehouse_password_hash_wait_seconds").record(waited as f64 / 1e6);
        stats.waited_micros.fetch_add(waited, Ordering::Relaxed);
        stats.done.fetch_add(1, Ordering::Relaxed);
        // Nobody waits for the answer any more: skip the work.
        let gone = match &job.task {
            Task::Hash(reply) => reply.is_closed(),
            Task::Verify(_, reply) => reply.is_closed(),
        };
        if gone {
            continue;
        }
        if memory.is_none() {
            memory = HashMemory::map(params().block_count());
            if memory.is_some() {
                stats.blocks.fetch_add(1, Ordering::SeqCst);
            }
        }
        let Some(blocks) = memory.as_mut().map(HashMemory::blocks) else {
            let no_memory = || Error::Unavailable("no memory for password hashing".into());
            match job.task {
                Task::Hash(reply) => drop(reply.send(Err(no_memory()))),
                Task::Verify(_, reply) => drop(reply.send(Err(no_memory()))),
            }
            continue;
        };
        let now = stats.active.fetch_add(1, Ordering::SeqCst) + 1;
        stats.peak.fetch_max(now, Ordering::SeqCst);
        match job.task {
            Task::Hash(reply) => {
                let _ = reply.send(hash_with(&job.password, blocks));
            }
            Task::Verify(phc, reply) => {
                let _ = reply.send(verify_with(&job.password, &phc, blocks));
            }
        }
        stats.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn hash_with(password: &str, memory: &mut [Block]) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| Error::internal("salt", e))?;
    let mut out = [0u8; OUTPUT_LEN];
    argon2()
        .hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out, memory)
        .map_err(|e| Error::internal("hashing", e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: params().try_into().map_err(|e| Error::internal("hashing", e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| Error::internal("hashing", e))?),
    };
    Ok(phc.to_string())
}

fn verify_with(password: &str, phc: &str, memory: &mut [Block]) -> Result<bool> {
    let parsed = PasswordHash::new(phc).map_err(|e| Error::internal("stored hash", e))?;
    let ours = parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() == M_COST_KIB && p.t_cost() == T_COST && p.p_cost() == P_COST)
        && parsed.hash.is_some_and(|h| h.len() == OUTPUT_LEN);
    if !ours {
        // Another algorithm or other parameters (an older hash): argon2's own
        // verifier, with memory of its own.
        return Ok(argon2().verify_password(password.as_bytes(), &parsed).is_ok());
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(Error::Internal("stored hash without salt or hash".into()));
    };
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| Error::internal("stored hash", e))?;
    let mut out = [0u8; OUTPUT_LEN];
    argon2()
        .hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out, memory)
        .map_err(|e| Error::internal("hashing", e))?;
    let computed = Output::new(&out).map_err(|e| Error::internal("hashing", e))?;
    // `Output` compares in constant time.
    Ok(computed == expected)
}

#[async_trait::async_trait]
impl PasswordHashing for Hasher {
    async fn hash(&self, password: &str) -> Result<String> {
        Hasher::hash(self, password).await
    }

    async fn verify(&self, password: &str, phc: &str) -> Result<bool> {
        Hasher::verify(self, password, phc).await
    }

    async fn verify_dummy(&self, password: &str) -> Result<()> {
        Hasher::verify_dummy(self, password).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let h = Hasher::new(2);
        let phc = h.hash("correct horse battery staple").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify("correct horse battery staple", &phc).await.unwrap());
        assert!(!h.verify("correct horse battery stapler", &phc).await.unwrap());
    }

    /// SPEC: hashing runs off the async runtime. On this single-threaded
    /// runtime a hash computed inside `poll` would run to the end before any
    /// other task got a turn; off the runtime, the ticker keeps ticking.
    #[tokio::test(flavor = "current_thread")]
    async fn hashing_runs_off_the_async_runtime() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let h = Hasher::new(1);
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    ticks.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            }
        });
        h.hash("correct horse battery staple").await.unwrap();
        ticker.abort();
        assert!(
            ticks.load(Ordering::Relaxed) > 0,
            "the runtime did other work while hashing"
        );
    }

    /// SPEC: with bounded concurrency. Six hashes through two workers never
    /// run more than two at once (and the runtime's four workers are not
    /// what holds them back).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_the_permitted_number_of_hashes_run_at_once() {
        let h = Hasher::new(2);
        let jobs = (0..6).map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.hash(&format!("password number {i}")).await })
        });
        for job in futures::future::join_all(jobs).await {
            job.unwrap().unwrap();
        }
        assert_eq!(h.peak(), 2);
        assert_eq!(h.stats().done, 6);
    }

    #[tokio::test]
    async fn hashes_of_other_parameters_still_verify() {
        use argon2::password_hash::PasswordHasher;
        let h = Hasher::new(1);
        let salt = SaltString::generate(&mut OsRng);
        let light = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
        .hash_password(b"an older, lighter hash", &salt)
        .unwrap()
        .to_string();
        assert!(h.verify("an older, lighter hash", &light).await.unwrap());
        assert!(!h.verify("another password", &light).await.unwrap());
        assert!(h.verify("x", "not a phc string").await.is_err());
    }

    /// SPEC: cancelling a request never frees its place before its hash
    /// ends. Requests dropped mid-hash, again and again, never make more
    /// hashes run at once than the bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cancelled_requests_never_run_more_hashes_than_the_bound() {
        let h = Hasher::new(2);
        for _ in 0..4 {
            let tasks: Vec<_> = (0..6)
                .map(|i| {
                    let h = h.clone();
                    tokio::spawn(async move { h.hash(&format!("cancelled password {i}")).await })
                })
                .collect();
            tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            for task in tasks {
                task.abort();
            }
        }
        // Let whatever still runs finish.
        while h.stats().running > 0 || h.stats().waiting > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let peak = h.peak();
        assert!(peak <= 2, "{peak} hashes ran at once; the bound is 2");
        assert!(peak >= 1);
    }

    #[tokio::test]
    async fn passwords_are_compared_after_nfkc() {
        let h = Hasher::new(1);
        // "ﬁ" (U+FB01) is "fi" under NFKC.
        let phc = h.hash("ﬁnal answer 42").await.unwrap();
        assert!(h.verify("final answer 42", &phc).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_workers_give_their_memory_back() {
        let h = Hasher::new(2);
        let hashes: Vec<_> = (0..4)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.hash(&format!("password number {i}")).await })
            })
            .collect();
        for hash in hashes {
            hash.await.unwrap().unwrap();
        }
        assert!(h.blocks_held() >= 1, "a worker that just hashed keeps its block");
        // Work that keeps coming reuses the block.
        h.hash("one more password").await.unwrap();
        assert!(h.blocks_held() >= 1);
        tokio::time::sleep(IDLE_RELEASE + std::time::Duration::from_millis(500)).await;
        assert_eq!(h.blocks_held(), 0, "idle workers hold no memory");
        // And they take work again.
        let phc = h.hash("after the rest").await.unwrap();
        assert!(h.verify("after the rest", &phc).await.unwrap());
    }
}
