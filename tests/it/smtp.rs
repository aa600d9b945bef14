//! A small SMTP server for the tests: it speaks enough SMTP for lettre,
//! keeps every message it receives, can refuse chosen recipients with a
//! permanent 550, and can be stopped and started on the same port.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct Captured {
    pub to: Vec<String>,
    /// The raw message (headers and body), with quoted-printable soft line
    /// breaks removed so codes can be searched for.
    pub data: String,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_lowercase());
        self.data
            .lines()
            .take_while(|line| !line.is_empty())
            .find(|line| line.to_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
    }
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Captured>>,
    refused: Mutex<HashSet<String>>,
    /// Recipients answered with a temporary 451 (greylisting).
    deferred: Mutex<HashSet<String>>,
    /// When each of those 451s was given, and to whom.
    deferrals: Mutex<Vec<(String, chrono::DateTime<chrono::Utc>)>>,
    /// Answer every MAIL FROM with 530 (as a server wanting a login would).
    refuse_sender: std::sync::atomic::AtomicBool,
}

pub struct SmtpSink {
    pub port: u16,
    shared: Arc<Shared>,
    server: Mutex<Option<(JoinHandle<()>, CancellationToken)>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let sink = Self { port, shared, server: Mutex::new(None) };
        sink.serve(listener);
        sink
    }

    fn serve(&self, listener: TcpListener) {
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, self.shared.clone(), stop.clone()));
        *self.server.lock().unwrap() = Some((server, stop));
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn messages(&self) -> Vec<Captured> {
        self.messages_since(0)
    }

    /// The messages after the first `seen`, in the order they arrived.
    pub fn messages_since(&self, seen: usize) -> Vec<Captured> {
        self.shared.messages.lock().unwrap().iter().skip(seen).cloned().collect()
    }

    /// Answers `RCPT TO` for `address` with a permanent 550.
    pub fn refuse(&self, address: &str) {
        self.shared.refused.lock().unwrap().insert(address.to_lowercase());
    }

    /// Answers `RCPT TO` for `address` with a temporary 451 (greylisting).
    pub fn defer(&self, address: &str) {
        self.shared.deferred.lock().unwrap().insert(address.to_lowercase());
    }

    /// When `address` was put off (each try of a greylisted recipient).
    pub fn deferrals_of(&self, address: &str) -> Vec<chrono::DateTime<chrono::Utc>> {
        let address = address.to_lowercase();
        self.shared.deferrals.lock().unwrap().iter().filter(|(to, _)| *to == address).map(|(_, at)| *at).collect()
    }

    /// Every sender is refused with `530 Authentication required` (or accepted again).
    pub fn refuse_sender(&self, refuse: bool) {
        self.shared.refuse_sender.store(refuse, std::sync::atomic::Ordering::SeqCst);
    }

    /// The server goes away: open connections are dropped, new ones refused.
    pub fn stop(&self) {
        if let Some((server, stop)) = self.server.lock().unwrap().take() {
            stop.cancel();
            server.abort();
        }
    }

    /// The server comes back on the same port.
    pub async fn restart(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }

    /// Waits until at least `count` messages arrived (panics after `seconds`).
    pub async fn wait_for(&self, count: usize, seconds: u64) -> Vec<Captured> {
        for _ in 0..seconds * 20 {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("only {} of {count} emails arrived", self.messages().len());
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    // Aborting this task drops the listener, so the port refuses new
    // connections; `stop` ends the sessions already open.
    while let Ok((stream, _)) = listener.accept().await {
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = session(stream, shared) => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

async fn session(stream: tokio::net::TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut to = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM") && shared.refuse_sender.load(std::sync::atomic::Ordering::SeqCst) {
            b"530 5.7.0 Authentication required\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("MAIL FROM") || upper == "NOOP" {
            b"250 ok\r\n"
        } else if upper.starts_with("RSET") {
            to.clear();
            b"250 ok\r\n"
        } else if upper.starts_with("RCPT TO") {
            let address = line[8..].trim().trim_start_matches(':').trim().trim_matches(['<', '>']).to_lowercase();
            if shared.refused.lock().unwrap().contains(&address) {
                b"550 5.1.1 no such mailbox\r\n"
            } else if shared.deferred.lock().unwrap().contains(&address) {
                shared.deferrals.lock().unwrap().push((address, chrono::Utc::now()));
                b"451 4.7.1 greylisted, try again later\r\n"
            } else {
                to.push(address);
                b"250 ok\r\n"
            }
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
                data.push('\n');
            }
            let data = data.replace("=\n", "");
            shared.messages.lock().unwrap().push(Captured { to: std::mem::take(&mut to), data });
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"500 unknown command\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}
