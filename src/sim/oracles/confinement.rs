//! The `confinement` oracle: stored files stay in their owner's folder; nobody writes into another user's upload.

use super::*;
use crate::trace::{Event, Record};
use std::path::{Component, Path};

/// Every chunk is stored inside its owner's folder (`<owner>/...` under the store's root) and by
/// its owner: the uid whose token the writing connection presented.
pub fn confinement(records: &[Record]) -> Option<Violation> {
    records.iter().find_map(|record| {
        let Event::ChunkStored {
            file,
            seq,
            owner,
            path,
            writer,
        } = &record.event
        else {
            return None;
        };
        if !inside_folder(path, *owner) {
            return Some(violation(
                record,
                format!(
                    "seq {seq} of {file} was written to {path:?}, outside uid {owner}'s folder"
                ),
            ));
        }
        match writer {
            Some(w) if w == owner => None,
            Some(w) => Some(violation(
                record,
                format!("uid {w} wrote seq {seq} of {file} into the upload of uid {owner}"),
            )),
            None => Some(violation(
                record,
                format!(
                    "seq {seq} of {file} was written into the upload of uid {owner} by a \
                     connection that presented no valid token"
                ),
            )),
        }
    })
}

/// Whether `path` (relative to the store's root), resolved lexically, names something under the
/// folder `<owner>/`.
fn inside_folder(path: &str, owner: i32) -> bool {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    parts.len() >= 2 && parts[0] == owner.to_string().as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oracles::testing::*;

    #[test]
    fn confinement_catches_an_escape_from_the_folder_and_a_write_by_another_user() {
        assert_eq!(confinement(&[stored("1/a.png", 1, Some(1))]), None);
        let v = confinement(&[
            stored("1/a.png", 1, Some(1)),
            stored("1/../escape.png", 1, Some(1)),
        ])
        .unwrap();
        assert!(v.detail.contains("outside uid 1's folder"), "{}", v.detail);
        assert_eq!(v.host, "resource");
        for escaped in ["/etc/passwd", "../x", "1/../../x", "2/a.png", "1", "1/.."] {
            assert!(
                confinement(&[stored(escaped, 1, Some(1))]).is_some(),
                "{escaped} must count as outside"
            );
        }
        // Inside the folder, even through `.` or a subfolder.
        assert_eq!(confinement(&[stored("1/./sub/../a.png", 1, Some(1))]), None);
        let v = confinement(&[stored("1/a.png", 1, Some(2))]).unwrap();
        assert!(
            v.detail
                .contains("uid 2 wrote seq 1 of a.png into the upload of uid 1"),
            "{}",
            v.detail
        );
        assert!(confinement(&[stored("1/a.png", 1, None)])
            .unwrap()
            .detail
            .contains("no valid token"));
    }
}
