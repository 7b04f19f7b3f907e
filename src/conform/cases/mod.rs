//! The conformance cases, in their fixed order. Ids are stable (`<section>.<n> <group>/<name>`):
//! reports and scripts refer to them, so a case keeps its id and a new case takes a new number.

mod chat;
mod errors;
mod flows;
mod framing;
mod proxy;
mod security;
mod transfer;
mod two_chat;
mod types;
mod upload;

use super::ctx::Ctx;
use super::verdict::Outcome;
use futures::future::BoxFuture;

/// One case: its id and the function that runs it.
pub struct CaseDef {
    pub id: &'static str,
    pub run: fn(&mut Ctx) -> BoxFuture<'_, Outcome>,
}

impl CaseDef {
    /// The part after the number: `upload/window-of-5`.
    pub fn name(&self) -> &'static str {
        self.id.split_once(' ').map_or(self.id, |(_, name)| name)
    }

    /// The number: `3.4`.
    pub fn number(&self) -> &'static str {
        self.id.split_once(' ').map_or("", |(number, _)| number)
    }
}

/// Wraps an `async fn(&mut Ctx) -> Outcome` into a [`CaseDef`].
macro_rules! case {
    ($id:literal, $f:path) => {
        CaseDef {
            id: $id,
            run: {
                fn run(ctx: &mut Ctx) -> BoxFuture<'_, Outcome> {
                    Box::pin($f(ctx))
                }
                run
            },
        }
    };
}

