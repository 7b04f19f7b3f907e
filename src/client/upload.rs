//! The upload engine: one task that owns the resource connection and the books of every file being
//! uploaded. All files share one window of `MAX_CWND` chunks in flight, served round-robin so two
//! files progress side by side. Per file: chunk 1 goes first (as 1041) and alone; after its ack the
//! rest flow as 1037. Only an ack for a chunk that is in flight frees a slot, so duplicate or stale
//! replies cannot inflate the window (seed bug 5). A chunk without an ack is sent again after
//! `chunk_timeout` (seed bug 4).

use super::{ClientConfig, SourceFile};
use crate::net::{framed, next_frame, FrameReader, FrameSender, Network};
use crate::protocol::body::{ChunkReq, ChunkRsp};
use crate::protocol::{ids, ChunkPlan, Frame, FrameCodec, Framing, WireSize, MAX_CWND};
use crate::trace::{Event, Tracer};
use base64::Engine as _;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A file whose image message the chat server accepted.
pub(super) struct NewUpload {
    pub file: SourceFile,
    pub to: i32,
    pub message_id: i64,
    pub thread_id: i32,
}

#[derive(Clone)]
pub(super) struct UploadEngine {
    tx: mpsc::UnboundedSender<NewUpload>,
}

impl UploadEngine {
    pub fn start(config: ClientConfig, network: Arc<dyn Network>, tracer: Tracer) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let engine = Engine {
            config,
            network,
            tracer,
            files: BTreeMap::new(),
            turn: VecDeque::new(),
            conn: None,
        };
        tokio::spawn(engine.run(rx));
        UploadEngine { tx }
    }

    /// Hands a file to the engine; it starts as soon as the window has room.
    pub fn add(&self, upload: NewUpload) {
        let _ = self.tx.send(upload);
    }
}

/// The client's books for one file.
struct FileBooks {
    file: SourceFile,
    md5: String,
    plan: ChunkPlan,
    to: i32,
    message_id: i64,
    thread_id: i32,
    /// The next seq never sent yet.
    next_new: u32,
    /// Seqs to send again (timed out, or in flight when the connection died).
    resend: BTreeSet<u32>,
    /// Seqs sent and not yet answered, with the time they were (last) sent.
    in_flight: BTreeMap<u32, Instant>,
    acked: BTreeSet<u32>,
    /// Highest seq such that every seq up to it is acked.
    contiguous: u32,
    last_percent: Option<u32>,
}

impl FileBooks {
    /// The seq this file would send next, if it may send now.
    fn sendable(&self) -> Option<u32> {
        if !self.acked.contains(&1) {
            // Chunk 1 creates the upload upstream; nothing else flies until it is acked.
            let first_pending = self.next_new == 1 || self.resend.contains(&1);
            return (first_pending && !self.in_flight.contains_key(&1)).then_some(1);
        }
        self.resend
            .first()
            .copied()
            .or((self.next_new <= self.plan.max_seq()).then_some(self.next_new))
    }

    fn acked_bytes(&self) -> u64 {
        self.acked
            .iter()
            .filter_map(|&seq| self.plan.range(seq))
            .map(|r| r.end - r.start)
            .sum()
    }

    fn percent(&self) -> u32 {
        if self.plan.total == 0 {
            return if self.acked.is_empty() { 0 } else { 100 };
        }
        (self.acked_bytes() * 100 / self.plan.total) as u32
    }
}

struct Connection {
    reader: FrameReader,
    sender: FrameSender,
}

struct Engine {
    config: ClientConfig,
    network: Arc<dyn Network>,
    tracer: Tracer,
    files: BTreeMap<String, FileBooks>,
    /// Round-robin order of file names.
    turn: VecDeque<String>,
    conn: Option<Connection>,
}

