//! A file name from a request is a name, never a path (docs/protocol.md section 8; seed bug 8 builds
//! `dir / uid / name` from it unchecked).

/// Longest name accepted, in bytes (a common file system limit).
pub const MAX_NAME_LEN: usize = 255;

/// Checks that `name` is a single plain path component; says what is wrong otherwise.
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("file name is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "file name is {} bytes, over {MAX_NAME_LEN}",
            name.len()
        ));
    }
    if name == "." || name == ".." || name.contains("..") {
        return Err(format!("file name {name:?} contains '..'"));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\' | '\0' | ':')) {
        return Err(format!(
            "file name {name:?} contains the separator or NUL {c:?}"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("file name {name:?} contains a control character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_file_name;

    #[test]
    fn plain_names_pass_and_paths_are_refused() {
        assert!(check_file_name("3f2a-photo.png").is_ok());
        assert!(check_file_name("图片.jpg").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/../b",
            "a/b",
            "/etc/passwd",
            "a\\b",
            "C:x",
            "a\0b",
            "x\n",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(check_file_name(&"a".repeat(256)).is_err());
    }
}
