//! Connector benchmarks: an external stream → a running tally (a materialized view,
//! `GROUP BY` with `count` and `sum`) → an external sink, against the real services on
//! this machine (Redis at 127.0.0.1:6379, NATS at 127.0.0.1:4222, a tansu Kafka broker
//! started by the bench on a free loopback port).
//!
//! ```text
//! cargo bench -p laaster-benches --bench connectors -- [--messages 1000000] [--workers 1,2]
//!     [--only redis|kafka|nats] [--rate 5000] [--latency-secs 10] [--keys 1000]
//!     [--kafka-fetch-wait-ms MS]
//! ```
//!
//! Each (bench, workers) pair runs in a fresh child process (so its peak RSS is its own)
//! and does two measurements, each with a fresh engine and fresh streams/topics:
//!
//! - **Throughput**: N JSON votes (`{"user_id", "contestant" (one of `--keys`), "amount",
//!   "ts"}`) are preloaded into the source (Redis `XADD` pipelined / Kafka producer /
//!   JetStream publish, untimed); then the clock starts, the view
//!   `SELECT contestant, count(*) AS n, sum(amount) AS total FROM votes GROUP BY contestant`
//!   and its sink are created, and the clock stops when the sink holds the expected tally
//!   for every key (Redis: `HGETALL` of the hash sink polled every 20 ms; Kafka: the
//!   upsert sink topic read from its start, latest value per key; NATS: the sink
//!   stream's change records replayed).
//! - **Latency**: messages are produced at a fixed rate (`--rate`, for `--latency-secs`),
//!   each stamped with the producer's wall clock in µs (`ts`) and carrying its own key,
//!   into a view of the same shape grouped by `(contestant, ts)`, so each message makes
//!   exactly one new sink record. A reader follows the sink (Redis: `XREAD BLOCK` on a
//!   `redis-streams` sink; Kafka: a consumer of the upsert topic; NATS: an ordered
//!   consumer of the sink stream) and records `now − ts` for each. Reported: p50/p99/max.
//!
//! One line per run:
//!
//! `laaster bench=redis_to_redis messages=N workers=W preload_s=.. wall_s=.. msgs_per_s=..
//!  rate=R probes=P p50_ms=.. p99_ms=.. max_ms=.. peak_rss_mb=.. load_start=.. load_end=..`
//!
//! `load_start` / `load_end` are the 1-minute load averages when the run started and ended
//! (the machine is shared).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use laaster_connectors::kafka::rdkafka::config::ClientConfig;
use laaster_connectors::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use laaster_connectors::kafka::rdkafka::message::Message as _;
use laaster_connectors::kafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use laaster_connectors::kafka::rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use laaster_connectors::kafka::{LocalBroker, create_topic};
use laaster_engine::{Engine, EngineConfig, Session};

type Result<T> = std::result::Result<T, String>;

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const NATS_URL: &str = "nats://127.0.0.1:4222";
const COLUMNS: &str = "(user_id BIGINT, contestant TEXT, amount BIGINT, ts BIGINT)";
const TALLY: &str = "CREATE MATERIALIZED VIEW tally AS
    SELECT contestant, count(*) AS n, sum(amount) AS total FROM votes GROUP BY contestant";
const PROBES: &str = "CREATE MATERIALIZED VIEW tally AS
    SELECT contestant, ts, count(*) AS n, sum(amount) AS total FROM votes GROUP BY contestant, ts";
/// How long a throughput run or the tail of a latency run may take before it is abandoned.
const GIVE_UP: Duration = Duration::from_secs(900);

#[derive(Clone, Debug)]
struct Options {
    messages: u64,
    workers: Vec<usize>,
    benches: Vec<String>,
    rate: u64,
    latency_secs: u64,
    keys: u64,
    kafka_fetch_wait_ms: Option<u64>,
    child: bool,
}

