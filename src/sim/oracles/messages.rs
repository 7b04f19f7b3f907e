//! The `messages` oracle: texts are stored and delivered once, unchanged and in order; images are not stored as texts.

use super::*;
use crate::protocol::codes::msg_type;
use crate::trace::{Event, Record};
use std::collections::{BTreeMap, BTreeSet};

/// Every text the user sent is acknowledged; every acknowledged text is stored once and delivered
/// once, unchanged and in order; and every message stored as a text is a non-empty text that its
/// sender sent.
pub fn messages(records: &[Record]) -> Option<Violation> {
    let mut sent: BTreeMap<&str, (&str, i32, i32)> = BTreeMap::new();
    let mut order: BTreeMap<(i32, i32), Vec<&str>> = BTreeMap::new();
    let mut stored: BTreeMap<&str, usize> = BTreeMap::new();
    let mut received: BTreeMap<&str, usize> = BTreeMap::new();
    let mut acked: Vec<(&Record, &str)> = Vec::new();
    let mut delivered: BTreeMap<(i32, i32), Vec<&str>> = BTreeMap::new();
    for record in records {
        match &record.event {
            Event::TextSent {
                from,
                to,
                unique_id,
                content,
            } => {
                sent.insert(unique_id, (content, *from, *to));
                order.entry((*from, *to)).or_default().push(unique_id);
            }
            Event::TextStored { unique_id, .. } => {
                let n = stored.entry(unique_id).or_default();
                *n += 1;
                if *n > 1 {
                    return Some(violation(
                        record,
                        format!("text {unique_id} stored {n} times"),
                    ));
                }
            }
            Event::TextAcked { unique_id, .. } => acked.push((record, unique_id)),
            Event::TextReceived {
                from,
                to,
                unique_id,
                content,
                ..
            } => {
                let n = received.entry(unique_id).or_default();
                *n += 1;
                if *n > 1 {
                    return Some(violation(
                        record,
                        format!("text {unique_id} delivered {n} times"),
                    ));
                }
                match sent.get(unique_id.as_str()) {
                    Some((original, ..)) if *original != content => {
                        return Some(violation(
                            record,
                            format!("text {unique_id} arrived changed"),
                        ));
                    }
                    None => {
                        return Some(violation(
                            record,
                            format!("text {unique_id} was never sent"),
                        ))
                    }
                    Some(_) => {}
                }
                delivered.entry((*from, *to)).or_default().push(unique_id);
            }
            _ => {}
        }
    }
    for &(record, unique_id) in &acked {
        if stored.get(unique_id) != Some(&1) {
            return Some(violation(
                record,
                format!("text {unique_id} acked but not stored once"),
            ));
        }
        if received.get(unique_id) != Some(&1) {
            return Some(violation(
                record,
                format!("text {unique_id} acked but never delivered"),
            ));
        }
    }
    for (pair, got) in &delivered {
        let expected: Vec<&str> = order
            .get(pair)
            .map(|all| all.iter().copied().filter(|u| got.contains(u)).collect())
            .unwrap_or_default();
        if &expected != got {
            let last = records.last()?;
            return Some(violation(
                last,
                format!(
                    "texts from {} to {} arrived in the order {got:?}, sent as {expected:?}",
                    pair.0, pair.1
                ),
            ));
        }
    }
    let acked: BTreeSet<&str> = acked.iter().map(|(_, u)| *u).collect();
    for record in records {
        if let Event::TextSent {
            unique_id, content, ..
        } = &record.event
        {
            if !acked.contains(unique_id.as_str()) {
                return Some(violation(
                    record,
                    format!(
                        "text {unique_id} ({} characters) was sent but never acknowledged",
                        content.chars().count()
                    ),
                ));
            }
        }
    }
    stored_texts(records)
}

