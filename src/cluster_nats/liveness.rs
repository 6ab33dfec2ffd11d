//! A thread of its own for liveness (heartbeats and the checks on them): a small
//! current-thread tokio runtime, so that no amount of user load on the process's main runtime
//! (333,000 users starting at once, a busy event pump) can delay a heartbeat past the timeout
//! and make a healthy process look dead. Each side also gives it a NATS connection of its own
//! (see [`OwnThread::spawn`]'s callers), so heartbeats never queue behind event batches.
//!
//! Only a frozen process (SIGSTOP, a suspended VM) or a dead one stops the thread: exactly what
//! the heartbeats must detect.

use std::future::Future;

use tokio::sync::oneshot;

/// A thread running one future on its own runtime; dropping it (or [`stop`](Self::stop))
/// tells the future to end.
pub struct OwnThread {
    stop: Option<oneshot::Sender<()>>,
}

impl OwnThread {
    /// Starts thread `name` running `make(stop)`: the future must return soon after `stop`
    /// resolves (the handle was dropped or stopped).
    pub fn spawn<F, Fut>(name: &str, make: F) -> Result<OwnThread, String>
    where
        F: FnOnce(oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("{name}: cannot start a runtime: {e}"))?;
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || runtime.block_on(make(stopped)))
            .map_err(|e| format!("{name}: cannot start a thread: {e}"))?;
        Ok(OwnThread { stop: Some(stop) })
    }

    /// Tells the thread's future to end (it does not wait for it).
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for OwnThread {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_future_runs_on_its_own_thread_and_ends_when_told() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut t = OwnThread::spawn("liveness-test", move |stop| async move {
            let name = std::thread::current().name().map(str::to_owned);
            let _ = tx.send(name);
            let _ = stop.await;
            let _ = tx.send(Some("ended".into()));
        })
        .unwrap();
        let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(first.as_deref(), Some("liveness-test"));
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        t.stop();
        let last = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(last.as_deref(), Some("ended"));
    }

    #[test]
    fn dropping_the_handle_ends_the_future() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = OwnThread::spawn("liveness-drop", move |stop| async move {
            let _ = stop.await;
            let _ = tx.send(());
        })
        .unwrap();
        drop(t);
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok());
    }
}
