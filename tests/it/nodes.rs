//! Several nodes of a part: a RabbitMQ node list whose first node is down,
//! and Redis behind Sentinels through a failover (a primary, a replica and
//! three Sentinels of the test's own, started from Debian's packages).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use boxoffice::cache::Redis;

use crate::helpers::{eventually, spawn_app_with, test_config};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_go_through_the_first_node_of_the_list_that_answers() {
    // Nothing listens on the first node's port: every (re)connection tries
    // it, fails, and goes on to the machine's RabbitMQ.
    let nodes = format!("amqp://guest:guest@127.0.0.1:{}/%2f,amqp://guest:guest@127.0.0.1:5672/%2f", free_port());
    let app = spawn_app_with(test_config(&["--amqp-url", &nodes])).await;
    let (organizer, buyer) = (app.user().await.0, app.user().await.0);
    let (_, tt) = app.on_sale(&organizer, 10, 2).await;
    app.book_final(&buyer, &tt, 2).await;
    assert_eq!(app.check_invariants(&tt).await, 2, "the two seats confirmed");
}

/// A Redis process of the test's own (nothing kept on disk), killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis(dir: &std::path::Path, port: u16, extra: &[&str]) -> Process {
    // A replica writes the snapshot it receives into its folder: the test's own.
    let dir = dir.display().to_string();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", &dir])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (apt-get install redis-server)");
    Process(child)
}

fn sentinel(dir: &std::path::Path, port: u16, primary: u16) -> Process {
    let conf = dir.join(format!("sentinel-{port}.conf"));
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor test 127.0.0.1 {primary} 2\n\
             sentinel down-after-milliseconds test 1000\nsentinel failover-timeout test 5000\n",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("redis-sentinel")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-sentinel (apt-get install redis-sentinel)");
    Process(child)
}

async fn direct(port: u16) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    eventually(Duration::from_secs(20), "redis answers", || async { client.get_multiplexed_async_connection().await })
        .await
}

/// What a Sentinel knows of the primary it watches, as field, value, …
async fn master_info(sentinel: &redis::aio::MultiplexedConnection) -> Option<Vec<String>> {
    let mut sentinel = sentinel.clone();
    redis::cmd("SENTINEL").arg("MASTER").arg("test").query_async(&mut sentinel).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_follows_the_primary_the_sentinels_promote() {
    let dir = std::env::temp_dir().join(format!("boxoffice-sentinels-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (primary_port, replica_port) = (free_port(), free_port());
    let primary = redis(&dir, primary_port, &[]);
    let _replica = redis(&dir, replica_port, &["--replicaof", "127.0.0.1", &primary_port.to_string()]);
    let sentinel_ports = [free_port(), free_port(), free_port()];
    let _sentinels: Vec<Process> = sentinel_ports.iter().map(|&p| sentinel(&dir, p, primary_port)).collect();
    let on_replica = direct(replica_port).await;
    let url = format!(
        "redis+sentinel://127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}/test",
        sentinel_ports[0], sentinel_ports[1], sentinel_ports[2]
    );
    let cache = eventually(Duration::from_secs(20), "connected through the Sentinels", || async {
        let cache = Redis::connect(&url, "nodes:").await.ok()?;
        cache.is_connected().then_some(cache)
    })
    .await;
    let set = |value: &'static str| {
        let cache = cache.clone();
        async move { cache.query::<()>(redis::pipe().cmd("SET").arg("nodes:k").arg(value).ignore()).await }
    };
    set("before").await.expect("written to the first primary");
    // The replica has what the primary was given.
    eventually(Duration::from_secs(10), "replicated", || async {
        let mut on_replica = on_replica.clone();
        let value: Option<String> = redis::cmd("GET").arg("nodes:k").query_async(&mut on_replica).await.ok()?;
        (value.as_deref() == Some("before")).then_some(())
    })
    .await;

    // The Sentinels must know each other (they meet through the primary's
    // announcements) before two of them can agree it is gone.
    // Each of them, so that whichever is elected to lead the failover knows
    // the replica it is to promote and has the others' votes to ask for.
    let mut sentinels = Vec::new();
    for port in sentinel_ports {
        sentinels.push(direct(port).await);
    }
    for sentinel in &sentinels {
        eventually(Duration::from_secs(20), "the Sentinels know each other and the replica", || async {
            let info = master_info(sentinel).await?;
            let field = |name: &str| info.iter().position(|f| f == name).and_then(|i| info.get(i + 1)).cloned();
            (field("num-other-sentinels").as_deref() == Some("2") && field("num-slaves").as_deref() == Some("1"))
                .then_some(())
        })
        .await;
    }
    drop(primary); // killed, as in a crash
    // Under a loaded machine an election can split and Sentinel tries again
    // after twice its failover-timeout: the bound leaves room for that. A
    // failure says what the Sentinels saw.
    eventually(Duration::from_secs(60), "a write succeeds after the failover", || async {
        match set("after").await {
            Ok(()) => Ok(()),
            Err(err) => {
                let mut seen = format!("{err:?}; the Sentinels:");
                for sentinel in &sentinels {
                    let info = master_info(sentinel).await.unwrap_or_default();
                    let field = |name: &str| info.iter().position(|f| f == name).and_then(|i| info.get(i + 1)).cloned();
                    seen += &format!(" [{:?} port {:?} flags {:?}]", field("ip"), field("port"), field("flags"));
                }
                Err(seen)
            }
        }
    })
    .await;
    // It went to the promoted replica, now the primary (which closed its
    // clients as it changed role: a new connection).
    let mut on_replica = direct(replica_port).await;
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut on_replica).await.unwrap();
    assert_eq!(role.first(), Some(&redis::Value::BulkString(b"master".to_vec())), "{role:?}");
    let value: Option<String> = redis::cmd("GET").arg("nodes:k").query_async(&mut on_replica).await.unwrap();
    assert_eq!(value.as_deref(), Some("after"));
    let _ = std::fs::remove_dir_all(&dir);
}