impl Engine {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<NewUpload>) {
        let tick = (self.config.chunk_timeout / 4).max(Duration::from_millis(50));
        let mut timer = tokio::time::interval(tick);
        loop {
            if !self.files.is_empty() && self.conn.is_none() {
                self.connect().await;
            }
            self.fill_window();
            let next = async {
                match self.conn.as_mut() {
                    Some(conn) => next_frame(&mut conn.reader).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                frame = next => match frame {
                    Ok(Some(frame)) => self.on_reply(frame),
                    Ok(None) => self.disconnected("closed by server".into()),
                    Err(err) => self.disconnected(err.to_string()),
                },
                upload = rx.recv() => match upload {
                    Some(upload) => self.add(upload),
                    None if self.files.is_empty() => return,
                    None => {}
                },
                _ = timer.tick() => self.retransmit_overdue(),
            }
        }
    }

    async fn connect(&mut self) {
        let addr = self.config.resource_addr.clone();
        loop {
            match self.network.connect(addr.clone()).await {
                Ok(stream) => {
                    let (reader, sender) = framed(
                        stream,
                        FrameCodec::with_limit(Framing::Resource, u32::MAX as usize),
                        FrameCodec::upstream(Framing::Resource),
                    );
                    self.tracer.emit(Event::ConnOpened { peer: addr });
                    self.conn = Some(Connection { reader, sender });
                    return;
                }
                Err(err) => {
                    self.tracer.emit(Event::ConnClosed {
                        peer: addr.clone(),
                        reason: format!("connect failed: {err}"),
                    });
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// The connection died: whatever was in flight may or may not have arrived, so send it again.
    fn disconnected(&mut self, reason: String) {
        self.tracer.emit(Event::ConnClosed {
            peer: self.config.resource_addr.clone(),
            reason,
        });
        self.conn = None;
        for books in self.files.values_mut() {
            let seqs: Vec<u32> = books.in_flight.keys().copied().collect();
            books.in_flight.clear();
            books.resend.extend(seqs);
        }
    }

    fn add(&mut self, upload: NewUpload) {
        let name = upload.file.name.clone();
        let books = FileBooks {
            md5: upload.file.md5(),
            plan: ChunkPlan::new(upload.file.data.len() as u64),
            file: upload.file,
            to: upload.to,
            message_id: upload.message_id,
            thread_id: upload.thread_id,
            next_new: 1,
            resend: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            acked: BTreeSet::new(),
            contiguous: 0,
            last_percent: None,
        };
        self.files.insert(name.clone(), books);
        self.turn.push_back(name);
    }

    fn in_flight(&self) -> usize {
        self.files.values().map(|b| b.in_flight.len()).sum()
    }

    /// Sends chunks, one file at a time in turn, while the window has room.
    fn fill_window(&mut self) {
        if self.conn.is_none() {
            return;
        }
        while self.in_flight() < MAX_CWND {
            let Some(position) = (0..self.turn.len()).find(|&i| {
                self.files
                    .get(&self.turn[i])
                    .and_then(FileBooks::sendable)
                    .is_some()
            }) else {
                return;
            };
            let name = self.turn.remove(position).expect("position is in range");
            self.turn.push_back(name.clone());
            let seq = self.files[&name].sendable().expect("checked just above");
            self.send_chunk(&name, seq, false);
        }
    }

    fn send_chunk(&mut self, name: &str, seq: u32, retransmit: bool) {
        let Some(conn) = &self.conn else { return };
        let books = self.files.get_mut(name).expect("caller holds a live file");
        let range = books.plan.range(seq).expect("seq within the file");
        let data = &books.file.data[range.start as usize..range.end as usize];
        let first = seq == 1;
        let id = if first {
            ids::FILE_INFO_SYNC_REQ
        } else {
            ids::IMG_CHAT_UPLOAD_REQ
        };
        let req = ChunkReq {
            name: name.to_owned(),
            unique_id: first.then(|| format!("{}-{}", self.config.uid, books.message_id)),
            seq,
            trans_size: WireSize::string(range.end),
            total_size: WireSize::string(books.plan.total),
            // Sent on every chunk, not just the first as upstream does, so that a chunk that
            // travels on a fresh connection after a reconnect is still authenticated.
            token: Some(self.config.token.clone()),
            md5: books.md5.clone(),
            uid: self.config.uid,
            data: base64::engine::general_purpose::STANDARD.encode(data),
            message_id: books.message_id,
            sender: self.config.uid,
            receiver: books.to,
            last: i32::from(books.plan.is_last(seq)),
            last_seq: (!first).then_some(books.plan.max_seq()),
            thread_id: Some(books.thread_id),
        };
        let frame = Frame::json(id, &req);
        books.resend.remove(&seq);
        if seq == books.next_new {
            books.next_new += 1;
        }
        books.in_flight.insert(seq, Instant::now());
        let hint = crate::protocol::body::ChunkHint {
            name: name.to_owned(),
            seq,
        };
        self.tracer.emit(Event::frame(
            "tx",
            &self.config.resource_addr,
            &frame,
            Some(&hint),
        ));
        conn.sender.send(frame);
        let in_flight = self.in_flight();
        self.tracer.emit(Event::ChunkSent {
            file: name.to_owned(),
            seq,
            id,
            in_flight,
            retransmit,
        });
    }

    fn on_reply(&mut self, frame: Frame) {
        let peer = self.config.resource_addr.clone();
        let hint = crate::protocol::body::ChunkHint::from_body(&frame.body);
        self.tracer
            .emit(Event::frame("rx", &peer, &frame, Some(&hint)));
        let is_chunk_reply = matches!(
            frame.id,
            ids::FILE_INFO_SYNC_RSP | ids::IMG_CHAT_UPLOAD_RSP | ids::IMG_CHAT_CONTINUE_UPLOAD_RSP
        );
        let rsp: ChunkRsp = match frame.parse() {
            Ok(rsp) if is_chunk_reply => rsp,
            Ok(_) => {
                self.tracer.emit(Event::BadInput {
                    peer,
                    id: frame.id,
                    error: format!("unexpected message id {}", frame.id),
                });
                return;
            }
            Err(err) => {
                self.tracer.emit(Event::BadInput {
                    peer,
                    id: frame.id,
                    error: err.to_string(),
                });
                return;
            }
        };
        let Some(books) = self.files.get_mut(&rsp.name) else {
            return; // a late reply for a file that already finished or failed
        };
        if books.in_flight.remove(&rsp.seq).is_none() {
            return; // a duplicate or stale reply frees no slot
        }
        let in_flight = self.in_flight();
        let books = self.files.get_mut(&rsp.name).expect("looked up above");
        self.tracer.emit(Event::ChunkAcked {
            file: rsp.name.clone(),
            seq: rsp.seq,
            error: rsp.error,
            in_flight,
        });
        if rsp.error != 0 {
            // Purge only this file: its queued chunks are dropped with its books; other files go on.
            self.tracer.emit(Event::UploadFailed {
                file: rsp.name.clone(),
                error: rsp.error,
                reason: format!("seq {} refused by the resource server", rsp.seq),
            });
            self.remove(&rsp.name);
            return;
        }
        books.acked.insert(rsp.seq);
        while books.acked.contains(&(books.contiguous + 1)) {
            books.contiguous += 1;
        }
        let percent = books.percent();
        if books.last_percent != Some(percent) {
            books.last_percent = Some(percent);
            self.tracer.emit(Event::Progress {
                file: rsp.name.clone(),
                percent,
            });
        }
        if books.contiguous == books.plan.max_seq() {
            self.tracer.emit(Event::UploadAcked {
                file: rsp.name.clone(),
            });
            self.remove(&rsp.name);
        }
    }

    fn remove(&mut self, name: &str) {
        self.files.remove(name);
        self.turn.retain(|n| n != name);
    }

    fn retransmit_overdue(&mut self) {
        if self.conn.is_none() {
            return;
        }
        let now = Instant::now();
        let overdue: Vec<(String, u32)> = self
            .files
            .iter()
            .flat_map(|(name, books)| {
                books
                    .in_flight
                    .iter()
                    .filter(|(_, sent)| now.duration_since(**sent) >= self.config.chunk_timeout)
                    .map(move |(seq, _)| (name.clone(), *seq))
            })
            .collect();
        for (name, seq) in overdue {
            self.send_chunk(&name, seq, true);
        }
    }
}
