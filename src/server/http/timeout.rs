//! The request timeout: a request not answered within its time gets `408`.
//!
//! tower-http's `TimeoutLayer` starts a timer with every request and polls
//! it before the handler: each request, answered at once or not, puts an
//! entry in tokio's timer wheel and takes it out again (a lock each time,
//! and clock reads). Most of Gatehouse's answers are ready on their first
//! poll (probes, checks served from the kept rows, JWKS), so this one polls
//! the handler first and starts the timer only when the handler has to
//! wait, with its deadline counted from the request's arrival. A handler
//! that never returns is cut off at the same moment as before.

use axum::{body::Body, http::StatusCode, response::Response};
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

/// Layer: answers `status` (with an empty body) to a request whose response
/// has not come within `timeout`.
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    timeout: Duration,
    status: StatusCode,
}

impl TimeoutLayer {
    /// A request not answered within `timeout` gets `status`.
    pub fn new(timeout: Duration, status: StatusCode) -> Self {
        Self { timeout, status }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Timeout {
            inner,
            timeout: self.timeout,
            status: self.status,
        }
    }
}

/// The service of [`TimeoutLayer`].
#[derive(Clone, Debug)]
pub struct Timeout<S> {
    inner: S,
    timeout: Duration,
    status: StatusCode,
}

impl<S, Req> Service<Req> for Timeout<S>
where
    S: Service<Req, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        TimeoutFuture {
            inner: self.inner.call(req),
            started: Instant::now(),
            timeout: self.timeout,
            status: self.status,
            sleep: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Timeout`].
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        timeout: Duration,
        status: StatusCode,
        // Boxed: made only for the requests that wait, and most do not.
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<F, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(res) = this.inner.poll(cx) {
            return Poll::Ready(res);
        }
        let started = *this.started;
        let timeout = *this.timeout;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(started + timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let mut res = Response::new(Body::empty());
                *res.status_mut() = *this.status;
                Poll::Ready(Ok(res))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    fn service(
        delay: Option<Duration>,
    ) -> impl Service<(), Response = Response<Body>, Error = std::convert::Infallible> {
        let handler = tower::service_fn(move |()| async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            Ok::<_, std::convert::Infallible>(Response::new(Body::from("answer")))
        });
        TimeoutLayer::new(Duration::from_secs(30), StatusCode::REQUEST_TIMEOUT).layer(handler)
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_answered_in_time_gets_its_answer_and_a_late_one_gets_the_status() {
        // At once, and after a wait shorter than the timeout: the handler's answer.
        let res = service(None).oneshot(()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = service(Some(Duration::from_secs(29))).oneshot(()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        // A handler that takes longer is cut off at 30 s from the request.
        let start = Instant::now();
        let res = service(Some(Duration::from_secs(3600)))
            .oneshot(())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_the_request_not_from_the_first_wait() {
        // The request's future is made, then polled 20 s later (a busy
        // runtime): 10 s are left, not 30.
        let mut svc = service(Some(Duration::from_secs(3600)));
        let fut = svc.call(());
        tokio::time::advance(Duration::from_secs(20)).await;
        let start = Instant::now();
        let res = fut.await.unwrap();
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(start.elapsed() <= Duration::from_secs(10));
    }
}
