//! What a released request holds: a [`ThrottlePermit`], delivered through a [`Ticket`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use smol_str::SmolStr;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::error::ThrottleError;
use super::named::Throttle;

/// Proof that a throttle let a request through. For an interval-0 (parallelism) throttle the
/// permit occupies one of the `rate` places until it is dropped; otherwise dropping it does
/// nothing. Permits from [`wait`](super::Throttles::wait) are never counted.
#[must_use = "an interval-0 throttle counts the permit as running until it is dropped"]
pub struct ThrottlePermit {
    counted: Option<Arc<Throttle>>,
    released_at: Option<Instant>,
}

impl ThrottlePermit {
    pub(super) const fn uncounted(released_at: Option<Instant>) -> ThrottlePermit {
        ThrottlePermit {
            counted: None,
            released_at,
        }
    }

    /// A permit for `throttle`, whose `in_flight` the caller has already incremented.
    pub(super) fn counted(throttle: Arc<Throttle>, released_at: Option<Instant>) -> ThrottlePermit {
        ThrottlePermit {
            counted: Some(throttle),
            released_at,
        }
    }

    /// The instant the throttle decided to release this request (the scheduler's clock when it
    /// applied the rate). `None` when an `infinity` throttle let it through on its lock-free
    /// path, which reads no clock.
    pub fn released_at(&self) -> Option<Instant> {
        self.released_at
    }

    /// Takes the throttle out without running `Drop`'s bookkeeping (used under the lock).
    pub(super) fn disarm(mut self) -> Option<Arc<Throttle>> {
        self.counted.take()
    }

    /// Whether this permit occupies a place of the throttle's parallelism count.
    pub fn is_counted(&self) -> bool {
        self.counted.is_some()
    }
}

impl Drop for ThrottlePermit {
    fn drop(&mut self) {
        if let Some(t) = self.counted.take() {
            t.permit_returned();
        }
    }
}

impl std::fmt::Debug for ThrottlePermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrottlePermit")
            .field("counted", &self.counted.is_some())
            .field("released_at", &self.released_at)
            .finish()
    }
}

pub(super) type Delivery = Result<ThrottlePermit, ThrottleError>;

/// A request in a throttle's queue (or already released). Await it for the permit. Dropping an
/// unreleased ticket withdraws the request: it is skipped without using a release.
#[must_use = "a ticket does nothing unless awaited"]
pub struct Ticket {
    inner: TicketInner,
}

enum TicketInner {
    Ready(Option<Delivery>),
    Waiting {
        rx: oneshot::Receiver<Delivery>,
        name: SmolStr,
    },
}

impl Ticket {
    pub(super) fn ready(d: Delivery) -> Ticket {
        Ticket {
            inner: TicketInner::Ready(Some(d)),
        }
    }

    pub(super) fn waiting(rx: oneshot::Receiver<Delivery>, name: SmolStr) -> Ticket {
        Ticket {
            inner: TicketInner::Waiting { rx, name },
        }
    }
}

impl Future for Ticket {
    type Output = Delivery;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Delivery> {
        match &mut self.get_mut().inner {
            TicketInner::Ready(d) => Poll::Ready(d.take().unwrap_or(Err(
                ThrottleError::InvalidConfig("ticket polled twice".into()),
            ))),
            TicketInner::Waiting { rx, name } => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(d)) => Poll::Ready(d),
                // The sender went away without an answer: the throttle is gone.
                Poll::Ready(Err(_)) => Poll::Ready(Err(ThrottleError::Stopped(name.clone()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