fn parse_options() -> Options {
    let mut o = Options {
        messages: 1_000_000,
        workers: vec![1, 2],
        benches: vec!["redis".into(), "kafka".into(), "nats".into()],
        rate: 5_000,
        latency_secs: 10,
        keys: 1_000,
        kafka_fetch_wait_ms: None,
        child: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--messages" => o.messages = value.parse().unwrap_or(o.messages),
            "--workers" => {
                o.workers = value
                    .split(',')
                    .filter_map(|w| w.trim().parse().ok())
                    .collect()
            }
            "--only" => o.benches = value.split(',').map(|b| b.trim().to_string()).collect(),
            "--rate" => o.rate = value.parse().unwrap_or(o.rate),
            "--latency-secs" => o.latency_secs = value.parse().unwrap_or(o.latency_secs),
            "--keys" => o.keys = value.parse().unwrap_or(o.keys).max(1),
            "--kafka-fetch-wait-ms" => o.kafka_fetch_wait_ms = value.parse().ok(),
            "--child" => {
                o.child = true;
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

fn main() {
    let o = parse_options();
    if o.child {
        let (bench, workers) = (o.benches[0].clone(), o.workers[0]);
        match run(&o, &bench, workers) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                println!("laaster bench={bench} workers={workers} failed reason={e:?}");
                std::process::exit(1);
            }
        }
        return;
    }
    let exe = std::env::current_exe().expect("the bench's own path");
    for bench in &o.benches {
        for &workers in &o.workers {
            let mut command = Command::new(&exe);
            command
                .arg("--child")
                .args(["--only", bench])
                .args(["--workers", &workers.to_string()])
                .args(["--messages", &o.messages.to_string()])
                .args(["--rate", &o.rate.to_string()])
                .args(["--latency-secs", &o.latency_secs.to_string()])
                .args(["--keys", &o.keys.to_string()]);
            if let Some(ms) = o.kafka_fetch_wait_ms {
                command.args(["--kafka-fetch-wait-ms", &ms.to_string()]);
            }
            match command.status() {
                Ok(status) if status.success() => {}
                Ok(status) => eprintln!("bench={bench} workers={workers}: child {status}"),
                Err(e) => eprintln!("bench={bench} workers={workers}: cannot start: {e}"),
            }
        }
    }
}

/// One (bench, workers) measurement: throughput, then latency.
fn run(o: &Options, bench: &str, workers: usize) -> Result<String> {
    let load_start = load1();
    let (name, throughput, latencies) = match bench {
        "redis" => (
            "redis_to_redis",
            redis_throughput(o, workers)?,
            redis_latency(o, workers)?,
        ),
        "kafka" => {
            let broker = LocalBroker::start()?;
            let throughput = kafka_throughput(o, workers, broker.servers())?;
            let latencies = kafka_latency(o, workers, broker.servers())?;
            ("kafka_to_kafka", throughput, latencies)
        }
        "nats" => (
            "nats_to_nats",
            {
                nats_delete_stale();
                nats_throughput(o, workers)?
            },
            nats_latency(o, workers)?,
        ),
        other => return Err(format!("unknown bench '{other}' (redis, kafka or nats)")),
    };
    let (preload_s, wall_s) = throughput;
    let (p50, p99, max) = percentiles(latencies.latencies_us.clone());
    Ok(format!(
        "laaster bench={name} messages={} keys={} workers={workers} preload_s={preload_s:.2} \
         wall_s={wall_s:.2} msgs_per_s={:.0} rate={} probes={} received={} p50_ms={:.1} \
         p99_ms={:.1} max_ms={:.1} peak_rss_mb={:.0} load_start={load_start} load_end={}",
        o.messages,
        o.keys,
        o.messages as f64 / wall_s,
        o.rate,
        latencies.sent,
        latencies.latencies_us.len(),
        p50 / 1000.0,
        p99 / 1000.0,
        max / 1000.0,
        peak_rss_mb(),
        load1()
    ))
}

// ---------------------------------------------------------------------------------------
// Shared pieces.

/// Wall-clock time in µs since the epoch (the producers' stamps and the readers' clock).
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Peak resident memory of this process in MiB (VmHWM).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The 1-minute load average.
fn load1() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

/// (p50, p99, max) of µs values.
fn percentiles(mut values: Vec<i64>) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    values.sort_unstable();
    let at = |q: usize| values[(values.len() * q / 100).min(values.len() - 1)] as f64;
    (at(50), at(99), *values.last().unwrap() as f64)
}

