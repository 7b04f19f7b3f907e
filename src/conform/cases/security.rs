//! Section 8: names are names, not paths; the uid and token are checked; one user cannot touch
//! another user's upload.

use super::flows::{
    down_request, expect_identical, expect_refusal_fresh, pipeline, refusal_body, still_serving,
    upload_all, Echo,
};
use crate::conform::ctx::{error_code, int, text, ChunkKind, Ctx, Upload};
use crate::conform::verdict::{ensure, Outcome};
use crate::protocol::{ids, Frame, MAX_CWND};
use base64::Engine as _;

/// Sends chunk 1 of `upload` on a fresh connection; it must be refused.
async fn refuse_first_chunk(ctx: &mut Ctx, upload: &Upload) -> Outcome {
    let frame = upload.send(1, ChunkKind::Normal).frame;
    expect_refusal_fresh(ctx, &frame, Echo::chunk(upload, 1)).await
}

/// Sends chunk 1 of a small file named `name` on a fresh connection; it must be refused.
async fn refuse_name(ctx: &mut Ctx, name: String) -> Outcome {
    let upload = ctx.upload_named(name, 1000).await?;
    refuse_first_chunk(ctx, &upload).await
}

/// Starts `upload` with chunk 1 on its owner's connection; `intrusion`, a chunk 2 sent on another
/// connection, must be refused; the owner then finishes, and the file must end intact.
async fn refuse_intrusion(ctx: &mut Ctx, upload: &Upload, intrusion: &Frame) -> Outcome {
    let mut owner = ctx.resource().await?;
    pipeline(&mut owner, &[upload.send(1, ChunkKind::Normal)], 1).await?;
    expect_refusal_fresh(ctx, intrusion, Echo::chunk(upload, 2)).await?;
    pipeline(&mut owner, &upload.rest(), MAX_CWND).await?;
    expect_identical(ctx, &mut owner, upload).await
}

/// 8.1: names with `..`.
pub async fn dot_dot_name(ctx: &mut Ctx) -> Outcome {
    for prefix in ["../", "..\\", "../../"] {
        let name = format!("{prefix}{}", ctx.unique_name("escape"));
        refuse_name(ctx, name).await?;
    }
    refuse_name(ctx, "..".into()).await
}

/// 8.2: names with a separator.
pub async fn separator_in_name(ctx: &mut Ctx) -> Outcome {
    for sep in ["/", "\\"] {
        let name = format!("sub{sep}{}", ctx.unique_name("nested"));
        refuse_name(ctx, name).await?;
    }
    Ok(())
}

/// 8.3: an absolute path as the name.
pub async fn absolute_path(ctx: &mut Ctx) -> Outcome {
    let name = format!("/tmp/chatsim-conform-{}", ctx.unique_name("absolute"));
    refuse_name(ctx, name).await
}

/// 8.4: user A's token with user B's uid.
pub async fn uid_not_matching_token(ctx: &mut Ctx) -> Outcome {
    let other = ctx.receiver()?.clone();
    let mut upload = ctx.upload("impersonate", 1000).await?;
    upload.uid = other.uid;
    refuse_first_chunk(ctx, &upload).await
}

/// 8.5: user B, with B's own valid token, sends a chunk of user A's upload in progress; it is
/// refused, and A's file ends intact.
pub async fn overwrite_other_users_upload(ctx: &mut Ctx) -> Outcome {
    let other = ctx.receiver()?.clone();
    let upload = ctx.upload("not-yours", 3 * 32768 - 5).await?;
    let mut intruder = upload.clone();
    intruder.uid = other.uid;
    intruder.token = other.token.clone();
    let mut req = intruder.request(2, ChunkKind::Resume);
    req.data = base64::engine::general_purpose::STANDARD.encode(vec![0xee; 32768]);
    let frame = Frame::json(ids::IMG_CHAT_CONTINUE_UPLOAD_REQ, &req);
    refuse_intrusion(ctx, &upload, &frame).await
}

/// 8.6: a token that is not the user's.
pub async fn wrong_token(ctx: &mut Ctx) -> Outcome {
    let mut upload = ctx.upload("wrong-token", 1000).await?;
    upload.token = format!("not-the-token-{}", ctx.tag());
    refuse_first_chunk(ctx, &upload).await
}

