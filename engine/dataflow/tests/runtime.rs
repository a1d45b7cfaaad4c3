//! The worker protocol end to end, without SQL: tables, a view, peeks, a subscription.

use std::sync::Arc;
use std::time::Duration;

use laaster_dataflow::{Command, Response, start_workers};
use laaster_repr::plan::{AggregateExpr, AggregateFunc, Plan};
use laaster_repr::{Datum, Row, ScalarExpr};

fn row(key: &str, value: i64) -> Row {
    Row::new(vec![Datum::text(key), Datum::Int64(value)])
}

fn count_by_key() -> Plan {
    Plan::Reduce {
        input: Box::new(Plan::Get { id: 1, arity: 2 }),
        group_key: vec![0],
        aggregates: vec![AggregateExpr {
            func: AggregateFunc::Count,
            args: vec![ScalarExpr::literal_true()],
            distinct: false,
            order_by: vec![],
        }],
        global: false,
        monotonic: laaster_repr::plan::ReduceMonotonicity::Ordinary,
    }
}

fn peek(
    workers: &laaster_dataflow::WorkerHandles,
    peek_id: u64,
    plan: Plan,
    timestamp: u64,
) -> Vec<(Row, i64)> {
    workers.broadcast(Command::Peek {
        peek_id,
        plan: Arc::new(plan),
        timestamp,
        limit: None,
    });
    let mut rows = Vec::new();
    for _ in 0..workers.commands.len() {
        match workers
            .responses
            .recv_timeout(Duration::from_secs(10))
            .expect("peek answer")
        {
            Response::Peek { result, .. } => rows.extend(result.expect("no errors")),
            other => panic!("unexpected {other:?}"),
        }
    }
    rows.sort();
    rows
}

#[test]
fn table_view_peek_and_subscribe() {
    for worker_count in [1, 2] {
        let workers = start_workers(worker_count).expect("workers start");
        workers.broadcast(Command::CreateTable {
            id: 1,
            name: "t".into(),
        });
        workers.broadcast(Command::AdvanceTime { to: 1 });
        workers.broadcast(Command::Insert {
            id: 1,
            updates: Arc::new(vec![(row("a", 1), 1), (row("b", 2), 1), (row("a", 3), 1)]),
            time: 1,
        });
        workers.broadcast(Command::AdvanceTime { to: 2 });
        workers.broadcast(Command::CreateView {
            id: 2,
            name: "v".into(),
            plan: Arc::new(count_by_key()),
            as_of: 1,
        });
        let counts = peek(&workers, 1, Plan::Get { id: 2, arity: 2 }, 1);
        assert_eq!(
            counts,
            vec![(row("a", 2), 1), (row("b", 1), 1)],
            "workers={worker_count}"
        );

        workers.broadcast(Command::Subscribe {
            subscribe_id: 7,
            plan: Arc::new(Plan::Get { id: 2, arity: 2 }),
            as_of: 1,
            snapshot: true,
        });
        workers.broadcast(Command::Insert {
            id: 1,
            updates: Arc::new(vec![(row("b", 5), 1)]),
            time: 2,
        });
        workers.broadcast(Command::AdvanceTime { to: 3 });
        let mut updates = Vec::new();
        let mut uppers = vec![0u64; worker_count];
        while uppers.iter().any(|u| *u < 3) {
            match workers
                .responses
                .recv_timeout(Duration::from_secs(10))
                .expect("subscribe progress")
            {
                Response::Subscribe {
                    worker,
                    updates: u,
                    upper,
                    error,
                    ..
                } => {
                    assert!(error.is_none());
                    updates.extend(u);
                    uppers[worker] = upper.unwrap_or(u64::MAX);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        updates.sort();
        assert_eq!(
            updates,
            vec![
                (row("a", 2), 1, 1),
                (row("b", 1), 1, 1),
                (row("b", 1), 2, -1),
                (row("b", 2), 2, 1)
            ],
            "workers={worker_count}"
        );
        // The view read through a transient dataflow agrees with the direct read.
        let via_dataflow = peek(
            &workers,
            2,
            Plan::Distinct {
                input: Box::new(Plan::Get { id: 2, arity: 2 }),
            },
            2,
        );
        assert_eq!(via_dataflow, vec![(row("a", 2), 1), (row("b", 2), 1)]);
    }
}

#[test]
fn empty_table_is_readable_at_once() {
    for worker_count in [1, 2] {
        let workers = start_workers(worker_count).expect("workers start");
        workers.broadcast(Command::AdvanceTime { to: 100 });
        workers.broadcast(Command::CreateTable {
            id: 1,
            name: "t".into(),
        });
        assert_eq!(peek(&workers, 1, Plan::Get { id: 1, arity: 2 }, 99), vec![]);
    }
}

#[test]
fn a_panicking_worker_is_reported_not_hung() {
    let workers = start_workers(2).expect("workers start");
    workers.broadcast(Command::InjectFailure);
    let mut failed = 0;
    while failed < 2 {
        match workers
            .responses
            .recv_timeout(Duration::from_secs(10))
            .expect("failure report")
        {
            Response::WorkerFailed { message, .. } => {
                assert_eq!(message, "injected failure");
                failed += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
