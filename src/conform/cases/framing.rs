//! Sections 1 and 2: a first round trip, many connections, and the framing of the resource
//! socket (docs/protocol.md section 1).

use super::flows::{acks_for, answers_probe, expect_identical, probe_frame, upload_all};
use crate::conform::ctx::{ChunkKind, Ctx};
use crate::conform::verdict::{could_not_run, ensure, Outcome};
use crate::conform::wire::json_body;
use crate::protocol::{ids, Frame, Framing};
use serde_json::Value;
use std::time::Duration;

/// 1.1: a first round trip: the probe (a chunk of a file never started, which every server
/// answers) gets a reply. What it answers is judged by other cases.
pub async fn round_trip(ctx: &mut Ctx) -> Outcome {
    let (probe, name) = probe_frame(ctx);
    let mut conn = ctx.resource().await?;
    conn.send(&probe).await?;
    let reply = conn.recv("an answer to a 1037").await?;
    ensure!(
        answers_probe(&reply, &name),
        "a 1037 was answered with {} ({}), which names another file",
        reply.id,
        ids::name(reply.id)
    );
    json_body(&reply)?;
    Ok(())
}

/// 1.2: six clients upload at the same time, each on its own connection.
pub async fn concurrent_connections(ctx: &mut Ctx) -> Outcome {
    let mut pairs = Vec::new();
    for i in 0..6 {
        let upload = ctx
            .upload(&format!("concurrent-{i}"), 40_000 + i * 1000)
            .await?;
        pairs.push((ctx.resource().await?, upload));
    }
    let uploads = pairs
        .iter_mut()
        .map(|(conn, upload)| upload_all(conn, upload, 5));
    for result in futures::future::join_all(uploads).await {
        result?;
    }
    let mut conn = ctx.resource().await?;
    for (_, upload) in &pairs {
        expect_identical(ctx, &mut conn, upload).await?;
    }
    Ok(())
}

/// 2.1: one frame split inside the header and inside the body, each piece its own segment.
pub async fn split_frame(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("split", 1000).await?;
    let send = upload.send(1, ChunkKind::Normal);
    let mut conn = ctx.resource().await?;
    let bytes = conn.encode(&send.frame);
    let cuts = [1, 4, 6, 7, 40, bytes.len() / 2, bytes.len() - 1];
    conn.send_in_pieces(&bytes, &cuts, Duration::from_millis(20))
        .await?;
    acks_for(&mut conn, &[send]).await?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// 2.2: two complete frames in one write get two replies.
pub async fn coalesced_frames(ctx: &mut Ctx) -> Outcome {
    let a = ctx.upload("coalesced-a", 1200).await?;
    let b = ctx.upload("coalesced-b", 1300).await?;
    let sends = [a.send(1, ChunkKind::Normal), b.send(1, ChunkKind::Normal)];
    let mut conn = ctx.resource().await?;
    let mut bytes = conn.encode(&sends[0].frame);
    bytes.extend(conn.encode(&sends[1].frame));
    conn.send_in_pieces(&bytes, &[], Duration::ZERO).await?;
    acks_for(&mut conn, &sends).await?;
    expect_identical(ctx, &mut conn, &a).await?;
    expect_identical(ctx, &mut conn, &b).await
}

/// 2.3: a request written a byte a write (the probe, which every server answers): its header and
/// the first 64 bytes of body one by one, then the rest 16 bytes a write, so the case stays short.
pub async fn byte_by_byte(ctx: &mut Ctx) -> Outcome {
    let (probe, name) = probe_frame(ctx);
    let mut conn = ctx.resource().await?;
    let bytes = conn.encode(&probe);
    let cuts: Vec<usize> = (1..70).chain((70..bytes.len()).step_by(16)).collect();
    conn.send_in_pieces(&bytes, &cuts, Duration::from_millis(1))
        .await?;
    let reply = conn
        .recv("the answer to a request sent byte by byte")
        .await?;
    ensure!(
        answers_probe(&reply, &name),
        "answered with {} ({}), which names another file",
        reply.id,
        ids::name(reply.id)
    );
    Ok(())
}

/// 2.4: a body of exactly the upstream maximum (51200 bytes) is accepted.
pub async fn maximum_length(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("max-length", 2 * 32768).await?;
    let mut send = upload.send(1, ChunkKind::Normal);
    let max = Framing::Resource.upstream_max_body();
    let mut body = send.frame.body.to_vec();
    if body.len() > max {
        return Err(could_not_run(format!(
            "the chunk request is already {} bytes",
            body.len()
        )));
    }
    // Trailing whitespace is valid JSON: the body is a full chunk padded to the limit.
    body.resize(max, b' ');
    send.frame = Frame::new(send.frame.id, body);
    let mut conn = ctx.resource().await?;
    conn.send(&send.frame).await?;
    acks_for(&mut conn, &[send]).await?;
    Ok(())
}

/// 2.5: a body written as upstream's jsoncpp writes it (`toStyledString`: sorted keys, three
/// spaces of indent, `" : "` between key and value).
pub async fn jsoncpp_style(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("jsoncpp", 5000).await?;
    let mut send = upload.send(1, ChunkKind::Normal);
    let value: Value = serde_json::to_value(upload.request(1, ChunkKind::Normal))
        .map_err(|e| could_not_run(format!("cannot build the request: {e}")))?;
    send.frame = Frame::new(send.frame.id, jsoncpp_styled(&value));
    let mut conn = ctx.resource().await?;
    conn.send(&send.frame).await?;
    acks_for(&mut conn, &[send]).await?;
    expect_identical(ctx, &mut conn, &upload).await
}

/// jsoncpp's styled writer, for the values chunk requests contain.
pub fn jsoncpp_styled(value: &Value) -> String {
    let mut out = String::new();
    write_styled(value, 0, &mut out);
    out.push('\n');
    out
}

fn write_styled(value: &Value, depth: usize, out: &mut String) {
    const INDENT: &str = "   ";
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            let mut first = true;
            for (key, item) in map {
                if !first {
                    out.push_str(",\n");
                }
                first = false;
                out.push_str(&INDENT.repeat(depth + 1));
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(" : ");
                write_styled(item, depth + 1, out);
            }
            out.push('\n');
            out.push_str(&INDENT.repeat(depth));
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                out.push_str(&INDENT.repeat(depth + 1));
                write_styled(item, depth + 1, out);
            }
            out.push('\n');
            out.push_str(&INDENT.repeat(depth));
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn styled_json_looks_like_jsoncpp_and_parses_back() {
        let value = serde_json::json!({"seq": 1, "name": "a", "list": [1, 2], "empty": {}});
        let text = super::jsoncpp_styled(&value);
        assert_eq!(
            text,
            "{\n   \"empty\" : {},\n   \"list\" : [\n      1,\n      2\n   ],\n   \"name\" : \"a\",\n   \"seq\" : 1\n}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
