//! `chatsim serve`: the reference chat server and resource server on real TCP, with real storage
//! (files under the data directory, messages and upload state in SQLite), as a person would run
//! them to try a client against, or as the target of `chatsim conform`.
//!
//! [`start`] is the one code path: the command line and the conformance self-test both use it.
//! [`Background`] runs it on its own runtime in a thread, so a test can stop the servers as a
//! power cut would (every task gone) and start them again on the same data directory.

use crate::chat::{ChatConfig, ChatServer};
use crate::clock::{Clock, SystemClock};
use crate::net::{Listener, Network, TokioNetwork};
use crate::profile::Profile;
use crate::resource::{ResourceConfig, ResourceServer};
use crate::store::{ChatRoutes, FileStore, Offload, RealFiles, SqliteDb};
use crate::trace::Tracer;
use crate::users::{User, Users};
use serde::Deserialize;
use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The SQLite file inside the data directory.
pub const DB_FILE: &str = "chatsim.db";
/// The folder inside the data directory that holds uploaded files (`<uid>/<name>`).
pub const FILES_DIR: &str = "files";
/// How long an unfinished upload may go without a chunk before it expires (`--upload-ttl`).
pub const DEFAULT_UPLOAD_TTL: Duration = Duration::from_secs(3600);
/// At most this many chunks waiting for a file worker share one fsync and one commit: a window of
/// 32 from one client, or the chunks of several clients, is one group.
pub const CHUNK_GROUP: usize = 64;
/// How long a file worker waits for the rest of a window's chunks before storing what it has:
/// short beside an fsync, long enough for a client's burst of chunks to arrive.
pub const CHUNK_LINGER: Duration = Duration::from_millis(1);
/// How long [`start`] waits for the servers to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(5);

/// Everything `chatsim serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where clients reach the chat server.
    pub chat_addr: String,
    /// Where clients reach the resource server.
    pub resource_addr: String,
    /// Where the chat server serves `message.ChatService` (the resource server's notify).
    pub grpc_addr: String,
    /// Where the resource server sends its notify; `None` means `grpc_addr`. Point it at
    /// `chatsim conform --notify-listen` to check the notify from the outside.
    pub notify_addr: Option<String>,
    pub data_dir: PathBuf,
    pub users: Users,
    pub profile: Profile,
    /// Where storage calls run: on the blocking pool (the default), or inline on the async
    /// threads as before (kept for the bench's comparison).
    pub storage: Offload,
    /// How many chunks waiting for a file worker share one fsync and one commit (1: each chunk on
    /// its own, as before; kept for the bench's comparison).
    pub chunk_group: usize,
    /// A second chat server (`--chat-servers 2`): the two are `chat1` (the addresses above) and
    /// `chat2`, sharing the database, with presence and routing as upstream's two servers.
    pub chat2: Option<SecondChat>,
}

/// Where the second chat server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondChat {
    /// Where clients reach it.
    pub chat_addr: String,
    /// Where it serves `message.ChatService` (the resource server's notify, the first server's
    /// forwards and kicks).
    pub grpc_addr: String,
}

impl Default for SecondChat {
    fn default() -> Self {
        SecondChat {
            chat_addr: "127.0.0.1:8092".into(),
            grpc_addr: "127.0.0.1:50052".into(),
        }
    }
}

