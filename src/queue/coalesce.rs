//! Coalescing concurrent accepts into fewer, larger messages.
//!
//! Every request waiting to be published goes through one channel. A few
//! publishes are in flight at a time (each waits for its broker confirm);
//! while they are all taken, requests pile up, and the next publish carries
//! all of them (up to [`MOST`]) in one message. Under light load a request
//! finds a free slot and goes alone at once: coalescing never waits for
//! company. Each request is answered when the message holding it is
//! confirmed — the same promise as one message per request.

use std::sync::{Arc, Weak};

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::message::BookingRequested;
use super::{Inner, PublishError};

/// Requests in one message at most (about 35 KB of JSON).
pub const MOST: usize = 100;

/// A request waiting for its message's confirm.
pub(super) struct Waiting {
    pub request: BookingRequested,
    pub done: oneshot::Sender<Result<(), Arc<PublishError>>>,
}

/// Takes requests from `waiting` and publishes them, `slots` messages in
/// flight at most, until every sender is gone.
pub(super) async fn run(inner: Weak<Inner>, mut waiting: mpsc::Receiver<Waiting>, slots: usize) {
    let slots = Arc::new(Semaphore::new(slots.max(1)));
    while let Some(first) = waiting.recv().await {
        // Waiting for a slot is where requests gather.
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let batch = take_batch(first, &mut waiting);
        let Some(inner) = inner.upgrade() else {
            answer(batch, Err(Arc::new(PublishError::NotConnected("the broker handle is gone".into()))));
            return;
        };
        tokio::spawn(async move {
            let (requests, done): (Vec<BookingRequested>, Vec<_>) =
                batch.into_iter().map(|w| (w.request, w.done)).unzip();
            let result = inner.publish_requests(&requests).await.map_err(Arc::new);
            drop(slot);
            for done in done {
                // A request whose caller went away (its connection closed) needs no answer.
                let _ = done.send(result.clone());
            }
        });
    }
}

/// `first` and whatever else is waiting already, up to [`MOST`].
fn take_batch(first: Waiting, waiting: &mut mpsc::Receiver<Waiting>) -> Vec<Waiting> {
    let mut batch = vec![first];
    while batch.len() < MOST {
        match waiting.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    batch
}

fn answer(batch: Vec<Waiting>, result: Result<(), Arc<PublishError>>) {
    for waiting in batch {
        // A request whose caller went away (its connection closed) needs no answer.
        let _ = waiting.done.send(result.clone());
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    fn waiting() -> (Waiting, oneshot::Receiver<Result<(), Arc<PublishError>>>) {
        let request = BookingRequested {
            booking_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            ticket_type_id: Uuid::now_v7(),
            quantity: 1,
            idempotency_key: None,
            accepted_at: Utc::now(),
            unit_price_cents: None,
            currency: None,
            code_id: None,
            presale_at: None,
            tax: None,
            details: Default::default(),
        };
        let (done, answer) = oneshot::channel();
        (Waiting { request, done }, answer)
    }

    #[tokio::test]
    async fn a_batch_is_what_waits_already_up_to_the_most_and_each_gets_the_answer() {
        let (tx, mut rx) = mpsc::channel(1_000);
        let mut answers = Vec::new();
        for _ in 0..MOST + 5 {
            let (w, answer) = waiting();
            tx.send(w).await.unwrap();
            answers.push(answer);
        }
        let first = rx.recv().await.unwrap();
        let batch = take_batch(first, &mut rx);
        assert_eq!(batch.len(), MOST);
        let rest = take_batch(rx.recv().await.unwrap(), &mut rx);
        assert_eq!(rest.len(), 5, "the rest, without waiting for more");
        answer(batch, Err(Arc::new(PublishError::Refused)));
        answer(rest, Ok(()));
        for (i, answer) in answers.into_iter().enumerate() {
            let result = answer.await.unwrap();
            assert_eq!(result.is_ok(), i >= MOST, "request {i}");
        }
    }
}
