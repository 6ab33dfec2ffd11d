//! User threads: users pinned to threads of their own, each with a single-threaded runtime.
//!
//! By default users run on the engine's runtime, where tokio's workers steal tasks from each
//! other: a user (and its connections) moves between threads, and every move costs a cross-core
//! wake and cold caches. For I/O-bound users that is most of the client's cost (a closed-model
//! `rookery http` spends two thirds of its CPU in the kernel's TCP path), so the CLI puts users
//! on `N` threads instead, user `id` on thread `id % N`, as thread-per-core load generators do.
//! A user's own tasks (`tokio::spawn` in its code, e.g. an HTTP connection) run on its thread.
//!
//! The pool lives as long as the last [`UserThreads`] clone; then each thread's runtime is
//! dropped on that thread, which drops the tasks still on it (their guards count them out).

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A pool of user threads. Cheap to clone.
#[derive(Clone)]
pub struct UserThreads {
    inner: Arc<Inner>,
}

struct Inner {
    handles: Vec<Handle>,
    stops: std::sync::Mutex<Vec<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for UserThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserThreads")
            .field("threads", &self.inner.handles.len())
            .finish()
    }
}

impl UserThreads {
    /// `n` threads, or none for 0 (users then run on the runtime of whoever spawns them).
    pub fn optional(n: usize) -> std::io::Result<Option<UserThreads>> {
        match n {
            0 => Ok(None),
            n => UserThreads::start(n).map(Some),
        }
    }

    /// Starts `n` threads (at least one) named `rookery-users-K`.
    pub fn start(n: usize) -> std::io::Result<UserThreads> {
        let n = n.max(1);
        let mut handles = Vec::with_capacity(n);
        let mut stops = Vec::with_capacity(n);
        for k in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(rt.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("rookery-users-{k}"))
                .spawn(move || {
                    // Until the pool is dropped (the sender goes): tasks run meanwhile.
                    let _ = rt.block_on(stopped);
                    drop(rt);
                })?;
            stops.push((stop, thread));
        }
        Ok(UserThreads {
            inner: Arc::new(Inner {
                handles,
                stops: std::sync::Mutex::new(stops),
            }),
        })
    }

    /// The runtime user `id` runs on.
    pub fn handle_for(&self, id: u64) -> &Handle {
        let n = self.inner.handles.len() as u64;
        &self.inner.handles[(id % n) as usize]
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let stops = std::mem::take(self.stops.get_mut().unwrap_or_else(|e| e.into_inner()));
        let me = std::thread::current().id();
        for (stop, thread) in stops {
            let _ = stop.send(());
            // The last clone may go on one of the pool's own threads (a user's task held it):
            // that thread ends by itself once this returns.
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}