impl ServeConfig {
    /// The defaults of `chatsim serve`: loopback ports 8090, 8091 and 50051, the demo users.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServeConfig {
            chat_addr: "127.0.0.1:8090".into(),
            resource_addr: "127.0.0.1:8091".into(),
            grpc_addr: "127.0.0.1:50051".into(),
            notify_addr: None,
            data_dir: data_dir.into(),
            users: demo_users(),
            profile: Profile::reference(),
            chat2: None,
            storage: Offload::Blocking,
            chunk_group: CHUNK_GROUP,
        }
    }

    pub fn notify_target(&self) -> &str {
        self.notify_addr.as_deref().unwrap_or(&self.grpc_addr)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the users file {path}: {reason}")]
    Users { path: PathBuf, reason: String },
    #[error("cannot use the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: io::Error },
    #[error("cannot open the database: {0}")]
    Database(io::Error),
    #[error("cannot listen on {what} {addr}: {source}")]
    Listen {
        what: &'static str,
        addr: String,
        source: io::Error,
    },
    #[error("the {what} did not accept connections within {READY_WITHIN:?}")]
    NotReady { what: &'static str },
    #[error("the {what} failed to start: {reason}")]
    StartFailed { what: &'static str, reason: String },
    #[error("the {what} stopped: {reason}")]
    Stopped { what: &'static str, reason: String },
}

/// The demo users live with the user directory; `serve` prints them at start-up.
pub use crate::users::demo_users;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<User>,
}

/// Reads a users file:
///
/// ```toml
/// [[users]]
/// uid = 1
/// token = "token-1"
/// name = "alice"
/// ```
pub fn load_users(path: &Path) -> Result<Users, ServeError> {
    let error = |reason: String| ServeError::Users {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    parse_users(&text).map_err(error)
}

/// Parses the text of a users file; says what is wrong otherwise.
pub fn parse_users(text: &str) -> Result<Users, String> {
    let file: UsersFile = toml::from_str(text).map_err(|e| e.to_string())?;
    if file.users.is_empty() {
        return Err("no [[users]] entries".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for user in &file.users {
        if !seen.insert(user.uid) {
            return Err(format!("uid {} appears twice", user.uid));
        }
        if user.token.is_empty() {
            return Err(format!("uid {} has an empty token", user.uid));
        }
    }
    Ok(Users::new(file.users))
}

/// The start-up banner: addresses, storage and the users with their tokens.
pub fn banner(config: &ServeConfig) -> String {
    let mut out = String::new();
    let quirks: Vec<&str> = config.profile.quirks().map(|q| q.name()).collect();
    let profile = if config.profile.is_reference() {
        "reference".to_owned()
    } else if let Some(name) = config.profile.named() {
        format!("{name} ({})", quirks.join(", "))
    } else {
        // `--quirk`: the reference with some of the seed's bugs.
        format!("reference with quirks {}", quirks.join(", "))
    };
    let _ = writeln!(out, "chatsim serve, profile {profile}");
    let _ = writeln!(out, "  chat      {}", config.chat_addr);
    let _ = writeln!(out, "  resource  {}", config.resource_addr);
    let _ = writeln!(out, "  grpc      {} (chat server)", config.grpc_addr);
    if let Some(chat2) = &config.chat2 {
        let _ = writeln!(out, "  chat2     {}", chat2.chat_addr);
        let _ = writeln!(out, "  grpc2     {} (second chat server)", chat2.grpc_addr);
    }
    let _ = writeln!(
        out,
        "  notify    {} (resource server -> chat)",
        config.notify_target()
    );
    let _ = writeln!(
        out,
        "  data      {} (files in {FILES_DIR}/, messages and upload state in {DB_FILE})",
        config.data_dir.display()
    );
    for (i, user) in config.users.iter().enumerate() {
        let label = if i == 0 { "  users" } else { "" };
        let _ = writeln!(
            out,
            "{label:<12}uid {} token {:?} name {:?}",
            user.uid, user.token, user.name
        );
    }
    out
}

/// The addresses the servers listen on, as bound: where the configuration asks for port 0, the
/// port the system chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundAddrs {
    pub chat: String,
    pub resource: String,
    pub grpc: String,
    /// The second chat server's client and gRPC addresses, with `--chat-servers 2`.
    pub chat2: Option<(String, String)>,
}

/// The running servers. Dropping this value does not stop them; call [`Servers::shutdown`].
pub struct Servers {
    chat: JoinHandle<io::Result<()>>,
    /// The second chat server, if any; a task that never ends otherwise.
    chat2: JoinHandle<io::Result<()>>,
    resource: JoinHandle<io::Result<()>>,
    addrs: BoundAddrs,
}

impl Servers {
    /// Where the servers listen (the real ports when the configuration gave port 0).
    pub fn addrs(&self) -> &BoundAddrs {
        &self.addrs
    }

    /// Waits until one of the servers stops by itself (a listener failed) and says why.
    pub async fn stopped(&mut self) -> ServeError {
        let (what, joined) = tokio::select! {
            biased;
            joined = &mut self.chat => ("chat server", joined),
            joined = &mut self.chat2 => ("second chat server", joined),
            joined = &mut self.resource => ("resource server", joined),
        };
        ServeError::Stopped {
            what,
            reason: describe_exit(joined),
        }
    }

    /// Stops accepting and waits for both listeners to close. Connections already open end when
    /// the runtime does.
    pub async fn shutdown(self) {
        self.chat.abort();
        self.chat2.abort();
        self.resource.abort();
        let _ = self.chat.await;
        let _ = self.chat2.await;
        let _ = self.resource.await;
    }
}

fn describe_exit(joined: Result<io::Result<()>, tokio::task::JoinError>) -> String {
    match joined {
        Ok(Ok(())) => "it returned".into(),
        Ok(Err(err)) => err.to_string(),
        Err(err) if err.is_panic() => "it panicked".into(),
        Err(err) => err.to_string(),
    }
}

/// Opens storage, binds every address (port 0 picks a free port; [`Servers::addrs`] says which),
/// starts both servers on those listeners and waits until they accept connections. Must be
/// called inside a tokio runtime.
pub async fn start(config: &ServeConfig) -> Result<Servers, ServeError> {
    start_with_ttl(config, DEFAULT_UPLOAD_TTL).await
}

/// Like [`start`], with unfinished uploads expiring after `upload_ttl` without a chunk.
pub async fn start_with_ttl(
    config: &ServeConfig,
    upload_ttl: Duration,
) -> Result<Servers, ServeError> {
    let data_error = |source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    };
    std::fs::create_dir_all(config.data_dir.join(FILES_DIR)).map_err(data_error)?;
    // One connection per server: a login's reads on the chat side never wait behind the
    // resource server's group commit (WAL lets readers run beside the one writer).
    let open_db = || SqliteDb::open(&config.data_dir.join(DB_FILE)).map_err(ServeError::Database);
    let db = open_db()?;
    let resource_db = open_db()?;
    let network: Arc<dyn Network> = Arc::new(TokioNetwork);
    let chat_listener = listen(&network, "--chat-addr", &config.chat_addr).await?;
    let resource_listener = listen(&network, "--resource-addr", &config.resource_addr).await?;
    let grpc_listener = listen(&network, "--grpc-addr", &config.grpc_addr).await?;
    let chat2_listeners = match &config.chat2 {
        Some(chat2) => Some((
            listen(&network, "--chat2-addr", &chat2.chat_addr).await?,
            listen(&network, "--grpc2-addr", &chat2.grpc_addr).await?,
        )),
        None => None,
    };
    let addrs = BoundAddrs {
        chat: bound_addr(chat_listener.as_ref(), &config.chat_addr),
        resource: bound_addr(resource_listener.as_ref(), &config.resource_addr),
        grpc: bound_addr(grpc_listener.as_ref(), &config.grpc_addr),
        chat2: chat2_listeners
            .as_ref()
            .zip(config.chat2.as_ref())
            .map(|((chat, grpc), asked)| {
                (
                    bound_addr(chat.as_ref(), &asked.chat_addr),
                    bound_addr(grpc.as_ref(), &asked.grpc_addr),
                )
            }),
    };
    if config.chat2.is_some() && config.notify_addr.is_some() {
        return Err(ServeError::StartFailed {
            what: "resource server",
            reason: "--notify-addr cannot be used with --chat-servers 2: the notify goes to the \
                     receiver's chat server"
                .into(),
        });
    }
    let routes = addrs.chat2.as_ref().map(|(_, grpc2)| ChatRoutes {
        table: Arc::new(db.presence()),
        servers: [
            ("chat1".to_owned(), dialable(&addrs.grpc)),
            ("chat2".to_owned(), dialable(grpc2)),
        ]
        .into_iter()
        .collect(),
    });

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let resource_clock = clock.clone();
    let chat_server = |name: &str, listen: &str, grpc_listen: &str| {
        let server = ChatServer::new(
            ChatConfig {
                listen: listen.to_owned(),
                grpc_listen: grpc_listen.to_owned(),
                profile: config.profile.clone(),
                storage: config.storage,
                ..ChatConfig::default()
            },
            config.users.clone(),
            Arc::new(db.messages()),
            clock.clone(),
            Tracer::logging(name),
        );
        match &routes {
            Some(routes) => server.with_routes(name, routes.clone(), network.clone()),
            None => server,
        }
    };
    let chat = match &routes {
        Some(_) => chat_server("chat1", &addrs.chat, &addrs.grpc),
        None => chat_server("chat", &addrs.chat, &addrs.grpc),
    };
    let chat2 = match (chat2_listeners, &addrs.chat2) {
        (Some((listener, grpc)), Some((chat_addr, grpc_addr))) => {
            let server = chat_server("chat2", chat_addr, grpc_addr);
            tokio::spawn(server.run_on(listener, grpc))
        }
        _ => tokio::spawn(std::future::pending()),
    };
    let files: Arc<dyn FileStore> = Arc::new(RealFiles::new(config.data_dir.join(FILES_DIR)));
    // Every upload is bound to its image message, read from the chat server's store.
    let resource = ResourceServer::new(
        ResourceConfig {
            listen: addrs.resource.clone(),
            // The gRPC listener as bound: its real port when --grpc-addr asked for port 0.
            chat_grpc: config
                .notify_addr
                .clone()
                .unwrap_or_else(|| addrs.grpc.clone()),
            profile: config.profile.clone(),
            upload_ttl: Some(upload_ttl),
            storage: config.storage,
            chunk_group: config.chunk_group,
            chunk_linger: CHUNK_LINGER,
            ..ResourceConfig::default()
        },
        config.users.clone(),
        files,
        Arc::new(resource_db.uploads()),
        Tracer::logging("resource"),
    )
    .with_messages(Arc::new(resource_db.messages()))
    .with_clock(resource_clock)
    .with_presence(match &routes {
        // Two chat servers: online is what the shared presence table says.
        Some(routes) => {
            let routes = routes.clone();
            Arc::new(move |uid| routes.is_online(uid))
        }
        None => {
            let chat = chat.clone();
            Arc::new(move |uid| chat.is_online(uid))
        }
    });
    let resource = match routes {
        Some(routes) => resource.with_routes(routes),
        None => resource,
    };
    let mut servers = Servers {
        chat: tokio::spawn(chat.run_on(chat_listener, grpc_listener)),
        chat2,
        resource: tokio::spawn(resource.run_on(network, resource_listener)),
        addrs,
    };
    let addrs = servers.addrs.clone();
    let ready = wait_ready(&addrs);
    tokio::select! {
        biased;
        err = servers.stopped() => Err(match err {
            ServeError::Stopped { what, reason } => ServeError::StartFailed { what, reason },
            other => other,
        }),
        ready = ready => match ready {
            Ok(()) => Ok(servers),
            Err(err) => {
                servers.shutdown().await;
                Err(err)
            }
        },
    }
}

/// Binds `addr` for a server, so that a busy port is reported with the flag that named it before
/// anything starts. tokio's bind sets SO_REUSEADDR, so a port whose old connections linger in
/// TIME_WAIT after a restart is not reported busy.
async fn listen(
    network: &Arc<dyn Network>,
    what: &'static str,
    addr: &str,
) -> Result<Box<dyn Listener>, ServeError> {
    network
        .bind(addr.to_owned())
        .await
        .map_err(|source| ServeError::Listen {
            what,
            addr: addr.to_owned(),
            source,
        })
}

/// The address `listener` is bound to; `asked` if the system cannot say (it always can for TCP).
fn bound_addr(listener: &dyn Listener, asked: &str) -> String {
    listener.local_addr().unwrap_or_else(|_| asked.to_owned())
}

/// Connects to each listener until it answers: after this, a client will not race the servers.
async fn wait_ready(addrs: &BoundAddrs) -> Result<(), ServeError> {
    let second = addrs.chat2.iter().flat_map(|(chat, grpc)| {
        [
            ("second chat server", chat),
            ("second chat server's gRPC listener", grpc),
        ]
    });
    for (what, addr) in [
        ("chat server", &addrs.chat),
        ("resource server", &addrs.resource),
        ("chat server's gRPC listener", &addrs.grpc),
    ]
    .into_iter()
    .chain(second)
    {
        let target = dialable(addr);
        let attempt = async {
            while tokio::net::TcpStream::connect(&target).await.is_err() {
                crate::timer::sleep(Duration::from_millis(10)).await;
            }
        };
        crate::timer::timeout(READY_WITHIN, attempt)
            .await
            .map_err(|_| ServeError::NotReady { what })?;
    }
    Ok(())
}

/// The address to dial to reach a listener bound to `addr`: the unspecified address (0.0.0.0,
/// [::]) is not something to connect to, its loopback is.
pub fn dialable(addr: &str) -> String {
    let Some(mut socket) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return addr.to_owned();
    };
    if socket.ip().is_unspecified() {
        let loopback = match socket.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        socket = SocketAddr::new(loopback, socket.port());
    }
    socket.to_string()
}

/// Runs until Ctrl-C (then shuts down cleanly) or until a server fails; `on_ready` is called
/// once both servers accept connections.
pub async fn run_until_ctrl_c(
    config: &ServeConfig,
    upload_ttl: Duration,
    on_ready: impl FnOnce(),
) -> Result<(), ServeError> {
    let mut servers = start_with_ttl(config, upload_ttl).await?;
    on_ready();
    tokio::select! {
        biased;
        signal = tokio::signal::ctrl_c() => {
            if let Err(err) = signal {
                tracing::warn!("cannot wait for Ctrl-C ({err}); stopping");
            }
            tracing::info!("Ctrl-C: stopping");
            servers.shutdown().await;
            Ok(())
        }
        err = servers.stopped() => Err(err),
    }
}

/// Servers on their own runtime in their own thread. Dropping (or [`Background::stop`]) ends the
/// runtime, which ends every task and closes every socket: to the servers' storage that is a
/// sudden stop, which is what a restart test wants.
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    addrs: BoundAddrs,
}

impl Background {
    /// Starts the servers and returns once they accept connections.
    pub fn start(config: ServeConfig) -> Result<Background, ServeError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<BoundAddrs, ServeError>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("chatsim-serve".into())
            .spawn(move || background_main(config, ready_tx, stop_rx))
            .map_err(|e| ServeError::Stopped {
                what: "server thread",
                reason: e.to_string(),
            })?;
        let ready = ready_rx.recv().unwrap_or_else(|_| {
            Err(ServeError::Stopped {
                what: "server thread",
                reason: "it ended before the servers started".into(),
            })
        });
        match ready {
            Ok(addrs) => Ok(Background {
                stop: Some(stop_tx),
                thread: Some(thread),
                addrs,
            }),
            Err(err) => {
                let _ = thread.join();
                Err(err)
            }
        }
    }

    /// Where the servers listen (the real ports when the configuration gave port 0).
    pub fn addrs(&self) -> &BoundAddrs {
        &self.addrs
    }

    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn background_main(
    config: ServeConfig,
    ready: std::sync::mpsc::Sender<Result<BoundAddrs, ServeError>>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = ready.send(Err(ServeError::Stopped {
                what: "server runtime",
                reason: err.to_string(),
            }));
            return;
        }
    };
    runtime.block_on(async move {
        let servers = match start(&config).await {
            Ok(servers) => servers,
            Err(err) => {
                let _ = ready.send(Err(err));
                return;
            }
        };
        let _ = ready.send(Ok(servers.addrs().clone()));
        let _ = stop.await;
        servers.shutdown().await;
    });
    // Dropping the runtime cancels the connection and worker tasks the servers spawned.
    runtime.shutdown_timeout(Duration::from_secs(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_files_are_checked() {
        let users = parse_users(
            "[[users]]\nuid = 7\ntoken = \"t\"\nname = \"x\"\n[[users]]\nuid = 8\ntoken = \"u\"\nname = \"y\"\n",
        )
        .unwrap();
        assert!(users.check(7, "t"));
        assert!(parse_users("users = []")
            .unwrap_err()
            .contains("no [[users]]"));
        let twice = "[[users]]\nuid = 1\ntoken = \"a\"\nname = \"a\"\n[[users]]\nuid = 1\ntoken = \"b\"\nname = \"b\"\n";
        assert!(parse_users(twice).unwrap_err().contains("twice"));
        assert!(parse_users("[[users]]\nuid = 1\n").is_err());
    }

    #[test]
    fn unspecified_addresses_are_dialled_on_loopback() {
        assert_eq!(dialable("0.0.0.0:8090"), "127.0.0.1:8090");
        assert_eq!(dialable("[::]:8090"), "[::1]:8090");
        assert_eq!(dialable("127.0.0.1:1"), "127.0.0.1:1");
        assert_eq!(dialable("not an address"), "not an address");
    }
}
