//! Sections 1 and 2: a first round trip, many connections, and the framing of the resource
//! socket (PROTOCOL.md section 1).

use super::flows::{acks_for, download_info, expect_available, upload_all};
use crate::conform::ctx::{error_code, ChunkKind, Ctx};
use crate::conform::verdict::{could_not_run, ensure, Outcome};
use crate::protocol::body::DownInfoReq;
use crate::protocol::{ids, ErrorCode, Frame, Framing};
use serde_json::Value;
use std::time::Duration;

/// 1.1: 1045 for a message that was never uploaded gets a 1046 with an error.
pub async fn round_trip(ctx: &mut Ctx) -> Outcome {
    let mut conn = ctx.resource().await?;
    let missing = ctx.next_message_id();
    let info = download_info(&mut conn, missing).await?;
    let error = error_code(&info, "1046")?;
    ensure!(
        error != 0,
        "1045 for message {missing}, which was never uploaded, answers success"
    );
    if error != i64::from(ErrorCode::FileNotExists.code()) {
        ctx.non_strict(format!(
            "an unknown message is answered with error {error}; the reference answers 1012 (FileNotExists)"
        ));
    }
    Ok(())
}

/// 1.2: six clients upload at the same time, each on its own connection.
pub async fn concurrent_connections(ctx: &mut Ctx) -> Outcome {
    let mut pairs = Vec::new();
    for i in 0..6 {
        let upload = ctx.upload(&format!("concurrent-{i}"), 40_000 + i * 1000);
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
        expect_available(ctx, &mut conn, upload).await?;
    }
    Ok(())
}

/// 2.1: one frame split inside the header and inside the body, each piece its own segment.
pub async fn split_frame(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("split", 1000);
    let send = upload.send(1, ChunkKind::Normal);
    let mut conn = ctx.resource().await?;
    let bytes = conn.encode(&send.frame);
    let cuts = [1, 4, 6, 7, 40, bytes.len() / 2, bytes.len() - 1];
    conn.send_in_pieces(&bytes, &cuts, Duration::from_millis(20))
        .await?;
    acks_for(&mut conn, &[send]).await?;
    expect_available(ctx, &mut conn, &upload).await?;
    Ok(())
}

/// 2.2: two complete frames in one write get two replies.
pub async fn coalesced_frames(ctx: &mut Ctx) -> Outcome {
    let a = ctx.upload("coalesced-a", 1200);
    let b = ctx.upload("coalesced-b", 1300);
    let sends = [a.send(1, ChunkKind::Normal), b.send(1, ChunkKind::Normal)];
    let mut conn = ctx.resource().await?;
    let mut bytes = conn.encode(&sends[0].frame);
    bytes.extend(conn.encode(&sends[1].frame));
    conn.send_in_pieces(&bytes, &[], Duration::ZERO).await?;
    acks_for(&mut conn, &sends).await?;
    expect_available(ctx, &mut conn, &a).await?;
    expect_available(ctx, &mut conn, &b).await?;
    Ok(())
}

/// 2.3: a small request written one byte at a time.
pub async fn byte_by_byte(ctx: &mut Ctx) -> Outcome {
    let missing = ctx.next_message_id();
    let frame = Frame::json(
        ids::IMG_CHAT_DOWN_INFO_SYNC_REQ,
        &DownInfoReq {
            message_id: missing,
        },
    );
    let mut conn = ctx.resource().await?;
    let bytes = conn.encode(&frame);
    let cuts: Vec<usize> = (1..bytes.len()).collect();
    conn.send_in_pieces(&bytes, &cuts, Duration::from_millis(2))
        .await?;
    let reply = conn.recv("the 1046 to a request sent byte by byte").await?;
    ensure!(
        reply.id == ids::IMG_CHAT_DOWN_INFO_SYNC_RSP,
        "answered with {} ({})",
        reply.id,
        ids::name(reply.id)
    );
    Ok(())
}

/// 2.4: a body of exactly the upstream maximum (51200 bytes) is accepted.
pub async fn maximum_length(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("max-length", 2 * 32768);
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
    let upload = ctx.upload("jsoncpp", 5000);
    let mut send = upload.send(1, ChunkKind::Normal);
    let value: Value = serde_json::to_value(upload.request(1, ChunkKind::Normal))
        .map_err(|e| could_not_run(format!("cannot build the request: {e}")))?;
    send.frame = Frame::new(send.frame.id, jsoncpp_styled(&value));
    let mut conn = ctx.resource().await?;
    conn.send(&send.frame).await?;
    acks_for(&mut conn, &[send]).await?;
    expect_available(ctx, &mut conn, &upload).await?;
    Ok(())
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
