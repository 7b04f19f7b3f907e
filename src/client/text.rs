//! Text batching: one press of the send button becomes as few 1017 requests as fit. Upstream
//! batches up to 1024 characters a request but measures characters while the frame limit is 2048
//! bytes, and silently drops items over 1024 characters (seed bug 12). The reference keeps both
//! limits and splits a long item into parts instead of losing it.

use crate::profile::{Profile, Quirk};
use crate::protocol::body::TextItem;

/// What one press of the send button becomes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Press {
    /// The 1017 requests, in order.
    pub requests: Vec<Vec<TextItem>>,
    /// Items the user sent that no request carries, lost without a word (seed bug 12).
    pub dropped: Vec<TextItem>,
}

/// The batcher of the profile: the reference's [`batch`] or the seed's [`seed_batch`].
pub fn press(profile: &Profile, items: &[(String, String)]) -> Press {
    if profile.has(Quirk::TrailingEmptyText) {
        return seed_batch(items);
    }
    Press {
        requests: batch(items),
        dropped: Vec::new(),
    }
}

/// seed: ChatPage::on_send_btn_clicked (bug 12). It skips items whose `_text_or_url.length()` (in
/// UTF-16 units) is over 1024 without a word, keeps empty items, sends the accumulated
/// `text_array` whenever the next item would take it over 1024, and after the loop always sends
/// one more request with whatever is left, even nothing.
pub fn seed_batch(items: &[(String, String)]) -> Press {
    let mut press = Press::default();
    let mut current: Vec<TextItem> = Vec::new();
    let mut txt_size = 0usize;
    for (content, unique_id) in items {
        let item = TextItem {
            content: content.clone(),
            unique_id: unique_id.clone(),
        };
        let length = content.encode_utf16().count();
        if length > MAX_BATCH_CHARS {
            press.dropped.push(item);
            continue;
        }
        if txt_size + length > MAX_BATCH_CHARS {
            press.requests.push(std::mem::take(&mut current));
            txt_size = 0;
        }
        txt_size += length;
        current.push(item);
    }
    press.requests.push(current);
    press
}

/// Upstream's per-request character budget.
pub const MAX_BATCH_CHARS: usize = 1024;
/// Bytes of a request body's `text_array` contents we allow, leaving room for the other fields
/// and JSON escaping inside the 2048-byte chat frame limit.
pub const MAX_BATCH_CONTENT_BYTES: usize = 1200;

/// Splits `items` (content, unique id) into batches that each fit one request. Empty items are
/// skipped: there is nothing to send. An item too big for one request is split into parts whose
/// unique ids get a `#n` suffix, in order.
pub fn batch(items: &[(String, String)]) -> Vec<Vec<TextItem>> {
    let mut batches: Vec<Vec<TextItem>> = Vec::new();
    let mut current: Vec<TextItem> = Vec::new();
    let (mut chars, mut bytes) = (0usize, 0usize);
    for (content, unique_id) in items {
        for (part, suffix) in split_item(content) {
            let (c, b) = (part.chars().count(), escaped_len(&part));
            if !current.is_empty()
                && (chars + c > MAX_BATCH_CHARS || bytes + b > MAX_BATCH_CONTENT_BYTES)
            {
                batches.push(std::mem::take(&mut current));
                chars = 0;
                bytes = 0;
            }
            chars += c;
            bytes += b;
            current.push(TextItem {
                content: part,
                unique_id: match suffix {
                    None => unique_id.clone(),
                    Some(n) => format!("{unique_id}#{n}"),
                },
            });
        }
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Bytes the content takes inside a JSON string.
fn escaped_len(s: &str) -> usize {
    serde_json::to_string(s).map_or(s.len(), |j| j.len())
}

/// The parts of one item, each within both budgets; `None` suffix when it needs no split.
fn split_item(content: &str) -> Vec<(String, Option<usize>)> {
    if content.is_empty() {
        return Vec::new();
    }
    if content.chars().count() <= MAX_BATCH_CHARS && escaped_len(content) <= MAX_BATCH_CONTENT_BYTES
    {
        return vec![(content.to_owned(), None)];
    }
    let mut parts = Vec::new();
    let mut part = String::new();
    for ch in content.chars() {
        let mut next = part.clone();
        next.push(ch);
        if next.chars().count() > MAX_BATCH_CHARS || escaped_len(&next) > MAX_BATCH_CONTENT_BYTES {
            parts.push(std::mem::take(&mut part));
            part.push(ch);
        } else {
            part = next;
        }
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, Some(i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(contents: &[&str]) -> Vec<(String, String)> {
        contents
            .iter()
            .enumerate()
            .map(|(i, c)| (c.to_string(), format!("u{i}")))
            .collect()
    }

    #[test]
    fn short_texts_share_one_request_and_empty_ones_are_not_sent() {
        let b = batch(&items(&["hi", "", "there"]));
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].len(), 2);
        assert!(batch(&items(&[""])).is_empty());
    }

    #[test]
    fn the_seed_keeps_empty_items_drops_long_ones_and_always_sends_a_trailing_request() {
        let long = "a".repeat(1025);
        let p = seed_batch(&items(&["hi", "", &long, "there"]));
        assert_eq!(p.dropped.len(), 1);
        assert_eq!(p.dropped[0].unique_id, "u2");
        assert_eq!(p.requests.len(), 1);
        let contents: Vec<&str> = p.requests[0].iter().map(|i| i.content.as_str()).collect();
        assert_eq!(contents, ["hi", "", "there"]);
        // A press with nothing to send still sends an (empty) request.
        assert_eq!(seed_batch(&[]).requests, vec![Vec::new()]);
        // Crossing 1024 characters flushes what came before; the rest trails.
        let half = "b".repeat(600);
        let p = seed_batch(&items(&[&half, &half]));
        assert_eq!(p.requests.len(), 2);
        // The reference profile loses nothing and sends nothing empty.
        let reference = press(&Profile::reference(), &items(&["hi", "", &long]));
        assert!(reference.dropped.is_empty());
        assert!(reference
            .requests
            .iter()
            .flatten()
            .all(|i| !i.content.is_empty()));
        assert_eq!(press(&Profile::seed(), &items(&["x"])).requests.len(), 1);
    }

    #[test]
    fn a_long_cjk_text_is_split_not_dropped_and_every_request_fits_a_frame() {
        let long = "图".repeat(3000);
        let b = batch(&items(&[&long, "tail"]));
        let joined: String = b
            .iter()
            .flatten()
            .filter(|i| i.unique_id.starts_with("u0"))
            .map(|i| i.content.as_str())
            .collect();
        assert_eq!(joined, long);
        for request in &b {
            let body = serde_json::json!({"fromuid": 1, "touid": 2, "thread_id": 1, "text_array": request});
            assert!(serde_json::to_vec(&body).unwrap().len() <= 2048);
        }
        assert_eq!(b.last().unwrap().last().unwrap().content, "tail");
    }
}
