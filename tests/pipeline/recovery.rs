//! Recovery with default settings: a worker killed with -9 (again and again), two workers
//! sharing the partitions, one taking over from a dead one. The partitions are leased in
//! PostgreSQL (`partition_leases`), so none of this depends on the broker's consumer groups.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::helpers::spawn_app_with;
use crate::support::{buy, spawn_worker, start, union, wait_for, Pipeline, WORKER_BIN};

/// The promise: after a worker restart, persisting resumes within this, with default settings.
const RESUMES_WITHIN: Duration = Duration::from_secs(15);

/// Each partition's holder and next offset.
async fn leases(pipeline: &Pipeline) -> BTreeMap<i32, (Option<Uuid>, Option<i64>)> {
    let rows: Vec<(i32, Option<Uuid>, Option<i64>)> = sqlx::query_as(
        "SELECT partition, holder, next_offset FROM partition_leases WHERE topic = $1",
    )
    .bind(&pipeline.topic)
    .fetch_all(&pipeline.db)
    .await
    .unwrap_or_default();
    rows.into_iter()
        .map(|(partition, holder, next)| (partition, (holder, next)))
        .collect()
}

#[actix_web::test]
async fn a_worker_killed_with_sigkill_three_times_in_a_row_resumes_within_15_s_each_time() {
    let pipeline = Pipeline::new().await;
    let env = pipeline.process_env();
    assert!(
        env.iter().all(|(name, _)| !name.contains("INSTANCE")),
        "default settings: no instance identity"
    );
    let app = spawn_app_with(pipeline.api_settings()).await;
    let sale = app.new_sale(1_000_000, 1).await;
    let mut worker = start(WORKER_BIN, &env);
    let mut accepted = HashSet::new();

    for crash in 1..=3 {
        // Under load: buyers are still arriving when the worker dies.
        let persisted_before = pipeline.orders(&sale, 1).await.1;
        let prefix = format!("crash{crash}-before");
        let selling = buy(&app, &sale, &prefix, 300, 30);
        let killing = async {
            wait_for("orders of this round", Duration::from_secs(30), || async {
                (pipeline.orders(&sale, 1).await.1 > persisted_before).then_some(())
            })
            .await;
            worker.kill9();
        };
        let (sold, ()) = tokio::join!(selling, killing);
        accepted.extend(sold);
        accepted.extend(buy(&app, &sale, &format!("crash{crash}-down"), 100, 20).await);

        worker = start(WORKER_BIN, &env);
        let restarted = Instant::now();
        pipeline
            .wait_for_orders(&sale, 1, &accepted, RESUMES_WITHIN)
            .await;
        eprintln!(
            "crash {crash}: all {} purchases persisted {:?} after the restart",
            accepted.len(),
            restarted.elapsed()
        );
    }
    let after = buy(&app, &sale, "after", 100, 20).await;
    pipeline
        .wait_for_orders(&sale, 1, &union(&[&accepted, &after]), RESUMES_WITHIN)
        .await;
}

#[actix_web::test]
async fn two_workers_share_the_partitions_and_one_takes_over_from_a_dead_one() {
    let pipeline = Pipeline::new().await;
    let app = spawn_app_with(pipeline.api_settings()).await;
    let mut dying = start(WORKER_BIN, &pipeline.process_env());
    let staying = spawn_worker(pipeline.worker_settings()).await;
    // Whoever came first took both partitions; the second gets its share within two renewals.
    wait_for(
        "a partition for each worker",
        Duration::from_secs(15),
        || async {
            let holders: HashSet<Option<Uuid>> = leases(&pipeline)
                .await
                .values()
                .map(|(holder, _)| *holder)
                .collect();
            (holders.len() == 2 && !holders.contains(&None)).then_some(())
        },
    )
    .await;

    // Purchases are keyed by sale: new sales until both partitions have carried some.
    let mut sales: Vec<(String, HashSet<Uuid>)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sale = app.new_sale(1_000, 1).await;
        let accepted = buy(&app, &sale, "shared", 20, 10).await;
        pipeline
            .wait_for_orders(&sale, 1, &accepted, Duration::from_secs(30))
            .await;
        sales.push((sale, accepted));
        let leases = leases(&pipeline).await;
        if leases.len() == 2 && leases.values().all(|(_, next)| next.is_some()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both partitions carry orders: {leases:?}"
        );
    }

    // Each partition has one holder, and they are two: each worker persisted its share.
    let holders: HashSet<Uuid> = leases(&pipeline)
        .await
        .values()
        .map(|(holder, _)| holder.expect("every partition held"))
        .collect();
    assert_eq!(holders.len(), 2, "the two workers hold a partition each");
    let total: usize = sales.iter().map(|(_, accepted)| accepted.len()).sum();
    let by_staying = staying.stats.persisted();
    assert!(
        by_staying > 0 && by_staying < total as u64,
        "the in-process worker persisted {by_staying} of {total}: both must have persisted"
    );

    // The other one dies; the survivor takes its partition once the lease expires.
    dying.kill9();
    let died = Instant::now();
    for (sale, accepted) in &mut sales {
        accepted.extend(buy(&app, sale, "after-death", 20, 10).await);
    }
    for (sale, accepted) in &sales {
        pipeline
            .wait_for_orders(sale, 1, accepted, RESUMES_WITHIN)
            .await;
    }
    eprintln!(
        "the survivor persisted everything {:?} after the death",
        died.elapsed()
    );
    let holders: HashSet<Option<Uuid>> = leases(&pipeline)
        .await
        .values()
        .map(|(holder, _)| *holder)
        .collect();
    assert_eq!(holders.len(), 1, "one worker holds both partitions now");

    // A clean stop hands over at once: its leases are free as soon as it has exited.
    staying.stop().await.expect("the worker stops cleanly");
    let leases = leases(&pipeline).await;
    assert!(
        leases.values().all(|(holder, _)| holder.is_none()),
        "leases released on stop: {leases:?}"
    );
}