/// Message `i` of the throughput preload: key `c<i % keys>`, amount `i % 97`.
fn vote(i: u64, keys: u64) -> String {
    format!(
        "{{\"user_id\":{i},\"contestant\":\"c{}\",\"amount\":{},\"ts\":0}}",
        i % keys,
        i % 97
    )
}

/// Latency probe `j`: its own key, stamped now.
fn probe(j: u64) -> String {
    format!(
        "{{\"user_id\":{j},\"contestant\":\"p{j}\",\"amount\":1,\"ts\":{}}}",
        now_us()
    )
}

/// The tally the preload must produce: (count, sum) per key.
fn expected_tally(o: &Options) -> Vec<(i64, i64)> {
    let mut tally = vec![(0i64, 0i64); o.keys as usize];
    for i in 0..o.messages {
        let entry = &mut tally[(i % o.keys) as usize];
        entry.0 += 1;
        entry.1 += (i % 97) as i64;
    }
    tally
}

/// An integer JSON field (numbers, or text holding a number as for NUMERIC sums).
fn int_field(value: &serde_json::Value, field: &str) -> Option<i64> {
    match &value[field] {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

/// A sink row's (key index, count, sum) if its key is `c<k>`.
fn tally_row(json: &[u8]) -> Option<(usize, (i64, i64))> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let key = value["contestant"]
        .as_str()?
        .strip_prefix('c')?
        .parse()
        .ok()?;
    Some((key, (int_field(&value, "n")?, int_field(&value, "total")?)))
}

/// A probe's latency from its sink row: now − ts, in µs.
fn probe_latency(json: &[u8]) -> Option<i64> {
    let now = now_us();
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    Some(now - int_field(&value, "ts")?)
}

/// Tracks how many keys hold their expected value.
struct Tally {
    expected: Vec<(i64, i64)>,
    current: Vec<Option<(i64, i64)>>,
    matched: usize,
}

impl Tally {
    fn new(expected: Vec<(i64, i64)>) -> Tally {
        Tally {
            current: vec![None; expected.len()],
            expected,
            matched: 0,
        }
    }

    fn set(&mut self, key: usize, value: Option<(i64, i64)>) {
        if key >= self.expected.len() {
            return;
        }
        let was = self.current[key] == Some(self.expected[key]);
        let is = value == Some(self.expected[key]);
        self.current[key] = value;
        match (was, is) {
            (false, true) => self.matched += 1,
            (true, false) => self.matched -= 1,
            _ => {}
        }
    }

    fn done(&self) -> bool {
        self.matched == self.expected.len()
    }
}

fn engine(workers: usize) -> Result<Engine> {
    Engine::start(EngineConfig {
        workers,
        ..EngineConfig::default()
    })
    .map_err(|e| e.to_string())
}

fn execute(session: &mut Session, sql: &str) -> Result<()> {
    session
        .execute(sql)
        .map(|_| ())
        .map_err(|e| format!("{sql}: {e:?}"))
}

/// The result of a latency run: probes sent and the latency of each one seen in the sink.
struct Latencies {
    sent: u64,
    latencies_us: Vec<i64>,
}

/// Sends `o.rate` probes per second for `o.latency_secs` through `send` (which gets
/// the due probes' payloads at once), then waits until `received` has as many latencies
/// as probes were sent (or 60 s pass). The first probe, sent before the clock starts,
/// warms the pipeline up and is not counted.
fn drive_probes(
    o: &Options,
    mut send: impl FnMut(&[(u64, String)]) -> Result<()>,
    received: &mpsc::Receiver<i64>,
) -> Result<Latencies> {
    // Warm-up: one probe, and wait until the sink shows it.
    send(&[(u64::MAX / 2, probe(u64::MAX / 2))])?;
    received
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "the warm-up probe did not reach the sink within 60 s".to_string())?;
    let total = o.rate * o.latency_secs;
    let start = Instant::now();
    let mut next = 0u64;
    let mut latencies = Vec::with_capacity(total as usize);
    let mut batch = Vec::new();
    while next < total {
        let due = ((start.elapsed().as_secs_f64() * o.rate as f64) as u64 + 1).min(total);
        batch.clear();
        while next < due {
            batch.push((next, probe(next)));
            next += 1;
        }
        if !batch.is_empty() {
            send(&batch)?;
        }
        while let Ok(latency) = received.try_recv() {
            latencies.push(latency);
        }
        let next_due = start + Duration::from_secs_f64(next as f64 / o.rate as f64);
        if let Some(wait) = next_due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let tail = Instant::now();
    while (latencies.len() as u64) < total && tail.elapsed() < Duration::from_secs(60) {
        if let Ok(latency) = received.recv_timeout(Duration::from_millis(100)) {
            latencies.push(latency);
        }
    }
    Ok(Latencies {
        sent: total,
        latencies_us: latencies,
    })
}

// ---------------------------------------------------------------------------------------
// Redis Streams → view → Redis.

fn redis_connection() -> Result<redis::Connection> {
    redis::Client::open(REDIS_URL)
        .and_then(|c| c.get_connection())
        .map_err(|e| format!("cannot connect to Redis at {REDIS_URL}: {e}"))
}

fn redis_del(con: &mut redis::Connection, keys: &[&str]) {
    for key in keys {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(*key).query(con);
    }
}

fn redis_throughput(o: &Options, workers: usize) -> Result<(f64, f64)> {
    let tag = format!("laaster-bench-{}-{workers}", std::process::id());
    let (stream, hash) = (format!("{tag}-votes"), format!("{tag}-tally"));
    let mut con = redis_connection()?;
    redis_del(&mut con, &[&stream, &hash]);
    let preload = Instant::now();
    let mut i = 0;
    while i < o.messages {
        let mut pipe = redis::pipe();
        for j in i..(i + 10_000).min(o.messages) {
            pipe.cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("data")
                .arg(vote(j, o.keys))
                .ignore();
        }
        pipe.query::<()>(&mut con)
            .map_err(|e| format!("XADD: {e}"))?;
        i += 10_000;
    }
    let preload_s = preload.elapsed().as_secs_f64();
    let mut tally = Tally::new(expected_tally(o));

    let engine = engine(workers)?;
    let mut session = engine.session();
    execute(
        &mut session,
        &format!(
            "CREATE TABLE votes {COLUMNS} WITH ('connector' = 'redis-streams', 'url' = '{REDIS_URL}',
                 'stream' = '{stream}', 'group' = '{tag}', 'format' = 'json')"
        ),
    )?;
    let start = Instant::now();
    execute(
        &mut session,
        &format!(
            "{TALLY}; CREATE SINK tally_out FROM tally WITH ('connector' = 'redis', 'url' = '{REDIS_URL}',
                 'hash' = '{hash}', 'key.columns' = 'contestant', 'format' = 'json')"
        ),
    )?;
    loop {
        let len: usize = redis::cmd("HLEN")
            .arg(&hash)
            .query(&mut con)
            .map_err(|e| format!("HLEN: {e}"))?;
        if len == o.keys as usize {
            let pairs: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
                .arg(&hash)
                .query(&mut con)
                .map_err(|e| format!("HGETALL: {e}"))?;
            for (_, value) in pairs {
                if let Some((key, value)) = tally_row(&value) {
                    tally.set(key, Some(value));
                }
            }
            if tally.done() {
                break;
            }
        }
        if start.elapsed() > GIVE_UP {
            return Err(format!(
                "the hash holds {len} keys, {} as expected, after {GIVE_UP:?}",
                tally.matched
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall_s = start.elapsed().as_secs_f64();
    drop(session);
    drop(engine);
    redis_del(&mut con, &[&stream, &hash]);
    Ok((preload_s, wall_s))
}

type XreadReply = Option<Vec<(String, Vec<(String, Vec<Vec<u8>>)>)>>;

fn redis_latency(o: &Options, workers: usize) -> Result<Latencies> {
    let tag = format!("laaster-bench-{}-{workers}-lat", std::process::id());
    let (stream, out) = (format!("{tag}-votes"), format!("{tag}-out"));
    let mut con = redis_connection()?;
    redis_del(&mut con, &[&stream, &out]);
    let engine = engine(workers)?;
    let mut session = engine.session();
    execute(
        &mut session,
        &format!(
            "CREATE TABLE votes {COLUMNS} WITH ('connector' = 'redis-streams', 'url' = '{REDIS_URL}',
                 'stream' = '{stream}', 'group' = '{tag}', 'format' = 'json');
             {PROBES};
             CREATE SINK probes_out FROM tally WITH ('connector' = 'redis-streams', 'url' = '{REDIS_URL}',
                 'stream' = '{out}', 'format' = 'json')"
        ),
    )?;
    // The reader: XREAD BLOCK on the sink stream, now − ts of each inserted row.
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, out) = (stop.clone(), out.clone());
        let mut con = redis_connection()?;
        std::thread::spawn(move || {
            let mut last = "0".to_string();
            while !stop.load(Ordering::Relaxed) {
                let reply: XreadReply = match redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(10_000)
                    .arg("BLOCK")
                    .arg(100)
                    .arg("STREAMS")
                    .arg(&out)
                    .arg(&last)
                    .query(&mut con)
                {
                    Ok(reply) => reply,
                    Err(e) => {
                        eprintln!("XREAD: {e}");
                        return;
                    }
                };
                for (_, entries) in reply.unwrap_or_default() {
                    for (id, fields) in entries {
                        let mut data = None;
                        let mut insert = true;
                        for pair in fields.chunks(2) {
                            if let [name, value] = pair {
                                match name.as_slice() {
                                    b"data" => data = Some(value.clone()),
                                    b"op" => insert = value.as_slice() == b"+",
                                    _ => {}
                                }
                            }
                        }
                        if insert && let Some(latency) = data.as_deref().and_then(probe_latency) {
                            let _ = tx.send(latency);
                        }
                        last = id;
                    }
                }
            }
        })
    };
    let send = |batch: &[(u64, String)]| {
        let mut pipe = redis::pipe();
        for (_, payload) in batch {
            pipe.cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg("data")
                .arg(payload)
                .ignore();
        }
        pipe.query::<()>(&mut con).map_err(|e| format!("XADD: {e}"))
    };
    let result = drive_probes(o, send, &rx);
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    drop(session);
    drop(engine);
    redis_del(&mut con, &[&stream, &out]);
    result
}

