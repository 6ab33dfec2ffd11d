//! What a released request holds: a [`ThrottlePermit`] (or, from
//! [`wait_permit`](super::Throttles::wait_permit), a [`TimedPermit`]), delivered through a
//! [`Ticket`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::error::ThrottleError;
use super::named::Throttle;
use super::state::{Delivery, Grant};

/// Proof that a throttle let a request through. For an interval-0 (parallelism) throttle the
/// permit occupies one of the `rate` places until it is dropped; otherwise dropping it does
/// nothing. Permits from [`wait`](super::Throttles::wait) are never counted.
#[must_use = "an interval-0 throttle counts the permit as running until it is dropped"]
pub struct ThrottlePermit {
    counted: Option<Arc<Throttle>>,
    released_at: Option<Instant>,
    scheduled: Option<Instant>,
}

impl ThrottlePermit {
    /// A permit of the lock-free (`infinity`) path, released at `now` if the caller read a
    /// clock. A counted one's `in_flight` the caller has already incremented.
    pub(super) fn lock_free(counted: Option<Arc<Throttle>>, now: Option<Instant>) -> Self {
        ThrottlePermit {
            counted,
            released_at: now,
            scheduled: now,
        }
    }

    /// The permit for a grant of `throttle`'s scheduler.
    pub(super) fn granted(throttle: &Arc<Throttle>, g: Grant) -> ThrottlePermit {
        ThrottlePermit {
            counted: g.counted.then(|| throttle.clone()),
            released_at: Some(Instant::from_std(g.released)),
            scheduled: Some(Instant::from_std(g.scheduled)),
        }
    }

    /// The instant the throttle decided to release this request (the scheduler's clock when it
    /// applied the rate). `None` when an `infinity` throttle let it through on its lock-free
    /// path, which reads no clock (except for [`wait_permit`](super::Throttles::wait_permit)).
    pub fn released_at(&self) -> Option<Instant> {
        self.released_at
    }

    /// The instant this release was due (its slot in the rate's schedule), before any lateness
    /// of the scheduler or, on a catch-up throttle, of the request itself. `None` as for
    /// [`released_at`](Self::released_at).
    pub fn scheduled_at(&self) -> Option<Instant> {
        self.scheduled
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
            .field("scheduled", &self.scheduled)
            .finish()
    }
}

/// A release with its timing, from [`wait_permit`](super::Throttles::wait_permit): when it was
/// due and when it came. Measuring a request's latency from [`scheduled`](Self::scheduled)
/// instead of from the send keeps the time a request waited for a busy client in the figure
/// (no coordinated omission). It holds no parallelism place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedPermit {
    scheduled: Instant,
    released: Instant,
}

impl TimedPermit {
    pub(super) fn from_permit(p: &ThrottlePermit) -> TimedPermit {
        let released = p.released_at.unwrap_or_else(Instant::now);
        TimedPermit {
            scheduled: p.scheduled.unwrap_or(released),
            released,
        }
    }

    /// The instant the release was due, before any lateness: its slot in the rate's schedule
    /// (on an `infinity` or interval-0 throttle, the instant it was released).
    pub fn scheduled(&self) -> Instant {
        self.scheduled
    }

    /// The instant the throttle released it (never before `scheduled`).
    pub fn released(&self) -> Instant {
        self.released
    }

    /// How late the release came: `released - scheduled`.
    pub fn lateness(&self) -> Duration {
        self.released.saturating_duration_since(self.scheduled)
    }
}

/// A request in a throttle's queue (or already released). Await it for the permit. Dropping an
/// unreleased ticket withdraws the request: it is skipped without using a release.
#[must_use = "a ticket does nothing unless awaited"]
pub struct Ticket {
    inner: TicketInner,
}

enum TicketInner {
    Ready(Option<Result<ThrottlePermit, ThrottleError>>),
    Waiting {
        rx: oneshot::Receiver<Delivery>,
        throttle: Arc<Throttle>,
    },
}

impl Ticket {
    pub(super) fn ready(d: Result<ThrottlePermit, ThrottleError>) -> Ticket {
        Ticket {
            inner: TicketInner::Ready(Some(d)),
        }
    }

    pub(super) fn waiting(rx: oneshot::Receiver<Delivery>, throttle: Arc<Throttle>) -> Ticket {
        Ticket {
            inner: TicketInner::Waiting { rx, throttle },
        }
    }
}

impl Future for Ticket {
    type Output = Result<ThrottlePermit, ThrottleError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            TicketInner::Ready(d) => Poll::Ready(d.take().unwrap_or(Err(
                ThrottleError::InvalidConfig("ticket polled twice".into()),
            ))),
            TicketInner::Waiting { rx, throttle } => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(d)) => Poll::Ready(d.map(|g| ThrottlePermit::granted(throttle, g))),
                // The sender went away without an answer: the throttle is gone.
                Poll::Ready(Err(_)) => {
                    Poll::Ready(Err(ThrottleError::Stopped(throttle.name.clone())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let TicketInner::Waiting { rx, throttle } = &mut self.inner {
            // A grant that arrived but was never taken still holds its place: give it back.
            rx.close();
            if let Ok(Ok(g)) = rx.try_recv()
                && g.counted
            {
                throttle.permit_returned();
            }
        }
    }
}
