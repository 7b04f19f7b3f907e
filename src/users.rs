//! The user directory both servers consult: uid, token and display name.
//! Upstream keeps tokens in Redis (`utoken_<uid>`); here it is plain configuration.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub uid: i32,
    pub token: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    by_uid: BTreeMap<i32, User>,
}

impl Users {
    pub fn new(users: impl IntoIterator<Item = User>) -> Self {
        Users {
            by_uid: users.into_iter().map(|u| (u.uid, u)).collect(),
        }
    }

    pub fn get(&self, uid: i32) -> Option<&User> {
        self.by_uid.get(&uid)
    }

    /// True when `token` is the token of `uid`.
    pub fn check(&self, uid: i32, token: &str) -> bool {
        self.get(uid).is_some_and(|u| u.token == token)
    }

    /// The user whose token `token` is, if any.
    pub fn uid_of_token(&self, token: &str) -> Option<i32> {
        self.by_uid
            .values()
            .find(|u| u.token == token)
            .map(|u| u.uid)
    }

    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.by_uid.values()
    }
}
/// The two documented demo users of `serve` and `conform` when no users file is given.
pub fn demo_users() -> Users {
    Users::new([
        User {
            uid: 1,
            token: "token-1".into(),
            name: "alice".into(),
        },
        User {
            uid: 2,
            token: "token-2".into(),
            name: "bob".into(),
        },
    ])
}