// ---------------------------------------------------------------------------------------
// Kafka (tansu) → view → Kafka.

fn kafka_producer(servers: &str, linger_ms: u32) -> Result<BaseProducer> {
    ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("linger.ms", linger_ms.to_string())
        .create()
        .map_err(|e| format!("producer: {e}"))
}

fn kafka_send(producer: &BaseProducer, topic: &str, payload: &str) -> Result<()> {
    let mut record: BaseRecord<'_, str, str> = BaseRecord::to(topic).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((e, returned)) => {
                if !e.to_string().contains("Queue full") {
                    return Err(format!("produce: {e}"));
                }
                producer.poll(Duration::from_millis(10));
                record = returned;
            }
        }
    }
}

/// A consumer of every partition of `topic` from its start.
fn kafka_reader(servers: &str, topic: &str, partitions: i32) -> Result<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "bench-reader")
        .set("fetch.wait.max.ms", "10")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    Ok(consumer)
}

fn kafka_source_sql(o: &Options, servers: &str, topic: &str) -> String {
    let fetch = o
        .kafka_fetch_wait_ms
        .map(|ms| format!(", 'properties.fetch.wait.max.ms' = '{ms}'"))
        .unwrap_or_default();
    format!(
        "CREATE TABLE votes {COLUMNS} WITH ('connector' = 'kafka', 'topic' = '{topic}',
             'properties.bootstrap.servers' = '{servers}', 'properties.group.id' = 'bench',
             'scan.startup.mode' = 'earliest-offset', 'format' = 'json'{fetch})"
    )
}

