//! Text batching: one press of the send button becomes as few 1017 requests as fit. Upstream
//! batches up to 1024 characters a request but measures characters while the frame limit is 2048
//! bytes, and silently drops items over 1024 characters (seed bug 12). The reference keeps both
//! limits and splits a long item into parts instead of losing it.

use crate::protocol::body::TextItem;

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