/// 8.7: a 1037 without a token on a connection that never presented one, for an upload another
/// connection started; refused, and the upload ends intact.
pub async fn chunk_without_token(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("no-token", 3 * 32768 - 9).await?;
    let mut req = upload.request(2, ChunkKind::Normal);
    req.token = None;
    req.data = base64::engine::general_purpose::STANDARD.encode(vec![0xab; 32768]);
    let frame = Frame::json(ids::IMG_CHAT_UPLOAD_REQ, &req);
    refuse_intrusion(ctx, &upload, &frame).await
}

/// 8.8: a download (1047 seq 1) with a wrong token is refused. A refusal that does not name
/// the file and seq is non-strict: upstream's client reads only `error` from a failed 1048.
pub async fn download_wrong_token(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("download-token", 1000).await?;
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, 1).await?;
    let mut user = ctx.receiver().unwrap_or(ctx.sender()).clone();
    user.token = format!("not-the-token-{}", ctx.tag());
    let frame = down_request(&upload, &user, 1, 0);
    if let Some(body) = refusal_body(&mut conn, &frame).await? {
        let (name, seq) = (text(&body, "name"), int(&body, "seq"));
        if name != Some(upload.name.as_str()) || seq != Some(1) {
            ctx.non_strict(format!(
                "the refusal names name={name:?} seq={seq:?}, not {:?} seq 1",
                upload.name
            ));
        }
    }
    still_serving(ctx).await
}

/// 8.9: a download (1047) whose name climbs out of the sender's folder back into it
/// (`../<uid>/<name>`): a server that builds the path from the name serves the file, so it
/// would serve any other file the same way. It must be refused.
pub async fn download_traversal_name(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("download-traversal", 1000).await?;
    let mut conn = ctx.resource().await?;
    upload_all(&mut conn, &upload, 1).await?;
    let user = ctx.receiver().unwrap_or(ctx.sender()).clone();
    let mut climbing = upload.clone();
    climbing.name = format!("../{}/{}", upload.uid, upload.name);
    let frame = down_request(&climbing, &user, 1, 0);
    if let Some(body) = refusal_body(&mut conn, &frame).await? {
        let error = error_code(&body, "the refusal")?;
        ensure!(error != 0, "1047 for {:?} was served", climbing.name);
    }
    still_serving(ctx).await
}

/// The receiver's own file, claiming `upload`'s message id (issue 11, item 1).
fn claim_of(ctx: &mut Ctx, upload: &Upload) -> Result<Upload, crate::conform::verdict::Finding> {
    let other = ctx.receiver()?.clone();
    let name = ctx.unique_name("claim");
    Ok(Upload::new(
        name,
        vec![0x5a; upload.data.len()],
        upload.message_id,
        &other,
        upload.uid,
    ))
}

/// 8.10: after `upload` completes, another user uploads its own file under the same message id.
/// The first chunk must be refused, and the message must still offer the sender's bytes: a
/// server that lets a second upload take a message lets anyone swap anyone's picture.
pub async fn claim_another_users_message(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("claimed", 2 * 32768 + 7).await?;
    let mut owner = ctx.resource().await?;
    upload_all(&mut owner, &upload, MAX_CWND).await?;
    let claim = claim_of(ctx, &upload)?;
    let frame = claim.send(1, ChunkKind::Normal).frame;
    expect_refusal_fresh(ctx, &frame, Echo::chunk(&claim, 1)).await?;
    expect_identical(ctx, &mut owner, &upload).await
}

/// 8.11: after `upload` completes, another user sends only chunk 1 of a file under the same
/// message id, whatever the answer. The sender's picture must still be offered and served: a
/// half upload must not hide it behind an unfinished record.
pub async fn half_upload_keeps_picture(ctx: &mut Ctx) -> Outcome {
    let upload = ctx.upload("hidden", 2 * 32768 + 11).await?;
    let mut owner = ctx.resource().await?;
    upload_all(&mut owner, &upload, MAX_CWND).await?;
    let claim = claim_of(ctx, &upload)?;
    let mut intruder = ctx.resource_again().await?;
    intruder
        .send(&claim.send(1, ChunkKind::Normal).frame)
        .await?;
    let _answer = intruder.next_within(ctx.timeout()).await;
    expect_identical(ctx, &mut owner, &upload).await
}