fn kafka_sink_sql(servers: &str, topic: &str) -> String {
    format!(
        "CREATE SINK tally_out FROM tally WITH ('connector' = 'kafka', 'topic' = '{topic}',
             'properties.bootstrap.servers' = '{servers}', 'key.columns' = 'contestant',
             'key.format' = 'raw', 'sink.mode' = 'upsert', 'format' = 'json')"
    )
}

const KAFKA_PARTITIONS: i32 = 2;

fn kafka_throughput(o: &Options, workers: usize, servers: &str) -> Result<(f64, f64)> {
    let (votes, out) = ("votes", "tally");
    create_topic(servers, votes, KAFKA_PARTITIONS).map_err(|e| e.to_string())?;
    create_topic(servers, out, KAFKA_PARTITIONS).map_err(|e| e.to_string())?;
    let preload = Instant::now();
    let producer = kafka_producer(servers, 20)?;
    for i in 0..o.messages {
        kafka_send(&producer, votes, &vote(i, o.keys))?;
    }
    producer
        .flush(Duration::from_secs(600))
        .map_err(|e| format!("flush: {e}"))?;
    let preload_s = preload.elapsed().as_secs_f64();
    let mut tally = Tally::new(expected_tally(o));
    let reader = kafka_reader(servers, out, KAFKA_PARTITIONS)?;

    let engine = engine(workers)?;
    let mut session = engine.session();
    execute(&mut session, &kafka_source_sql(o, servers, votes))?;
    let start = Instant::now();
    execute(
        &mut session,
        &format!("{TALLY}; {}", kafka_sink_sql(servers, out)),
    )?;
    while !tally.done() {
        if start.elapsed() > GIVE_UP {
            return Err(format!(
                "the sink topic holds {} keys as expected after {GIVE_UP:?}",
                tally.matched
            ));
        }
        let Some(message) = reader.poll(Duration::from_millis(20)) else {
            continue;
        };
        let message = message.map_err(|e| format!("consume: {e}"))?;
        let Some(key) = message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(|k| k.strip_prefix('c')?.parse::<usize>().ok())
        else {
            continue;
        };
        let value = message.payload().and_then(tally_row).map(|(_, v)| v);
        tally.set(key, value);
    }
    let wall_s = start.elapsed().as_secs_f64();
    drop(session);
    drop(engine);
    Ok((preload_s, wall_s))
}