/// Every case, in order.
pub fn all() -> Vec<CaseDef> {
    vec![
        case!("1.1 session/round-trip", framing::round_trip),
        case!(
            "1.2 session/concurrent-connections",
            framing::concurrent_connections
        ),
        case!("2.1 framing/split-frame", framing::split_frame),
        case!("2.2 framing/coalesced-frames", framing::coalesced_frames),
        case!("2.3 framing/byte-by-byte", framing::byte_by_byte),
        case!("2.4 framing/maximum-length", framing::maximum_length),
        case!("2.5 framing/jsoncpp-style", framing::jsoncpp_style),
        case!("3.1 upload/one-chunk", upload::one_chunk),
        case!("3.2 upload/many-chunks", upload::many_chunks),
        case!(
            "3.3 upload/exact-multiple-of-chunk-size",
            upload::exact_multiple
        ),
        case!("3.4 upload/window-of-5", upload::window_of_5),
        case!("3.5 upload/size-form-echoed", upload::size_form_echoed),
        case!(
            "3.6 upload/two-files-interleaved",
            upload::two_files_interleaved
        ),
        case!("3.7 upload/empty-file", upload::empty_file),
        case!(
            "3.8 upload/same-name-two-messages",
            upload::same_name_two_messages
        ),
        case!("4.1 order/out-of-order", upload::out_of_order),
        case!("4.2 order/duplicate-chunk", upload::duplicate_chunk),
        case!("4.3 order/late-chunk-1", upload::late_chunk_1),
        case!(
            "5.1 resume/disconnect-and-continue",
            upload::disconnect_and_continue
        ),
        case!(
            "5.2 resume/reconnect-with-chunks-in-flight",
            upload::reconnect_with_chunks_in_flight
        ),
        case!(
            "5.3 resume/upload-status-extension",
            upload::upload_status_extension
        ),
        case!(
            "5.4 resume/upstream-style-resume",
            upload::upstream_style_resume
        ),
        case!("6.1 integrity/wrong-md5", errors::wrong_md5),
        case!("6.2 integrity/corrupted-chunk", errors::corrupted_chunk),
        case!(
            "6.3 integrity/last-flag-is-not-completion",
            errors::last_flag_is_not_completion
        ),
        case!("7.1 errors/malformed-json", errors::malformed_json),
        case!("7.2 errors/wrong-types", errors::wrong_types),
        case!("7.3 errors/unknown-id", errors::unknown_id),
        case!("7.4 errors/oversize-frame", errors::oversize_frame),
        case!("7.5 errors/length-field-max", errors::length_field_max),
        case!("7.6 errors/seq-zero", errors::seq_zero),
        case!("7.7 errors/seq-past-end", errors::seq_past_end),
        case!("7.8 errors/size-mismatch", errors::size_mismatch),
        case!("7.9 errors/truncated-frame", errors::truncated_frame),
        case!("7.10 errors/empty-body", errors::empty_body),
        case!("7.11 errors/body-not-an-object", errors::body_not_an_object),
        case!("8.1 security/dot-dot-name", security::dot_dot_name),
        case!(
            "8.2 security/separator-in-name",
            security::separator_in_name
        ),
        case!("8.3 security/absolute-path", security::absolute_path),
        case!(
            "8.4 security/uid-not-matching-token",
            security::uid_not_matching_token
        ),
        case!(
            "8.5 security/overwrite-other-users-upload",
            security::overwrite_other_users_upload
        ),
        case!("8.6 security/wrong-token", security::wrong_token),
        case!(
            "8.7 security/chunk-without-token",
            security::chunk_without_token
        ),
        case!(
            "8.8 security/download-wrong-token",
            security::download_wrong_token
        ),
        case!(
            "8.9 security/download-traversal-name",
            security::download_traversal_name
        ),
        case!(
            "8.10 security/claim-another-users-message",
            security::claim_another_users_message
        ),
        case!(
            "8.11 security/half-upload-keeps-picture",
            security::half_upload_keeps_picture
        ),
        case!("9.1 notify/once-with-fields", transfer::notify_once),
        case!(
            "9.2 notify/retried-until-answered",
            transfer::notify_retried
        ),
        case!(
            "9.3 notify/none-for-rejected-upload",
            transfer::no_notify_when_rejected
        ),
        case!(
            "9.4 notify/not-repeated-for-duplicate",
            transfer::no_renotify_on_duplicate
        ),
        case!("10.1 download/info", transfer::download_info),
        case!("10.2 download/byte-identical", transfer::byte_identical),
        case!("10.3 download/skipped-seq", transfer::skipped_seq),
        case!(
            "10.4 download/incomplete-upload",
            transfer::incomplete_upload
        ),
        case!("10.5 download/seq-past-end", transfer::download_past_end),
        case!(
            "10.6 download/info-unknown-message",
            transfer::info_unknown_message
        ),
        case!("11.1 chat/login", chat::login_ok),
        case!("11.2 chat/login-bad-token", chat::login_bad_token),
        case!("11.3 chat/login-unknown-uid", chat::login_unknown_uid),
        case!("11.4 chat/heartbeat", chat::heartbeat),
        case!("11.5 chat/text-ack-and-push", chat::text_ack_and_push),
        case!("11.6 chat/text-before-login", chat::text_before_login),
        case!("11.7 chat/image-message-ack", chat::image_message_ack),
        case!(
            "11.8 chat/image-message-wrong-token",
            chat::image_message_wrong_token
        ),
        case!("11.9 chat/upload-push-1039", chat::upload_push),
        case!("11.10 chat/sender-notice-1049", chat::sender_notice),
        case!("11.11 chat/oversize-frame", chat::chat_oversize_frame),
        case!("11.12 chat/coalesced-frames", chat::chat_coalesced_frames),
        case!(
            "11.13 chat/thousand-requests-one-write",
            chat::thousand_requests_one_write
        ),
        case!(
            "11.14 chat/pushes-waiting-at-login",
            chat::pushes_waiting_at_login
        ),
        case!("12.1 proxy/duplicated-chunks", proxy::duplicated_chunks),
        case!("12.2 proxy/reordered-chunks", proxy::reordered_chunks),
        case!("12.3 proxy/delayed-acks", proxy::delayed_acks),
        case!(
            "12.4 proxy/dropped-chunk-resent",
            proxy::dropped_chunk_resent
        ),
        case!("12.5 proxy/reset-and-resume", proxy::reset_and_resume),
        case!("12.6 proxy/slow-link", proxy::slow_link),
        case!("12.7 proxy/sliced-frames", proxy::sliced_frames),
        case!("13.1 types/chunk-acks", types::chunk_acks),
        case!("13.2 types/download-info-1046", types::download_info),
        case!("13.3 types/download-chunk-1048", types::download_chunk),
        case!("13.4 types/login-1006", types::login_reply),
        case!("13.5 types/text-1018-1019", types::text_replies),
        case!("13.6 types/image-message-1036", types::image_message),
        case!("13.7 types/upload-push-1039", types::upload_push),
        case!("13.8 types/heartbeat-1024", types::heartbeat_reply),
        case!(
            "14.1 two-chat/text-across-servers",
            two_chat::text_across_servers
        ),
        case!(
            "14.2 two-chat/kick-on-second-login",
            two_chat::kick_on_second_login
        ),
        case!(
            "14.3 two-chat/upload-push-on-receivers-server",
            two_chat::upload_push_on_receivers_server
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// (section, n) of an id, for checking the order.
    fn number(id: &str) -> (u32, u32) {
        let (number, _) = id.split_once(' ').expect("an id has a number and a name");
        let (section, n) = number.split_once('.').expect("a number has a section");
        (section.parse().unwrap(), n.parse().unwrap())
    }

    #[test]
    fn ids_are_unique_well_formed_and_in_order() {
        let cases = super::all();
        assert!(cases.len() >= 30);
        let ids: Vec<&str> = cases.iter().map(|c| c.id).collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "duplicate ids");
        let numbers: Vec<(u32, u32)> = ids.iter().map(|id| number(id)).collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        assert_eq!(numbers, sorted, "cases are listed in id order");
        for case in &cases {
            assert!(case.name().contains('/'), "{} has a group", case.id);
            assert!(
                case.name()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '/'),
                "{} is lowercase-with-dashes",
                case.id
            );
        }
    }
}
