//! The outbox's consumer group against the real Redis: what a producer read and never got
//! acknowledged is taken over, by one relay at a time, and removed once acknowledged.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use flashsale::domain::SaleId;
use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn an_entry_read_and_never_acknowledged_is_taken_over_once_then_removed_when_acknowledged() {
    let app = spawn_app().await;
    let sale = app.new_sale(10, 1).await;
    for buyer in ["a", "b", "c"] {
        let response = app.purchase(&sale, buyer, 1, None).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let sale_id = SaleId::parse(&sale).expect("a valid id");

    // The app's producer has no broker: it reads the entries and never gets them
    // acknowledged. Taking over what has been pending for 0 ms collects them.
    let mut taken = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while taken.len() < 3 && Instant::now() < deadline {
        let claimed = app
            .store
            .outbox()
            .claim(&sale_id, "rescuer", 0, "0", 10)
            .await
            .expect("redis answers");
        taken.extend(claimed.entries.into_iter().map(|entry| entry.id));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        taken.len(),
        3,
        "every entry was read by the app and taken over"
    );

    // Taken over just now: another relay that waits for a minute of silence finds nothing.
    let again = app
        .store
        .outbox()
        .claim(&sale_id, "another", 60_000, "0", 10)
        .await
        .expect("redis answers");
    assert!(again.entries.is_empty(), "{again:?}");

    // Forgetting idle consumers keeps the one with entries pending, or they would be stranded.
    app.store
        .outbox()
        .forget_consumers(&sale_id, 0)
        .await
        .expect("redis answers");
    let still_pending = app
        .store
        .outbox()
        .claim(&sale_id, "third", 0, "0", 10)
        .await
        .expect("redis answers");
    assert_eq!(still_pending.entries.len(), 3);

    let ids: Vec<String> = taken.into_iter().collect();
    app.store
        .outbox()
        .ack(&sale_id, &ids)
        .await
        .expect("redis answers");
    assert_eq!(app.outbox_len(&sale).await, 0);
    let after = app
        .store
        .outbox()
        .claim(&sale_id, "third", 0, "0", 10)
        .await
        .expect("redis answers");
    assert!(
        after.entries.is_empty(),
        "acknowledged entries are not pending: {after:?}"
    );
    assert!(
        app.store
            .outbox()
            .forget_consumers(&sale_id, 0)
            .await
            .expect("redis answers")
            >= 1,
        "consumers with nothing pending are forgotten"
    );
}