fn kafka_latency(o: &Options, workers: usize, servers: &str) -> Result<Latencies> {
    let (votes, out) = ("probes", "probes_out");
    create_topic(servers, votes, KAFKA_PARTITIONS).map_err(|e| e.to_string())?;
    create_topic(servers, out, KAFKA_PARTITIONS).map_err(|e| e.to_string())?;
    let engine = engine(workers)?;
    let mut session = engine.session();
    execute(
        &mut session,
        &format!(
            "{}; {PROBES}; {}",
            kafka_source_sql(o, servers, votes),
            kafka_sink_sql(servers, out)
        ),
    )?;
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let consumer = kafka_reader(servers, out, KAFKA_PARTITIONS)?;
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50))
                    && let Some(latency) = message.payload().and_then(probe_latency)
                {
                    let _ = tx.send(latency);
                }
            }
        })
    };
    // The probes' producer sends at once (linger.ms = 0): the latency measured is the
    // engine's, not the client's batching.
    let producer = kafka_producer(servers, 0)?;
    let send = |batch: &[(u64, String)]| {
        for (_, payload) in batch {
            kafka_send(&producer, votes, payload)?;
        }
        producer.poll(Duration::ZERO);
        Ok(())
    };
    let result = drive_probes(o, send, &rx);
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    drop(session);
    drop(engine);
    result
}

// ---------------------------------------------------------------------------------------
// NATS JetStream → view → NATS JetStream.

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

async fn nats_context() -> Result<async_nats::jetstream::Context> {
    let client = async_nats::connect(NATS_URL)
        .await
        .map_err(|e| format!("cannot connect to NATS at {NATS_URL}: {e}"))?;
    Ok(async_nats::jetstream::new(client))
}