/// Every message the chat server ends with as a TEXT is non-empty and is a text its sender sent
/// to its receiver (so an image message stored as a text is caught too).
fn stored_texts(records: &[Record]) -> Option<Violation> {
    let mut texts: BTreeSet<(i32, i32, &str)> = BTreeSet::new();
    let mut images: BTreeSet<(i32, i32, &str)> = BTreeSet::new();
    for record in records {
        match &record.event {
            Event::TextSent {
                from, to, content, ..
            } => {
                texts.insert((*from, *to, content));
            }
            Event::ImageQueued { file, from, to, .. } => {
                images.insert((*from, *to, file));
            }
            _ => {}
        }
    }
    records.iter().find_map(|record| {
        let Event::FinalMessage {
            message_id,
            from,
            to,
            msg_type: msg_type::TEXT,
            content,
            ..
        } = &record.event
        else {
            return None;
        };
        let key = (*from, *to, content.as_str());
        let detail = if content.is_empty() {
            format!("message {message_id} from {from} to {to} is stored as an empty text")
        } else if texts.contains(&key) {
            return None;
        } else if images.contains(&key) {
            format!(
                "message {message_id} is the image {content} from {from} to {to}, stored as a text \
                 (msg_type {}), not a picture ({})",
                msg_type::TEXT,
                msg_type::PIC
            )
        } else {
            format!("message {message_id} from {from} to {to} is a text that was never sent")
        };
        Some(violation(record, detail))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oracles::testing::*;

    #[test]
    fn messages_catches_loss_duplicates_and_reordering() {
        let sent = |u: &str| text_sent(u, u);
        let stored = text_stored;
        let acked = text_acked;
        let got = |u: &str| text_received(u, u);
        let lost = [sent("x"), stored("x"), acked("x")];
        assert!(messages(&lost).unwrap().detail.contains("never delivered"));
        let delivered = [sent("x"), stored("x"), acked("x"), got("x")];
        assert_eq!(messages(&delivered), None);
        // A text the client never got acknowledged (the seed drops long ones without a word).
        let never_acked = [sent("x"), stored("x"), acked("x"), got("x"), sent("y")];
        let v = messages(&never_acked).unwrap();
        assert!(v
            .detail
            .contains("text y (1 characters) was sent but never acknowledged"));
        assert_eq!(v.event, serde_json::to_string(&never_acked[4]).unwrap());
        let twice = [sent("x"), stored("x"), acked("x"), got("x"), got("x")];
        assert!(messages(&twice)
            .unwrap()
            .detail
            .contains("delivered 2 times"));
        let reordered = [
            sent("x"),
            sent("y"),
            stored("x"),
            stored("y"),
            got("y"),
            got("x"),
        ];
        assert!(messages(&reordered)
            .unwrap()
            .detail
            .contains("in the order"));
    }

    #[test]
    fn messages_catches_an_empty_text_and_an_image_stored_as_a_text() {
        let done = |u: &str, content: &str| {
            vec![
                text_sent(u, content),
                text_stored(u),
                text_acked(u),
                text_received(u, content),
            ]
        };
        let mut good = done("a", "hello");
        good.push(text_message(1, msg_type::TEXT, "hello"));
        assert_eq!(messages(&good), None);

        let mut empty = done("a", "");
        empty.push(text_message(1, msg_type::TEXT, ""));
        let v = messages(&empty).unwrap();
        assert!(v.detail.contains("stored as an empty text"), "{}", v.detail);
        assert_eq!(v.host, "chat");

        let mut image = upload("a.png");
        image.push(text_message(4, msg_type::TEXT, "a.png"));
        let v = messages(&image).unwrap();
        assert!(v.detail.contains("image a.png"), "{}", v.detail);
        // The same image message stored as a picture is not a text at all.
        let mut picture = upload("a.png");
        picture.push(text_message(4, msg_type::PIC, "a.png"));
        assert_eq!(messages(&picture), None);

        let forged = [text_message(7, msg_type::TEXT, "never typed")];
        assert!(messages(&forged).unwrap().detail.contains("never sent"));
    }
}