async fn nats_stream(
    js: &async_nats::jetstream::Context,
    name: &str,
    subject: &str,
) -> Result<async_nats::jetstream::stream::Stream> {
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: name.to_string(),
        subjects: vec![subject.to_string()],
        ..Default::default()
    })
    .await
    .map_err(|e| format!("stream {name}: {e}"))
}

fn nats_delete(streams: &[&str]) {
    if let Ok(runtime) = runtime() {
        runtime.block_on(async {
            if let Ok(js) = nats_context().await {
                for stream in streams {
                    let _ = js.delete_stream(*stream).await;
                }
            }
        });
    }
}

/// Deletes `LBENCH_<pid>_*` streams left by bench processes that no longer run (a run
/// killed by a signal skips [`NatsStreams`]' cleanup).
fn nats_delete_stale() {
    let Ok(runtime) = runtime() else {
        return;
    };
    runtime.block_on(async {
        use futures::StreamExt;
        let Ok(js) = nats_context().await else {
            return;
        };
        let names: Vec<String> = js
            .stream_names()
            .filter_map(|n| async { n.ok() })
            .collect()
            .await;
        for name in names {
            let Some(pid) = name
                .strip_prefix("LBENCH_")
                .and_then(|rest| rest.split('_').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = js.delete_stream(&name).await;
            }
        }
    });
}

/// Each sink message: (whether its op header is `+`, payload).
type SinkRecords = mpsc::Receiver<(bool, Vec<u8>)>;

/// Follows stream `name` from its start on a thread, sending each message's
/// (op header, payload).
fn nats_follow(
    name: String,
    stop: Arc<AtomicBool>,
) -> (SinkRecords, std::thread::JoinHandle<Result<()>>) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        runtime()?.block_on(async {
            use async_nats::jetstream::consumer;
            use futures::StreamExt;
            let js = nats_context().await?;
            let stream = js
                .get_stream(&name)
                .await
                .map_err(|e| format!("stream {name}: {e}"))?;
            let consumer = stream
                .create_consumer(consumer::pull::OrderedConfig::default())
                .await
                .map_err(|e| format!("consumer: {e}"))?;
            let mut messages = consumer
                .messages()
                .await
                .map_err(|e| format!("messages: {e}"))?;
            while !stop.load(Ordering::Relaxed) {
                let next = tokio::time::timeout(Duration::from_millis(100), messages.next()).await;
                let message = match next {
                    Err(_) => continue,
                    Ok(None) => break,
                    Ok(Some(message)) => message.map_err(|e| format!("message: {e}"))?,
                };
                let insert = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("op"))
                    .is_none_or(|op| op.as_str() == "+");
                if tx.send((insert, message.payload.to_vec())).is_err() {
                    break;
                }
            }
            Ok(())
        })
    });
    (rx, handle)
}

/// Deletes the bench's JetStream streams when dropped, so a run that fails or is
/// abandoned leaves no `LBENCH_*` stream behind.
struct NatsStreams(Vec<String>);

impl Drop for NatsStreams {
    fn drop(&mut self) {
        let names: Vec<&str> = self.0.iter().map(String::as_str).collect();
        nats_delete(&names);
    }
}

fn nats_names(workers: usize, what: &str) -> (String, String, String, String) {
    let tag = format!("LBENCH_{}_{workers}_{what}", std::process::id());
    let subject = tag.to_lowercase();
    (
        tag.clone(),
        format!("{subject}.in"),
        format!("{tag}_OUT"),
        format!("{subject}_out.out"),
    )
}

fn nats_sql(stream: &str, subject: &str, out: &str, out_subject: &str, view: &str) -> String {
    format!(
        "CREATE TABLE votes {COLUMNS} WITH ('connector' = 'nats-jetstream', 'url' = '{NATS_URL}',
             'stream' = '{stream}', 'subject' = '{subject}', 'consumer' = 'bench', 'format' = 'json');
         {view};
         CREATE SINK tally_out FROM tally WITH ('connector' = 'nats-jetstream', 'url' = '{NATS_URL}',
             'stream' = '{out}', 'subject' = '{out_subject}', 'format' = 'json',
             'sink.mode' = 'upsert', 'sink.key' = 'contestant')"
    )
}

fn nats_throughput(o: &Options, workers: usize) -> Result<(f64, f64)> {
    let (stream, subject, out, out_subject) = nats_names(workers, "T");
    let _streams = NatsStreams(vec![stream.clone(), out.clone()]);
    let runtime = runtime()?;
    let preload = Instant::now();
    runtime.block_on(async {
        let js = nats_context().await?;
        nats_stream(&js, &stream, &subject).await?;
        nats_stream(&js, &out, &out_subject).await?;
        let mut i = 0;
        while i < o.messages {
            let mut acks = Vec::new();
            for j in i..(i + 1_000).min(o.messages) {
                acks.push(
                    js.publish(subject.clone(), vote(j, o.keys).into())
                        .await
                        .map_err(|e| format!("publish: {e}"))?,
                );
            }
            for ack in futures::future::join_all(acks.into_iter().map(|a| a.into_future())).await {
                ack.map_err(|e| format!("publish ack: {e}"))?;
            }
            i += 1_000;
        }
        Ok::<_, String>(())
    })?;
    let preload_s = preload.elapsed().as_secs_f64();
    let mut tally = Tally::new(expected_tally(o));
    let stop = Arc::new(AtomicBool::new(false));
    let (rx, reader) = nats_follow(out.clone(), stop.clone());

    let engine = engine(workers)?;
    let mut session = engine.session();
    let sql = nats_sql(&stream, &subject, &out, &out_subject, TALLY);
    let (table, rest) = sql.split_once(';').ok_or("no statements")?;
    execute(&mut session, table)?;
    let start = Instant::now();
    execute(&mut session, rest)?;
    while !tally.done() {
        if start.elapsed() > GIVE_UP {
            return Err(format!(
                "the sink stream holds {} keys as expected after {GIVE_UP:?}",
                tally.matched
            ));
        }
        let Ok((insert, payload)) = rx.recv_timeout(Duration::from_millis(100)) else {
            if reader.is_finished() {
                break;
            }
            continue;
        };
        if let Some((key, value)) = tally_row(&payload) {
            if insert {
                tally.set(key, Some(value));
            } else if tally.current.get(key) == Some(&Some(value)) {
                tally.set(key, None);
            }
        }
    }
    let wall_s = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let outcome = reader.join().map_err(|_| "the reader panicked")?;
    outcome?;
    if !tally.done() {
        return Err("the sink reader stopped early".into());
    }
    drop(session);
    drop(engine);
    Ok((preload_s, wall_s))
}

fn nats_latency(o: &Options, workers: usize) -> Result<Latencies> {
    let (stream, subject, out, out_subject) = nats_names(workers, "L");
    let _streams = NatsStreams(vec![stream.clone(), out.clone()]);
    let runtime = runtime()?;
    let client = runtime.block_on(async {
        let js = nats_context().await?;
        nats_stream(&js, &stream, &subject).await?;
        nats_stream(&js, &out, &out_subject).await?;
        async_nats::connect(NATS_URL)
            .await
            .map_err(|e| format!("connect: {e}"))
    })?;
    let engine = engine(workers)?;
    let mut session = engine.session();
    execute(
        &mut session,
        &nats_sql(&stream, &subject, &out, &out_subject, PROBES),
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let (rows, reader) = nats_follow(out.clone(), stop.clone());
    let (tx, rx) = mpsc::channel();
    let forward = std::thread::spawn(move || {
        for (insert, payload) in rows {
            if insert && let Some(latency) = probe_latency(&payload) {
                let _ = tx.send(latency);
            }
        }
    });
    // Core NATS publishes into the stream's subject (JetStream stores them), flushed
    // per batch: no per-message acknowledgement round trip in the producer.
    let send = |batch: &[(u64, String)]| {
        runtime.block_on(async {
            for (_, payload) in batch {
                client
                    .publish(subject.clone(), payload.clone().into())
                    .await
                    .map_err(|e| format!("publish: {e}"))?;
            }
            client.flush().await.map_err(|e| format!("flush: {e}"))
        })
    };
    let result = drive_probes(o, send, &rx);
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let _ = forward.join();
    drop(session);
    drop(engine);
    result
}
